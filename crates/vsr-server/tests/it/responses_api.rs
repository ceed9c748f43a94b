//! `/v1/responses` translated to chat completions and back.

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn responses_non_streaming_and_streaming() {
    let (r, _s) = simple().await;
    let c = client();
    let url = format!("{}/v1/responses", r.base);
    let rep = post(
        &c,
        &url,
        &json!({"model": "MoM", "input": "do the math", "instructions": "be brief"}),
    )
    .await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-selected-decision"), Some("math_route"));
    let v = rep.json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    let text = v["output"][0]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("[b]"), "{text}");
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);

    let rep = post(&c, &url, &json!({"model": "a", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}], "stream": true})).await;
    assert_eq!(rep.status, 200);
    let t = rep.text();
    let kinds: Vec<&str> = t
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds.first(), Some(&"response.created"));
    assert_eq!(kinds.last(), Some(&"response.completed"));
    assert!(kinds.contains(&"response.output_text.delta"));
    assert!(t.contains("\"output_tokens\":12"), "{t}");

    let rep = post(&c, &url, &json!({"model": "a"})).await;
    assert_eq!(rep.status, 400);
    assert!(rep.text().contains("'input' field is required"));
    let rep = post(&c, &url, &json!({"model": "MoM", "input": "jailbreak now"})).await;
    assert_eq!(rep.header("x-vsr-fast-response"), Some("true"));
    assert_eq!(
        rep.json()["output"][0]["content"][0]["text"],
        "I cannot help with that request."
    );
}
