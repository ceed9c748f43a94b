//! `/v1/messages`: Anthropic requests routed like chat, translated to chat completions and
//! back (JSON and SSE events), or forwarded untranslated to an `api_format: anthropic` alias.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

fn kinds(ev: &[Value]) -> Vec<&str> {
    ev.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

const WEATHER_TOOL: &str = r#"{"name": "get_weather", "description": "Current weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
    "days": {"type": "integer"}}, "required": ["city"]}}"#;

#[tokio::test]
async fn messages_are_routed_translated_and_answered_in_anthropic_shape() {
    let (r, _s) = simple().await;
    let c = client();
    let url = format!("{}/v1/messages", r.base);
    let body = json!({"model": "MoM", "max_tokens": 100, "system": "messages-marker-system",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "do the math messages-marker"}]}]});
    let rep = post(&c, &url, &body).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-selected-decision"), Some("math_route"));
    assert_eq!(rep.header("x-vsr-selected-model"), Some("b"));
    let m = rep.json();
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["stop_reason"], "end_turn");
    let text = m["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("[b]"), "{text}");
    assert_eq!(m["usage"]["output_tokens"], 12);
    assert!(m["usage"]["input_tokens"].as_u64().unwrap() > 0);
    // The router read the typed request: the user's text, and the system prompt as history.
    let v = SEEN
        .lock()
        .unwrap()
        .iter()
        .find(|v| v.text.contains("messages-marker"))
        .cloned()
        .expect("classified");
    assert_eq!(v.text, "do the math messages-marker");
    assert!(
        v.history
            .iter()
            .any(|h| h.role == "system" && h.text == "messages-marker-system")
    );

    // Streaming: the Messages event sequence, with the text and the usage.
    let mut st = body.clone();
    st["stream"] = json!(true);
    st["model"] = json!("a");
    let rep = post(&c, &url, &st).await;
    assert_eq!(rep.status, 200);
    assert!(
        rep.header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(rep.header("x-vsr-selected-model"), Some("a"));
    let ev = events(&rep.text());
    let k = kinds(&ev);
    assert_eq!(&k[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(
        &k[k.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let text: String = ev
        .iter()
        .filter(|e| e["type"] == "content_block_delta")
        .map(|e| e["delta"]["text"].as_str().unwrap())
        .collect();
    assert!(text.starts_with("[a-up]"), "{text}");
    let delta = &ev[ev.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 12);
    assert_eq!(ev[0]["message"]["model"], "a-up");

    // A fast response is a message too.
    let jb = json!({"model": "MoM", "max_tokens": 10, "messages": [{"role": "user", "content": "jailbreak now"}]});
    let rep = post(&c, &url, &jb).await;
    assert_eq!(rep.header("x-vsr-fast-response"), Some("true"));
    assert_eq!(
        rep.json()["content"][0]["text"],
        "I cannot help with that request."
    );
    let mut jbs = jb.clone();
    jbs["stream"] = json!(true);
    let ev = events(&post(&c, &url, &jbs).await.text());
    assert_eq!(kinds(&ev).last(), Some(&"message_stop"));
}

#[tokio::test]
async fn tool_use_round_trip_json_and_streaming() {
    let (r, _s) = simple().await;
    let c = client();
    let url = format!("{}/v1/messages", r.base);
    let tool: Value = serde_json::from_str(WEATHER_TOOL).unwrap();
    let ask = json!({"role": "user", "content": "What does get_weather say for Oslo?"});
    let body = json!({"model": "a", "max_tokens": 100, "tools": [tool], "messages": [ask]});
    let rep = post(&c, &url, &body).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    let m = rep.json();
    assert_eq!(m["stop_reason"], "tool_use");
    let call = &m["content"][0];
    assert_eq!(call["type"], "tool_use");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"city": "sim"}));
    let id = call["id"].as_str().unwrap().to_string();

    // Streaming: the call arrives as a tool_use block with input_json_delta pieces.
    let mut st = body.clone();
    st["stream"] = json!(true);
    let ev = events(&post(&c, &url, &st).await.text());
    let start = ev
        .iter()
        .find(|e| e["type"] == "content_block_start")
        .unwrap();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["name"], "get_weather");
    let json_text: String = ev
        .iter()
        .filter(|e| e["delta"]["type"] == "input_json_delta")
        .map(|e| e["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json_text).unwrap(),
        json!({"city": "sim"})
    );
    let delta = ev.iter().find(|e| e["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");

    // The result goes back as a tool_result block; the backend sees it as a tool message.
    let follow = json!({"model": "a", "max_tokens": 100, "tools": [tool], "messages": [
        ask,
        {"role": "assistant", "content": m["content"].clone()},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id,
                                      "content": [{"type": "text", "text": "sunny and 21C"}]}]}
    ]});
    let rep = post(&c, &url, &follow).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    let m = rep.json();
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(
        m["content"][0]["text"],
        "[a-up] the tool said: sunny and 21C"
    );
}

