//! `multi_factor` (upstream HEAD): pick the decision's model ref with the best weighted sum of
//! quality, latency, cost and load, after dropping refs that break the decision's SLOs.
//!
//! Quality is the model card's `quality_score` (0.5 when absent), cost is the provider's price
//! per million tokens (prompt + completion rate; the cheapest ref scores 1, the dearest 0, an
//! unpriced one 0.5). Latency and load are what the serving process observed ([`LiveView`]):
//! latency is the ref's time per output token at `latency_percentile` (else its time to first
//! token), load its requests in flight; the lowest scores 1, the highest 0, equal values and
//! unobserved refs 0.5. The pure engine observes nothing, so there they score 0.5 for every
//! ref and their SLOs exclude nothing. `max_cost_per_1m` excludes refs priced above it;
//! `max_tpot_ms`, `max_ttft_ms` (at `latency_percentile`) and `max_inflight` exclude refs
//! observed above them.

use serde_json::Value;

use super::{AlgorithmTrace, CandidateScore, LiveView, ModelFacts, SelectionStatus};
use crate::decision::ModelRef;

/// Score of a factor nothing is known about.
const NEUTRAL: f64 = 0.5;

/// What to do when every ref breaks an SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnNoCandidates {
    /// The cheapest ref (by price; the first among equals or unpriced refs).
    #[default]
    Cheapest,
    /// The first ref as declared.
    First,
    /// No ref: the request goes to the default model.
    Fail,
}

/// A `multi_factor` block, with upstream's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiFactor {
    /// Normalised weights (sum 1): quality, latency, cost, load.
    pub weights: [f64; 4],
    /// `slo.max_cost_per_1m`; 0 or absent = no limit.
    pub max_cost_per_1m: Option<f64>,
    /// `slo.max_tpot_ms`, `slo.max_ttft_ms` (at `latency_percentile`), `slo.max_inflight`;
    /// 0 or absent = no limit.
    pub max_tpot_ms: Option<f64>,
    pub max_ttft_ms: Option<f64>,
    pub max_inflight: Option<u64>,
    /// `latency_percentile` (default 95).
    pub latency_percentile: u8,
    pub on_no_candidates: OnNoCandidates,
}

const FACTORS: [&str; 4] = ["quality", "latency", "cost", "load"];

impl MultiFactor {
    /// Reads the block; missing weights are 0.25 each, negatives count as 0, and the weights
    /// are normalised (all 0 → equal weights). Validation already refused malformed blocks.
    pub fn from_block(block: Option<&Value>) -> Self {
        let num = |v: Option<&Value>| v.and_then(Value::as_f64).filter(|x| x.is_finite());
        let weights_block = block.and_then(|b| b.get("weights"));
        let mut weights = FACTORS.map(|f| match weights_block {
            Some(w) => num(w.get(f)).unwrap_or(0.0).max(0.0),
            None => 0.25,
        });
        let sum: f64 = weights.iter().sum();
        if sum > 0.0 {
            weights.iter_mut().for_each(|w| *w /= sum);
        } else {
            weights = [0.25; 4];
        }
        let slo = |k: &str| {
            num(block.and_then(|b| b.get("slo")).and_then(|s| s.get(k))).filter(|c| *c > 0.0)
        };
        let max_cost_per_1m = slo("max_cost_per_1m");
        let latency_percentile = block
            .and_then(|b| b.get("latency_percentile"))
            .and_then(Value::as_u64)
            .filter(|p| (1..=100).contains(p))
            .map_or(95, |p| p as u8);
        let on_no_candidates = match block
            .and_then(|b| b.get("on_no_candidates"))
            .and_then(Value::as_str)
            .map(str::trim)
        {
            Some(s) if s.eq_ignore_ascii_case("first") => OnNoCandidates::First,
            Some(s) if s.eq_ignore_ascii_case("fail") => OnNoCandidates::Fail,
            _ => OnNoCandidates::Cheapest,
        };
        MultiFactor {
            weights,
            max_cost_per_1m,
            max_tpot_ms: slo("max_tpot_ms"),
            max_ttft_ms: slo("max_ttft_ms"),
            max_inflight: slo("max_inflight").map(|n| n as u64),
            latency_percentile,
            on_no_candidates,
        }
    }

