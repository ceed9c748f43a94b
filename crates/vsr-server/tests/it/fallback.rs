//! Fallback across a decision's model refs against sim backends with injected faults: a
//! refused connection, a 503 burst, a slow first byte and a mid-stream cut each end as
//! documented (retry, then the next model ref; after the first streamed byte an SSE error
//! event and no retry), within the deadline, with the path in headers and in the record, and
//! other aliases unaffected. Circuit state shows in `/ready` and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use vsr_engine::{EvalMode, RoutingResult};
use vsr_server::sim::{Fault, SimServer};
use vsr_server::{
    Classifier, ClassifyError, ProxySettings, RecordSink, ServeOptions, ValidatingLoader,
};
use vsr_signals::RequestView;

use crate::harness::*;

/// Routes with the real engine over the config being served.
struct EngineClassifier {
    engine: vsr_engine::Engine,
    default_model: String,
}

impl EngineClassifier {
    fn run(&self, view: &RequestView, mode: EvalMode) -> RoutingResult {
        let ctx = vsr_signals::RequestContext::new(view);
        let mut r = self.engine.route(&ctx, mode);
        if r.is_default {
            r.model = self.default_model.clone();
        }
        r
    }
}

impl Classifier for EngineClassifier {
    fn route(&self, _: Option<&str>, view: &RequestView) -> Result<RoutingResult, ClassifyError> {
        Ok(self.run(view, EvalMode::Routing))
    }
    fn eval(&self, _: Option<&str>, view: &RequestView) -> Result<RoutingResult, ClassifyError> {
        Ok(self.run(view, EvalMode::All))
    }
}

pub(crate) fn engine_loader() -> ValidatingLoader {
    ValidatingLoader::with_classifier(|config, settings: &ProxySettings| {
        let engine = vsr_engine::Engine::from_config(config).map_err(|e| e.to_string())?;
        Ok(Arc::new(EngineClassifier {
            engine,
            default_model: settings.default_model.clone().unwrap_or_default(),
        }) as Arc<dyn Classifier>)
    })
}

/// `hard` requests go to decision `hard_route` with refs `[big, small]`; `other` is an
/// unrelated alias. `big_reliability` goes inside big's `reliability: {...}`.
pub(crate) fn config(
    big: &str,
    small: &str,
    other: &str,
    big_reliability: &str,
    timeout: &str,
) -> String {
    format!(
        r#"version: v0.3
listeners: [{{name: http, address: 127.0.0.1, port: 9, timeout: {timeout}}}]
providers:
  defaults: {{default_model: small}}
  models:
    - name: big
      backend_refs: [{{name: bbe, endpoint: "{big}"}}]
      reliability: {{{big_reliability}}}
    - name: small
      backend_refs: [{{name: sbe, endpoint: "{small}"}}]
    - name: other
      backend_refs: [{{name: obe, endpoint: "{other}"}}]
routing:
  modelCards: [{{name: big}}, {{name: small}}, {{name: other}}]
  signals:
    keywords: [{{name: hard, operator: OR, keywords: [hard]}}]
  decisions:
    - name: hard_route
      priority: 100
      rules: {{operator: AND, conditions: [{{type: keyword, name: hard}}]}}
      modelRefs: [{{model: big}}, {{model: small}}]
"#
    )
}

pub(crate) struct Setup {
    pub router: Router,
    pub sink: Arc<MemorySink>,
    pub big: SimServer,
    pub small: SimServer,
    pub other: SimServer,
}

pub(crate) async fn setup(big_faults: &[&str], big_reliability: &str, timeout: &str) -> Setup {
    let faults: Vec<Fault> = big_faults.iter().map(|f| f.parse().unwrap()).collect();
    let big = sim(&["big"], |o| o.faults = faults).await;
    let small = sim(&["small"], |_| {}).await;
    let other = sim(&["other"], |_| {}).await;
    let yaml = config(
        &big.addr.to_string(),
        &small.addr.to_string(),
        &other.addr.to_string(),
        big_reliability,
        timeout,
    );
    let sink = Arc::new(MemorySink::default());
    let s2 = Arc::clone(&sink);
    let router = router_with(&yaml, move |o: &mut ServeOptions| {
        o.loader = Arc::new(engine_loader());
        o.record_sink = Some(s2 as Arc<dyn RecordSink>);
    })
    .await;
    Setup {
        router,
        sink,
        big,
        small,
        other,
    }
}

pub(crate) fn header<'a>(rep: &'a Reply, name: &str) -> &'a str {
    rep.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

