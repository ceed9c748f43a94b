//! Decisions and how exactly one is chosen.

use crate::algorithms::Selector;
use std::cmp::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::rule::{Node, RuleNode};

/// A model a decision routes to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelRef {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora_name: Option<String>,
    #[serde(default)]
    pub use_reasoning: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

impl ModelRef {
    /// The name requests are routed to: the LoRA when set, else the model.
    pub fn target(&self) -> &str {
        self.lora_name.as_deref().unwrap_or(&self.model)
    }
}

impl From<&vsr_config::ModelRef> for ModelRef {
    fn from(r: &vsr_config::ModelRef) -> Self {
        ModelRef {
            model: r.model.clone(),
            lora_name: r.lora_name.clone(),
            use_reasoning: r.use_reasoning(),
            reasoning_effort: r.reasoning_effort.clone(),
            weight: r.weight,
        }
    }
}

/// One decision as written in the config.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionSpec {
    pub name: String,
    pub description: Option<String>,
    pub priority: i64,
    /// 0 = untiered.
    pub tier: u32,
    pub rules: RuleNode,
    pub model_refs: Vec<ModelRef>,
    /// The `fast_response` plugin's message: the router answers itself instead of forwarding.
    pub fast_response: Option<String>,
    /// How the decision picks among its refs (`algorithm`), when the engine applies it;
    /// `None`: the first ref.
    pub algorithm: Option<Selector>,
}

/// How matched decisions are ordered when none of them has a tier (`global.router.strategy`).
pub use vsr_config::vocab::Strategy;

pub(crate) struct Decision {
    pub name: Arc<str>,
    pub priority: i64,
    pub tier: u32,
    pub node: Node,
    pub model_refs: Vec<ModelRef>,
    pub fast_response: Option<Arc<str>>,
    pub algorithm: Option<Selector>,
}

/// A matched decision competing for selection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub name: &'a str,
    pub tier: u32,
    pub priority: i64,
    pub confidence: f64,
}

/// Orders candidates best first. Tiered mode (any candidate with tier > 0): tier ascending
/// (an untiered decision, tier 0, sorts first), then confidence descending, priority
/// descending, name ascending. Otherwise by the strategy.
pub(crate) fn compare(
    a: &Candidate<'_>,
    b: &Candidate<'_>,
    tiered: bool,
    strategy: Strategy,
) -> Ordering {
    let conf = b.confidence.total_cmp(&a.confidence);
    let prio = b.priority.cmp(&a.priority);
    let name = a.name.cmp(b.name);
    if tiered {
        a.tier.cmp(&b.tier).then(conf).then(prio).then(name)
    } else {
        match strategy {
            Strategy::Priority => prio.then(conf).then(name),
            Strategy::Confidence => conf.then(prio).then(name),
        }
    }
}

