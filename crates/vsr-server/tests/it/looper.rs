//! The looper algorithms (HEAD §15) answered by the router from several model calls against the
//! sim: fusion (panel, review, final; quorum; `skip` vs `fail`; streaming) and workflows
//! (a static plan of roles, a dynamic plan written by a planner, the fallback plan).
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::harness::*;

const REVIEW: &str = r#"{"consensus": ["all three agree"], "contradictions": []}"#;
const PLAN: &str = r#"{"steps": [{"id": "draft", "models": ["a"]}, {"id": "check", "role": "verifier", "models": ["b"], "access_list": ["draft"]}], "final": {"prompt": "Sum up."}}"#;

/// A router whose decision `math_route` (reached by "math" prompts) runs `algorithm`; aliases
/// `a`, `b`, `c` and `judge` on one sim, `judge` answering `judge_reply`.
async fn looper_router(
    algorithm: &str,
    judge_reply: &str,
    tweak: impl FnOnce(&mut vsr_server::sim::SimOptions),
) -> (Router, vsr_server::sim::SimServer) {
    looper_router_with(algorithm, judge_reply, tweak, |_| {}).await
}

async fn looper_router_with(
    algorithm: &str,
    judge_reply: &str,
    tweak: impl FnOnce(&mut vsr_server::sim::SimOptions),
    serve: impl FnOnce(&mut vsr_server::ServeOptions),
) -> (Router, vsr_server::sim::SimServer) {
    let judge_reply = judge_reply.to_string();
    let s = sim(&["a-up", "b", "c", "judge"], |o| {
        o.words = 3;
        o.replies = vec![("judge".into(), judge_reply)];
        tweak(o);
    })
    .await;
    let e = vec![s.addr.to_string()];
    let routing = format!(
        "routing:
  decisions:
    - name: math_route
      priority: 100
      rules: {{operator: AND, conditions: [{{type: keyword, name: math_kw}}]}}
      modelRefs: [{{model: a}}, {{model: b, use_reasoning: true}}, {{model: c}}]
      algorithm: {algorithm}
  signals:
    keywords:
      - {{name: math_kw, operator: OR, keywords: [math]}}
"
    );
    let mut yaml = config_yaml(&e, &e, "", "30s").replacen("routing: {}\n", &routing, 1);
    for m in ["c", "judge"] {
        yaml.push_str(&format!(
            "    - name: {m}\n      backend_refs:\n        - {{name: be0, endpoint: \"{}\"}}\n",
            e[0]
        ));
    }
    (router_with(&yaml, serve).await, s)
}

fn math(stream: bool) -> Value {
    json!({"model": "MoM", "stream": stream,
        "messages": [{"role": "user", "content": "a math question for the panel"}]})
}

#[tokio::test]
async fn fusion_asks_the_panel_then_the_judge_and_sums_the_usage() {
    let sink = std::sync::Arc::new(MemorySink::default());
    let recorded = std::sync::Arc::clone(&sink);
    let (r, s) = looper_router_with(
        "{type: fusion, fusion: {model: judge, include_analysis: true}}",
        REVIEW,
        |_| {},
        |o| o.record_sink = Some(recorded),
    )
    .await;
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&client(), &url, &math(false)).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-looper"), Some("fusion"));
    assert_eq!(rep.header("x-vsr-selected-decision"), Some("math_route"));
    assert_eq!(rep.header("x-vsr-selected-model"), Some("judge"));
    // Three panel answers, one review, one final answer.
    assert_eq!(rep.header("x-vsr-looper-calls"), Some("5"));
    assert_eq!(s.stats.chat_requests.load(Ordering::Relaxed), 5);
    let v = rep.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-fusion-"));
    assert_eq!(v["choices"][0]["message"]["content"], REVIEW);
    let f = &v["fusion"];
    assert_eq!(f["judge_model"], "judge");
    assert_eq!(f["analysis_models"], json!(["a", "b", "c"]));
    assert_eq!(f["analysis"]["consensus"][0], "all three agree");
    let responses = f["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 3);
    assert_eq!(responses[1]["model"], "b");
    // Usage is every call's: more completion tokens than the final answer alone.
    let completion = v["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(completion > 3 * 3, "{}", v["usage"]);
    // The record carries each call's usage, so replay prices every model at its own rate.
    let finishes = sink.finishes.lock().unwrap();
    let (_, f) = finishes.last().expect("recorded");
    let models: Vec<&str> = f.usage_by_model.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(models, ["a", "b", "c", "judge", "judge"]);
    let summed: u64 = f
        .usage_by_model
        .iter()
        .map(|(_, u)| u.completion_tokens)
        .sum();
    assert_eq!(Some(summed), f.usage.map(|u| u.completion_tokens));
    assert_eq!(f.served_model.as_deref(), Some("judge"));
}

#[tokio::test]
async fn fusion_skips_a_failed_panel_model_or_fails_the_request() {
    let fault = |o: &mut vsr_server::sim::SimOptions| {
        o.faults = vec!["500-burst:100@c".parse().unwrap()];
    };
    let (r, _s) = looper_router(
        "{type: fusion, fusion: {model: judge, on_error: skip, include_analysis: false}}",
        "final",
        fault,
    )
    .await;
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&client(), &url, &math(false)).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    let v = rep.json();
    assert_eq!(v["fusion"]["responses"].as_array().unwrap().len(), 2);
    assert_eq!(v["fusion"]["failed_models"][0]["model"], "c");
    assert!(v["fusion"].get("analysis").is_none());

    let (r, _s) = looper_router(
        "{type: fusion, fusion: {model: judge, on_error: fail}}",
        "final",
        fault,
    )
    .await;
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&client(), &url, &math(false)).await;
    assert_eq!(rep.status, 502, "{}", rep.text());
    let message = rep.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("fusion failed: panel model c"),
        "{message}"
    );
}

