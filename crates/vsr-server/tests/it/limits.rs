//! The data plane's limits (docs/security.md), each over real HTTP with a precise answer:
//! header count and head size (431 from hyper), JSON nesting depth and messages count (400
//! naming the limit, on chat completions and on the translated APIs), and the duration of a
//! streamed answer (cut with an SSE error event). The body size limit is in errors.rs.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::json;
use vsr_server::limits::Limits;

use crate::harness::*;

fn small_limits() -> Limits {
    Limits {
        max_headers: 20,
        max_head_bytes: 8192,
        max_json_depth: 16,
        max_messages: 5,
        max_stream_duration: Some(Duration::from_millis(800)),
    }
}

async fn router(s: &vsr_server::sim::SimServer) -> Router {
    let e = vec![s.addr.to_string()];
    router_with(&config_yaml(&e, &e, "", "30s"), |o| {
        o.limits = small_limits()
    })
    .await
}

#[tokio::test]
async fn heads_with_too_many_or_too_large_headers_get_431() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let r = router(&s).await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let body = chat("a", "hi").to_string();
    let names: Vec<String> = (0..30).map(|i| format!("x-extra-{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    assert_eq!(send(&c, "POST", &url, &body, &many).await.status, 431);
    let big = "v".repeat(10_000);
    assert_eq!(
        send(&c, "POST", &url, &body, &[("x-big", big.as_str())])
            .await
            .status,
        431
    );
    // Within the limits the same request is answered.
    let few: Vec<(&str, &str)> = many[..10].to_vec();
    assert_eq!(send(&c, "POST", &url, &body, &few).await.status, 200);
    let health = format!("{}/health", r.base);
    assert_eq!(send(&c, "GET", &health, "", &many).await.status, 431);
}

#[tokio::test]
async fn deep_json_and_too_many_messages_get_400_naming_the_limit() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let r = router(&s).await;
    let c = client();
    let mut deep = json!("x");
    for _ in 0..20 {
        deep = json!([deep]);
    }
    let chat_url = format!("{}/v1/chat/completions", r.base);
    let req = json!({"model": "a", "messages": [{"role": "user", "content": "hi"}], "tools": deep});
    let rep = post(&c, &chat_url, &req).await;
    assert_eq!(rep.status, 400, "{}", rep.text());
    let msg = rep.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("deeper than 16 levels (at byte"), "{msg}");

    let six: Vec<_> = (0..6)
        .map(|i| json!({"role": "user", "content": format!("m{i}")}))
        .collect();
    for (path, body) in [
        (
            "/v1/chat/completions",
            json!({"model": "a", "messages": six}),
        ),
        (
            "/v1/messages",
            json!({"model": "a", "max_tokens": 8, "messages": six}),
        ),
        ("/v1/responses", json!({"model": "a", "input": six})),
    ] {
        let rep = post(&c, &format!("{}{path}", r.base), &body).await;
        assert_eq!(rep.status, 400, "{path}: {}", rep.text());
        assert!(
            rep.text()
                .contains("messages has 6 entries; this router accepts at most 5"),
            "{path}: {}",
            rep.text()
        );
    }
    let five = json!({"model": "a", "messages": (0..5).map(|i| json!({"role": "user", "content": format!("m{i}")})).collect::<Vec<_>>()});
    assert_eq!(post(&c, &chat_url, &five).await.status, 200);
}

#[tokio::test]
async fn a_stream_past_its_duration_limit_ends_with_an_error_event() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let r = router(&s).await;
    let c = client();
    let started = Instant::now();
    let req = http::Request::post(format!("{}/v1/chat/completions", r.base))
        .header("x-sim-words", "40")
        .header("x-sim-chunk-delay-ms", "100")
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
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("stream_duration_exceeded") && !text.contains("[DONE]"),
        "{text}"
    );
    assert!(text.contains("data: {"), "some chunks came first: {text}");
    // 40 chunks 100 ms apart would take 4 s; the limit is 0.8 s.
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    // A short stream is untouched.
    let req = http::Request::post(format!("{}/v1/chat/completions", r.base))
        .header("x-sim-words", "3")
        .body(Full::new(Bytes::from(
            json!({"model": "a", "stream": true, "messages": [{"role": "user", "content": "x"}]})
                .to_string(),
        )))
        .unwrap();
    let resp = c.request(req).await.unwrap();
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&text).contains("[DONE]"));
}
