//! Happy paths: routing headers, reasoning injection, alias rewrite, streaming, fast response,
//! credentials, record hook and the small endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn auto_route_sets_headers_and_injects_reasoning() {
    let (r, s) = simple().await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let text = "prove this math identity";
    // The headers carry the engine's own result for this text, unchanged.
    let expected = test_engine().route_text(text, vsr_engine::EvalMode::Routing);
    assert!(expected.confidence > 0.0);
    for name in ["MoM", "auto", "vllm-sr/auto"] {
        let rep = post(&c, &url, &chat(name, text)).await;
        assert_eq!(rep.status, 200, "{}", rep.text());
        assert_eq!(rep.header("x-vsr-selected-decision"), Some("math_route"));
        assert_eq!(rep.header("x-vsr-selected-model"), Some("b"));
        assert_eq!(
            rep.header("x-vsr-selected-confidence"),
            Some(format!("{:.4}", expected.confidence).as_str())
        );
        assert_eq!(rep.header("x-vsr-selected-reasoning"), Some("on"));
        // No domain family in the test routing: no category, no domains header.
        assert_eq!(rep.header("x-vsr-selected-category"), None);
        assert_eq!(rep.header("x-vsr-matched-domains"), None);
        assert_eq!(
            rep.header("x-vsr-matched-keywords"),
            Some("math_kw,proof_kw")
        );
        assert_eq!(rep.header("x-vsr-matched-context"), Some("any_context"));
        assert_eq!(
            rep.header("x-vsr-matched-projections"),
            Some("balance_reasoning")
        );
        assert_eq!(
            rep.header("x-vsr-context-token-count"),
            Some(
                vsr_signals::text::estimate_tokens(text)
                    .to_string()
                    .as_str()
            )
        );
        assert_eq!(rep.header("x-request-id").map(str::len), Some(32));
        let v = rep.json();
        // What the backend received: the alias's upstream id and the thinking switch.
        assert_eq!(v["sim_request"]["model"], "b");
        assert_eq!(
            v["sim_request"]["chat_template_kwargs"]["enable_thinking"],
            true
        );
        assert_eq!(v["sim_headers"]["x-selected-model"], "b");
    }
    // No decision: default model, no reasoning kwargs, no decision header.
    let rep = post(&c, &url, &chat("MoM", "hello there")).await;
    assert_eq!(rep.status, 200);
    assert_eq!(rep.header("x-vsr-selected-decision"), None);
    assert_eq!(rep.header("x-vsr-selected-model"), Some("a"));
    assert_eq!(rep.header("x-vsr-selected-reasoning"), Some("off"));
    let v = rep.json();
    assert_eq!(v["sim_request"]["model"], "a-up");
    assert!(v["sim_request"].get("chat_template_kwargs").is_none());
    assert_eq!(s.stats.chat_requests.load(Ordering::Relaxed), 4);
}

/// The server routes exactly the view production builds: `RequestView::from_messages` over the
/// client's messages (last user text, parts joined, history, image, token count).
#[tokio::test]
async fn the_classifier_sees_the_production_view_of_the_messages() {
    let (r, _s) = simple().await;
    let c = client();
    let marker = "zebra-marker-7731";
    let messages = json!([
        {"role": "system", "content": "be brief"},
        {"role": "developer", "content": "dev note"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "t", "type": "function"}]},
        {"role": "tool", "content": "tool output", "tool_call_id": "t"},
        {"role": "user", "content": [{"type": "text", "text": "hello"},
                                     {"type": "image_url", "image_url": {"url": "http://img"}},
                                     {"type": "text", "text": marker}]}
    ]);
    let body = json!({"model": "MoM", "messages": messages.clone()});
    let rep = post(&c, &format!("{}/v1/chat/completions", r.base), &body).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    let parsed: Vec<vsr_signals::ChatMessage> = serde_json::from_value(messages).unwrap();
    // A March config reads no request envelope, so none is measured.
    let expected = vsr_signals::RequestView::from_messages(&parsed);
    assert_eq!(expected.text, format!("hello {marker}"));
    // Cloned out so a failed assertion does not poison the lock for the other tests.
    let got = SEEN
        .lock()
        .unwrap()
        .iter()
        .find(|v| v.text.contains(marker))
        .cloned()
        .expect("the classifier saw the request");
    assert_eq!(got, expected);
    assert_eq!(got.history.len(), 4);
    assert_eq!(got.image_url.as_deref(), Some("http://img"));
}

