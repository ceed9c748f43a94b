//! Live model selection: `latency_aware` and `multi_factor` decisions choose among their model
//! refs by what this process observed — recent time to first token and time per output token
//! per model ([`LatencyBook`], fed when each answer ends) and requests in flight (the pools).
//! The classifier's engine is pure and keeps the first ref (or scores latency and load
//! neutrally); the proxy and the eval API re-run the decision's selector here with the
//! observations (head-delta §15.3, §20).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use vsr_engine::algorithms::{LiveView, ModelFacts, Selector};
use vsr_engine::{ModelRef, Reasoning, RoutingResult};

use crate::by_decision::ByDecision;
use crate::pool::Pool;
use crate::state::Runtime;

/// Observations kept per model and metric (the most recent).
const WINDOW: usize = 1000;
/// Below this many observations a percentile is the mean.
const MIN_FOR_PERCENTILE: usize = 3;

#[derive(Debug, Default)]
struct Series {
    ttft_ms: VecDeque<f64>,
    tpot_ms: VecDeque<f64>,
}

fn push(q: &mut VecDeque<f64>, v: f64) {
    if q.len() == WINDOW {
        q.pop_front();
    }
    q.push_back(v);
}

/// The `p`-th percentile (1–100) of `values`, linearly interpolated; the mean below
/// [`MIN_FOR_PERCENTILE`] values.
fn percentile(values: &VecDeque<f64>, p: u8) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    if values.len() < MIN_FOR_PERCENTILE {
        return Some(values.iter().sum::<f64>() / values.len() as f64);
    }
    let mut sorted: Vec<f64> = values.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let at = f64::from(p.clamp(1, 100)) / 100.0 * (sorted.len() - 1) as f64;
    let lo = at.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let w = at - lo as f64;
    Some(sorted[lo] * (1.0 - w) + sorted[hi] * w)
}

/// Recent latencies per model (the alias answers came from), for the process's life.
#[derive(Debug, Default)]
pub struct LatencyBook {
    by_model: Mutex<HashMap<String, Series>>,
}

impl LatencyBook {
    /// Records one complete answer: its time to first token and, when it produced tokens, its
    /// time per output token.
    pub fn record(&self, model: &str, ttft_ms: Option<f64>, tpot_ms: Option<f64>) {
        let mut by_model = self.by_model.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded by the configured aliases: answers come only from them.
        if !by_model.contains_key(model) {
            by_model.insert(model.to_string(), Series::default());
        }
        let Some(s) = by_model.get_mut(model) else {
            return;
        };
        if let Some(t) = ttft_ms.filter(|t| t.is_finite() && *t >= 0.0) {
            push(&mut s.ttft_ms, t);
        }
        if let Some(t) = tpot_ms.filter(|t| t.is_finite() && *t >= 0.0) {
            push(&mut s.tpot_ms, t);
        }
    }

    fn read(&self, model: &str, f: impl Fn(&Series) -> Option<f64>) -> Option<f64> {
        let by_model = self.by_model.lock().unwrap_or_else(|e| e.into_inner());
        by_model.get(model).and_then(f)
    }
}

/// The observations as the selectors read them: the book plus the pools' in-flight counts.
pub(crate) struct Live<'a> {
    pub book: &'a LatencyBook,
    pub pools: &'a HashMap<String, Arc<Pool>>,
}

impl LiveView for Live<'_> {
    fn tpot_ms(&self, model: &str, p: u8) -> Option<f64> {
        self.book.read(model, |s| percentile(&s.tpot_ms, p))
    }
    fn ttft_ms(&self, model: &str, p: u8) -> Option<f64> {
        self.book.read(model, |s| percentile(&s.ttft_ms, p))
    }
    fn inflight(&self, model: &str) -> u64 {
        self.pools.get(model).map_or(0, |pool| {
            (0..pool.endpoints.len())
                .map(|i| u64::from(pool.in_flight(i)))
                .sum()
        })
    }
}

/// A decision whose selector reads live observations, with its refs as declared.
#[derive(Debug, Clone)]
pub struct LiveSelector {
    selector: Selector,
    refs: Vec<ModelRef>,
}

/// The live selectors of a config and what they weigh (built per config generation).
#[derive(Debug, Clone, Default)]
pub struct LiveSelectors {
    by_decision: ByDecision<LiveSelector>,
    facts: ModelFacts,
}

impl LiveSelectors {
    /// Whether no decision selects by live observations (then answers need not be timed).
    pub fn is_empty(&self) -> bool {
        self.by_decision.is_empty()
    }

    pub fn from_config(cfg: &vsr_config::Config) -> Self {
        let by_decision = ByDecision::from_config(cfg, |d| {
            let a = d.algorithm.as_ref()?;
            if d.model_refs.len() < 2 {
                return None;
            }
            let selector = Selector::from_config(&a.kind, a.params.as_ref())?;
            matches!(
                selector,
                Selector::LatencyAware(_) | Selector::MultiFactor(_)
            )
            .then(|| LiveSelector {
                selector,
                refs: d.model_refs.iter().map(ModelRef::from).collect(),
            })
        });
        LiveSelectors {
            by_decision,
            facts: ModelFacts::from_config(cfg),
        }
    }
}

