//! Injected faults: retries before any byte, passive ejection, active health checks,
//! mid-stream cuts (an SSE error event) and client disconnects.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::json;

use crate::harness::*;

fn dead_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn retries_hide_connection_resets_and_refused_connects() {
    let reset = sim(&["a-up"], |o| o.reset_rate = 1.0).await;
    let good = sim(&["a-up"], |_| {}).await;
    let backends = vec![reset.addr.to_string(), dead_port(), good.addr.to_string()];
    // No ejection, so every round really hits the failing endpoints.
    let r = router_with(
        &config_yaml(
            &backends,
            &backends,
            "retry_count: 2, consecutive_5xx: 0",
            "30s",
        ),
        |_| {},
    )
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    for _ in 0..12 {
        let rep = post(&c, &url, &chat("a", "hi")).await;
        assert_eq!(rep.status, 200, "{}", rep.text());
    }
    assert_eq!(good.stats.chat_requests.load(Ordering::Relaxed), 12);
    assert!(reset.stats.chat_requests.load(Ordering::Relaxed) >= 4);
    let m = send(&c, "GET", &format!("{}/metrics", r.base), "", &[])
        .await
        .text();
    assert!(m.contains("vsr_upstream_retries_total{model=\"a\"}"), "{m}");
}

#[tokio::test]
async fn consecutive_5xx_ejects_the_endpoint() {
    let (r, bad, good) = router_with_a_failing_endpoint().await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let mut failures = 0;
    for _ in 0..20 {
        let rep = post(&c, &url, &chat("a", "hi")).await;
        if rep.status != 200 {
            assert_eq!(rep.status, 500);
            failures += 1;
        }
    }
    // Round robin: the bad endpoint answers twice, then it is ejected.
    assert_eq!(failures, 2);
    assert_eq!(bad.stats.chat_requests.load(Ordering::Relaxed), 2);
    assert_eq!(good.stats.chat_requests.load(Ordering::Relaxed), 18);
    let m = send(&c, "GET", &format!("{}/metrics", r.base), "", &[])
        .await
        .text();
    assert!(
        m.contains("vsr_upstream_ejections_total{model=\"a\",endpoint=\"be0\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn all_endpoints_ejected_gives_503() {
    let bad1 = sim(&["a-up"], |o| o.error_rate = 1.0).await;
    let bad2 = sim(&["a-up"], |o| o.error_rate = 1.0).await;
    let backends = vec![bad1.addr.to_string(), bad2.addr.to_string()];
    let r = router_with(
        &config_yaml(
            &backends,
            &backends,
            "consecutive_5xx: 1, max_ejection_percent: 100, retry_count: 0",
            "30s",
        ),
        |_| {},
    )
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    assert_eq!(post(&c, &url, &chat("a", "x")).await.status, 500);
    assert_eq!(post(&c, &url, &chat("a", "x")).await.status, 500);
    let rep = post(&c, &url, &chat("a", "x")).await;
    assert_eq!(rep.status, 503, "{}", rep.text());
    assert!(
        rep.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no healthy upstream")
    );
}

#[tokio::test]
async fn active_health_checks_take_dead_endpoints_out() {
    let good = sim(&["a-up"], |_| {}).await;
    let backends = vec![dead_port(), good.addr.to_string()];
    let r = router_with(
        &config_yaml(
            &backends,
            &backends,
            "retry_count: 0, consecutive_5xx: 0, health_check_path: /health, health_check_interval: 20ms, health_check_timeout: 200ms",
            "30s",
        ),
        |_| {},
    )
    .await;
    // Three failed checks mark the dead endpoint unhealthy.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(good.stats.health_checks.load(Ordering::Relaxed) >= 3);
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    for _ in 0..10 {
        assert_eq!(post(&c, &url, &chat("a", "x")).await.status, 200);
    }
}

#[tokio::test]
async fn mid_stream_cut_is_not_retried_and_ends_the_client_stream() {
    let s = sim(&["a-up"], |_| {}).await;
    let good = sim(&["a-up"], |_| {}).await;
    let backends = vec![s.addr.to_string(), good.addr.to_string()];
    let r = router_with(
        &config_yaml(
            &backends,
            &backends,
            "retry_count: 3, consecutive_5xx: 0",
            "30s",
        ),
        |_| {},
    )
    .await;
    let c = client();
    let req = http::Request::post(format!("{}/v1/chat/completions", r.base))
        .header("x-sim-cut-after", "2")
        .header("x-sim-chunk-delay-ms", "30")
        .body(Full::new(Bytes::from(
            json!({"model": "a", "stream": true, "messages": [{"role": "user", "content": "x"}]})
                .to_string(),
        )))
        .unwrap();
    let resp = c.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut got = Vec::new();
    while let Some(f) = body.frame().await {
        let f = f.expect("the stream ends cleanly, with an SSE error event");
        got.extend_from_slice(f.data_ref().map(|d| &d[..]).unwrap_or(b""));
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.trim_end().ends_with("\"code\":502}}"),
        "stream should end with an error event, got: {text}"
    );
    assert!(text.contains("[a-up]") && !text.contains("[DONE]"));
    let total = s.stats.chat_requests.load(Ordering::Relaxed)
        + good.stats.chat_requests.load(Ordering::Relaxed);
    assert_eq!(total, 1, "a streamed request must not be retried");
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_stream() {
    let s = sim(&["a-up"], |o| {
        o.words = 200;
        o.chunk_delay = Duration::from_millis(20);
    })
    .await;
    let e = vec![s.addr.to_string()];
    let r = router_with(&config_yaml(&e, &e, "", "30s"), |_| {}).await;
    let c = client();
    let req = http::Request::post(format!("{}/v1/chat/completions", r.base))
        .body(Full::new(Bytes::from(
            json!({"model": "a", "stream": true, "messages": [{"role": "user", "content": "x"}]})
                .to_string(),
        )))
        .unwrap();
    let resp = c.request(req).await.unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some());
    drop(body);
    drop(c);
    // The sim notices its reader is gone well before the 4 s the full answer would take.
    let mut cancelled = false;
    for _ in 0..100 {
        if s.stats.streams_cancelled.load(Ordering::Relaxed) == 1 {
            cancelled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cancelled, "upstream stream was not cancelled");
    assert_eq!(s.stats.streams_completed.load(Ordering::Relaxed), 0);
    let m = send(&client(), "GET", &format!("{}/metrics", r.base), "", &[])
        .await
        .text();
    assert!(
        m.contains("llm_request_errors_total{model=\"a\",reason=\"cancellation\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn stream_refused_before_its_first_byte_is_retried() {
    let refuser = sim(&["a-up"], |o| o.cut_after = Some(0)).await;
    let good = sim(&["a-up"], |_| {}).await;
    let backends = vec![refuser.addr.to_string(), good.addr.to_string()];
    let r = router_with(
        &config_yaml(
            &backends,
            &backends,
            "retry_count: 1, consecutive_5xx: 0",
            "30s",
        ),
        |_| {},
    )
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    for _ in 0..6 {
        let mut body = chat("a", "x");
        body["stream"] = json!(true);
        let rep = post(&c, &url, &body).await;
        assert_eq!(rep.status, 200);
        assert!(rep.text().contains("data: [DONE]"), "{}", rep.text());
    }
    assert!(refuser.stats.chat_requests.load(Ordering::Relaxed) >= 3);
    assert_eq!(good.stats.chat_requests.load(Ordering::Relaxed), 6);
}