impl Setup {
    pub(crate) fn url(&self) -> String {
        format!("{}/v1/chat/completions", self.router.base)
    }
    /// The other alias answers as before, whatever happens to big.
    pub(crate) async fn other_alias_is_unaffected(&self) {
        let rep = post(&client(), &self.url(), &chat("other", "hard one")).await;
        assert_eq!(rep.status, 200, "{}", rep.text());
        assert_eq!(header(&rep, "x-vsr-upstream-attempts"), "other/obe=200");
        assert_eq!(self.other.stats.chat_requests.load(Ordering::Relaxed), 1);
    }
    pub(crate) fn last_record_attempts(&self) -> (Option<String>, Vec<String>) {
        let f = self.sink.finishes.lock().unwrap();
        let (_, fin) = f.last().expect("a record finished");
        (
            fin.served_model.clone(),
            fin.attempts
                .iter()
                .map(|a| format!("{}={}", a.model, a.outcome.label()))
                .collect(),
        )
    }
}

#[tokio::test]
async fn refused_connection_is_retried_then_falls_back() {
    let s = setup(&["refuse"], "retry_count: 1", "30s").await;
    let t = Instant::now();
    let rep = post(&client(), &s.url(), &chat("MoM", "a hard question")).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(header(&rep, "x-vsr-selected-model"), "small");
    assert_eq!(header(&rep, "x-vsr-selected-decision"), "hard_route");
    assert_eq!(header(&rep, "x-vsr-fallback-path"), "big,small");
    assert_eq!(
        header(&rep, "x-vsr-upstream-attempts"),
        "big/bbe=connect_failure,big/bbe=connect_failure,small/sbe=200"
    );
    assert_eq!(
        rep.json()["model"],
        "small",
        "the body was rewritten for small"
    );
    let (served, attempts) = s.last_record_attempts();
    assert_eq!(served.as_deref(), Some("small"));
    assert_eq!(
        attempts,
        ["big=connect_failure", "big=connect_failure", "small=200"]
    );
    s.other_alias_is_unaffected().await;
    let m = send(
        &client(),
        "GET",
        &format!("{}/metrics", s.router.base),
        "",
        &[],
    )
    .await
    .text();
    assert!(
        m.contains("vsr_upstream_fallbacks_total{from_model=\"big\",to_model=\"small\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn a_503_burst_is_retried_per_retry_on_then_falls_back_then_recovers() {
    let s = setup(
        &["503-burst:2@big"],
        "retry_count: 1, retry_on: [gateway-error], consecutive_5xx: 0",
        "30s",
    )
    .await;
    let rep = post(&client(), &s.url(), &chat("MoM", "hard")).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(
        header(&rep, "x-vsr-upstream-attempts"),
        "big/bbe=503,big/bbe=503,small/sbe=200"
    );
    assert_eq!(s.big.stats.chat_requests.load(Ordering::Relaxed), 2);
    // The burst is over: big answers again, no fallback.
    let rep = post(&client(), &s.url(), &chat("MoM", "hard")).await;
    assert_eq!(rep.status, 200);
    assert_eq!(header(&rep, "x-vsr-upstream-attempts"), "big/bbe=200");
    assert!(rep.headers.get("x-vsr-fallback-path").is_none());
    assert_eq!(header(&rep, "x-vsr-selected-model"), "big");
    s.other_alias_is_unaffected().await;
}

#[tokio::test]
async fn without_5xx_in_retry_on_a_503_goes_straight_to_the_next_ref() {
    let s = setup(&["503-burst:1@big"], "retry_count: 3", "30s").await;
    let rep = post(&client(), &s.url(), &chat("MoM", "hard")).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(
        header(&rep, "x-vsr-upstream-attempts"),
        "big/bbe=503,small/sbe=200"
    );
}

#[tokio::test]
async fn slow_first_byte_times_out_per_try_and_falls_back_streaming_or_not() {
    let s = setup(
        &["slow-first-byte:5000@big"],
        "retry_count: 0, per_try_timeout: 200ms",
        "30s",
    )
    .await;
    for stream in [false, true] {
        let mut body = chat("MoM", "hard");
        body["stream"] = json!(stream);
        let t = Instant::now();
        let rep = post(&client(), &s.url(), &body).await;
        assert_eq!(rep.status, 200, "{}", rep.text());
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert_eq!(
            header(&rep, "x-vsr-upstream-attempts"),
            "big/bbe=timeout,small/sbe=200"
        );
        if stream {
            assert!(rep.text().contains("data: [DONE]"), "{}", rep.text());
        }
    }
    s.other_alias_is_unaffected().await;
}

#[tokio::test]
async fn the_deadline_bounds_all_attempts() {
    let big = sim(&["big"], |o| {
        o.faults = vec!["slow-first-byte:10000".parse().unwrap()]
    })
    .await;
    let small = sim(&["small"], |o| {
        o.faults = vec!["slow-first-byte:10000".parse().unwrap()]
    })
    .await;
    let yaml = config(
        &big.addr.to_string(),
        &small.addr.to_string(),
        &small.addr.to_string(),
        "retry_count: 2, retry_on: [5xx]",
        "400ms",
    );
    let r = router_with(&yaml, |o| o.loader = Arc::new(engine_loader())).await;
    let t = Instant::now();
    let rep = post(
        &client(),
        &format!("{}/v1/chat/completions", r.base),
        &chat("MoM", "hard"),
    )
    .await;
    assert_eq!(rep.status, 504, "{}", rep.text());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(
        header(&rep, "x-vsr-upstream-attempts").starts_with("big/bbe=timeout"),
        "{:?}",
        rep.headers
    );
}

#[tokio::test]
async fn a_cut_after_the_first_byte_ends_with_an_sse_error_event_and_no_retry() {
    let s = setup(
        &["cut-mid-stream:2@big", "slow-stream:20@big"],
        "retry_count: 3, retry_on: [5xx, reset]",
        "30s",
    )
    .await;
    let req = http::Request::post(s.url())
        .body(Full::new(Bytes::from(
            json!({"model": "MoM", "stream": true, "messages": [{"role": "user", "content": "hard"}]})
                .to_string(),
        )))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut got = Vec::new();
    while let Some(f) = body.frame().await {
        let f = f.expect("the stream ends cleanly, with an error event");
        got.extend_from_slice(f.data_ref().map(|d| &d[..]).unwrap_or(b""));
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("[big]") && !text.contains("[DONE]"), "{text}");
    let last = text
        .trim_end()
        .rsplit("\n\n")
        .next()
        .and_then(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .expect("a final data event");
    assert_eq!(last["error"]["code"], 502, "{text}");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upstream stream failed"),
        "{last}"
    );
    assert_eq!(s.big.stats.chat_requests.load(Ordering::Relaxed), 1);
    assert_eq!(s.small.stats.chat_requests.load(Ordering::Relaxed), 0);
    s.other_alias_is_unaffected().await;
}

#[tokio::test]
async fn an_open_circuit_skips_the_alias_and_shows_in_ready_and_metrics() {
    let s = setup(
        &["503-burst:1000@big"],
        "retry_count: 0, consecutive_5xx: 2, base_ejection_time: 400ms",
        "30s",
    )
    .await;
    let c = client();
    for _ in 0..2 {
        let rep = post(&c, &s.url(), &chat("MoM", "hard")).await;
        assert_eq!(
            header(&rep, "x-vsr-upstream-attempts"),
            "big/bbe=503,small/sbe=200"
        );
    }
    let rep = post(&c, &s.url(), &chat("MoM", "hard")).await;
    assert_eq!(rep.status, 200);
    assert_eq!(
        header(&rep, "x-vsr-upstream-attempts"),
        "big=circuit_open,small/sbe=200"
    );
    assert_eq!(s.big.stats.chat_requests.load(Ordering::Relaxed), 2);
    let ready = send(&c, "GET", &format!("{}/ready", s.router.base), "", &[])
        .await
        .json();
    let state = |ready: &Value, model: &str| {
        ready["upstreams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["model"] == model)
            .map(|u| u["circuit"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(state(&ready, "big"), "open");
    assert_eq!(state(&ready, "small"), "closed");
    let m = send(&c, "GET", &format!("{}/metrics", s.router.base), "", &[])
        .await
        .text();
    assert!(
        m.contains("vsr_upstream_circuit_state{model=\"big\",endpoint=\"bbe\"} 2"),
        "{m}"
    );
    assert!(m.contains("vsr_upstream_circuit_state{model=\"small\",endpoint=\"sbe\"} 0"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ready = send(&c, "GET", &format!("{}/ready", s.router.base), "", &[])
        .await
        .json();
    assert_eq!(state(&ready, "big"), "half_open");
    // The probe fails (the burst goes on): open again, and the request still falls back.
    let rep = post(&c, &s.url(), &chat("MoM", "hard")).await;
    assert_eq!(
        header(&rep, "x-vsr-upstream-attempts"),
        "big/bbe=503,small/sbe=200"
    );
    let ready = send(&c, "GET", &format!("{}/ready", s.router.base), "", &[])
        .await
        .json();
    assert_eq!(state(&ready, "big"), "open");
}

#[tokio::test]
async fn an_explicit_alias_has_no_fallback_and_answers_with_the_path() {
    let s = setup(&["refuse"], "retry_count: 1", "30s").await;
    let rep = post(&client(), &s.url(), &chat("big", "hard")).await;
    assert_eq!(rep.status, 502, "{}", rep.text());
    assert_eq!(
        header(&rep, "x-vsr-upstream-attempts"),
        "big/bbe=connect_failure,big/bbe=connect_failure"
    );
    assert_eq!(s.small.stats.chat_requests.load(Ordering::Relaxed), 0);
}