#[tokio::test]
async fn errors_come_back_in_anthropic_shape() {
    let (r, _s) = simple().await;
    let c = client();
    let url = format!("{}/v1/messages", r.base);
    let check = |rep: &Reply, status: u16, kind: &str| {
        assert_eq!(rep.status, status, "{}", rep.text());
        let v = rep.json();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], kind, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    };
    let raw = send(
        &c,
        "POST",
        &url,
        "{not json",
        &[("content-type", "application/json")],
    )
    .await;
    check(&raw, 400, "invalid_request_error");
    let rep = post(
        &c,
        &url,
        &json!({"model": "a", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    check(&rep, 400, "invalid_request_error");
    assert!(rep.text().contains("max_tokens"));
    let rep = post(
        &c,
        &url,
        &json!({"model": "a", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "video"}]}]}),
    )
    .await;
    check(&rep, 400, "invalid_request_error");
    assert!(rep.text().contains("messages[0].content[0].type"));
    let rep = post(
        &c,
        &url,
        &json!({"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    check(&rep, 404, "not_found_error");
    let get = send(&c, "GET", &url, "", &[]).await;
    check(&get, 405, "invalid_request_error");
    // An upstream failure keeps its status and is translated.
    let body =
        json!({"model": "a", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let rep = send(
        &c,
        "POST",
        &url,
        &body.to_string(),
        &[
            ("content-type", "application/json"),
            ("x-sim-status", "503"),
        ],
    )
    .await;
    check(&rep, 503, "overloaded_error");
    assert!(rep.text().contains("simulated failure"));
}

/// Alias `c` speaks the Messages API: the client's body goes to `/v1/messages` untranslated
/// (only `model` rewritten), the answer comes back as the backend sent it, usage is recorded.
#[tokio::test]
async fn anthropic_alias_gets_the_body_untranslated_and_usage_is_recorded() {
    let s = sim(&["a-up", "b", "claude-up"], |o| o.words = 4).await;
    let e = vec![s.addr.to_string()];
    let yaml = format!(
        "{}    - name: c\n      provider_model_id: claude-up\n      api_format: anthropic\n      pricing: {{currency: USD, prompt_per_1m: 1.0, completion_per_1m: 2.0}}\n      backend_refs: [{{name: be0, endpoint: \"{}\", api_key: sk-ant}}]\n",
        config_yaml(&e, &e, "", "30s"),
        s.addr
    );
    let sink = Arc::new(MemorySink::default());
    let sink2 = Arc::clone(&sink);
    let r = router_with(&yaml, move |o| o.record_sink = Some(sink2)).await;
    let c = client();
    let url = format!("{}/v1/messages", r.base);
    let body = json!({"model": "c", "max_tokens": 50, "system": [{"type": "text", "text": "sys"}],
        "x_custom_field": {"kept": 1.50},
        "messages": [{"role": "user", "content": "hello claude"}]});
    let rep = post(&c, &url, &body).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-selected-model"), Some("c"));
    let m = rep.json();
    let sent = &m["sim_request"];
    assert_eq!(sent["model"], "claude-up");
    assert_eq!(sent["system"], json!([{"type": "text", "text": "sys"}]));
    assert_eq!(sent["x_custom_field"], json!({"kept": 1.50}));
    assert!(sent.get("stream_options").is_none());
    assert_eq!(m["sim_headers"]["x-api-key"], "sk-ant");
    assert_eq!(m["usage"]["output_tokens"], 4);

    let mut st = body.clone();
    st["stream"] = json!(true);
    let rep = post(&c, &url, &st).await;
    assert_eq!(rep.status, 200);
    let ev = events(&rep.text());
    assert_eq!(kinds(&ev).first(), Some(&"message_start"));
    assert_eq!(kinds(&ev).last(), Some(&"message_stop"));
    let text: String = ev
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert!(text.starts_with("[claude-up]"), "{text}");

    // A chat request to this alias is translated into a Messages request and back (surface
    // spec §2.10): the sim decodes it with the Messages decoder, so a malformed translation
    // would fail here.
    let chat_url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&c, &chat_url, &chat("c", "hi there")).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-selected-model"), Some("c"));
    let v = rep.json();
    assert_eq!(v["object"], "chat.completion");
    let text = v["choices"][0]["message"]["content"].as_str().unwrap_or("");
    assert!(text.starts_with("[claude-up]"), "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["completion_tokens"], 4);
    // Tools: the call comes back as chat `tool_calls`, and the result goes out as a
    // `tool_result` block.
    let tools = json!([{"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]);
    let ask = json!({"model": "c", "tools": tools, "tool_choice": "required",
        "messages": [{"role": "system", "content": "use tools"}, {"role": "user", "content": "find it"}]});
    let v = post(&c, &chat_url, &ask).await.json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
    let call = v["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "lookup");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args.is_object(), "{call}");
    let mut follow = ask.clone();
    follow["tool_choice"] = json!("auto");
    let msgs = follow["messages"].as_array_mut().unwrap();
    msgs.push(json!({"role": "assistant", "content": null, "tool_calls": [call.clone()]}));
    msgs.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "42 apples"}));
    let v = post(&c, &chat_url, &follow).await.json();
    let text = v["choices"][0]["message"]["content"].as_str().unwrap_or("");
    assert!(text.contains("the tool said: 42 apples"), "{v}");
    // Streaming: chat chunks, a usage chunk and [DONE].
    let mut st = chat("c", "hi there");
    st["stream"] = json!(true);
    let rep = post(&c, &chat_url, &st).await;
    assert_eq!(rep.status, 200);
    assert!(
        rep.header("content-type")
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    let body = rep.text();
    let chunks: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|p| *p != "[DONE]")
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/content")?.as_str())
        .collect();
    assert!(text.starts_with("[claude-up]"), "{body}");
    assert!(
        chunks.iter().any(|c| c["usage"]["completion_tokens"] == 4),
        "{body}"
    );
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    // A chat request the translation cannot carry is a 400 naming the field.
    let bad = json!({"model": "c", "messages": [{"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "t", "type": "function",
            "function": {"name": "f", "arguments": "not json"}}]}]});
    let rep = post(&c, &chat_url, &bad).await;
    assert_eq!(rep.status, 400, "{}", rep.text());
    assert!(
        rep.text()
            .contains("messages[1].tool_calls[0].function.arguments"),
        "{}",
        rep.text()
    );

    tokio::time::sleep(Duration::from_millis(50)).await;
    let f = sink.finishes.lock().unwrap();
    // Two Messages requests and four translated chat requests (the refused one never left).
    assert_eq!(f.len(), 6, "{f:?}");
    for (_, finish) in f.iter() {
        let u = finish.usage.unwrap_or_else(|| {
            panic!(
                "usage not recorded: {finish:?} {}",
                String::from_utf8_lossy(&finish.response_body)
            )
        });
        assert!(u.completion_tokens > 0 && u.prompt_tokens > 0, "{finish:?}");
    }
    assert_eq!(f[0].1.usage.map(|u| u.completion_tokens), Some(4));
    assert!(f[1].1.streaming);
    assert!(f[5].1.streaming);
    assert!(
        String::from_utf8_lossy(&f[1].1.response_body).starts_with("[claude-up]"),
        "{:?}",
        f[1].1.response_body
    );
}