/// Re-runs the decision's selector with the live observations; the chosen ref becomes the
/// result's model (with its reasoning) and the trace says why. No-op for other decisions and
/// when the selector refuses every ref (the engine's answer stands).
pub(crate) fn reselect(rt: &Runtime, book: &LatencyBook, result: &mut RoutingResult) {
    if result.fast_response.is_some() {
        return;
    }
    let Some(decision) = result.decision.as_deref() else {
        return;
    };
    let Some(live_selector) = rt
        .settings
        .live_selectors
        .by_decision
        .get(result.recipe.as_deref(), decision)
    else {
        return;
    };
    let live = Live {
        book,
        pools: &rt.pools,
    };
    let (ordered, trace) = live_selector.selector.select_live(
        &live_selector.refs,
        &rt.settings.live_selectors.facts,
        Some(&live),
    );
    let Some(first) = ordered.as_ref().and_then(|o| o.first()) else {
        return;
    };
    result.model = first.target().to_string();
    result.reasoning = Reasoning::of_ref(
        first,
        rt.settings.default_reasoning_effort.as_deref(),
        rt.settings
            .models
            .get(&first.model)
            .and_then(|m| m.reasoning_family.clone()),
    );
    result.model_refs = ordered.unwrap_or_default();
    result.algorithm = Some(trace);
}

/// Observations before the learned bytes-per-token ratio is used (as upstream).
const MIN_CALIBRATION_SAMPLES: u64 = 10;
/// How far a lower observation moves the conservative ratio (a higher one moves it 1 − this).
const CONSERVATIVE_ALPHA: f64 = 0.9;

/// Bytes of prose per provider token, learned from the prompt tokens providers report for
/// text-only requests (head-delta §11, August configs' `context` count): conservative, so it
/// follows low ratios (more tokens) fast and high ones slowly. The count uses 4 until
/// [`MIN_CALIBRATION_SAMPLES`] answers were seen, so context bands may shift as it learns.
#[derive(Debug, Default)]
pub struct TokenCalibrator {
    /// (samples, conservative ratio).
    state: Mutex<(u64, f64)>,
}

impl TokenCalibrator {
    /// One answer: the request's prose bytes and the prompt tokens the provider counted.
    pub fn observe(&self, text_bytes: usize, prompt_tokens: u64) {
        if text_bytes == 0 || prompt_tokens == 0 {
            return;
        }
        let observed = text_bytes as f64 / prompt_tokens as f64;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (samples, ratio) = &mut *s;
        if *samples == 0 {
            *ratio = observed;
        } else if observed < *ratio {
            *ratio += CONSERVATIVE_ALPHA * (observed - *ratio);
        } else {
            *ratio += (1.0 - CONSERVATIVE_ALPHA) * (observed - *ratio);
        }
        *samples += 1;
    }

    /// The learned ratio, once enough answers were seen.
    pub fn ratio(&self) -> Option<f64> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.0 >= MIN_CALIBRATION_SAMPLES && s.1 > 0.0).then_some(s.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_is_learned_conservatively_after_ten_answers() {
        let c = TokenCalibrator::default();
        for _ in 0..9 {
            c.observe(300, 100);
        }
        assert_eq!(c.ratio(), None, "4 bytes a token until ten answers");
        c.observe(300, 100);
        assert_eq!(c.ratio(), Some(3.0));
        // A denser answer pulls it down fast, a sparser one up slowly.
        c.observe(200, 100);
        let low = c.ratio().unwrap_or(0.0);
        assert!((low - 2.1).abs() < 1e-9, "{low}");
        c.observe(500, 100);
        let high = c.ratio().unwrap_or(0.0);
        assert!((high - (2.1 + 0.1 * 2.9)).abs() < 1e-9, "{high}");
        c.observe(0, 10);
        c.observe(10, 0);
        assert_eq!(c.ratio(), Some(high), "empty observations are ignored");
    }

    #[test]
    fn percentiles_interpolate_and_few_observations_average() {
        let q: VecDeque<f64> = [10.0, 20.0].into_iter().collect();
        assert_eq!(percentile(&q, 95), Some(15.0));
        let q: VecDeque<f64> = (1..=101).map(f64::from).collect();
        assert_eq!(percentile(&q, 50), Some(51.0));
        assert_eq!(percentile(&q, 100), Some(101.0));
        assert!((percentile(&q, 95).unwrap_or(0.0) - 96.0).abs() < 1e-9);
        assert_eq!(percentile(&VecDeque::new(), 50), None);
    }

    #[test]
    fn the_book_keeps_a_bounded_window_per_model() {
        let book = LatencyBook::default();
        for i in 0..(WINDOW + 10) {
            book.record("m", Some(i as f64), None);
        }
        book.record("m", None, Some(5.0));
        let by_model = book.by_model.lock().unwrap_or_else(|e| e.into_inner());
        let s = by_model.get("m").expect("series");
        assert_eq!(s.ttft_ms.len(), WINDOW);
        assert_eq!(s.ttft_ms.front(), Some(&10.0));
        assert_eq!(s.tpot_ms.len(), 1);
    }
}