#[tokio::test]
async fn fusion_streams_a_synthetic_answer_with_its_trace() {
    let (r, _s) = looper_router(
        "{type: fusion, fusion: {model: judge, min_successful_responses: 2}}",
        "the final answer, long enough to take more than one chunk of fifty characters",
        |_| {},
    )
    .await;
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&client(), &url, &math(true)).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("content-type"), Some("text/event-stream"));
    let text = rep.text();
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    // The quorum of two ends the panel early.
    assert_eq!(
        events[0]["fusion"]["responses"].as_array().unwrap().len(),
        2
    );
    let content: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(content.starts_with("the final answer"));
    assert!(events.len() > 3);
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn a_dynamic_workflow_runs_the_planners_steps_then_the_final_model() {
    let (r, s) = looper_router(
        "{type: workflows, workflows: {mode: dynamic, planner: {model: judge}, final: {model: c}, max_steps: 3, max_parallel: 2}}",
        PLAN,
        |_| {},
    )
    .await;
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&client(), &url, &math(false)).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-looper"), Some("workflows"));
    // Planner, two steps of one model, the final synthesis.
    assert_eq!(s.stats.chat_requests.load(Ordering::Relaxed), 4);
    let v = rep.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-flow-"));
    let flow = &v["flow"];
    assert_eq!(flow["mode"], "dynamic");
    assert_eq!(flow["planner_model"], "judge");
    assert_eq!(flow["final_model"], "c");
    let steps = flow["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1]["role"], "verifier");
    assert_eq!(steps[1]["responses"][0]["model"], "b");
    assert_eq!(v["model"], "c");
}

#[tokio::test]
async fn a_bad_plan_falls_back_under_skip_and_fails_under_fail() {
    let (r, _s) = looper_router(
        "{type: workflows, workflows: {mode: dynamic, planner: {model: judge}, on_error: skip, max_parallel: 2}}",
        "I will not write JSON",
        |_| {},
    )
    .await;
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&client(), &url, &math(false)).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    let flow = &rep.json()["flow"];
    assert_eq!(flow["plan"][0]["id"], "fallback_solve");
    assert_eq!(flow["plan"][0]["models"], json!(["a", "b"]));
    assert!(flow["plan_error"].as_str().unwrap().contains("no JSON"));

    let (r, _s) = looper_router(
        "{type: workflows, workflows: {mode: dynamic, planner: {model: judge}}}",
        "I will not write JSON",
        |_| {},
    )
    .await;
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&client(), &url, &math(false)).await;
    assert_eq!(rep.status, 502, "{}", rep.text());
    assert!(
        rep.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("workflows failed: plan:")
    );
}

#[tokio::test]
async fn a_static_workflow_runs_one_step_per_role() {
    let (r, s) = looper_router(
        "{type: workflows, workflows: {roles: [{name: solve, models: [a, b]}, {name: review, models: [c], prompt: Check the solutions.}], final: {model: c}}}",
        "unused",
        |_| {},
    )
    .await;
    let url = format!("{}/v1/chat/completions", r.base);
    let rep = post(&client(), &url, &math(false)).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(s.stats.chat_requests.load(Ordering::Relaxed), 4);
    let v = rep.json();
    assert_eq!(v["model"], "c");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("[c]"),
        "{v}"
    );
    let steps = v["flow"]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["id"], "solve");
    assert_eq!(steps[0]["responses"].as_array().unwrap().len(), 2);
    assert_eq!(v["flow"]["plan"][1]["prompt"], "Check the solutions.");
}

