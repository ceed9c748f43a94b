//! The router's Prometheus metrics on `prometheus-client`, exposed in the OpenMetrics text
//! format. Series names follow upstream's `llm_*` names (surface spec §3.4); counters are
//! registered without `_total`, which the encoder appends to every sample.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
/// Routing phases run in microseconds; forwarding can take minutes.
const PHASE_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const TOKEN_BUCKETS: &[f64] = &[8.0, 32.0, 128.0, 512.0, 2048.0, 8192.0, 32768.0];

type L1 = [(&'static str, String); 1];
type L2 = [(&'static str, String); 2];
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;
type F64Counter = Counter<f64, std::sync::atomic::AtomicU64>;

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}
fn tokens() -> Histogram {
    Histogram::new(TOKEN_BUCKETS.iter().copied())
}
fn phase() -> Histogram {
    Histogram::new(PHASE_BUCKETS.iter().copied())
}

fn hist<L: Clone + std::hash::Hash + Eq>(c: fn() -> Histogram) -> Histograms<L> {
    Family::new_with_constructor(c)
}

fn l1(k: &'static str, v: &str) -> L1 {
    [(k, v.to_string())]
}
fn l2(k1: &'static str, v1: &str, k2: &'static str, v2: &str) -> L2 {
    [(k1, v1.to_string()), (k2, v2.to_string())]
}

/// A request phase timed by `vsr_phase_duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Typed messages and the request view (routed path).
    Parse,
    Signals,
    Projections,
    Decision,
    /// Upstream request until response headers (and the first body frame for 2xx).
    Forward,
    /// Starting the replay record.
    Record,
    /// The response cache lookup (routed requests whose decision caches).
    Cache,
}

// `Cache` is the last phase: a new one must extend `Phase::COUNT`.
const _: () = assert!(Phase::Cache as usize + 1 == Phase::COUNT);

impl Phase {
    const COUNT: usize = 7;

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Parse => "parse",
            Phase::Signals => "signals",
            Phase::Projections => "projections",
            Phase::Decision => "decision",
            Phase::Forward => "forward",
            Phase::Record => "record",
            Phase::Cache => "cache",
        }
    }
}

/// The router's metrics. One instance lives for the process (it survives reloads).
pub struct Metrics {
    registry: Registry,
    requests: Family<L1, Counter>,
    errors: Family<L2, Counter>,
    routing_mods: Family<L2, Counter>,
    tokens: Family<L1, Counter>,
    prompt_tokens: Family<L1, Counter>,
    completion_tokens: Family<L1, Counter>,
    cost: Family<L2, F64Counter>,
    decision_match: Family<L1, Counter>,
    signal_match: Family<L2, Counter>,
    fast_responses: Family<L1, Counter>,
    reloads: Family<L1, Counter>,
    upstream_retries: Family<L1, Counter>,
    ejections: Family<L2, Counter>,
    fallbacks: Family<L2, Counter>,
    latency: Histograms<L1>,
    ttft: Histograms<L1>,
    routing_latency: Histogram,
    prompt_per_req: Histograms<L1>,
    completion_per_req: Histograms<L1>,
    phases: Histograms<[(&'static str, &'static str); 1]>,
    /// Each phase's series, looked up once (a label lookup per request costs more than the
    /// observation).
    phase_series: [std::sync::OnceLock<Histogram>; Phase::COUNT],
    /// Handles of each alias's series, so a request looks its alias up once instead of
    /// building and hashing labels for every observation.
    models: std::sync::RwLock<std::collections::HashMap<String, Arc<ModelMetrics>>>,
}

/// One alias's per-request series (`Counter` and `Histogram` clones share their values with
/// the registered families).
pub struct ModelMetrics {
    requests: Counter,
    latency: Histogram,
    ttft: Histogram,
    tokens: Counter,
    prompt_tokens: Counter,
    completion_tokens: Counter,
    prompt_per_req: Histogram,
    completion_per_req: Histogram,
}

