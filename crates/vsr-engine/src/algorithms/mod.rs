//! Decision algorithms the engine runs itself: how a matched decision picks among its model
//! refs. Algorithms that call models (fusion, workflows, remom, …) are not run here: the engine
//! is pure and synchronous, so it keeps the refs' order and reports what selection will be —
//! the configured final model of a looper (`planned_final`), or that the calls decide
//! (`execution_required`). The server runs fusion and workflows (`vsr-server` looper).

pub mod latency_aware;
pub mod multi_factor;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use latency_aware::LatencyAware;
pub use multi_factor::{MultiFactor, OnNoCandidates};

/// What the serving process has observed about each model lately (the engine itself observes
/// nothing): latency percentiles over recent answers and requests in flight. Keyed by the
/// name requests are routed to ([`ModelRef::target`]).
pub trait LiveView: Sync {
    /// Time per output token at percentile `p` (1–100), in milliseconds.
    fn tpot_ms(&self, model: &str, p: u8) -> Option<f64>;
    /// Time to first token at percentile `p` (1–100), in milliseconds.
    fn ttft_ms(&self, model: &str, p: u8) -> Option<f64>;
    /// Requests to the model in flight now.
    fn inflight(&self, model: &str) -> u64;
}

use crate::decision::ModelRef;

/// A decision's model-selection algorithm, where the engine applies one.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    MultiFactor(MultiFactor),
    LatencyAware(LatencyAware),
    /// A type the engine does not select with: the refs keep their order.
    Declared {
        kind: String,
        /// A looper's configured final model (`fusion.model`, `workflows.final.model`,
        /// `remom.synthesis_model`).
        planned_final: Option<String>,
    },
}

impl Selector {
    /// The selector for a decision's `algorithm` (`type` and its block); `None` for types the
    /// engine does not select with (their first ref is used).
    pub fn from_config(kind: &str, block: Option<&Value>) -> Option<Selector> {
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let planned_final = match kind {
            "multi_factor" => return Some(Selector::MultiFactor(MultiFactor::from_block(block))),
            "latency_aware" => {
                return Some(Selector::LatencyAware(LatencyAware::from_block(block)));
            }
            "static" | "" => return None,
            "fusion" => text(block.and_then(|b| b.get("model"))),
            "workflows" => text(
                block
                    .and_then(|b| b.get("final"))
                    .and_then(|f| f.get("model")),
            ),
            "remom" => text(block.and_then(|b| b.get("synthesis_model"))),
            _ => None,
        };
        Some(Selector::Declared {
            kind: kind.to_string(),
            planned_final,
        })
    }

    /// Orders `refs` so the chosen ref comes first (the rest keep their order, as the
    /// fallback order); `None` when the algorithm refuses every ref (`on_no_candidates: fail`).
    pub fn select(
        &self,
        refs: &[ModelRef],
        facts: &ModelFacts,
    ) -> (Option<Vec<ModelRef>>, AlgorithmTrace) {
        self.select_live(refs, facts, None)
    }

    /// [`Self::select`] with the serving process's observations: `latency_aware` picks the
    /// fastest ref, `multi_factor` scores latency and load and applies their SLOs.
    pub fn select_live(
        &self,
        refs: &[ModelRef],
        facts: &ModelFacts,
        live: Option<&dyn LiveView>,
    ) -> (Option<Vec<ModelRef>>, AlgorithmTrace) {
        match self {
            Selector::MultiFactor(m) => m.select_live(refs, facts, live),
            Selector::LatencyAware(l) => {
                let (order, trace) = l.select(refs, live);
                (Some(order), trace)
            }
            Selector::Declared {
                kind,
                planned_final,
            } => (Some(refs.to_vec()), declared(kind, planned_final, refs)),
        }
    }
}

/// Fixed observations for the selectors' tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;

    /// model → (tpot ms, ttft ms, requests in flight).
    pub(crate) struct Fixed(pub HashMap<&'static str, (Option<f64>, Option<f64>, u64)>);

    impl super::LiveView for Fixed {
        fn tpot_ms(&self, m: &str, _p: u8) -> Option<f64> {
            self.0.get(m).and_then(|v| v.0)
        }
        fn ttft_ms(&self, m: &str, _p: u8) -> Option<f64> {
            self.0.get(m).and_then(|v| v.1)
        }
        fn inflight(&self, m: &str) -> u64 {
            self.0.get(m).map_or(0, |v| v.2)
        }
    }
}

/// The selection preview of a type the engine does not run (head-delta §20).
fn declared(kind: &str, planned_final: &Option<String>, refs: &[ModelRef]) -> AlgorithmTrace {
    let first = refs.first().map(|r| r.model.clone());
    let (status, chosen, reason) = match kind {
        "fusion" | "workflows" | "remom" => match planned_final {
            Some(m) => (
                SelectionStatus::PlannedFinal,
                Some(m.clone()),
                format!("{kind} answers with its configured final model `{m}`"),
            ),
            None => (
                SelectionStatus::ExecutionRequired,
                None,
                format!("{kind} decides its final model while its calls run"),
            ),
        },
        "confidence" => (
            SelectionStatus::ExecutionRequired,
            None,
            "confidence escalates through the refs while calling them".into(),
        ),
        _ if refs.len() == 1 => (SelectionStatus::Selected, first, "one model ref".into()),
        _ => (
            SelectionStatus::Unavailable,
            first,
            format!("{kind} has no selector here: the first ref"),
        ),
    };
    AlgorithmTrace {
        kind: kind.to_string(),
        status,
        chosen,
        candidates: Vec::new(),
        reason,
    }
}

/// What the eval API reports about model selection (`selection_status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectionStatus {
    /// The model is known now.
    #[default]
    Selected,
    /// A looper will answer with this configured final model.
    PlannedFinal,
    /// Only running the algorithm's calls decides the model.
    ExecutionRequired,
    /// The selector refused every ref: the default model.
    Fallback,
    /// The type has no selector in this build: the first ref.
    Unavailable,
}

impl SelectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SelectionStatus::Selected => "selected",
            SelectionStatus::PlannedFinal => "planned_final",
            SelectionStatus::ExecutionRequired => "execution_required",
            SelectionStatus::Fallback => "fallback",
            SelectionStatus::Unavailable => "unavailable",
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
    /// The algorithm type (`multi_factor`, `fusion`, …).
    pub kind: String,
    #[serde(default)]
    pub status: SelectionStatus,
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