/// Responses-API and Messages-API clients reach a looper decision too: its chat answer is
/// translated into their shapes like any upstream answer.
#[tokio::test]
async fn responses_and_messages_clients_get_the_looper_answer_in_their_shape() {
    let (r, s) = looper_router(
        "{type: fusion, fusion: {model: judge, include_analysis: false}}",
        "judged",
        |_| {},
    )
    .await;
    let c = client();
    let rep = post(
        &c,
        &format!("{}/v1/responses", r.base),
        &json!({"model": "MoM", "input": "a math question for the panel"}),
    )
    .await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-looper"), Some("fusion"));
    let v = rep.json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["output"][0]["content"][0]["text"], "judged");

    let rep = post(
        &c,
        &format!("{}/v1/messages", r.base),
        &json!({"model": "MoM", "max_tokens": 50, "stream": true,
            "messages": [{"role": "user", "content": "a math question for the panel"}]}),
    )
    .await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    let t = rep.text();
    assert!(
        t.contains("event: message_start") && t.contains("event: message_stop"),
        "{t}"
    );
    assert!(t.contains("\"text\":\"judged\""), "{t}");
    // Two requests of four calls each (three panel answers, the final answer).
    assert_eq!(s.stats.chat_requests.load(Ordering::Relaxed), 8);
}

