//! The `POST /api/v1/eval` response body, built from a [`RoutingResult`]. Shared by the
//! server and by the probe runner (which reads it back over HTTP).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use vsr_signals::Family;

use crate::algorithms::SelectionStatus;
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
    /// The selection preview (head-delta §20): the model selection will use, when known now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_model: Option<String>,
    /// `selected`, `planned_final`, `execution_required`, `fallback` or `unavailable`; omitted
    /// when no decision matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_status: Option<String>,
    /// `single` (one ref), `static`, or the algorithm type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_reason: Option<String>,
    /// Why a signal has no value for this request, by `type:name` (a classifier by its name),
    /// or by family when the whole family failed.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub signal_errors: IndexMap<String, String>,
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
    /// The winner's algorithm type (`static` when it configures none); `""` without a winner.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub algorithm: String,
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

/// (status, selected model, method, reason) of the winner's selection; `None` without one.
fn selection_preview(
    result: &RoutingResult,
) -> Option<(SelectionStatus, Option<String>, String, String)> {
    result.decision.as_ref()?;
    let looper = |k: &str| matches!(k, "fusion" | "workflows" | "remom" | "confidence");
    if let Some(a) = result
        .algorithm
        .as_ref()
        .filter(|a| looper(&a.kind) || result.model_refs.len() != 1)
    {
        let model = match a.status {
            SelectionStatus::Selected | SelectionStatus::PlannedFinal => a.chosen.clone(),
            SelectionStatus::Fallback => Some(result.model.clone()),
            _ => None,
        };
        return Some((a.status, model, a.kind.clone(), a.reason.clone()));
    }
    let first = result.model_refs.first()?;
    let (method, reason) = if result.model_refs.len() == 1 {
        ("single", "one model ref")
    } else {
        ("static", "static: the first model ref")
    };
    Some((
        SelectionStatus::Selected,
        Some(first.model.clone()),
        method.into(),
        reason.into(),
    ))
}

impl EvalResponse {
    /// Builds the response for `text`; `include_trace` attaches the whole result.
    pub fn from_result(text: &str, result: &RoutingResult, include_trace: bool) -> Self {
        let mut matched = MatchedSignals::new();
        let mut unmatched = MatchedSignals::new();
        let mut metrics = IndexMap::new();
        let mut confidences = IndexMap::new();
        let mut values = IndexMap::new();
        let mut errors = IndexMap::new();
        for fam in result.signals.families() {
            let family = fam.family;
            if let Some(e) = &fam.error {
                errors.insert(family.as_str().to_string(), e.clone());
            }
            for s in &fam.signals {
                if let Some(e) = &s.error {
                    // A classifier's label signals share its error: keyed by the classifier.
                    let name = match family {
                        Family::Classifier => s.name.split(':').next().unwrap_or(&s.name),
                        _ => &s.name,
                    };
                    errors.insert(format!("{family}:{name}"), e.to_string());
                }
            }
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
        let preview = selection_preview(result);
        Self {
            original_text: text.to_string(),
            requested_model: None,
            recipe: result
                .recipe
                .clone()
                .unwrap_or_else(|| DEFAULT_RECIPE.to_string()),
            decision_result: DecisionResult {
                decision_name: result.decision.clone().unwrap_or_default(),
                algorithm: match (&result.decision, &result.algorithm) {
                    (None, _) => String::new(),
                    (Some(_), Some(a)) => a.kind.clone(),
                    (Some(_), None) => "static".into(),
                },
                used_signals: used,
                matched_signals: matched,
                unmatched_signals: unmatched,
            },
            recommended_models: result.model_refs.iter().map(|r| r.model.clone()).collect(),
            routing_decision: result.decision.clone(),
            selected_model: preview.as_ref().and_then(|p| p.1.clone()),
            selection_status: preview.as_ref().map(|p| p.0.as_str().to_string()),
            selection_method: preview.as_ref().map(|p| p.2.clone()),
            selection_reason: preview.map(|p| p.3),
            metrics,
            signal_confidences: confidences,
            signal_values: values,
            signal_errors: errors,
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
