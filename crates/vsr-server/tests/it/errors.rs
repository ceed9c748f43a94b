//! Every router-generated status, in the OpenAI error shape.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

fn assert_error(rep: &Reply, status: u16, needle: &str) {
    assert_eq!(rep.status, status, "{}", rep.text());
    assert_eq!(rep.header("content-type"), Some("application/json"));
    let v = rep.json();
    assert_eq!(v["error"]["code"], status);
    let kind = if status == 429 {
        "rate_limit_error"
    } else {
        "invalid_request_error"
    };
    assert_eq!(v["error"]["type"], kind);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains(needle), "`{msg}` lacks `{needle}`");
}

#[tokio::test]
async fn client_errors_400_404_405_413() {
    let (r, s) = simple().await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    assert_error(
        &send(&c, "POST", &url, "{not json", &[]).await,
        400,
        "malformed JSON body",
    );
    assert_error(
        &send(&c, "POST", &url, "[1,2]", &[]).await,
        400,
        "malformed JSON body",
    );
    assert_error(
        &post(&c, &url, &json!({"model": "a"})).await,
        400,
        "messages field is required",
    );
    assert_error(
        &post(&c, &url, &json!({"model": "a", "messages": "hi"})).await,
        400,
        "must be an array",
    );
    assert_error(
        &post(&c, &url, &json!({"messages": []})).await,
        400,
        "missing required field: model",
    );
    assert_error(
        &post(&c, &url, &json!({"model": 7, "messages": []})).await,
        400,
        "model must be a string",
    );
    assert_error(
        &post(&c, &url, &chat("nope", "hi")).await,
        404,
        "`nope` is not configured",
    );
    assert_error(
        &send(&c, "POST", &format!("{}/v1/completions", r.base), "{}", &[]).await,
        404,
        "endpoint not found",
    );
    assert_error(
        &send(&c, "POST", &format!("{}/v1/embeddings", r.base), "{}", &[]).await,
        404,
        "endpoint not found",
    );
    assert_error(
        &send(&c, "GET", &format!("{}/nowhere", r.base), "", &[]).await,
        404,
        "endpoint not found",
    );
    assert_error(
        &send(&c, "GET", &url, "", &[]).await,
        405,
        "method not allowed",
    );
    assert_error(
        &send(&c, "POST", &format!("{}/v1/models", r.base), "", &[]).await,
        405,
        "method not allowed",
    );
    assert_error(
        &send(&c, "DELETE", &format!("{}/metrics", r.base), "", &[]).await,
        405,
        "method not allowed",
    );
    // Trailing slash is normalised.
    assert_eq!(
        send(&c, "GET", &format!("{}/v1/models/", r.base), "", &[])
            .await
            .status,
        200
    );
    // 10 MiB default limit, by declared length and by streamed length.
    let big = format!(
        "{{\"model\":\"a\",\"messages\":[],\"pad\":\"{}\"}}",
        "x".repeat(10 * 1024 * 1024 + 10)
    );
    assert_error(
        &send(&c, "POST", &url, &big, &[]).await,
        413,
        "larger than 10485760",
    );
    assert_eq!(
        s.stats
            .chat_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn body_limit_is_configurable() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![s.addr.to_string()];
    let r = router_with(&config_yaml(&e, &e, "", "30s"), |o| {
        o.max_body_bytes = Some(200)
    })
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    assert_eq!(post(&c, &url, &chat("a", "short")).await.status, 200);
    assert_error(
        &post(&c, &url, &chat("a", &"y".repeat(300))).await,
        413,
        "larger than 200",
    );
}

#[tokio::test]
async fn backend_failures_502_503_504() {
    // 502: nothing listens on the backend port.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let slow = sim(&["a-up", "b"], |o| o.latency = Duration::from_millis(800)).await;
    let yaml = config_yaml(
        std::slice::from_ref(&dead),
        &[slow.addr.to_string()],
        "retry_count: 0",
        "300ms",
    );
    // 503: an alias with no backends at all (metadata only, which the config allows).
    let yaml = format!(
        "{yaml}    - name: empty\n      provider_model_id: empty-up\n      backend_refs: []\n"
    );
    let r = router_with(&yaml, |_| {}).await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    assert_error(
        &post(&c, &url, &chat("a", "x")).await,
        502,
        "upstream `be0` failed",
    );
    assert_error(&post(&c, &url, &chat("b", "x")).await, 504, "timed out");
    assert_error(
        &post(&c, &url, &chat("empty", "x")).await,
        503,
        "no healthy upstream",
    );
    // Upstream 4xx/5xx pass through unchanged, without router headers.
    let ok = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![ok.addr.to_string()];
    let r2 = router_with(&config_yaml(&e, &e, "", "30s"), |_| {}).await;
    let rep = send(
        &c,
        "POST",
        &format!("{}/v1/chat/completions", r2.base),
        &chat("a", "x").to_string(),
        &[("x-sim-status", "503")],
    )
    .await;
    assert_eq!(rep.status, 503);
    assert_eq!(rep.json()["error"]["type"], "sim_error");
    assert!(rep.header("x-vsr-selected-model").is_none());
    let m = send(&c, "GET", &format!("{}/metrics", r2.base), "", &[])
        .await
        .text();
    assert!(
        m.contains("llm_request_errors_total{model=\"a\",reason=\"upstream_5xx\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn full_classifier_queue_gives_429() {
    let (r, _s) = {
        let s = sim(&["a-up", "b"], |_| {}).await;
        let e = vec![s.addr.to_string()];
        (
            router_with(&config_yaml(&e, &e, "", "30s"), |o| o.classifier_queue = 1).await,
            s,
        )
    };
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let slow = {
        let (c, url) = (c.clone(), url.clone());
        tokio::spawn(async move { post(&c, &url, &chat("MoM", "slow one")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rep = post(&c, &url, &chat("MoM", "second")).await;
    assert_error(&rep, 429, "Rate limit exceeded");
    assert!(rep.header("retry-after").is_some());
    // Explicit aliases skip classification and are not limited by it.
    assert_eq!(post(&c, &url, &chat("a", "third")).await.status, 200);
    assert_eq!(slow.await.unwrap().status, 200);
    assert_eq!(post(&c, &url, &chat("MoM", "after")).await.status, 200);
}

/// The management plane (axum) answers in the same shapes as the data plane: trailing slash
/// ignored, wrong method 405, an oversized eval body 413 naming the limit, mounted routes with
/// bodies.
#[tokio::test]
async fn management_plane_limits_methods_and_slashes() {
    let (r, _s) = simple().await;
    let c = client();
    assert_eq!(
        send(&c, "GET", &format!("{}/health/", r.base), "", &[])
            .await
            .status,
        200
    );
    assert_error(
        &send(&c, "POST", &format!("{}/config/router", r.base), "", &[]).await,
        405,
        "method not allowed",
    );
    assert_error(
        &send(&c, "GET", &format!("{}/config/reload", r.base), "", &[]).await,
        405,
        "method not allowed",
    );
    let big = format!(
        "{{\"text\":\"{}\"}}",
        "x".repeat(vsr_server::management::EVAL_BODY_LIMIT)
    );
    let e = send(&c, "POST", &format!("{}/api/v1/eval", r.base), &big, &[]).await;
    assert_eq!(e.status, 413);
    let v = e.json();
    assert_eq!(v["error"]["code"], "INVALID_INPUT");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&vsr_server::management::EVAL_BODY_LIMIT.to_string())),
        "{v}"
    );
}

/// `global.services.observability.metrics.enabled: false` takes `/metrics` away.
#[tokio::test]
async fn metrics_can_be_switched_off() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![s.addr.to_string()];
    let yaml = format!(
        "{}global:\n  services: {{observability: {{metrics: {{enabled: false}}}}}}\n",
        config_yaml(&e, &e, "", "30s")
    );
    let r = router_with(&yaml, |_| {}).await;
    let c = client();
    assert_error(
        &send(&c, "GET", &format!("{}/metrics", r.base), "", &[]).await,
        404,
        "endpoint not found",
    );
}
