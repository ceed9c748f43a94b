//! Router-learning adaptation through the real server: a two-model decision tries each cold
//! model once, then follows the outcomes clients post to `/v1/router/outcomes` against the
//! replay ids of its answers; the endpoint checks what it is given.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use vsr_server::{OutcomeStored, PostedOutcome, RecordFinish, RecordSink, RecordStart};

use crate::harness::{Reply, Router, client, router_with, send, sim};
use crate::sessions::engine_loader;

/// What an outcome needs of a record: its decision and model, and the keys posted.
type Kept = (String, String, Vec<String>);

#[derive(Default)]
struct Records {
    by_id: Mutex<HashMap<String, Kept>>,
}

impl RecordSink for Records {
    fn start(&self, s: &RecordStart<'_>) -> Option<String> {
        let decision = s.result?.decision.clone()?;
        let mut by_id = self.by_id.lock().unwrap();
        let id = format!("rec{}", by_id.len());
        by_id.insert(
            id.clone(),
            (decision, s.selected_model.to_string(), Vec::new()),
        );
        Some(id)
    }
    fn finish(&self, _id: &str, _f: RecordFinish) {}
    fn add_outcome(&self, id: &str, o: &PostedOutcome) -> Result<OutcomeStored, String> {
        let mut by_id = self.by_id.lock().unwrap();
        let Some((decision, model, keys)) = by_id.get_mut(id) else {
            return Ok(OutcomeStored::Missing);
        };
        if !o.target_ref.is_empty() && o.target_ref != *model {
            return Ok(OutcomeStored::Mismatch(format!("answered by {model}")));
        }
        if keys.contains(&o.key) {
            return Ok(OutcomeStored::Duplicate);
        }
        keys.push(o.key.clone());
        Ok(OutcomeStored::Added {
            recipe: None,
            decision: decision.clone(),
            tier: 1,
            model: model.clone(),
        })
    }
}

fn config(backend: &str, learning: &str) -> String {
    format!(
        r#"version: v0.3
listeners:
  - {{name: http, address: 127.0.0.1, port: 9}}
global:
  router:
    learning: {learning}
providers:
  defaults: {{default_model: a}}
  models:
    - {{name: a, pricing: {{prompt_per_1m: 1, completion_per_1m: 1}}, backend_refs: [{{endpoint: "{backend}"}}]}}
    - {{name: b, pricing: {{prompt_per_1m: 1, completion_per_1m: 1}}, backend_refs: [{{endpoint: "{backend}"}}]}}
routing:
  modelCards: [{{name: a}}, {{name: b}}]
  signals:
    keywords:
      - {{name: code_kw, operator: OR, keywords: [code]}}
  decisions:
    - {{name: code, priority: 10, tier: 1, rules: {{operator: AND, conditions: [{{type: keyword, name: code_kw}}]}}, modelRefs: [{{model: a}}, {{model: b}}]}}
"#
    )
}

const LEARNING: &str = "{enabled: true, adaptation: {enabled: true}, protection: {enabled: false}}";

/// A router over `backend` with the engine's routing and a [`Records`] sink.
async fn start(backend: &str, learning: &str) -> Router {
    let sink: Arc<dyn RecordSink> = Arc::new(Records::default());
    router_with(&config(backend, learning), |o| {
        o.loader = Arc::new(engine_loader());
        o.record_sink = Some(sink);
    })
    .await
}

