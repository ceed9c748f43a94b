//! `latency_aware`: pick the decision's model ref that has been fastest lately, by the
//! configured percentiles of time per output token (`tpot_percentile`) and time to first
//! token (`ttft_percentile`). Each configured metric is divided by the best ref's value and the
//! ratios averaged: the lowest average wins. Refs without observations of every configured
//! metric do not compete; with none observed the first ref is used. The observations come
//! from the serving process ([`LiveView`]); the pure engine has none and keeps the first ref.

use serde_json::Value;

use super::{AlgorithmTrace, CandidateScore, LiveView, SelectionStatus};
use crate::decision::ModelRef;

/// A `latency_aware` block: the percentiles (1–100; 0 = not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyAware {
    pub tpot_percentile: u8,
    pub ttft_percentile: u8,
}

impl LatencyAware {
    /// Reads the block; validation refused percentiles outside 1–100.
    pub fn from_block(block: Option<&Value>) -> Self {
        let pct = |k: &str| {
            block
                .and_then(|b| b.get(k))
                .and_then(Value::as_u64)
                .filter(|p| (1..=100).contains(p))
                .map_or(0, |p| p as u8)
        };
        LatencyAware {
            tpot_percentile: pct("tpot_percentile"),
            ttft_percentile: pct("ttft_percentile"),
        }
    }

    /// Orders `refs` fastest first (the others keep their order behind it).
    pub fn select(
        &self,
        refs: &[ModelRef],
        live: Option<&dyn LiveView>,
    ) -> (Vec<ModelRef>, AlgorithmTrace) {
        let trace = |chosen: Option<&ModelRef>, candidates, reason: &str| AlgorithmTrace {
            kind: "latency_aware".into(),
            status: SelectionStatus::Selected,
            chosen: chosen.map(|r| r.model.clone()),
            candidates,
            reason: reason.to_string(),
        };
        // The refs as declared: the first one is used.
        let declared = |reason: &str| (refs.to_vec(), trace(refs.first(), Vec::new(), reason));
        if refs.len() <= 1 {
            return declared("one model ref");
        }
        let metrics: Vec<(&str, u8)> = [
            ("tpot", self.tpot_percentile),
            ("ttft", self.ttft_percentile),
        ]
        .into_iter()
        .filter(|(_, p)| *p > 0)
        .collect();
        let observed = |r: &ModelRef| -> Option<Vec<f64>> {
            let live = live?;
            metrics
                .iter()
                .map(|(m, p)| match *m {
                    "tpot" => live.tpot_ms(r.target(), *p),
                    _ => live.ttft_ms(r.target(), *p),
                })
                .map(|v| v.filter(|v| v.is_finite() && *v >= 0.0))
                .collect()
        };
        let values: Vec<Option<Vec<f64>>> = refs.iter().map(observed).collect();
        if metrics.is_empty() || values.iter().all(Option::is_none) {
            return declared("no latency observed yet: the first ref");
        }
        // The best (lowest) value of each metric among the refs observed.
        let best: Vec<f64> = (0..metrics.len())
            .map(|i| {
                values
                    .iter()
                    .flatten()
                    .map(|v| v[i])
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        // Mean ratio to the best (1 = fastest); lower wins.
        let ratio = |v: &[f64]| -> f64 {
            v.iter()
                .zip(&best)
                .map(|(x, b)| {
                    if *b > 0.0 {
                        x / b
                    } else if *x > 0.0 {
                        f64::INFINITY
                    } else {
                        1.0
                    }
                })
                .sum::<f64>()
                / v.len() as f64
        };
        let candidates: Vec<CandidateScore> = refs
            .iter()
            .zip(&values)
            .map(|(r, v)| match v {
                Some(v) => {
                    let q = ratio(v);
                    CandidateScore {
                        model: r.model.clone(),
                        score: if q.is_finite() && q > 0.0 {
                            1.0 / q
                        } else {
                            0.0
                        },
                        factors: metrics
                            .iter()
                            .zip(v)
                            .map(|((m, p), x)| (format!("{m}_p{p}_ms"), *x))
                            .collect(),
                        excluded: None,
                    }
                }
                None => CandidateScore {
                    model: r.model.clone(),
                    score: 0.0,
                    factors: Vec::new(),
                    excluded: Some("no latency observed".into()),
                },
            })
            .collect();
        let mut order: Vec<usize> = (0..refs.len()).collect();
        // Stable: observed refs by score (higher first), then the unobserved in declared order.
        order.sort_by(|&a, &b| {
            let key = |i: usize| (candidates[i].excluded.is_none(), candidates[i].score);
            let (ea, sa) = key(a);
            let (eb, sb) = key(b);
            eb.cmp(&ea).then(sb.total_cmp(&sa))
        });
        let ordered: Vec<ModelRef> = order.iter().map(|&i| refs[i].clone()).collect();
        let reason = format!(
            "fastest by {}",
            metrics
                .iter()
                .map(|(m, p)| format!("{m} p{p}"))
                .collect::<Vec<_>>()
                .join(" and ")
        );
        let t = trace(ordered.first(), candidates, &reason);
        (ordered, t)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    use crate::algorithms::testing::Fixed;

    fn r(m: &str) -> ModelRef {
        ModelRef {
            model: m.into(),
            ..ModelRef::default()
        }
    }

    fn names(refs: &[ModelRef]) -> Vec<&str> {
        refs.iter().map(|r| r.model.as_str()).collect()
    }

    #[test]
    fn the_fastest_observed_ref_wins_and_unobserved_refs_wait_behind() {
        let la =
            LatencyAware::from_block(Some(&json!({"tpot_percentile": 90, "ttft_percentile": 50})));
        assert_eq!((la.tpot_percentile, la.ttft_percentile), (90, 50));
        let refs = [r("a"), r("b"), r("c")];
        let live = Fixed(HashMap::from([
            ("a", (Some(40.0), Some(300.0), 0)),
            ("b", (Some(20.0), Some(200.0), 0)),
            ("c", (None, Some(100.0), 0)),
        ]));
        let (order, trace) = la.select(&refs, Some(&live));
        assert_eq!(names(&order), ["b", "a", "c"]);
        assert_eq!(trace.chosen.as_deref(), Some("b"));
        assert_eq!(trace.status, SelectionStatus::Selected);
        assert!(trace.candidates[2].excluded.is_some(), "c lacks a tpot");
        assert!(trace.candidates[1].score > trace.candidates[0].score);
        // Only ttft configured: c (100 ms) wins.
        let ttft = LatencyAware::from_block(Some(&json!({"ttft_percentile": 95})));
        assert_eq!(names(&ttft.select(&refs, Some(&live)).0), ["c", "b", "a"]);
    }

    #[test]
    fn without_observations_the_first_ref_is_kept() {
        let la = LatencyAware::from_block(Some(&json!({"tpot_percentile": 95})));
        let refs = [r("a"), r("b")];
        let (order, trace) = la.select(&refs, None);
        assert_eq!(names(&order), ["a", "b"]);
        assert!(
            trace.reason.contains("no latency observed"),
            "{}",
            trace.reason
        );
        let empty = Fixed(HashMap::new());
        assert_eq!(names(&la.select(&refs, Some(&empty)).0), ["a", "b"]);
        assert_eq!(
            la.select(&refs[..1], Some(&empty)).1.reason,
            "one model ref"
        );
    }
}