    /// Scores every ref and orders them best first (declaration order among equal scores,
    /// excluded refs last); see [`super::Selector::select`].
    #[cfg(test)]
    fn select(
        &self,
        refs: &[ModelRef],
        facts: &ModelFacts,
    ) -> (Option<Vec<ModelRef>>, AlgorithmTrace) {
        self.select_live(refs, facts, None)
    }

    /// [`Self::select`] with the serving process's latency and load observations.
    pub fn select_live(
        &self,
        refs: &[ModelRef],
        facts: &ModelFacts,
        live: Option<&dyn LiveView>,
    ) -> (Option<Vec<ModelRef>>, AlgorithmTrace) {
        let p = self.latency_percentile;
        let tpot: Vec<Option<f64>> = refs
            .iter()
            .map(|r| live.and_then(|l| l.tpot_ms(r.target(), p)))
            .collect();
        let ttft: Vec<Option<f64>> = refs
            .iter()
            .map(|r| live.and_then(|l| l.ttft_ms(r.target(), p)))
            .collect();
        // One representative latency per ref: its TPOT, else its TTFT (as upstream).
        let latency: Vec<Option<f64>> = tpot.iter().zip(&ttft).map(|(a, b)| a.or(*b)).collect();
        let load: Vec<Option<f64>> = refs
            .iter()
            .map(|r| live.map(|l| l.inflight(r.target()) as f64))
            .collect();
        let latency_scores = inverted(&latency);
        let load_scores = inverted(&load);
        let costs: Vec<Option<f64>> = refs
            .iter()
            .map(|r| facts.cost_per_1m.get(&r.model).copied())
            .collect();
        let priced = costs.iter().flatten();
        let (lo, hi) = priced.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
            (lo.min(*c), hi.max(*c))
        });
        let candidates: Vec<CandidateScore> = refs
            .iter()
            .zip(&costs)
            .enumerate()
            .map(|(i, (r, cost))| {
                let quality = facts
                    .quality
                    .get(&r.model)
                    .map_or(NEUTRAL, |q| q.clamp(0.0, 1.0));
                let cost_score = match cost {
                    Some(c) if hi > lo => 1.0 - (c - lo) / (hi - lo),
                    Some(_) => 1.0,
                    None => NEUTRAL,
                };
                let factors = [quality, latency_scores[i], cost_score, load_scores[i]];
                let above = |v: Option<f64>, max: Option<f64>| v.zip(max).filter(|(v, m)| v > m);
                let excluded = match (self.max_cost_per_1m, cost) {
                    (Some(max), Some(c)) if *c > max => Some(format!(
                        "costs {c} per 1M tokens, above max_cost_per_1m {max}"
                    )),
                    _ => None,
                }
                .or_else(|| {
                    above(tpot[i], self.max_tpot_ms)
                        .map(|(v, m)| format!("tpot p{p} {v:.1} ms, above max_tpot_ms {m}"))
                })
                .or_else(|| {
                    above(ttft[i], self.max_ttft_ms)
                        .map(|(v, m)| format!("ttft p{p} {v:.1} ms, above max_ttft_ms {m}"))
                })
                .or_else(|| {
                    above(load[i], self.max_inflight.map(|n| n as f64))
                        .map(|(v, m)| format!("{v} requests in flight, above max_inflight {m}"))
                });
                CandidateScore {
                    model: r.model.clone(),
                    score: if excluded.is_some() {
                        0.0
                    } else {
                        factors.iter().zip(self.weights).map(|(f, w)| f * w).sum()
                    },
                    factors: FACTORS
                        .iter()
                        .zip(factors)
                        .map(|(n, v)| (n.to_string(), v))
                        .collect(),
                    excluded,
                }
            })
            .collect();

        let mut order: Vec<usize> = (0..refs.len())
            .filter(|&i| candidates[i].excluded.is_none())
            .collect();
        // Stable: equal scores keep declaration order.
        order.sort_by(|&a, &b| candidates[b].score.total_cmp(&candidates[a].score));
        let reason;
        if order.is_empty() && !refs.is_empty() {
            match self.on_no_candidates {
                OnNoCandidates::Fail => {
                    let trace = AlgorithmTrace {
                        kind: "multi_factor".into(),
                        status: SelectionStatus::Fallback,
                        chosen: None,
                        candidates,
                        reason: "every model ref breaks an SLO (on_no_candidates: fail)".into(),
                    };
                    return (None, trace);
                }
                OnNoCandidates::First => {
                    order = (0..refs.len()).collect();
                    reason = "every model ref breaks an SLO; on_no_candidates: first".to_string();
                }
                OnNoCandidates::Cheapest => {
                    order = (0..refs.len()).collect();
                    order.sort_by(|&a, &b| {
                        let c = |i: usize| costs[i].unwrap_or(f64::INFINITY);
                        c(a).total_cmp(&c(b))
                    });
                    reason =
                        "every model ref breaks an SLO; on_no_candidates: cheapest".to_string();
                }
            }
        } else {
            order.extend((0..refs.len()).filter(|&i| candidates[i].excluded.is_some()));
            reason = match order.first() {
                Some(&i) => format!(
                    "best weighted score {:.3} (quality {:.2}, latency {:.2}, cost {:.2}, load {:.2})",
                    candidates[i].score,
                    self.weights[0],
                    self.weights[1],
                    self.weights[2],
                    self.weights[3]
                ),
                None => "no model refs".to_string(),
            };
        }
        let ordered: Vec<ModelRef> = order.iter().map(|&i| refs[i].clone()).collect();
        let trace = AlgorithmTrace {
            kind: "multi_factor".into(),
            status: SelectionStatus::Selected,
            chosen: ordered.first().map(|r| r.model.clone()),
            candidates,
            reason,
        };
        (Some(ordered), trace)
    }
}