/// Picks the best candidate and says why it beat the runner-up.
pub(crate) fn select<'a>(
    candidates: &[Candidate<'a>],
    strategy: Strategy,
) -> Option<(Candidate<'a>, String)> {
    let tiered = candidates.iter().any(|c| c.tier > 0);
    let mut sorted = candidates.to_vec();
    sorted.sort_by(|a, b| compare(a, b, tiered, strategy));
    let winner = *sorted.first()?;
    let Some(second) = sorted.get(1) else {
        return Some((winner, "the only matching decision".to_string()));
    };
    let (w, s) = (winner, second);
    let by_tier = || format!("tier {} before tier {} of `{}`", w.tier, s.tier, s.name);
    let by_conf = || {
        format!(
            "confidence {:.4} > {:.4} of `{}`",
            w.confidence, s.confidence, s.name
        )
    };
    let by_prio = || format!("priority {} > {} of `{}`", w.priority, s.priority, s.name);
    let by_name = || {
        format!(
            "name sorts before `{}` (tier, confidence and priority tie)",
            s.name
        )
    };
    let reason = if tiered {
        if w.tier != s.tier {
            by_tier()
        } else if w.confidence != s.confidence {
            format!("same tier {}; {}", w.tier, by_conf())
        } else if w.priority != s.priority {
            format!("same tier {} and confidence; {}", w.tier, by_prio())
        } else {
            by_name()
        }
    } else {
        let (first, second_key): (bool, bool) = match strategy {
            Strategy::Priority => (w.priority != s.priority, w.confidence != s.confidence),
            Strategy::Confidence => (w.confidence != s.confidence, w.priority != s.priority),
        };
        match (strategy, first, second_key) {
            (Strategy::Priority, true, _) => by_prio(),
            (Strategy::Priority, false, true) => format!("same priority; {}", by_conf()),
            (Strategy::Confidence, true, _) => by_conf(),
            (Strategy::Confidence, false, true) => format!("same confidence; {}", by_prio()),
            _ => by_name(),
        }
    };
    Some((winner, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, tier: u32, priority: i64, confidence: f64) -> Candidate<'_> {
        Candidate {
            name,
            tier,
            priority,
            confidence,
        }
    }

    fn winner(cands: &[Candidate<'_>], strategy: Strategy) -> String {
        select(cands, strategy)
            .map(|(w, _)| w.name.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn tier_beats_priority_and_confidence() {
        let cands = [c("hi_prio", 5, 900, 1.0), c("low_tier", 2, 1, 0.1)];
        assert_eq!(winner(&cands, Strategy::Priority), "low_tier");
        let (_, why) = select(&cands, Strategy::Priority).expect("some");
        assert!(why.contains("tier 2 before tier 5"), "{why}");
    }

    #[test]
    fn untiered_sorts_before_tier_one() {
        let cands = [c("tier1", 1, 100, 1.0), c("untiered", 0, 0, 0.2)];
        assert_eq!(winner(&cands, Strategy::Priority), "untiered");
    }

    #[test]
    fn same_tier_confidence_then_priority_then_name() {
        let cands = [c("creative", 16, 200, 0.7), c("reasoning", 16, 190, 0.9)];
        assert_eq!(winner(&cands, Strategy::Priority), "reasoning");
        let cands = [c("a", 16, 100, 0.9), c("b", 16, 200, 0.9)];
        assert_eq!(winner(&cands, Strategy::Priority), "b");
        let cands = [c("zed", 3, 100, 0.9), c("alpha", 3, 100, 0.9)];
        assert_eq!(winner(&cands, Strategy::Priority), "alpha");
        let (_, why) = select(&cands, Strategy::Priority).expect("some");
        assert!(why.contains("name sorts before"), "{why}");
    }

    #[test]
    fn untiered_strategies() {
        let cands = [c("prio", 0, 10, 0.5), c("conf", 0, 5, 0.9)];
        assert_eq!(winner(&cands, Strategy::Priority), "prio");
        assert_eq!(winner(&cands, Strategy::Confidence), "conf");
        let cands = [c("a", 0, 10, 0.5), c("b", 0, 10, 0.9)];
        assert_eq!(winner(&cands, Strategy::Priority), "b");
        let cands = [c("a", 0, 1, 0.9), c("b", 0, 10, 0.9)];
        assert_eq!(winner(&cands, Strategy::Confidence), "b");
    }

    #[test]
    fn single_and_empty() {
        assert!(select(&[], Strategy::Priority).is_none());
        let (w, why) = select(&[c("only", 3, 1, 0.5)], Strategy::Priority).expect("some");
        assert_eq!(
            (w.name, why.as_str()),
            ("only", "the only matching decision")
        );
    }

    #[test]
    fn lora_takes_precedence() {
        let r = ModelRef {
            model: "base".into(),
            lora_name: Some("adapter".into()),
            ..ModelRef::default()
        };
        assert_eq!(r.target(), "adapter");
    }
}
