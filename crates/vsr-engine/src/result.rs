//! The routing result and its trace: one serialisable structure for the CLI, the eval API,
//! response headers and replay records.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vsr_signals::{Family, SignalSet};

use crate::algorithms::AlgorithmTrace;
use crate::decision::{ModelRef, Strategy};
use crate::projection::{MappingTrace, PartitionTrace, ScoreTrace};

/// Everything the router decided for one request, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingResult {
    /// The named recipe whose profile routed the request (selected by an entrypoint model
    /// name); `None` for the default profile (auto model names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    /// The winning decision; `None` when nothing matched (the default model is used).
    pub decision: Option<String>,
    /// The winner's rule-tree confidence (0 without a decision).
    pub confidence: f64,
    /// The model the request goes to: the chosen ref's target, or the default model.
    pub model: String,
    /// True when no decision matched and `model` is the default model.
    pub is_default: bool,
    /// Every model ref of the winner, in order (the first is the one chosen).
    pub model_refs: Vec<ModelRef>,
    /// What the winner's model-selection algorithm did (`multi_factor`); `None` when the
    /// first ref is simply taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<AlgorithmTrace>,
    /// Reasoning settings of the chosen ref (only meaningful with a decision).
    pub reasoning: Reasoning,
    /// The winner's `fast_response` message: the router answers with it itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_response: Option<Arc<str>>,
    pub signals: SignalSet,
    pub projections: ProjectionsTrace,
    pub decisions: DecisionsTrace,
    pub timing: Timing,
    /// The prompt embedding the router computed for this request (unit length), handed on so
    /// the response cache compares meanings without a second encoder forward. `None` when no
    /// family (and no semantic cache) needed one or the encoder is absent.
    #[serde(skip)]
    pub prompt_embedding: Option<Arc<[f32]>>,
}

/// Reasoning settings the router applies for the chosen model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Reasoning {
    pub use_reasoning: bool,
    /// The ref's effort, else the providers' default effort (only when reasoning is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// The model's reasoning family (from `providers.models[].reasoning_family`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

impl Reasoning {
    /// The reasoning settings of a chosen model ref: its effort, else `default_effort` (only
    /// with reasoning on); `family` is the model's reasoning family.
    pub fn of_ref(r: &ModelRef, default_effort: Option<&str>, family: Option<String>) -> Self {
        Reasoning {
            use_reasoning: r.use_reasoning,
            effort: r
                .use_reasoning
                .then(|| {
                    r.reasoning_effort
                        .clone()
                        .or_else(|| default_effort.map(str::to_string))
                })
                .flatten(),
            family,
        }
    }
}

/// What the projections did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProjectionsTrace {
    pub partitions: Vec<PartitionTrace>,
    pub scores: Vec<ScoreTrace>,
    pub mappings: Vec<MappingTrace>,
}

/// How the decision was reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionsTrace {
    pub strategy: Strategy,
    /// Every decision in declaration order.
    pub evaluated: Vec<DecisionTrace>,
    /// Same as [`RoutingResult::decision`].
    pub winner: Option<String>,
    /// Why the winner won (or why there is none).
    pub reason: String,
}

impl DecisionsTrace {
    /// The best matched decision among those `keep` accepts, ordered as the engine orders
    /// candidates (tiers, then the strategy): what would have won had only they competed.
    pub fn best_matched(&self, keep: impl Fn(&str) -> bool) -> Option<&DecisionTrace> {
        let matched: Vec<&DecisionTrace> = self
            .evaluated
            .iter()
            .filter(|d| d.matched && keep(&d.name))
            .collect();
        let tiered = matched.iter().any(|d| d.tier > 0);
        fn candidate(d: &DecisionTrace) -> crate::decision::Candidate<'_> {
            crate::decision::Candidate {
                name: &d.name,
                tier: d.tier,
                priority: d.priority,
                confidence: d.confidence,
            }
        }
        matched.into_iter().min_by(|a, b| {
            crate::decision::compare(&candidate(a), &candidate(b), tiered, self.strategy)
        })
    }
}

/// One decision's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionTrace {
    pub name: Arc<str>,
    pub tier: u32,
    pub priority: i64,
    pub matched: bool,
    pub confidence: f64,
    /// The leaves that made it match, as `type:name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_rules: Vec<Arc<str>>,
    /// Every leaf of its rule tree with its value (matched decisions; every decision when the
    /// full trace was asked for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaves: Vec<LeafTrace>,
}

/// One rule leaf's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeafTrace {
    /// `type:name` as written.
    pub signal: Arc<str>,
    pub matched: bool,
    pub confidence: f64,
    /// False when the leaf names no known signal (it can never match).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub known: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Wall time per phase, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Timing {
    pub signals_ns: u64,
    pub projections_ns: u64,
    pub decisions_ns: u64,
}

impl RoutingResult {
    /// The default model without a decision: what a request gets when routing itself failed
    /// (no signals, no trace beyond the reason).
    pub fn fallback(model: impl Into<String>, reason: impl Into<String>) -> Self {
        RoutingResult {
            recipe: None,
            decision: None,
            confidence: 0.0,
            model: model.into(),
            is_default: true,
            model_refs: Vec::new(),
            algorithm: None,
            reasoning: Reasoning::default(),
            fast_response: None,
            signals: SignalSet::empty(&vsr_signals::SignalCatalog::new()),
            projections: ProjectionsTrace::default(),
            decisions: DecisionsTrace {
                strategy: Strategy::default(),
                evaluated: Vec::new(),
                winner: None,
                reason: reason.into(),
            },
            timing: Timing::default(),
            prompt_embedding: None,
        }
    }

    /// `static` when a decision chose the model, its algorithm's type when it has one
    /// (`multi_factor`, `fusion`, …), `default` otherwise (the record's and the dashboard's
    /// `selection_method`).
    pub fn selection_method(&self) -> &str {
        if self.is_default {
            "default"
        } else if let Some(a) = &self.algorithm {
            &a.kind
        } else {
            "static"
        }
    }

    /// The domain the winning decision matched on (its first `domain:` rule), for
    /// `x-vsr-selected-category` and the record's `category`.
    pub fn category(&self) -> Option<&str> {
        self.winner_trace()?
            .matched_rules
            .iter()
            .find_map(|rule| rule.strip_prefix("domain:"))
    }

    /// The conversation's token estimate as the `context` family measured it (0 when the
    /// family was not evaluated).
    pub fn context_tokens(&self) -> u64 {
        self.signals
            .families()
            .filter(|f| f.family == Family::Context)
            .flat_map(|f| f.signals.iter())
            .map(|s| s.value.max(0.0) as u64)
            .max()
            .unwrap_or(0)
    }

    /// Whether the request goes out with reasoning on: only a decision turns it on.
    pub fn reasoning_on(&self) -> bool {
        self.decision.is_some() && self.reasoning.use_reasoning
    }

    /// Matched signals as `(family, name, confidence)`, families in a fixed order.
    pub fn matched_signals(&self) -> impl Iterator<Item = (Family, &str, f64)> {
        self.signals
            .matched()
            .map(|(f, s)| (f, &*s.name, s.confidence))
    }

    /// The winner's trace entry.
    pub fn winner_trace(&self) -> Option<&DecisionTrace> {
        let w = self.decision.as_deref()?;
        self.decisions.evaluated.iter().find(|d| &*d.name == w)
    }
}
