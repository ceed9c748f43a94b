//! A small Prometheus registry: labelled counters and histograms rendered in the text format.
//! Series names follow upstream's `llm_*` names (surface spec §3.4).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

struct Counter {
    name: &'static str,
    help: &'static str,
    series: Mutex<BTreeMap<Vec<String>, f64>>,
    keys: &'static [&'static str],
}

impl Counter {
    const fn new(name: &'static str, help: &'static str, keys: &'static [&'static str]) -> Self {
        Self {
            name,
            help,
            series: Mutex::new(BTreeMap::new()),
            keys,
        }
    }
    fn add(&self, labels: &[&str], v: f64) {
        if let Ok(mut m) = self.series.lock() {
            // Existing series are found without allocating a key (label sets are few).
            if let Some((_, slot)) = m.iter_mut().find(|(k, _)| same(k, labels)) {
                *slot += v;
            } else {
                m.insert(labels.iter().map(|s| s.to_string()).collect(), v);
            }
        }
    }
    fn get(&self, labels: &[&str]) -> f64 {
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        self.series
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
            .unwrap_or(0.0)
    }
    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} counter",
            self.name, self.help, self.name
        );
        if let Ok(m) = self.series.lock() {
            for (vals, v) in m.iter() {
                let _ = writeln!(
                    out,
                    "{}{} {}",
                    self.name,
                    label_str(self.keys, vals, None),
                    v
                );
            }
        }
    }
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
const TOKEN_BUCKETS: &[f64] = &[8.0, 32.0, 128.0, 512.0, 2048.0, 8192.0, 32768.0];

/// Bucket counts, sum and count of one label set.
type HistogramSeries = (Vec<u64>, f64, u64);

struct Histogram {
    name: &'static str,
    help: &'static str,
    buckets: &'static [f64],
    keys: &'static [&'static str],
    /// Per label set: bucket counts, sum, count.
    series: Mutex<BTreeMap<Vec<String>, HistogramSeries>>,
}

impl Histogram {
    const fn new(
        name: &'static str,
        help: &'static str,
        keys: &'static [&'static str],
        buckets: &'static [f64],
    ) -> Self {
        Self {
            name,
            help,
            buckets,
            keys,
            series: Mutex::new(BTreeMap::new()),
        }
    }
    fn observe(&self, labels: &[&str], v: f64) {
        if let Ok(mut m) = self.series.lock() {
            if !m.keys().any(|k| same(k, labels)) {
                m.insert(
                    labels.iter().map(|s| s.to_string()).collect(),
                    (vec![0; self.buckets.len()], 0.0, 0),
                );
            }
            let Some((_, e)) = m.iter_mut().find(|(k, _)| same(k, labels)) else {
                return;
            };
            for (i, b) in self.buckets.iter().enumerate() {
                if v <= *b {
                    e.0[i] += 1;
                }
            }
            e.1 += v;
            e.2 += 1;
        }
    }
    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} histogram",
            self.name, self.help, self.name
        );
        if let Ok(m) = self.series.lock() {
            for (vals, (counts, sum, count)) in m.iter() {
                for (i, b) in self.buckets.iter().enumerate() {
                    let le = format!("{b}");
                    let _ = writeln!(
                        out,
                        "{}_bucket{} {}",
                        self.name,
                        label_str(self.keys, vals, Some(&le)),
                        counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "{}_bucket{} {}",
                    self.name,
                    label_str(self.keys, vals, Some("+Inf")),
                    count
                );
                let l = label_str(self.keys, vals, None);
                let _ = writeln!(
                    out,
                    "{}_sum{l} {sum}\n{}_count{l} {count}",
                    self.name, self.name
                );
            }
        }
    }
}