impl ModelMetrics {
    pub fn request(&self) {
        self.requests.inc();
    }
    pub fn latency(&self, secs: f64) {
        self.latency.observe(secs);
    }
    pub fn ttft(&self, secs: f64) {
        self.ttft.observe(secs);
    }
    pub fn usage(&self, prompt: u64, completion: u64) {
        self.tokens.inc_by(prompt + completion);
        self.prompt_tokens.inc_by(prompt);
        self.completion_tokens.inc_by(completion);
        self.prompt_per_req.observe(prompt as f64);
        self.completion_per_req.observe(completion as f64);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers `metric` under `name` (counters without `_total`); `help` loses its final dot,
/// which the registry adds back.
fn reg<M: prometheus_client::registry::Metric + Clone>(
    r: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    r.register(name, help.trim_end_matches('.'), metric.clone());
    metric
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::default();
        Self {
            requests: reg(
                &mut r,
                "llm_model_requests",
                "Requests per model alias.",
                Family::default(),
            ),
            errors: reg(
                &mut r,
                "llm_request_errors",
                "Request errors by model and reason.",
                Family::default(),
            ),
            routing_mods: reg(
                &mut r,
                "llm_model_routing_modifications",
                "Auto-routed requests by source and target model.",
                Family::default(),
            ),
            tokens: reg(
                &mut r,
                "llm_model_tokens",
                "Total tokens per model.",
                Family::default(),
            ),
            prompt_tokens: reg(
                &mut r,
                "llm_model_prompt_tokens",
                "Prompt tokens per model.",
                Family::default(),
            ),
            completion_tokens: reg(
                &mut r,
                "llm_model_completion_tokens",
                "Completion tokens per model.",
                Family::default(),
            ),
            cost: reg(
                &mut r,
                "llm_model_cost",
                "Cost per model and currency.",
                Family::default(),
            ),
            decision_match: reg(
                &mut r,
                "llm_decision_match",
                "Matched decisions.",
                Family::default(),
            ),
            signal_match: reg(
                &mut r,
                "llm_signal_match",
                "Matched signals.",
                Family::default(),
            ),
            fast_responses: reg(
                &mut r,
                "vsr_fast_responses",
                "Requests answered by the fast_response plugin.",
                Family::default(),
            ),
            reloads: reg(
                &mut r,
                "vsr_config_reloads",
                "Config reload attempts by result.",
                Family::default(),
            ),
            upstream_retries: reg(
                &mut r,
                "vsr_upstream_retries",
                "Upstream retries after connect or pre-header failures.",
                Family::default(),
            ),
            ejections: reg(
                &mut r,
                "vsr_upstream_ejections",
                "Passive outlier ejections.",
                Family::default(),
            ),
            fallbacks: reg(
                &mut r,
                "vsr_upstream_fallbacks",
                "Requests passed from a failed alias to the decision's next model ref.",
                Family::default(),
            ),
            latency: reg(
                &mut r,
                "llm_model_completion_latency_seconds",
                "Completion latency per model.",
                hist(latency),
            ),
            ttft: reg(
                &mut r,
                "llm_model_ttft_seconds",
                "Time to first token per model.",
                hist(latency),
            ),
            routing_latency: reg(
                &mut r,
                "llm_model_routing_latency_seconds",
                "Time spent classifying and routing.",
                latency(),
            ),
            prompt_per_req: reg(
                &mut r,
                "llm_prompt_tokens_per_request",
                "Prompt tokens per request.",
                hist(tokens),
            ),
            completion_per_req: reg(
                &mut r,
                "llm_completion_tokens_per_request",
                "Completion tokens per request.",
                hist(tokens),
            ),
            phases: reg(
                &mut r,
                "vsr_phase_duration_seconds",
                "Time per request phase (parse, signals, projections, decision, forward, record).",
                hist(phase),
            ),
            registry: r,
            phase_series: Default::default(),
            models: Default::default(),
        }
    }

    /// The series of `alias` (created on first use, then served from a cache).
    pub fn model(&self, alias: &str) -> Arc<ModelMetrics> {
        let read = self.models.read().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = read.get(alias) {
            return Arc::clone(m);
        }
        drop(read);
        let mut write = self.models.write().unwrap_or_else(|p| p.into_inner());
        let l = l1("model", alias);
        let m = write.entry(alias.to_string()).or_insert_with(|| {
            Arc::new(ModelMetrics {
                requests: self.requests.get_or_create(&l).clone(),
                latency: self.latency.get_or_create(&l).clone(),
                ttft: self.ttft.get_or_create(&l).clone(),
                tokens: self.tokens.get_or_create(&l).clone(),
                prompt_tokens: self.prompt_tokens.get_or_create(&l).clone(),
                completion_tokens: self.completion_tokens.get_or_create(&l).clone(),
                prompt_per_req: self.prompt_per_req.get_or_create(&l).clone(),
                completion_per_req: self.completion_per_req.get_or_create(&l).clone(),
            })
        });
        Arc::clone(m)
    }

    pub fn request(&self, model: &str) {
        self.model(model).request();
    }
    pub fn error(&self, model: &str, reason: &str) {
        self.errors
            .get_or_create(&l2("model", model, "reason", reason))
            .inc();
    }
    pub fn errors_for(&self, model: &str, reason: &str) -> f64 {
        self.errors
            .get(&l2("model", model, "reason", reason))
            .map_or(0.0, |c| c.get() as f64)
    }
    pub fn routed(&self, source: &str, target: &str) {
        self.routing_mods
            .get_or_create(&l2("source_model", source, "target_model", target))
            .inc();
    }
    pub fn usage(&self, model: &str, prompt: u64, completion: u64, cost: Option<(f64, &str)>) {
        self.model(model).usage(prompt, completion);
        if let Some((c, currency)) = cost {
            self.cost(model, currency, c);
        }
    }
    pub fn cost(&self, model: &str, currency: &str, amount: f64) {
        self.cost
            .get_or_create(&l2("model", model, "currency", currency))
            .inc_by(amount);
    }
    pub fn decision(&self, name: &str) {
        self.decision_match
            .get_or_create(&l1("decision_name", name))
            .inc();
    }
    pub fn signal(&self, family: &str, name: &str) {
        self.signal_match
            .get_or_create(&l2("signal_type", family, "signal_name", name))
            .inc();
    }
    pub fn fast_response(&self, decision: &str) {
        self.fast_responses
            .get_or_create(&l1("decision_name", decision))
            .inc();
    }
    pub fn reload(&self, ok: bool) {
        let result = if ok { "success" } else { "error" };
        self.reloads.get_or_create(&l1("result", result)).inc();
    }
    pub fn retry(&self, model: &str) {
        self.upstream_retries
            .get_or_create(&l1("model", model))
            .inc();
    }
    pub fn ejection(&self, model: &str, endpoint: &str) {
        self.ejections
            .get_or_create(&l2("model", model, "endpoint", endpoint))
            .inc();
    }
    pub fn fallback(&self, from: &str, to: &str) {
        self.fallbacks
            .get_or_create(&l2("from_model", from, "to_model", to))
            .inc();
    }
    pub fn latency(&self, model: &str, secs: f64) {
        self.model(model).latency(secs);
    }
    pub fn ttft(&self, model: &str, secs: f64) {
        self.model(model).ttft(secs);
    }
    pub fn routing_latency(&self, secs: f64) {
        self.routing_latency.observe(secs);
    }
    pub fn phase(&self, phase: Phase, took: Duration) {
        self.phase_series[phase as usize]
            .get_or_init(|| {
                self.phases
                    .get_or_create(&[("phase", phase.as_str())])
                    .clone()
            })
            .observe(took.as_secs_f64());
    }
    /// The engine's phases of one routing result (zero timings are a fallback: not observed).
    pub fn routing_phases(&self, t: &vsr_engine::Timing) {
        for (phase, ns) in [
            (Phase::Signals, t.signals_ns),
            (Phase::Projections, t.projections_ns),
            (Phase::Decision, t.decisions_ns),
        ] {
            if ns > 0 {
                self.phase(phase, Duration::from_nanos(ns));
            }
        }
    }

    /// The OpenMetrics exposition; `extra` appends other families (the replay sink's) before
    /// the closing `# EOF`.
    pub fn render_with(&self, extra: impl FnOnce(&mut String)) -> String {
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        extra(&mut out);
        let _ = encode_eof(&mut out);
        out
    }

    pub fn render(&self) -> String {
        self.render_with(|_| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.request("a\"b");
        m.request("a\"b");
        m.latency("x", 0.003);
        m.usage("x", 10, 5, Some((0.5, "USD")));
        m.phase(Phase::Forward, Duration::from_millis(3));
        m.routing_phases(&vsr_engine::Timing {
            signals_ns: 20_000,
            projections_ns: 0,
            decisions_ns: 1_000,
        });
        m.reload(false);
        let t = m.render();
        assert!(
            t.contains("llm_model_requests_total{model=\"a\\\"b\"} 2"),
            "{t}"
        );
        // prometheus-client writes `le` first.
        assert!(
            t.contains("llm_model_completion_latency_seconds_bucket{le=\"0.0025\",model=\"x\"} 0"),
            "{t}"
        );
        assert!(
            t.contains("llm_model_completion_latency_seconds_bucket{le=\"0.005\",model=\"x\"} 1"),
            "{t}"
        );
        assert!(t.contains("llm_model_completion_latency_seconds_count{model=\"x\"} 1"));
        assert!(t.contains("llm_model_cost_total{model=\"x\",currency=\"USD\"} 0.5"));
        assert!(t.contains("llm_model_tokens_total{model=\"x\"} 15"));
        assert!(t.contains("vsr_config_reloads_total{result=\"error\"} 1"));
        assert!(t.contains("# TYPE vsr_phase_duration_seconds histogram"));
        assert!(t.contains("vsr_phase_duration_seconds_count{phase=\"forward\"} 1"));
        assert!(t.contains("vsr_phase_duration_seconds_count{phase=\"signals\"} 1"));
        assert!(t.contains("vsr_phase_duration_seconds_count{phase=\"decision\"} 1"));
        assert!(
            !t.contains("phase=\"projections\""),
            "zero timings are skipped"
        );
        assert!(t.ends_with("# EOF\n"), "{t}");
        assert_eq!(m.errors_for("x", "timeout"), 0.0);
        m.error("x", "timeout");
        assert_eq!(m.errors_for("x", "timeout"), 1.0);
    }

    #[test]
    fn an_alias_handle_is_cached_and_feeds_the_registered_series() {
        let m = Metrics::new();
        let h = m.model("a");
        assert!(Arc::ptr_eq(&h, &m.model("a")));
        h.request();
        m.request("a");
        h.usage(3, 4);
        h.ttft(0.01);
        let t = m.render();
        assert!(t.contains("llm_model_requests_total{model=\"a\"} 2"), "{t}");
        assert!(t.contains("llm_model_tokens_total{model=\"a\"} 7"), "{t}");
        assert!(
            t.contains("llm_model_ttft_seconds_count{model=\"a\"} 1"),
            "{t}"
        );
    }

    #[test]
    fn extra_families_go_before_eof() {
        let t = Metrics::new().render_with(|out| out.push_str("extra_total 1\n"));
        assert!(t.ends_with("extra_total 1\n# EOF\n"), "{t}");
    }
}
