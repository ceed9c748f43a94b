//! The fault campaign's upstream faults not covered in `fallback.rs` / `faults.rs`: an upstream
//! host name that does not resolve, a malformed answer, chunks slower than the deadline and an
//! oversized answer. Each: the documented client-visible result (docs/reliability.md), within
//! the deadline, other aliases unaffected, and the metric.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use vsr_server::{RecordSink, ServeOptions};

use crate::fallback::{Setup, config, engine_loader, header, setup};
use crate::harness::*;

async fn metrics(s: &Setup) -> String {
    send(
        &client(),
        "GET",
        &format!("{}/metrics", s.router.base),
        "",
        &[],
    )
    .await
    .text()
}

/// Sends a streamed chat request; returns the status and the whole body.
async fn stream(s: &Setup, model: &str) -> (u16, String) {
    let req = http::Request::post(s.url())
        .body(Full::new(Bytes::from(
            json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "hard"}]})
                .to_string(),
        )))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut got = Vec::new();
    while let Some(f) = body.frame().await {
        let f = f.expect("the stream ends cleanly");
        got.extend_from_slice(f.data_ref().map(|d| &d[..]).unwrap_or(b""));
    }
    (status, String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn an_upstream_host_that_does_not_resolve_is_a_connect_failure_then_falls_back() {
    // `.invalid` never resolves (RFC 2606).
    let small = sim(&["small"], |_| {}).await;
    let other = sim(&["other"], |_| {}).await;
    let yaml = config(
        "no-such-host.invalid:8000",
        &small.addr.to_string(),
        &other.addr.to_string(),
        "retry_count: 1",
        "10s",
    );
    let sink = Arc::new(MemorySink::default());
    let s2 = Arc::clone(&sink);
    let router = router_with(&yaml, move |o: &mut ServeOptions| {
        o.loader = Arc::new(engine_loader());
        o.record_sink = Some(s2 as Arc<dyn RecordSink>);
    })
    .await;
    let big = sim(&["big"], |_| {}).await; // unused: the config names the host instead
    let s = Setup {
        router,
        sink,
        big,
        small,
        other,
    };
    // Explicit alias: nothing to fall back to, a 502 within the deadline.
    let t = Instant::now();
    let rep = post(&client(), &s.url(), &chat("big", "hi")).await;
    assert_eq!(rep.status, 502, "{}", rep.text());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(
        header(&rep, "x-vsr-upstream-attempts"),
        "big/bbe=connect_failure,big/bbe=connect_failure"
    );
    assert!(rep.text().contains("dns error"), "{}", rep.text());
    // Routed: the decision's next model ref answers.
    let rep = post(&client(), &s.url(), &chat("MoM", "a hard question")).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(header(&rep, "x-vsr-fallback-path"), "big,small");
    s.other_alias_is_unaffected().await;
    let m = metrics(&s).await;
    assert!(
        m.contains("llm_request_errors_total{model=\"big\",reason=\"upstream_unavailable\"}"),
        "{m}"
    );
}

#[tokio::test]
async fn a_malformed_answer_is_passed_through_as_sent_without_usage() {
    let s = setup(&["malformed@big"], "retry_count: 1", "30s").await;
    let rep = post(&client(), &s.url(), &chat("big", "hi")).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert!(
        serde_json::from_slice::<Value>(&rep.body).is_err(),
        "the sim's broken JSON reaches the client as sent: {}",
        rep.text()
    );
    assert!(rep.text().starts_with("{\""), "{}", rep.text());
    {
        let f = s.sink.finishes.lock().unwrap();
        let (_, fin) = f.last().expect("a record finished");
        assert_eq!(fin.status, 200);
        assert!(fin.usage.is_none(), "no usage read from a broken answer");
    }
    s.other_alias_is_unaffected().await;
}

#[tokio::test]
async fn chunks_slower_than_the_deadline_end_the_stream_with_an_error_event_in_time() {
    let s = setup(&["slow-stream:5000@big"], "", "1s").await;
    let t = Instant::now();
    let (status, text) = stream(&s, "big").await;
    let took = t.elapsed();
    assert_eq!(status, 200, "{text}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(!text.contains("[DONE]"), "{text}");
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
            .unwrap_or_default()
            .contains("timed out"),
        "{last}"
    );
    s.other_alias_is_unaffected().await;
}

#[tokio::test]
async fn an_oversized_answer_streams_through_whole() {
    const BYTES: usize = 4_000_000;
    let s = setup(&[&format!("oversized:{BYTES}@big")], "", "30s").await;
    let rep = post(&client(), &s.url(), &chat("big", "hi")).await;
    assert_eq!(rep.status, 200);
    let v = rep.json();
    let content = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(content.len() >= BYTES, "{} bytes", content.len());
    let (status, text) = stream(&s, "big").await;
    assert_eq!(status, 200);
    assert!(text.len() >= BYTES, "{} bytes", text.len());
    assert!(text.trim_end().ends_with("data: [DONE]"));
    {
        let f = s.sink.finishes.lock().unwrap();
        assert!(
            f.iter().all(|(_, fin)| fin.status == 200 && fin.completed),
            "both answers recorded as complete"
        );
    }
    s.other_alias_is_unaffected().await;
}