fn same(key: &[String], labels: &[&str]) -> bool {
    key.len() == labels.len() && key.iter().zip(labels).all(|(a, b)| a == b)
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_str(keys: &[&str], vals: &[String], le: Option<&str>) -> String {
    let mut parts: Vec<String> = keys
        .iter()
        .zip(vals)
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// The router's metrics. One instance lives for the process (it survives reloads).
pub struct Metrics {
    requests: Counter,
    errors: Counter,
    routing_mods: Counter,
    tokens: Counter,
    prompt_tokens: Counter,
    completion_tokens: Counter,
    cost: Counter,
    decision_match: Counter,
    signal_match: Counter,
    fast_responses: Counter,
    reloads: Counter,
    upstream_retries: Counter,
    ejections: Counter,
    latency: Histogram,
    ttft: Histogram,
    routing_latency: Histogram,
    prompt_per_req: Histogram,
    completion_per_req: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub const fn new() -> Self {
        Self {
            requests: Counter::new(
                "llm_model_requests_total",
                "Requests per model alias.",
                &["model"],
            ),
            errors: Counter::new(
                "llm_request_errors_total",
                "Request errors by model and reason.",
                &["model", "reason"],
            ),
            routing_mods: Counter::new(
                "llm_model_routing_modifications_total",
                "Auto-routed requests by source and target model.",
                &["source_model", "target_model"],
            ),
            tokens: Counter::new(
                "llm_model_tokens_total",
                "Total tokens per model.",
                &["model"],
            ),
            prompt_tokens: Counter::new(
                "llm_model_prompt_tokens_total",
                "Prompt tokens per model.",
                &["model"],
            ),
            completion_tokens: Counter::new(
                "llm_model_completion_tokens_total",
                "Completion tokens per model.",
                &["model"],
            ),
            cost: Counter::new(
                "llm_model_cost_total",
                "Cost per model and currency.",
                &["model", "currency"],
            ),
            decision_match: Counter::new(
                "llm_decision_match_total",
                "Matched decisions.",
                &["decision_name"],
            ),
            signal_match: Counter::new(
                "llm_signal_match_total",
                "Matched signals.",
                &["signal_type", "signal_name"],
            ),
            fast_responses: Counter::new(
                "vsr_fast_responses_total",
                "Requests answered by the fast_response plugin.",
                &["decision_name"],
            ),
            reloads: Counter::new(
                "vsr_config_reloads_total",
                "Config reload attempts by result.",
                &["result"],
            ),
            upstream_retries: Counter::new(
                "vsr_upstream_retries_total",
                "Upstream retries after connect or pre-header failures.",
                &["model"],
            ),
            ejections: Counter::new(
                "vsr_upstream_ejections_total",
                "Passive outlier ejections.",
                &["model", "endpoint"],
            ),
            latency: Histogram::new(
                "llm_model_completion_latency_seconds",
                "Completion latency per model.",
                &["model"],
                LATENCY_BUCKETS,
            ),
            ttft: Histogram::new(
                "llm_model_ttft_seconds",
                "Time to first token per model.",
                &["model"],
                LATENCY_BUCKETS,
            ),
            routing_latency: Histogram::new(
                "llm_model_routing_latency_seconds",
                "Time spent classifying and routing.",
                &[],
                LATENCY_BUCKETS,
            ),
            prompt_per_req: Histogram::new(
                "llm_prompt_tokens_per_request",
                "Prompt tokens per request.",
                &["model"],
                TOKEN_BUCKETS,
            ),
            completion_per_req: Histogram::new(
                "llm_completion_tokens_per_request",
                "Completion tokens per request.",
                &["model"],
                TOKEN_BUCKETS,
            ),
        }
    }

    pub fn request(&self, model: &str) {
        self.requests.add(&[model], 1.0);
    }
    pub fn error(&self, model: &str, reason: &str) {
        self.errors.add(&[model, reason], 1.0);
    }
    pub fn errors_for(&self, model: &str, reason: &str) -> f64 {
        self.errors.get(&[model, reason])
    }
    pub fn routed(&self, source: &str, target: &str) {
        self.routing_mods.add(&[source, target], 1.0);
    }
    pub fn usage(&self, model: &str, prompt: u64, completion: u64, cost: Option<(f64, &str)>) {
        self.tokens.add(&[model], (prompt + completion) as f64);
        self.prompt_tokens.add(&[model], prompt as f64);
        self.completion_tokens.add(&[model], completion as f64);
        self.prompt_per_req.observe(&[model], prompt as f64);
        self.completion_per_req.observe(&[model], completion as f64);
        if let Some((c, currency)) = cost {
            self.cost.add(&[model, currency], c);
        }
    }
    pub fn decision(&self, name: &str) {
        self.decision_match.add(&[name], 1.0);
    }
    pub fn signal(&self, family: &str, name: &str) {
        self.signal_match.add(&[family, name], 1.0);
    }
    pub fn fast_response(&self, decision: &str) {
        self.fast_responses.add(&[decision], 1.0);
    }
    pub fn reload(&self, ok: bool) {
        self.reloads
            .add(&[if ok { "success" } else { "error" }], 1.0);
    }
    pub fn retry(&self, model: &str) {
        self.upstream_retries.add(&[model], 1.0);
    }
    pub fn ejection(&self, model: &str, endpoint: &str) {
        self.ejections.add(&[model, endpoint], 1.0);
    }
    pub fn latency(&self, model: &str, secs: f64) {
        self.latency.observe(&[model], secs);
    }
    pub fn ttft(&self, model: &str, secs: f64) {
        self.ttft.observe(&[model], secs);
    }
    pub fn routing_latency(&self, secs: f64) {
        self.routing_latency.observe(&[], secs);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        for c in [
            &self.requests,
            &self.errors,
            &self.routing_mods,
            &self.tokens,
            &self.prompt_tokens,
            &self.completion_tokens,
            &self.cost,
            &self.decision_match,
            &self.signal_match,
            &self.fast_responses,
            &self.reloads,
            &self.upstream_retries,
            &self.ejections,
        ] {
            c.render(&mut out);
        }
        for h in [
            &self.latency,
            &self.ttft,
            &self.routing_latency,
            &self.prompt_per_req,
            &self.completion_per_req,
        ] {
            h.render(&mut out);
        }
        out
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
        let t = m.render();
        assert!(
            t.contains("llm_model_requests_total{model=\"a\\\"b\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("llm_model_completion_latency_seconds_bucket{model=\"x\",le=\"0.0025\"} 0")
        );
        assert!(
            t.contains("llm_model_completion_latency_seconds_bucket{model=\"x\",le=\"0.005\"} 1")
        );
        assert!(t.contains("llm_model_completion_latency_seconds_count{model=\"x\"} 1"));
        assert!(t.contains("llm_model_cost_total{model=\"x\",currency=\"USD\"} 0.5"));
        assert!(t.contains("llm_model_tokens_total{model=\"x\"} 15"));
    }
}
