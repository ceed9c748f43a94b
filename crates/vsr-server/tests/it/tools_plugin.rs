//! The `tools` plugin (HEAD §14) on the forwarded body: a decision with `mode: none` and
//! `strip_tool_history` sends no tools and no tool history upstream; the signals still saw the
//! request as sent, and a request that reaches no such decision is forwarded as sent.
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_decision_with_tools_none_forwards_no_tools_and_no_tool_history() {
    let s = sim(&["a-up", "b"], |o| o.words = 4).await;
    let e = vec![s.addr.to_string()];
    let routing = "routing:
  signals:
    keywords:
      - {name: math_kw, operator: OR, keywords: [math]}
  decisions:
    - name: math_route
      priority: 100
      rules: {operator: AND, conditions: [{type: keyword, name: math_kw}]}
      modelRefs: [{model: b}]
      plugins: [{type: tools, configuration: {enabled: true, mode: none, strip_tool_history: true}}]
";
    let yaml = config_yaml(&e, &e, "", "30s").replacen("routing: {}\n", routing, 1);
    let r = router_with(&yaml, |_| {}).await;
    let c = client();
    let url = format!("{}/v1/chat/completions", r.base);
    let tools = json!([{"type": "function", "function": {"name": "calc",
        "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}}]);
    let body = json!({"model": "MoM", "tools": tools, "tool_choice": "auto",
        "messages": [
            {"role": "user", "content": "a math question: use calc"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function",
                "function": {"name": "calc", "arguments": "{\"x\":\"1\"}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "2"},
            {"role": "user", "content": "now the math proof, use calc again"}]});
    let rep = post(&c, &url, &body).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-selected-decision"), Some("math_route"));
    let v = rep.json();
    let sent = &v["sim_request"];
    assert!(
        sent.get("tools").is_none() && sent.get("tool_choice").is_none(),
        "{sent}"
    );
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "user"], "{sent}");
    // No tools offered: the sim answers in words instead of calling one.
    assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");

    // An explicit alias reaches no decision: the tools go upstream as sent.
    let mut explicit = body.clone();
    explicit["model"] = json!("b");
    let v = post(&c, &url, &explicit).await.json();
    assert_eq!(v["sim_request"]["tools"], tools);
    assert_eq!(v["sim_request"]["messages"].as_array().unwrap().len(), 4);
}