/// The client's tools reach only the final stage: the panel answers in text, and a tool call
/// of the judge is the client's answer (`finish_reason: tool_calls`).
#[tokio::test]
async fn only_the_final_stage_sees_the_tools_and_its_tool_call_is_passed_through() {
    let (r, s) = looper_router(
        "{type: fusion, fusion: {model: judge, include_analysis: false}}",
        "unused: the judge calls the tool",
        |_| {},
    )
    .await;
    let tools = json!([{"type": "function", "function": {"name": "calc",
        "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}}]);
    let body = json!({"model": "MoM", "tools": tools,
        "messages": [{"role": "user", "content": "a math question: use calc"}]});
    let rep = post(&client(), &format!("{}/v1/chat/completions", r.base), &body).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    let v = rep.json();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    assert_eq!(
        choice["message"]["tool_calls"][0]["function"]["name"], "calc",
        "{v}"
    );
    assert!(choice["message"]["content"].is_null(), "{v}");
    // The panel answered in words: no tools were offered to it.
    for answer in v["fusion"]["responses"].as_array().unwrap() {
        assert!(!answer["content"].as_str().unwrap().is_empty(), "{answer}");
    }
    assert_eq!(s.stats.chat_requests.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn the_fusion_slug_asks_the_default_profile_s_fusion_decision_or_a_request_plugin() {
    let (r, s) = looper_router(
        "{type: fusion, fusion: {model: judge, include_analysis: false}}",
        "final",
        |_| {},
    )
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let ask = |text: &str, plugins: Value| {
        json!({"model": "vllm-sr/fusion", "plugins": plugins,
            "messages": [{"role": "user", "content": text}]})
    };

    // /v1/models lists the fusion slug (a default-profile decision uses fusion), not flow's.
    let models = send(&c, "GET", &format!("{}/v1/models", r.base), "", &[])
        .await
        .json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"vllm-sr/fusion") && !ids.contains(&"vllm-sr/flow"),
        "{ids:?}"
    );

    // A matching prompt and one that matches nothing both reach math_route's fusion.
    for text in ["a math question", "hello there"] {
        let rep = post(&c, &url, &ask(text, json!([]))).await;
        assert_eq!(rep.status, 200, "{text}: {}", rep.text());
        assert_eq!(rep.header("x-vsr-looper"), Some("fusion"));
        assert_eq!(rep.header("x-vsr-selected-decision"), Some("math_route"));
        assert_eq!(
            rep.header("x-vsr-looper-calls"),
            Some("4"),
            "three panel calls, one final"
        );
    }

    // A request plugin overrides the decision's settings: a quorum of one stops the panel early.
    let before = s.stats.chat_requests.load(Ordering::Relaxed);
    let plugin = json!([{"id": "fusion", "min_successful_responses": 1, "max_concurrent": 1}]);
    let rep = post(&c, &url, &ask("a math question", plugin)).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    let answered = rep.json()["fusion"]["responses"].as_array().map(Vec::len);
    assert_eq!(answered, Some(1), "{}", rep.text());
    assert_eq!(
        s.stats.chat_requests.load(Ordering::Relaxed) - before,
        2,
        "one panel call, one final"
    );
    assert_eq!(
        rep.header("x-vsr-looper-calls"),
        Some("2"),
        "only the calls made"
    );

    // A disabled plugin changes nothing.
    let off = json!([{"id": "fusion", "enabled": false, "min_successful_responses": 1, "max_concurrent": 1}]);
    let rep = post(&c, &url, &ask("a math question", off)).await;
    let answered = rep.json()["fusion"]["responses"].as_array().map(Vec::len);
    assert_eq!(answered, Some(3), "{}", rep.text());

    // A malformed plugin is the client's error.
    let bad = json!([{"id": "fusion", "max_concurrent": -1}]);
    let rep = post(&c, &url, &ask("a math question", bad)).await;
    assert_eq!(rep.status, 400, "{}", rep.text());
    assert!(
        rep.text().contains("invalid Fusion plugin"),
        "{}",
        rep.text()
    );

    // No workflows decision: the flow slug has nothing to run.
    let flow = json!({"model": "vllm-sr/flow", "messages": [{"role": "user", "content": "hi"}]});
    let rep = post(&c, &url, &flow).await;
    assert_eq!(rep.status, 400, "{}", rep.text());
    assert!(
        rep.text().contains("no eligible Flow decision"),
        "{}",
        rep.text()
    );
}

#[tokio::test]
async fn a_request_plugin_alone_runs_fusion_when_no_decision_offers_one() {
    // The only looper is a workflows decision: a fusion slug needs the plugin's panel.
    let (r, _s) = looper_router(
        "{type: workflows, workflows: {roles: [{name: solve, models: [a]}], final: {model: a}}}",
        "final",
        |_| {},
    )
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let body = |plugins: Value| {
        json!({"model": "vllm-sr/fusion", "plugins": plugins,
            "messages": [{"role": "user", "content": "hello there"}]})
    };
    let rep = post(&c, &url, &body(json!([]))).await;
    assert_eq!(rep.status, 400, "{}", rep.text());
    assert!(
        rep.text().contains("no eligible Fusion decision"),
        "{}",
        rep.text()
    );
    let panel = json!([{"id": "fusion", "analysis_models": ["a", "b"], "model": "judge", "include_analysis": false}]);
    let rep = post(&c, &url, &body(panel)).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-selected-decision"), Some("fusion_direct"));
    assert_eq!(
        rep.header("x-vsr-looper-calls"),
        Some("3"),
        "two panel calls, one final"
    );
    assert_eq!(rep.json()["choices"][0]["message"]["content"], "final");
}

#[tokio::test]
async fn a_worker_s_tool_call_pauses_the_workflow_until_the_client_returns_the_result() {
    let (r, s) = looper_router(
        "{type: workflows, workflows: {roles: [{name: research, models: [a], prompt: \"Use lookup for the facts.\"}, {name: write, models: [b]}], final: {model: c}}}",
        "final",
        |_| {},
    )
    .await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let tools = json!([{"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]);
    let user = json!({"role": "user", "content": "a math question for the workers"});
    let first = post(
        &c,
        &url,
        &json!({"model": "MoM", "tools": tools, "messages": [user]}),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("x-vsr-looper"), Some("workflows"));
    let v = first.json();
    let message = &v["choices"][0]["message"];
    let call_id = message["tool_calls"][0]["id"]
        .as_str()
        .expect("a tool call")
        .to_string();
    assert_eq!(message["tool_calls"][0]["function"]["name"], "lookup");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["flow"]["interrupted"]["step"], "research", "{v}");
    let calls_before = s.stats.chat_requests.load(Ordering::Relaxed);

    // The client runs the tool and sends the result: the workflow goes on from the worker.
    let second = json!({"model": "MoM", "tools": tools, "messages": [
        user,
        {"role": "assistant", "content": null, "tool_calls": message["tool_calls"]},
        {"role": "tool", "tool_call_id": call_id, "content": "42 facts"}]});
    let rep = post(&c, &url, &second).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    let v = rep.json();
    let answer = &v["choices"][0]["message"];
    assert!(answer["tool_calls"].is_null(), "{v}");
    assert!(!answer["content"].as_str().unwrap_or("").is_empty(), "{v}");
    assert_eq!(v["flow"]["final_model"], "c");
    assert_eq!(v["flow"]["resumed"], true, "{v}");
    let research = &v["flow"]["steps"][0];
    assert_eq!(research["id"], "research");
    assert!(
        research["responses"][0]["content"]
            .as_str()
            .unwrap_or("")
            .contains("42 facts"),
        "{research}"
    );
    assert_eq!(v["flow"]["steps"][1]["id"], "write");
    // The worker's continuation, the second step and the synthesis: three calls.
    assert_eq!(
        s.stats.chat_requests.load(Ordering::Relaxed) - calls_before,
        3
    );

    // The same result again finds nothing waiting: the workflow starts over (and pauses again).
    let again = post(&c, &url, &second).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert!(again.json()["flow"]["resumed"].is_null());
}
