//! The response cache through the proxy: a decision whose `response_cache` plugin is on
//! answers a repeated request from the cache (no upstream call), JSON and SSE alike; other
//! decisions, opted-out requests, other system prompts and tool-call answers are not served
//! from it; the management endpoints invalidate and flush, behind the management auth.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use vsr_server::{Access, ManagementAuth};

use crate::harness::*;

/// The keyword classifier routes "math" texts to decision `math_route` on alias `b`; this
/// config gives that decision the cache plugin (exact mode: the test classifier computes no
/// embedding).
fn cache_config(backend: &str, plugin: &str) -> String {
    let base = config_yaml(&[backend.to_string()], &[backend.to_string()], "", "30s");
    base.replace(
        "routing: {}",
        &format!(
            "routing:
  modelCards: [{{name: a}}, {{name: b}}]
  signals:
    keywords:
      - {{name: math_kw, operator: OR, keywords: [math]}}
  decisions:
    - name: math_route
      priority: 100
      rules: {{operator: AND, conditions: [{{type: keyword, name: math_kw}}]}}
      modelRefs: [{{model: b}}]
      plugins: [{plugin}]
"
        ),
    )
}

const PLUGIN: &str = "{type: response_cache, configuration: {enabled: true, scope: global}}";

fn upstream_calls(s: &vsr_server::sim::SimServer) -> u64 {
    s.stats.chat_requests.load(Ordering::Relaxed)
}

#[tokio::test]
async fn a_repeated_request_is_answered_from_the_cache_as_json_and_as_a_stream() {
    let s = sim(&["a-up", "b"], |o| o.words = 6).await;
    let sink = Arc::new(MemorySink::default());
    let sink2 = Arc::clone(&sink);
    let r = router_with(&cache_config(&s.addr.to_string(), PLUGIN), move |o| {
        o.record_sink = Some(sink2)
    })
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let req = chat("MoM", "math: what is a group?");

    let first = post(&c, &url, &req).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-vsr-cache"), Some("miss"));
    let key = first.header("x-vsr-cache-key").expect("key").to_string();
    assert_eq!(upstream_calls(&s), 1);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    let second = post(&c, &url, &req).await;
    assert_eq!(second.header("x-vsr-cache"), Some("hit"));
    assert_eq!(second.header("x-vsr-cache-key"), Some(key.as_str()));
    assert_eq!(second.header("x-vsr-selected-decision"), Some("math_route"));
    assert_eq!(second.json(), first.json(), "the stored answer, unchanged");
    assert_eq!(upstream_calls(&s), 1, "a hit does not go upstream");

    // The same request streamed: replayed as chat SSE chunks with usage.
    let mut st = req.clone();
    st["stream"] = json!(true);
    let streamed = post(&c, &url, &st).await;
    assert_eq!(streamed.header("x-vsr-cache"), Some("hit"));
    assert_eq!(streamed.header("content-type"), Some("text/event-stream"));
    let text = String::from_utf8_lossy(&streamed.body).to_string();
    let mut content = String::new();
    let mut usage = None;
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        if let Some(t) = v
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
        {
            content.push_str(t);
        }
        if v.get("usage").is_some() {
            usage = v.get("usage").cloned();
        }
    }
    assert_eq!(
        content,
        first.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
    );
    assert_eq!(usage.unwrap(), first.json()["usage"]);
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(upstream_calls(&s), 1);

    // Replay: the hits are recorded from the cache, with no usage (no upstream tokens).
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let f = sink.finishes.lock().unwrap().clone();
    assert_eq!(f.len(), 3);
    assert!(f[0].1.usage.is_some());
    assert!(f[1].1.usage.is_none() && f[2].1.usage.is_none());
    assert_eq!(
        sink.from_cache.lock().unwrap().as_slice(),
        ["rec1".to_string(), "rec2".to_string()]
    );

    let metrics = send(&c, "GET", &format!("{}/metrics", r.base), "", &[]).await;
    let m = String::from_utf8_lossy(&metrics.body);
    assert!(m.contains("vsr_cache_hits_total{kind=\"exact\"} 2"), "{m}");
    assert!(m.contains("vsr_cache_misses_total 1"), "{m}");
    assert!(m.contains("vsr_cache_entries 1"), "{m}");
}

#[tokio::test]
async fn a_streamed_miss_is_stored_and_replayed_to_a_json_client() {
    let s = sim(&["a-up", "b"], |o| o.words = 5).await;
    let r = router_with(&cache_config(&s.addr.to_string(), PLUGIN), |_| {}).await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let mut st = chat("MoM", "math: define a ring");
    st["stream"] = json!(true);
    let first = post(&c, &url, &st).await;
    assert_eq!(first.header("x-vsr-cache"), Some("miss"));
    let streamed_text: String = String::from_utf8_lossy(&first.body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let json_rep = post(&c, &url, &chat("MoM", "math: define a ring")).await;
    assert_eq!(json_rep.header("x-vsr-cache"), Some("hit"));
    let v = json_rep.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], streamed_text);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(upstream_calls(&s), 1);
}