/// An August config with `context` rules reads the request envelope (head-delta §11): the
/// view the classifier gets carries it, measured from the body as sent.
#[tokio::test]
async fn an_august_config_with_context_rules_gets_the_request_envelope() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![s.addr.to_string()];
    let routing = "routing:
  strategy: priority
  signals:
    context:
      - {name: any_context, min_tokens: \"0\", max_tokens: 256K}
  decisions: []
";
    let yaml = config_yaml(&e, &e, "", "30s").replacen("routing: {}\n", routing, 1);
    let r = router_with(&yaml, |_| {}).await;
    let marker = "envelope-marker-5521";
    let body = json!({"model": "MoM", "max_tokens": 300, "messages": [
        {"role": "user", "content": [{"type": "text", "text": marker},
                                     {"type": "image_url", "image_url": {"url": "http://img"}}]}]});
    let rep = post(&client(), &format!("{}/v1/chat/completions", r.base), &body).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    let got = SEEN
        .lock()
        .unwrap()
        .iter()
        .find(|v| v.text.contains(marker))
        .cloned()
        .expect("the classifier saw the request");
    assert_eq!(
        got.envelope,
        Some(vsr_signals::ContextEnvelope::of_chat(&body)),
        "{got:?}"
    );
    let e = got.envelope.unwrap();
    assert_eq!((e.images, e.output_reserve), (1, 300));
}

#[tokio::test]
async fn a_message_of_the_wrong_shape_is_a_400_naming_it() {
    let (r, _s) = simple().await;
    let body = json!({"model": "MoM", "messages": [{"role": "user", "content": "hi"}, 7]});
    let rep = post(&client(), &format!("{}/v1/chat/completions", r.base), &body).await;
    assert_eq!(rep.status, 400, "{}", rep.text());
    let msg = rep.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.starts_with("invalid request body: messages:"), "{msg}");
    // An explicit alias is forwarded without reading the messages.
    let body = json!({"model": "a", "messages": [7]});
    let rep = post(&client(), &format!("{}/v1/chat/completions", r.base), &body).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
}

#[tokio::test]
async fn routed_metadata_that_is_not_a_string_is_a_400_naming_the_key() {
    let (r, _s) = simple().await;
    let url = format!("{}/v1/chat/completions", r.base);
    let body = json!({"model": "MoM", "messages": [{"role": "user", "content": "hi"}],
                      "metadata": {"tier": "gold", "n": 5}});
    let rep = post(&client(), &url, &body).await;
    assert_eq!(rep.status, 400, "{}", rep.text());
    let msg = rep.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.ends_with("field metadata.n must be string"), "{msg}");
    let body = json!({"model": "MoM", "messages": [{"role": "user", "content": "hi"}],
                      "metadata": {"tier": "gold"}, "tools": [{"type": "function"}]});
    let rep = post(&client(), &url, &body).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
}

#[tokio::test]
async fn explicit_alias_passes_through_with_unknown_fields_byte_for_byte() {
    let (r, _s) = simple().await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let body = r#"{"model":"a","messages":[{"role":"user","content":"math please"}],"x_vendor":{"k":[1,2,{"z":null}]},"reasoning_effort":"high"}"#;
    let rep = send(&c, "POST", &url, body, &[("x-request-id", "rid-123")]).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-selected-model"), Some("a"));
    assert_eq!(rep.header("x-vsr-selected-reasoning"), Some("off"));
    assert_eq!(rep.header("x-vsr-selected-decision"), None);
    assert_eq!(rep.header("x-request-id"), Some("rid-123"));
    let v = rep.json();
    assert_eq!(v["sim_request"]["model"], "a-up");
    assert_eq!(v["sim_request"]["x_vendor"], json!({"k":[1,2,{"z":null}]}));
    // Explicit path: no reasoning rewrite, the client's field is untouched.
    assert_eq!(v["sim_request"]["reasoning_effort"], "high");
    assert!(v["sim_request"].get("chat_template_kwargs").is_none());
    assert_eq!(v["sim_headers"]["x-request-id"], "rid-123");
    // An alias whose upstream id equals its name is forwarded as the exact bytes.
    let body_b = r#"{"model":"b",  "messages":[{"role":"user","content":"x"}], "n":1.0}"#;
    let rep = send(&c, "POST", &url, body_b, &[]).await;
    assert_eq!(rep.status, 200);
    assert_eq!(rep.json()["sim_request"]["n"], json!(1.0));
}

