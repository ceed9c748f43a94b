//! Live selection through the real server: a `latency_aware` decision starts on its first
//! model ref, and once answers have been timed it routes to the faster model; the eval API
//! previews the same choice.

use std::time::Duration;

use serde_json::json;

use crate::harness::{client, post, router_with, send, sim};
use crate::sessions::engine_loader;

fn config(slow: &str, fast: &str) -> String {
    format!(
        r#"version: v0.3
listeners:
  - {{name: http, address: 127.0.0.1, port: 9}}
providers:
  defaults: {{default_model: a}}
  models:
    - {{name: a, backend_refs: [{{endpoint: "{slow}"}}]}}
    - {{name: b, backend_refs: [{{endpoint: "{fast}"}}]}}
routing:
  modelCards: [{{name: a}}, {{name: b}}]
  signals:
    keywords:
      - {{name: code_kw, operator: OR, keywords: [code]}}
  decisions:
    - name: code
      priority: 10
      rules: {{operator: AND, conditions: [{{type: keyword, name: code_kw}}]}}
      modelRefs: [{{model: a}}, {{model: b}}]
      algorithm: {{type: latency_aware, latency_aware: {{ttft_percentile: 50}}}}
"#
    )
}

#[tokio::test]
async fn latency_aware_routes_to_the_model_observed_faster() {
    let slow = sim(&["a"], |o| o.latency = Duration::from_millis(120)).await;
    let fast = sim(&["b"], |_| {}).await;
    let r = router_with(
        &config(&slow.addr.to_string(), &fast.addr.to_string()),
        |o| o.loader = std::sync::Arc::new(engine_loader()),
    )
    .await;
    let c = client();
    let chat = |model: &str| {
        json!({"model": model, "messages": [{"role": "user", "content": "write code"}]}).to_string()
    };
    let url = format!("{}/v1/chat/completions", r.base);
    let eval_url = format!("{}/api/v1/eval", r.base);

    // Nothing observed: the first ref, and the eval API says so.
    let v = post(&c, &eval_url, &json!({"text": "write code"}))
        .await
        .json();
    assert_eq!(v["selected_model"], "a", "{v}");
    assert!(
        v["selection_reason"]
            .as_str()
            .unwrap_or("")
            .contains("no latency observed"),
        "{v}"
    );
    let first = send(&c, "POST", &url, &chat("MoM"), &[]).await;
    assert_eq!(first.header("x-vsr-selected-model"), Some("a"));

    // Time both models (explicit aliases are timed too).
    for _ in 0..3 {
        for m in ["a", "b"] {
            let reply = send(&c, "POST", &url, &chat(m), &[]).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    let routed = send(&c, "POST", &url, &chat("MoM"), &[]).await;
    assert_eq!(routed.header("x-vsr-selected-decision"), Some("code"));
    assert_eq!(
        routed.header("x-vsr-selected-model"),
        Some("b"),
        "the faster model"
    );
    assert_eq!(routed.json()["model"], "b", "the backend saw it");
    let v = post(&c, &eval_url, &json!({"text": "write code"}))
        .await
        .json();
    assert_eq!(v["selected_model"], "b", "{v}");
    assert_eq!(v["selection_status"], "selected", "{v}");
    assert!(
        v["selection_reason"]
            .as_str()
            .unwrap_or("")
            .contains("ttft p50"),
        "{v}"
    );
}

/// An August profile (router learning declared) whose `long` context rule starts at 1000
/// tokens.
fn context_config(backend: &str) -> String {
    format!(
        r#"version: v0.3
listeners:
  - {{name: http, address: 127.0.0.1, port: 9}}
global:
  router:
    learning: {{enabled: false}}
providers:
  defaults: {{default_model: a}}
  models:
    - {{name: a, backend_refs: [{{endpoint: "{backend}"}}]}}
    - {{name: b, backend_refs: [{{endpoint: "{backend}"}}]}}
routing:
  modelCards: [{{name: a}}, {{name: b}}]
  signals:
    context:
      - {{name: long, min_tokens: "1000", max_tokens: 1M}}
  decisions:
    - name: long_context
      priority: 10
      rules: {{operator: AND, conditions: [{{type: context, name: long}}]}}
      modelRefs: [{{model: b}}]
"#
    )
}

#[tokio::test]
async fn august_context_counts_learn_the_providers_bytes_per_token() {
    let s = sim(&["a", "b"], |_| {}).await;
    let r = router_with(&context_config(&s.addr.to_string()), |o| {
        o.loader = std::sync::Arc::new(engine_loader())
    })
    .await;
    let c = client();
    let eval_url = format!("{}/api/v1/eval", r.base);
    let long = "word ".repeat(400);
    let decision = |v: &serde_json::Value| v["decision_result"]["decision_name"].clone();
    // 2000 bytes at 4 a token: 505 tokens, short of the band.
    let before = post(&c, &eval_url, &json!({"text": long})).await.json();
    assert_ne!(decision(&before), "long_context", "{before}");
    // Ten short text-only answers whose provider counts many more tokens than 4 bytes each.
    let url = format!("{}/v1/chat/completions", r.base);
    for i in 0..10 {
        let body =
            json!({"model": "MoM", "messages": [{"role": "user", "content": format!("hi {i}")}]});
        let reply = send(&c, "POST", &url, &body.to_string(), &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = post(&c, &eval_url, &json!({"text": long})).await.json();
    assert_eq!(decision(&after), "long_context", "{after}");
}