#[tokio::test]
async fn what_changes_the_answer_or_opts_out_is_not_served_from_the_cache() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let r = router_with(&cache_config(&s.addr.to_string(), PLUGIN), |_| {}).await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let req = chat("MoM", "math: prove it");
    assert_eq!(
        post(&c, &url, &req).await.header("x-vsr-cache"),
        Some("miss")
    );
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // Another system prompt, other sampling parameters: other entries.
    let mut sys = req.clone();
    sys["messages"] = json!([{"role": "system", "content": "Answer in French."},
                             {"role": "user", "content": "math: prove it"}]);
    assert_eq!(
        post(&c, &url, &sys).await.header("x-vsr-cache"),
        Some("miss")
    );
    let mut temp = req.clone();
    temp["temperature"] = json!(1.5);
    assert_eq!(
        post(&c, &url, &temp).await.header("x-vsr-cache"),
        Some("miss")
    );
    // Opt-outs.
    let body = req.to_string();
    let no_cache = send(&c, "POST", &url, &body, &[("cache-control", "no-cache")]).await;
    assert_eq!(no_cache.header("x-vsr-cache"), Some("bypass"));
    let bypass = send(
        &c,
        "POST",
        &url,
        &body,
        &[("x-vsr-cache-control", "bypass")],
    )
    .await;
    assert_eq!(bypass.header("x-vsr-cache"), Some("bypass"));
    // A decision without the plugin, and an explicit alias: bypass.
    let other = post(&c, &url, &chat("MoM", "hello there")).await;
    assert_eq!(other.header("x-vsr-cache"), Some("bypass"));
    assert_eq!(other.header("x-vsr-cache-reason"), Some("no_decision"));
    // An explicit alias is not routed: no cache headers at all.
    let explicit = post(&c, &url, &chat("b", "math: define a ring")).await;
    assert_eq!(explicit.status, 200);
    assert_eq!(explicit.header("x-vsr-cache"), None);
    assert_eq!(explicit.header("x-vsr-cache-key"), None);
    let calls = upstream_calls(&s);
    assert_eq!(calls, 7, "every one of these went upstream");
    // A `no-store` miss is not stored.
    let ns = chat("MoM", "math: not stored");
    let ns_body = ns.to_string();
    send(&c, "POST", &url, &ns_body, &[("cache-control", "no-store")]).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        post(&c, &url, &ns).await.header("x-vsr-cache"),
        Some("miss")
    );
}

#[tokio::test]
async fn the_default_user_scope_needs_a_user_and_separates_users() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let plugin = "{type: response_cache, configuration: {enabled: true}}";
    let r = router_with(&cache_config(&s.addr.to_string(), plugin), |_| {}).await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let body = chat("MoM", "math: scoped").to_string();
    let anon = send(&c, "POST", &url, &body, &[]).await;
    assert_eq!(anon.header("x-vsr-cache-reason"), Some("no_scope_identity"));
    let alice = [("x-authz-user-id", "alice")];
    assert_eq!(
        send(&c, "POST", &url, &body, &alice)
            .await
            .header("x-vsr-cache"),
        Some("miss")
    );
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        send(&c, "POST", &url, &body, &alice)
            .await
            .header("x-vsr-cache"),
        Some("hit")
    );
    let bob = [("x-authz-user-id", "bob")];
    assert_eq!(
        send(&c, "POST", &url, &body, &bob)
            .await
            .header("x-vsr-cache"),
        Some("miss")
    );
}

/// Accepts writes only with `authorization: Bearer admin`.
struct AdminOnly;

impl ManagementAuth for AdminOnly {
    fn check(
        &self,
        access: Access,
        headers: &http::HeaderMap,
    ) -> Result<(), (http::StatusCode, String)> {
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some("Bearer admin") => Ok(()),
            _ if access == Access::Open => Ok(()),
            _ => Err((http::StatusCode::UNAUTHORIZED, "credentials needed".into())),
        }
    }
}

#[tokio::test]
async fn invalidate_and_flush_need_write_access() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let r = router_with(&cache_config(&s.addr.to_string(), PLUGIN), |o| {
        o.management_auth = Some(Arc::new(AdminOnly))
    })
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let req = chat("MoM", "math: entry one");
    let key = post(&c, &url, &req)
        .await
        .header("x-vsr-cache-key")
        .unwrap()
        .to_string();
    post(&c, &url, &chat("MoM", "math: entry two")).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let admin = [("authorization", "Bearer admin")];
    let entry_url = format!("{}/v1/cache/entries/{key}", r.base);

    let refused = send(&c, "DELETE", &entry_url, "", &[]).await;
    assert_eq!(refused.status, 401);
    let bad = send(
        &c,
        "DELETE",
        &format!("{}/v1/cache/entries/xyz", r.base),
        "",
        &admin,
    )
    .await;
    assert_eq!(bad.status, 400);
    let ok = send(&c, "DELETE", &entry_url, "", &admin).await;
    assert_eq!((ok.status, ok.json()["removed"].clone()), (200, json!(1)));
    assert_eq!(send(&c, "DELETE", &entry_url, "", &admin).await.status, 404);
    assert_eq!(
        post(&c, &url, &req).await.header("x-vsr-cache"),
        Some("miss")
    );
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    let stats = send(&c, "GET", &format!("{}/v1/cache", r.base), "", &[]).await;
    assert_eq!(stats.json()["entries"], 2);
    let by_decision = send(
        &c,
        "DELETE",
        &format!("{}/v1/cache/decisions/math_route", r.base),
        "",
        &admin,
    )
    .await;
    assert_eq!(by_decision.json()["removed"], 2);
    post(&c, &url, &req).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let flushed = send(
        &c,
        "POST",
        &format!("{}/v1/cache/flush", r.base),
        "",
        &admin,
    )
    .await;
    assert_eq!(flushed.json()["removed"], 1);
    assert_eq!(
        send(&c, "DELETE", &format!("{}/v1/cache", r.base), "", &[])
            .await
            .status,
        401
    );
}
