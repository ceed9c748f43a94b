//! Building the router for a config: the one place that decides what happens when a rule
//! needs the encoder and none is loaded.

use vsr_engine::Engine;
use vsr_learned::{BuildError, ModelSet, Router};

/// What to do when rules need a sentence encoder that is not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingModel {
    /// Refuse the config (the server: a router must not silently stop matching rules).
    Refuse,
    /// Route on the heuristic families only; those rules never match (CLI tools).
    HeuristicsOnly,
}

/// A built router and, when it runs without its learned families, why.
pub struct RouterBuild {
    pub router: Router,
    pub degraded: Option<String>,
}

/// The router for `config` over `models` (heuristic and learned families).
pub fn build_router(
    config: &vsr_config::Config,
    models: &ModelSet,
    missing: MissingModel,
) -> Result<RouterBuild, BuildError> {
    match vsr_learned::build_router(config, models) {
        Ok(router) => Ok(RouterBuild {
            router,
            degraded: None,
        }),
        Err(e @ BuildError::ModelRequired { .. }) if missing == MissingModel::HeuristicsOnly => {
            let why = format!("{e}; these signals never match in this run");
            tracing::warn!("{why}");
            Ok(RouterBuild {
                router: Router::without_models(Engine::from_config(config)?),
                degraded: Some(why),
            })
        }
        Err(e) => Err(e),
    }
}

/// The encoder for a CLI run: the one the config names, else the installed default; none
/// (with a warning) when it cannot be loaded.
pub(crate) fn cli_models(config: &vsr_config::Config) -> ModelSet {
    match ModelSet::for_config(config) {
        Ok(found) => found.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot load the sentence encoder");
            ModelSet::none()
        }
    }
}

impl RouterBuild {
    /// The router for a CLI tool (`eval`, `probes`, `dsl test`): learned families when the
    /// encoder is installed, else heuristics only.
    pub fn for_cli(config: &vsr_config::Config) -> Result<Self, BuildError> {
        build_router(config, &cli_models(config), MissingModel::HeuristicsOnly)
    }
}
