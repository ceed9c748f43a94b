//! Cache-hit versus miss latency through the proxy (`cargo run -p vsr-server --example
//! cache_latency`): a router in front of the sim backend, one decision with the response cache
//! (exact mode), sequential requests over loopback. Misses send a new prompt each time; hits
//! repeat one. Env: N (default 500), SIM_LATENCY_MS (default 0: pure router cost), WORDS
//! (default 64).

use std::sync::Arc;
use std::time::{Duration, Instant};

use vsr_engine::RoutingResult;
use vsr_server::sim::{self, SimOptions};
use vsr_server::{Classifier, ClassifyError, ServeOptions, ValidatingLoader};
use vsr_signals::RequestView;

/// Every request gets decision `general` on alias `a`.
struct OneDecision;

impl Classifier for OneDecision {
    fn route(&self, _: Option<&str>, _: &RequestView) -> Result<RoutingResult, ClassifyError> {
        let mut r = RoutingResult::fallback("a", "bench");
        r.decision = Some("general".into());
        r.is_default = false;
        Ok(r)
    }
    fn eval(&self, r: Option<&str>, v: &RequestView) -> Result<RoutingResult, ClassifyError> {
        self.route(r, v)
    }
}

#[tokio::main]
async fn main() {
    let n = env("N", 500);
    let sim = sim::start(
        ([127, 0, 0, 1], 0).into(),
        SimOptions {
            models: vec!["a".into()],
            latency: Duration::from_millis(env("SIM_LATENCY_MS", 0) as u64),
            words: env("WORDS", 64),
            ..SimOptions::default()
        },
    )
    .await
    .expect("sim starts");
    let dir = std::env::temp_dir().join(format!("vsr-cache-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "version: v0.3
listeners: [{{name: http, address: 127.0.0.1, port: 9}}]
providers:
  defaults: {{default_model: a}}
  models: [{{name: a, backend_refs: [{{name: be, endpoint: \"{}\"}}]}}]
routing:
  modelCards: [{{name: a}}]
  signals:
    keywords: [{{name: kw, operator: OR, keywords: [x]}}]
  decisions:
    - name: general
      rules: {{operator: AND, conditions: [{{type: keyword, name: kw}}]}}
      modelRefs: [{{model: a}}]
      plugins: [{{type: response_cache, configuration: {{enabled: true, scope: global, mode: exact}}}}]
",
            sim.addr
        ),
    )
    .expect("config");
    let loader = ValidatingLoader::with_classifier(|_, _| Ok(Arc::new(OneDecision) as _));
    let mut opts = ServeOptions::new(&config, Arc::new(loader));
    opts.listen_override = Some(([127, 0, 0, 1], 0).into());
    let server = vsr_server::serve(opts).await.expect("router starts");
    let url = format!("http://{}/v1/chat/completions", server.addrs[0]);
    let c = vsr_testkit::http::client();
    let body = |q: &str| {
        serde_json::json!({"model": "MoM", "messages": [{"role": "user", "content": q}]})
            .to_string()
    };
    // Warm-up, and the entry the hits read.
    for _ in 0..20 {
        vsr_testkit::http::send(&c, "POST", &url, &body("the cached question"), &[]).await;
    }
    let mut results = Vec::new();
    for (name, hit) in [("miss (upstream)", false), ("hit (from cache)", true)] {
        let mut times = Vec::with_capacity(n);
        let mut statuses = std::collections::BTreeMap::new();
        for i in 0..n {
            let q = if hit {
                "the cached question".to_string()
            } else {
                format!("a new question {i}")
            };
            let t = Instant::now();
            let r = vsr_testkit::http::send(&c, "POST", &url, &body(&q), &[]).await;
            times.push(t.elapsed());
            *statuses
                .entry(r.header("x-vsr-cache").unwrap_or("-").to_string())
                .or_insert(0) += 1;
        }
        times.sort();
        let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
        println!(
            "{name:18} p50 {:7.3} ms  p99 {:7.3} ms  x-vsr-cache {statuses:?}",
            q(0.5),
            q(0.99)
        );
        results.push(q(0.5));
    }
    println!("hit / miss p50 ratio: {:.2}", results[1] / results[0]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
