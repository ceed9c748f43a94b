//! Semantic checks over the typed config.
use crate::decode::Ctx;
use crate::model::Config;

pub(crate) fn validate(_cfg: &Config, _cx: &mut Ctx) {}
