//! The `POST /api/v1/eval` response body, built from a [`RoutingResult`]. Shared by the
//! server and by the probe runner (which reads it back over HTTP).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use vsr_signals::Family;

use crate::result::RoutingResult;

/// The name the eval API reports for the default profile.
pub const DEFAULT_RECIPE: &str = vsr_config::DEFAULT_RECIPE;

/// Signal names per family under the API's plural family keys (`keywords`, `domains`, ...);
/// empty families are omitted.
pub type MatchedSignals = IndexMap<String, Vec<String>>;

/// The eval response, shaped like the original's.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvalResponse {
    pub original_text: String,
    /// The request's `model`, when it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_model: Option<String>,
    /// The routing profile that evaluated the request: a named recipe, or `default`. Empty
    /// when read from a router that does not report it.
    #[serde(default)]
    pub recipe: String,
    #[serde(default)]
    pub decision_result: DecisionResult,
    /// Every model of the winner's refs, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommended_models: Vec<String>,
    /// The winner's name; omitted when no decision matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_decision: Option<String>,
    /// Per family: evaluator time and the best matched confidence.
    #[serde(default)]
    pub metrics: IndexMap<String, FamilyMetric>,
    /// `type:name` → confidence of every matched signal.
    #[serde(default)]
    pub signal_confidences: IndexMap<String, f64>,
    /// `type:name` → raw value, for signals that have one (counts, densities, tokens, scores).
    #[serde(default)]
    pub signal_values: IndexMap<String, f64>,
    /// Our extension: the routed model even when it is the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_model: Option<String>,
    /// Our extension: the complete routing result and trace (when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Box<RoutingResult>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DecisionResult {
    /// The winner, `""` when none.
    #[serde(default)]
    pub decision_name: String,
    /// Every leaf of the winner's rule tree (deduplicated).
    #[serde(default)]
    pub used_signals: MatchedSignals,
    #[serde(default)]
    pub matched_signals: MatchedSignals,
    #[serde(default)]
    pub unmatched_signals: MatchedSignals,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FamilyMetric {
    pub execution_time_ms: f64,
    pub confidence: f64,
}

fn push(map: &mut MatchedSignals, family: Family, name: &str) {
    let list = map.entry(family.api_key().to_string()).or_default();
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

impl EvalResponse {
    /// Builds the response for `text`; `include_trace` attaches the whole result.
    pub fn from_result(text: &str, result: &RoutingResult, include_trace: bool) -> Self {
        let mut matched = MatchedSignals::new();
        let mut unmatched = MatchedSignals::new();
        let mut metrics = IndexMap::new();
        let mut confidences = IndexMap::new();
        let mut values = IndexMap::new();
        for fam in result.signals.families() {
            let family = fam.family;
            for s in &fam.signals {
                let key = format!("{family}:{}", s.name);
                if s.matched {
                    push(&mut matched, family, &s.name);
                    confidences.insert(key.clone(), s.confidence);
                } else {
                    push(&mut unmatched, family, &s.name);
                }
                if fam.evaluated && s.value != 0.0 {
                    values.insert(key, s.value);
                }
            }
            if family != Family::Projection && fam.evaluated {
                let best = fam
                    .signals
                    .iter()
                    .filter(|s| s.matched)
                    .map(|s| s.confidence)
                    .fold(0.0, f64::max);
                metrics.insert(
                    family.as_str().to_string(),
                    FamilyMetric {
                        execution_time_ms: fam.elapsed_ns as f64 / 1e6,
                        confidence: best,
                    },
                );
            }
        }
        let mut used = MatchedSignals::new();
        if let Some(w) = result.winner_trace() {
            for leaf in &w.leaves {
                if let Some((kind, name)) = leaf.signal.split_once(':')
                    && let Some(f) = Family::parse(kind)
                {
                    push(&mut used, f, name);
                }
            }
        }
        Self {
            original_text: text.to_string(),
            requested_model: None,
            recipe: result
                .recipe
                .clone()
                .unwrap_or_else(|| DEFAULT_RECIPE.to_string()),
            decision_result: DecisionResult {
                decision_name: result.decision.clone().unwrap_or_default(),
                used_signals: used,
                matched_signals: matched,
                unmatched_signals: unmatched,
            },
            recommended_models: result.model_refs.iter().map(|r| r.model.clone()).collect(),
            routing_decision: result.decision.clone(),
            metrics,
            signal_confidences: confidences,
            signal_values: values,
            routed_model: Some(result.model.clone()),
            trace: include_trace.then(|| Box::new(result.clone())),
        }
    }

    /// The decision as the probe runner reads it: `routing_decision`, else
    /// `decision_result.decision_name`.
    pub fn decision(&self) -> Option<&str> {
        self.routing_decision
            .as_deref()
            .or(Some(self.decision_result.decision_name.as_str()))
            .filter(|s| !s.is_empty())
    }

    /// The first recommended model (the probes' "alias").
    pub fn alias(&self) -> Option<&str> {
        self.recommended_models.first().map(String::as_str)
    }
}