#[tokio::test]
async fn streaming_passes_chunks_through_unbuffered_with_usage() {
    let s = sim(&["a-up", "b"], |o| {
        o.words = 6;
        o.chunk_delay = Duration::from_millis(120);
    })
    .await;
    let e = vec![s.addr.to_string()];
    let r = router_with(&config_yaml(&e, &e, "", "30s"), |_| {}).await;
    let c = client();
    let req = http::Request::post(format!("{}/v1/chat/completions", r.base))
        .body(Full::new(bytes::Bytes::from(
            json!({"model": "MoM", "stream": true, "messages": [{"role": "user", "content": "math"}]}).to_string(),
        )))
        .unwrap();
    let started = Instant::now();
    let resp = c.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-vsr-selected-decision"], "math_route");
    let mut body = resp.into_body();
    let mut chunks = Vec::new();
    let mut first_at = None;
    while let Some(f) = body.frame().await {
        let f = f.unwrap();
        if let Some(d) = f.data_ref() {
            first_at.get_or_insert(started.elapsed());
            chunks.push(d.clone());
        }
    }
    let total = started.elapsed();
    let text: String = chunks
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    // 6 chunks at 120 ms: the first arrives long before the end (no buffering).
    assert!(
        first_at.unwrap() < Duration::from_millis(400),
        "{first_at:?}"
    );
    assert!(total >= Duration::from_millis(600), "{total:?}");
    assert!(chunks.len() >= 4, "chunks were coalesced: {}", chunks.len());
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(text.contains("\"usage\":{"), "usage chunk missing");
    assert!(
        text.contains("\"include_usage\":true"),
        "include_usage not injected"
    );
    assert!(text.contains("\"enable_thinking\":true"));
    let m = send(&c, "GET", &format!("{}/metrics", r.base), "", &[])
        .await
        .text();
    assert!(
        m.contains("llm_model_ttft_seconds_count{model=\"b\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("llm_model_completion_tokens_total{model=\"b\"} 6"),
        "{m}"
    );
}

#[tokio::test]
async fn fast_response_answers_without_backend() {
    let (r, s) = simple().await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&c, &url, &chat("MoM", "a jailbreak attempt")).await;
    assert_eq!(rep.status, 200);
    assert_eq!(rep.header("x-vsr-fast-response"), Some("true"));
    assert_eq!(rep.header("x-vsr-selected-decision"), Some("block"));
    let v = rep.json();
    assert_eq!(v["model"], "router");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-fast-"));
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "I cannot help with that request."
    );
    let mut streaming = chat("MoM", "jailbreak");
    streaming["stream"] = json!(true);
    let rep = post(&c, &url, &streaming).await;
    assert_eq!(rep.header("content-type"), Some("text/event-stream"));
    let t = rep.text();
    assert!(
        t.contains("\"role\":\"assistant\"")
            && t.contains(" cannot")
            && t.ends_with("data: [DONE]\n\n")
    );
    assert_eq!(s.stats.chat_requests.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn credentials_configured_key_wins_else_client_auth_forwarded() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![s.addr.to_string()];
    let yaml = config_yaml(&e, &e, "", "30s").replacen(
        "weight: 1}",
        "weight: 1, api_key: sk-conf, extra_headers: {x-custom: tenant1}}",
        1,
    );
    let r = router_with(&yaml, |_| {}).await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let hdrs = [
        ("authorization", "Bearer client-key"),
        ("x-user-openai-key", "secret"),
    ];
    let rep = send(&c, "POST", &url, &chat("a", "hi").to_string(), &hdrs).await;
    let v = rep.json();
    assert_eq!(v["sim_headers"]["authorization"], "Bearer sk-conf");
    assert_eq!(v["sim_headers"]["x-custom"], "tenant1");
    let rep = send(&c, "POST", &url, &chat("b", "hi").to_string(), &hdrs).await;
    assert_eq!(
        rep.json()["sim_headers"]["authorization"],
        "Bearer client-key"
    );
}