async fn ask(base: &str) -> Reply {
    let body = json!({"model": "MoM", "messages": [{"role": "user", "content": "write code"}]});
    let reply = send(
        &client(),
        "POST",
        &format!("{base}/v1/chat/completions"),
        &body.to_string(),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The answer's telemetry is learned when its body ends; let that happen first.
    tokio::time::sleep(Duration::from_millis(50)).await;
    reply
}

async fn outcome(base: &str, key: &str, body: Value) -> Reply {
    let mut headers = vec![("content-type", "application/json")];
    if !key.is_empty() {
        headers.push(("idempotency-key", key));
    }
    send(
        &client(),
        "POST",
        &format!("{base}/v1/router/outcomes"),
        &body.to_string(),
        &headers,
    )
    .await
}

#[tokio::test]
async fn adaptation_tries_cold_models_then_follows_posted_outcomes() {
    let s = sim(&["a", "b"], |_| {}).await;
    let r = start(&s.addr.to_string(), LEARNING).await;

    // Both models are cold: the first two answers come from different models, each tried once.
    let first = ask(&r.base).await;
    let second = ask(&r.base).await;
    let served = |reply: &Reply| reply.header("x-vsr-selected-model").map(str::to_string);
    let mut tried = vec![served(&first), served(&second)];
    tried.sort();
    assert_eq!(tried, [Some("a".into()), Some("b".into())]);
    assert_eq!(first.header("x-vsr-learning-methods"), Some("adaptation"));
    assert_eq!(first.header("x-vsr-learning-base-model"), Some("a"));
    let reason = |reply: &Reply| reply.header("x-vsr-learning-reasons").map(str::to_string);
    assert!(
        [reason(&first), reason(&second)].contains(&Some("cold_start".into())),
        "one of them was a cold start"
    );
    assert_eq!(first.json()["model"], served(&first).unwrap_or_default());

    // Outcomes: twenty say the answer from b was underpowered, twenty that a's fit well.
    let (from_a, from_b) = if served(&first).as_deref() == Some("a") {
        (&first, &second)
    } else {
        (&second, &first)
    };
    let id = |reply: &Reply| {
        reply
            .header("x-vsr-replay-id")
            .unwrap_or_default()
            .to_string()
    };
    let post = outcome(
        &r.base,
        "k-b",
        json!({"replay_id": id(from_b), "target": "model", "verdict": "underpowered", "score": 1.0}),
    )
    .await;
    assert_eq!(post.status, 200, "{}", post.text());
    assert_eq!(post.json()["updated"], 1);
    assert_eq!(post.json()["recorded"], true);
    for i in 0..19 {
        let p = outcome(
            &r.base,
            &format!("k-b{i}"),
            json!({"replay_id": id(from_b), "target": "model", "verdict": "underpowered"}),
        )
        .await;
        assert_eq!(p.status, 200);
    }
    for i in 0..20 {
        let p = outcome(
            &r.base,
            &format!("k-a{i}"),
            json!({"replay_id": id(from_a), "target": "model", "target_ref": "a", "verdict": "good_fit"}),
        )
        .await;
        assert_eq!(p.status, 200);
    }
    // The same key again changes nothing.
    let again = outcome(
        &r.base,
        "k-b",
        json!({"replay_id": id(from_b), "target": "model", "verdict": "underpowered"}),
    )
    .await;
    assert_eq!(
        (again.status, again.json()["duplicate"].clone()),
        (200, json!(true))
    );

    // Now every draw favours a (Beta(22, 2) against Beta(2, 22)).
    for _ in 0..8 {
        let reply = ask(&r.base).await;
        assert_eq!(served(&reply).as_deref(), Some("a"), "{:?}", reason(&reply));
    }

    // The eval API cannot preview a pick adaptation may change.
    let v = crate::harness::post(
        &client(),
        &format!("{}/api/v1/eval", r.base),
        &json!({"text": "code"}),
    )
    .await
    .json();
    assert_eq!(v["selection_status"], "execution_required", "{v}");
}

#[tokio::test]
async fn the_outcome_endpoint_checks_its_input() {
    let s = sim(&["a", "b"], |_| {}).await;
    let r = start(&s.addr.to_string(), LEARNING).await;
    let answer = ask(&r.base).await;
    let id = answer
        .header("x-vsr-replay-id")
        .unwrap_or_default()
        .to_string();
    let other = if answer.header("x-vsr-selected-model") == Some("a") {
        "b"
    } else {
        "a"
    };
    let good = json!({"replay_id": id, "target": "model", "verdict": "good_fit"});
    let code = |reply: &Reply| reply.json()["error"]["code"].clone();

    let no_key = outcome(&r.base, "", good.clone()).await;
    assert_eq!(
        (no_key.status, code(&no_key)),
        (400, json!("MISSING_IDEMPOTENCY_KEY"))
    );
    let long_key = outcome(&r.base, &"k".repeat(300), good.clone()).await;
    assert_eq!(long_key.status, 400);
    let bad_verdict = outcome(
        &r.base,
        "k1",
        json!({"replay_id": id, "target": "model", "verdict": "great"}),
    )
    .await;
    assert_eq!(
        (bad_verdict.status, code(&bad_verdict)),
        (400, json!("INVALID_OUTCOME"))
    );
    assert!(
        bad_verdict.text().contains("good_fit"),
        "{}",
        bad_verdict.text()
    );
    let not_json = send(
        &client(),
        "POST",
        &format!("{}/v1/router/outcomes", r.base),
        "{\"replay_id\": ",
        &[("idempotency-key", "k2")],
    )
    .await;
    assert_eq!(not_json.status, 400);
    assert!(
        not_json.text().contains("line 1 column"),
        "{}",
        not_json.text()
    );
    let unknown = outcome(
        &r.base,
        "k3",
        json!({"replay_id": "nope", "target": "model", "verdict": "failed"}),
    )
    .await;
    assert_eq!(
        (unknown.status, code(&unknown)),
        (404, json!("REPLAY_NOT_FOUND"))
    );
    let mismatch = outcome(
        &r.base,
        "k4",
        json!({"replay_id": id, "target": "model", "target_ref": other, "verdict": "failed"}),
    )
    .await;
    assert_eq!(
        (mismatch.status, code(&mismatch)),
        (409, json!("OUTCOME_OWNERSHIP_MISMATCH"))
    );
    // A route outcome is recorded but teaches no model.
    let route = outcome(
        &r.base,
        "k5",
        json!({"replay_id": id, "target": "route", "verdict": "overprovisioned"}),
    )
    .await;
    assert_eq!(route.status, 200);
    assert_eq!(
        (
            route.json()["recorded"].clone(),
            route.json()["updated"].clone()
        ),
        (json!(true), json!(0))
    );

    // With router learning off there is nothing to teach.
    let off = start(&s.addr.to_string(), "{enabled: false}").await;
    let refused = outcome(&off.base, "k6", good).await;
    assert_eq!(
        (refused.status, code(&refused)),
        (503, json!("NO_ROUTER_LEARNING_RUNTIME"))
    );
    let plain = ask(&off.base).await;
    assert_eq!(plain.header("x-vsr-learning-methods"), None);
    assert_eq!(plain.header("x-vsr-selected-model"), Some("a"));
}