/// Lower-is-better observations as scores: the lowest 1, the highest 0, linear between;
/// equal values and unobserved refs 0.5.
fn inverted(values: &[Option<f64>]) -> Vec<f64> {
    let (lo, hi) = values
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    values
        .iter()
        .map(|v| match v {
            Some(v) if hi > lo => 1.0 - (v - lo) / (hi - lo),
            _ => NEUTRAL,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn r(model: &str) -> ModelRef {
        ModelRef {
            model: model.into(),
            lora_name: None,
            use_reasoning: false,
            reasoning_effort: None,
            weight: None,
        }
    }

    fn facts() -> ModelFacts {
        ModelFacts {
            quality: [("big", 0.94), ("mid", 0.8), ("small", 0.6)]
                .map(|(m, q)| (m.to_string(), q))
                .into(),
            cost_per_1m: [("big", 1.75), ("mid", 0.5), ("small", 0.1)]
                .map(|(m, c)| (m.to_string(), c))
                .into(),
        }
    }

    fn models(refs: &[ModelRef]) -> Vec<&str> {
        refs.iter().map(|r| r.model.as_str()).collect()
    }

    #[test]
    fn quality_heavy_weights_pick_the_best_model_and_cost_heavy_the_cheapest() {
        let refs = [r("small"), r("mid"), r("big")];
        let quality =
            MultiFactor::from_block(Some(&json!({"weights": {"quality": 0.9, "cost": 0.1}})));
        let (order, trace) = quality.select(&refs, &facts());
        assert_eq!(models(&order.unwrap()), ["big", "mid", "small"]);
        assert_eq!(trace.chosen.as_deref(), Some("big"));
        let cost =
            MultiFactor::from_block(Some(&json!({"weights": {"quality": 0.1, "cost": 0.9}})));
        let (order, _) = cost.select(&refs, &facts());
        assert_eq!(models(&order.unwrap())[0], "small");
    }

    #[test]
    fn weights_are_normalised_and_negative_weights_count_as_zero() {
        let m = MultiFactor::from_block(Some(&json!({"weights": {"quality": 2, "cost": -1}})));
        assert_eq!(m.weights, [1.0, 0.0, 0.0, 0.0]);
        assert_eq!(MultiFactor::from_block(None).weights, [0.25; 4]);
        let zero = MultiFactor::from_block(Some(&json!({"weights": {"quality": 0}})));
        assert_eq!(zero.weights, [0.25; 4]);
    }

    #[test]
    fn cost_slo_excludes_dear_models_and_on_no_candidates_decides_when_all_break_it() {
        let refs = [r("big"), r("mid"), r("small")];
        let block = json!({"weights": {"quality": 1}, "slo": {"max_cost_per_1m": 0.6}});
        let (order, trace) = MultiFactor::from_block(Some(&block)).select(&refs, &facts());
        // big is excluded, so mid (best remaining quality) wins; big is kept last as a fallback.
        assert_eq!(models(&order.unwrap()), ["mid", "small", "big"]);
        assert!(trace.candidates[0].excluded.is_some());

        let all_out = |policy: &str| {
            let b = json!({"slo": {"max_cost_per_1m": 0.01}, "on_no_candidates": policy});
            MultiFactor::from_block(Some(&b)).select(&refs, &facts())
        };
        assert_eq!(models(&all_out("cheapest").0.unwrap())[0], "small");
        assert_eq!(models(&all_out("first").0.unwrap())[0], "big");
        let (none, trace) = all_out("fail");
        assert!(none.is_none() && trace.chosen.is_none());
    }

    #[test]
    fn unknown_models_score_neutral_and_ties_keep_declaration_order() {
        let refs = [r("x"), r("y")];
        let (order, trace) = MultiFactor::from_block(None).select(&refs, &ModelFacts::default());
        assert_eq!(models(&order.unwrap()), ["x", "y"]);
        assert!(
            trace
                .candidates
                .iter()
                .all(|c| (c.score - 0.5).abs() < 1e-12)
        );
    }
}

#[cfg(test)]
mod live_tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;
    use crate::algorithms::testing::Fixed;

    fn r(model: &str) -> ModelRef {
        ModelRef {
            model: model.into(),
            ..ModelRef::default()
        }
    }

    #[test]
    fn latency_and_load_weigh_and_their_slos_exclude() {
        let refs = [r("slow"), r("fast"), r("busy")];
        let live = Fixed(HashMap::from([
            ("slow", (Some(80.0), None, 0)),
            ("fast", (None, Some(10.0), 1)),
            ("busy", (Some(20.0), None, 9)),
        ]));
        let latency = MultiFactor::from_block(Some(&json!({"weights": {"latency": 1.0}})));
        let (order, trace) = latency.select_live(&refs, &ModelFacts::default(), Some(&live));
        let names: Vec<&str> = order.iter().flatten().map(|r| r.model.as_str()).collect();
        // fast's TTFT (10) stands in for its missing TPOT: lowest latency.
        assert_eq!(names, ["fast", "busy", "slow"]);
        assert_eq!(trace.candidates[1].factors[1], ("latency".to_string(), 1.0));
        let load = MultiFactor::from_block(Some(&json!({"weights": {"load": 1.0}})));
        let (order, _) = load.select_live(&refs, &ModelFacts::default(), Some(&live));
        assert_eq!(order.expect("order")[0].model, "slow");
        let slo = MultiFactor::from_block(Some(&json!({
            "weights": {"latency": 1.0},
            "slo": {"max_tpot_ms": 50, "max_inflight": 5},
            "latency_percentile": 90
        })));
        assert_eq!(slo.latency_percentile, 90);
        let (order, trace) = slo.select_live(&refs, &ModelFacts::default(), Some(&live));
        assert_eq!(order.expect("order")[0].model, "fast");
        let why: Vec<Option<&str>> = trace
            .candidates
            .iter()
            .map(|c| c.excluded.as_deref())
            .collect();
        assert!(why[0].is_some_and(|w| w.contains("max_tpot_ms")), "{why:?}");
        assert!(
            why[2].is_some_and(|w| w.contains("max_inflight")),
            "{why:?}"
        );
        // The pure engine observes nothing: every ref scores latency and load 0.5.
        let (_, pure) = slo.select(&refs, &ModelFacts::default());
        assert!(pure.candidates.iter().all(|c| c.excluded.is_none()));
    }
}