#[tokio::test]
async fn record_sink_sees_start_and_finish_with_usage() {
    let s = sim(&["a-up", "b"], |o| o.words = 5).await;
    let e = vec![s.addr.to_string()];
    let sink = Arc::new(MemorySink::default());
    let sink2 = Arc::clone(&sink);
    let r = router_with(&config_yaml(&e, &e, "", "30s"), move |o| {
        o.record_sink = Some(sink2)
    })
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&c, &url, &chat("MoM", "math")).await;
    assert_eq!(rep.header("x-vsr-replay-id"), Some("rec0"));
    let mut st = chat("MoM", "math");
    st["stream"] = json!(true);
    let rep = post(&c, &url, &st).await;
    assert_eq!(rep.header("x-vsr-replay-id"), Some("rec1"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let f = sink.finishes.lock().unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].1.usage.as_ref().unwrap().completion_tokens, 5);
    assert!(f[1].1.streaming && f[1].1.completed);
    assert_eq!(f[1].1.response_body, "[b] answer from the vllm-sr");
    assert_eq!(
        sink.starts.lock().unwrap()[0],
        ("rec0".to_string(), "b".to_string(), true)
    );
}

#[tokio::test]
async fn models_health_ready_eval_config_metrics() {
    let (r, _s) = simple().await;
    let c = client();
    let v = send(&c, "GET", &format!("{}/v1/models", r.base), "", &[])
        .await
        .json();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["MoM", "auto", "vllm-sr/auto", "a", "b"]);
    let h = send(&c, "GET", &format!("{}/health", r.base), "", &[]).await;
    assert_eq!(h.json()["status"], "healthy");
    assert_eq!(
        send(&c, "GET", &format!("{}/ready", r.base), "", &[])
            .await
            .json()["ready"],
        true
    );
    let e = post(
        &c,
        &format!("{}/api/v1/eval", r.base),
        &json!({"text": "some math"}),
    )
    .await;
    assert_eq!(e.status, 200);
    assert_eq!(e.json()["routing_decision"], "math_route");
    let e = post(&c, &format!("{}/api/v1/eval", r.base), &json!({"text": ""})).await;
    assert_eq!(e.status, 500);
    assert_eq!(e.json()["error"]["code"], "CLASSIFICATION_ERROR");
    let e = send(&c, "POST", &format!("{}/api/v1/eval", r.base), "{nope", &[]).await;
    assert_eq!(e.status, 400);
    assert_eq!(e.json()["error"]["code"], "INVALID_INPUT");
    let cfg = send(&c, "GET", &format!("{}/config/router", r.base), "", &[])
        .await
        .json();
    assert_eq!(cfg["providers"]["defaults"]["default_model"], "a");
    post(
        &c,
        &format!("{}/v1/chat/completions", r.base),
        &chat("MoM", "math"),
    )
    .await;
    let m = send(&c, "GET", &format!("{}/metrics", r.base), "", &[]).await;
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let m = m.text();
    assert!(m.contains("llm_model_requests_total{model=\"b\"} 1"), "{m}");
    assert!(m.contains("llm_decision_match_total{decision_name=\"math_route\"} 1"));
    assert!(
        m.contains("llm_signal_match_total{signal_type=\"keywords\",signal_name=\"math_kw\"} 1")
    );
    assert!(m.contains(
        "llm_model_routing_modifications_total{source_model=\"MoM\",target_model=\"b\"} 1"
    ));
    assert!(m.contains("llm_model_completion_latency_seconds_count{model=\"b\"} 1"));
}

