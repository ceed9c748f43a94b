//! Decision algorithms the engine runs itself: how a matched decision picks among its model
//! refs. Algorithms that call models (fusion, workflows, remom, …) are not here: the engine
//! is pure and synchronous, and the first ref stays the choice for them.

pub mod multi_factor;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use multi_factor::{MultiFactor, OnNoCandidates};

use crate::decision::ModelRef;

/// A decision's model-selection algorithm, where the engine applies one.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    MultiFactor(MultiFactor),
}

impl Selector {
    /// The selector for a decision's `algorithm` (`type` and its block); `None` for types the
    /// engine does not select with (their first ref is used).
    pub fn from_config(kind: &str, block: Option<&Value>) -> Option<Selector> {
        match kind {
            "multi_factor" => Some(Selector::MultiFactor(MultiFactor::from_block(block))),
            _ => None,
        }
    }

    /// Orders `refs` so the chosen ref comes first (the rest keep their order, as the
    /// fallback order); `None` when the algorithm refuses every ref (`on_no_candidates: fail`).
    pub fn select(
        &self,
        refs: &[ModelRef],
        facts: &ModelFacts,
    ) -> (Option<Vec<ModelRef>>, AlgorithmTrace) {
        match self {
            Selector::MultiFactor(m) => m.select(refs, facts),
        }
    }
}

/// What the config says about each model that selection can weigh: the card's
/// `quality_score` and the provider's price per million tokens (prompt + completion rate).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFacts {
    pub quality: HashMap<String, f64>,
    pub cost_per_1m: HashMap<String, f64>,
}

impl ModelFacts {
    pub fn from_config(config: &vsr_config::Config) -> Self {
        let quality = config
            .routing
            .model_cards
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.quality_score?)))
            .collect();
        let cost_per_1m = config
            .providers
            .models
            .iter()
            .filter_map(|m| {
                let p = m.pricing.as_ref()?;
                if p.prompt_per_1m.is_none() && p.completion_per_1m.is_none() {
                    return None;
                }
                let rate = |r: Option<f64>| r.unwrap_or(0.0).max(0.0);
                Some((
                    m.name.clone(),
                    rate(p.prompt_per_1m) + rate(p.completion_per_1m),
                ))
            })
            .collect();
        ModelFacts {
            quality,
            cost_per_1m,
        }
    }
}

/// What a decision's algorithm did, for the trace, the eval response and replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlgorithmTrace {
    /// The algorithm type (`multi_factor`).
    pub kind: String,
    /// The model ref chosen (its model name); `None` when every ref was refused.
    pub chosen: Option<String>,
    /// Every ref considered, in declaration order.
    pub candidates: Vec<CandidateScore>,
    /// Why the choice was made, in words.
    pub reason: String,
}

/// One model ref as the algorithm scored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    pub model: String,
    /// The weighted score (higher wins); 0 for an excluded ref.
    pub score: f64,
    /// Each factor's value in [0, 1] (1 best), by name (`quality`, `cost`, `latency`, `load`).
    pub factors: Vec<(String, f64)>,
    /// Why the ref was excluded (an SLO it breaks); `None` when it competed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
}