/// A mounted endpoint family that echoes what reached it.
fn echo_routes() -> vsr_server::axum::Router {
    use vsr_server::axum;
    let echo = |req: axum::extract::Request| async move {
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let body = axum::body::to_bytes(req.into_body(), 1024)
            .await
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        (
            axum::http::StatusCode::CREATED,
            axum::Json(json!({"method": method, "path": path, "query": query, "len": body})),
        )
    };
    axum::Router::new().route("/v1/router_replay/{*rest}", axum::routing::any(echo))
}

#[tokio::test]
async fn mounted_routes_answer_their_paths() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![s.addr.to_string()];
    let r = router_with(&config_yaml(&e, &e, "", "30s"), |o| {
        o.routes = echo_routes()
    })
    .await;
    let c = client();
    let rep = send(
        &c,
        "GET",
        &format!("{}/v1/router_replay/aggregate?limit=5", r.base),
        "",
        &[],
    )
    .await;
    assert_eq!(rep.status, 201);
    assert_eq!(
        rep.json(),
        json!({"method": "GET", "path": "/v1/router_replay/aggregate", "query": "limit=5", "len": 0})
    );
    let posted = send(
        &c,
        "POST",
        &format!("{}/v1/router_replay/x", r.base),
        "hello",
        &[],
    )
    .await;
    assert_eq!(posted.json()["len"], 5);
    assert_eq!(
        send(&c, "GET", &format!("{}/v1/other", r.base), "", &[])
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn an_entrypoint_name_routes_with_its_recipe() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![s.addr.to_string()];
    let yaml = format!(
        "{}entrypoints:\n  - model_names: [team/fast]\n    recipe: fast\n  - model_names: [team/main]\n    recipe: default\nrecipes:\n  - name: fast\n    description: The fast lane.\n    routing: {{}}\n",
        config_yaml(&e, &e, "", "30s")
    );
    let r = router_with(&yaml, |_| {}).await;
    let c = client();
    let v = send(&c, "GET", &format!("{}/v1/models", r.base), "", &[])
        .await
        .json();
    let data = v["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "MoM",
            "auto",
            "vllm-sr/auto",
            "team/fast",
            "team/main",
            "a",
            "b"
        ]
    );
    assert_eq!(data[3]["routing"]["recipe"], "fast");
    assert_eq!(data[3]["description"], "The fast lane.");
    assert_eq!(
        data[4]["description"],
        "Entrypoint for the default routing recipe"
    );

    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&c, &url, &chat("team/fast", "prove this math identity")).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-selected-recipe"), Some("fast"));
    assert_eq!(rep.header("x-vsr-selected-decision"), Some("math_route"));
    for model in ["MoM", "team/main"] {
        let rep = post(&c, &url, &chat(model, "prove this math identity")).await;
        assert_eq!(rep.status, 200, "{}", rep.text());
        assert_eq!(rep.header("x-vsr-selected-recipe"), None, "{model}");
        assert_eq!(rep.header("x-vsr-selected-decision"), Some("math_route"));
    }

    let eval = format!("{}/api/v1/eval", r.base);
    let e = post(
        &c,
        &eval,
        &json!({"text": "some math", "model": "team/fast"}),
    )
    .await;
    assert_eq!(e.status, 200, "{}", e.text());
    assert_eq!(e.json()["recipe"], "fast");
    assert_eq!(e.json()["requested_model"], "team/fast");
    let e = post(&c, &eval, &json!({"text": "some math"})).await;
    assert_eq!(e.json()["recipe"], "default");
    let e = post(
        &c,
        &eval,
        &json!({"model": "MoM", "messages": [{"role": "system", "content": "be brief"},
                                             {"role": "user", "content": "some math"}]}),
    )
    .await;
    assert_eq!(e.status, 200, "{}", e.text());
    assert_eq!(e.json()["original_text"], "some math");
    assert_eq!(e.json()["routing_decision"], "math_route");
    let e = post(&c, &eval, &json!({"text": "some math", "model": "a"})).await;
    assert_eq!(e.status, 400);
    assert_eq!(e.json()["error"]["code"], "INVALID_ROUTING_MODEL");
}
