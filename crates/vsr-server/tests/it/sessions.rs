//! Session-stable routing through the real server: a 10-turn conversation whose turns' own
//! decisions vary keeps its model unless the margin is met, and a second router on the same
//! PostgreSQL database continues the conversation where the first left it.

use std::sync::Arc;

use serde_json::{Value, json};
use vsr_engine::{EvalMode, RoutingResult};
use vsr_server::{Classifier, ClassifyError, ValidatingLoader};
use vsr_signals::RequestView;

use crate::harness::{Router, client, post, router_with, send, sim};

/// The real engine over the served config (keyword rules only, no model); unmatched → `a`.
struct EngineClassifier(vsr_engine::Engine);

impl Classifier for EngineClassifier {
    fn route(
        &self,
        recipe: Option<&str>,
        view: &RequestView,
    ) -> Result<RoutingResult, ClassifyError> {
        let ctx = vsr_signals::RequestContext::new(view);
        let mut r = self.0.route(&ctx, EvalMode::Routing);
        if r.is_default {
            r.model = "a".into();
        }
        r.recipe = recipe.map(str::to_string);
        Ok(r)
    }

    fn eval(
        &self,
        recipe: Option<&str>,
        view: &RequestView,
    ) -> Result<RoutingResult, ClassifyError> {
        self.route(recipe, view)
    }
}

pub fn engine_loader() -> ValidatingLoader {
    ValidatingLoader::with_classifier(|config, _settings| {
        let engine = vsr_engine::Engine::from_config(config).map_err(|e| e.to_string())?;
        Ok(Arc::new(EngineClassifier(engine)) as Arc<dyn Classifier>)
    })
}

/// Three aliases on one sim; `chat` → a, `code` → b, `math` → c (priority math > code > chat);
/// protection locks the first 3 turns and then needs a 0.05 margin. `extra_global` goes under
/// `global:`.
fn config(backend: &str, extra_global: &str) -> String {
    format!(
        r#"version: v0.3
listeners:
  - {{name: http, address: 127.0.0.1, port: 9}}
global:
  router:
    keyword_match: all
    learning:
      enabled: true
      adaptation: {{enabled: false}}
      protection:
        scope: conversation
        tuning: {{idle_timeout_seconds: 300, min_turns_before_switch: 3, switch_margin: 0.05}}
{extra_global}providers:
  defaults: {{default_model: a}}
  models:
    - {{name: a, backend_refs: [{{endpoint: "{backend}"}}]}}
    - {{name: b, backend_refs: [{{endpoint: "{backend}"}}]}}
    - {{name: c, backend_refs: [{{endpoint: "{backend}"}}]}}
routing:
  modelCards: [{{name: a}}, {{name: b}}, {{name: c}}]
  signals:
    keywords:
      - {{name: chat_kw, operator: OR, keywords: [chat]}}
      - {{name: code_kw, operator: OR, keywords: [code]}}
      - {{name: math_kw, operator: OR, keywords: [math]}}
  decisions:
    - {{name: chat, priority: 10, rules: {{operator: AND, conditions: [{{type: keyword, name: chat_kw}}]}}, modelRefs: [{{model: a}}]}}
    - {{name: code, priority: 20, rules: {{operator: AND, conditions: [{{type: keyword, name: code_kw}}]}}, modelRefs: [{{model: b}}]}}
    - {{name: math, priority: 30, rules: {{operator: AND, conditions: [{{type: keyword, name: math_kw}}]}}, modelRefs: [{{model: c}}]}}
"#
    )
}

/// The conversation: each user turn, the model its own decision picks, and the model served.
/// Turns 2–3 are inside `min_turns_before_switch`; turn 4's own pick (b) has the previous
/// model's decision matching as strongly (no margin); turn 5 matches nothing (the default,
/// which is the previous model); turn 6 only `code` matches (margin met: switch); turn 8's
/// `math` is matched together with `code` (kept); turn 9 only `math` (switch).
const TURNS: [(&str, &str, &str, &str); 10] = [
    ("let us chat", "a", "a", "new"),
    ("now some code", "b", "a", "kept"),
    ("chat about code", "b", "a", "kept"),
    ("more chat about code", "b", "a", "kept"),
    ("hello there", "a", "a", "same"),
    ("only code now", "b", "b", "switched"),
    ("chat with code", "b", "b", "same"),
    ("math inside code", "c", "b", "kept"),
    ("just math", "c", "c", "switched"),
    ("math chat", "c", "c", "same"),
];

/// Plays [`TURNS`], turn `i` against `routers[i % routers.len()]`, and checks every answer.
async fn play(routers: &[&Router], session: &str) {
    let c = client();
    let mut messages: Vec<Value> = Vec::new();
    let mut ids = Vec::new();
    for (i, (text, own, served, action)) in TURNS.iter().enumerate() {
        messages.push(json!({"role": "user", "content": text}));
        let body = json!({"model": "MoM", "messages": messages}).to_string();
        let r = routers[i % routers.len()];
        let reply = send(
            &c,
            "POST",
            &format!("{}/v1/chat/completions", r.base),
            &body,
            &[
                ("content-type", "application/json"),
                ("x-session-id", session),
                ("x-conversation-id", "conv-1"),
            ],
        )
        .await;
        assert_eq!(reply.status, 200, "turn {}: {}", i + 1, reply.text());
        let got = (
            reply.header("x-vsr-session-own-model"),
            reply.header("x-vsr-selected-model"),
            reply.header("x-vsr-session-action"),
        );
        assert_eq!(
            got,
            (Some(*own), Some(*served), Some(*action)),
            "turn {} ({text}): decision {:?}, keywords {:?}, confidence {:?}",
            i + 1,
            reply.header("x-vsr-selected-decision"),
            reply.header("x-vsr-matched-keywords"),
            reply.header("x-vsr-selected-confidence"),
        );
        assert_eq!(
            reply.json()["model"],
            *served,
            "turn {}: the backend saw the served model",
            i + 1
        );
        if *action == "kept" {
            assert!(reply.header("x-vsr-session-reason").is_some());
        }
        assert_eq!(
            reply.header("x-vsr-session-turns"),
            Some((i + 1).to_string().as_str())
        );
        ids.push(
            reply
                .header("x-vsr-session-id")
                .unwrap_or_default()
                .to_string(),
        );
        messages.push(json!({"role": "assistant", "content": format!("answer {i}")}));
    }
    assert_eq!(ids[0].len(), 16);
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one conversation id: {ids:?}"
    );
}

#[tokio::test]
async fn a_ten_turn_conversation_keeps_its_model_unless_the_margin_is_met() {
    let s = sim(&["a", "b", "c"], |_| {}).await;
    let yaml = config(&s.addr.to_string(), "");
    let r = router_with(&yaml, |o| o.loader = Arc::new(engine_loader())).await;
    play(&[&r], "s-memory").await;

    // Another conversation is independent: its first turn takes its own pick.
    let c = client();
    let body = json!({"model": "MoM", "messages": [{"role": "user", "content": "only code"}]});
    let url = format!("{}/v1/chat/completions", r.base);
    let reply = send(
        &c,
        "POST",
        &url,
        &body.to_string(),
        &[
            ("x-session-id", "s-memory"),
            ("x-conversation-id", "conv-2"),
        ],
    )
    .await;
    assert_eq!(reply.header("x-vsr-selected-model"), Some("b"));
    assert_eq!(reply.header("x-vsr-session-action"), Some("new"));

    // Without identity headers the conversation is fingerprinted from its first turn: the
    // second turn continues it (inside min turns: kept).
    let first =
        json!({"model": "MoM", "messages": [{"role": "user", "content": "chat, no headers"}]});
    let reply = send(&c, "POST", &url, &first.to_string(), &[]).await;
    assert_eq!(reply.header("x-vsr-session-action"), Some("new"));
    let id = reply.header("x-vsr-session-id").map(str::to_string);
    let second = json!({"model": "MoM", "messages": [
        {"role": "user", "content": "chat, no headers"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "code"}]});
    let reply = send(&c, "POST", &url, &second.to_string(), &[]).await;
    assert_eq!(reply.header("x-vsr-session-id").map(str::to_string), id);
    assert_eq!(reply.header("x-vsr-session-action"), Some("kept"));
    assert_eq!(reply.header("x-vsr-selected-model"), Some("a"));

    // The eval API cannot preview a pick that protection may replace (head-delta §12.2).
    let eval = format!("{}/api/v1/eval", r.base);
    let v = post(&c, &eval, &json!({"text": "only code"})).await.json();
    assert_eq!(v["routing_decision"], "code", "{v}");
    assert_eq!(v["selection_status"], "execution_required", "{v}");
    assert!(v.get("selected_model").is_none(), "{v}");
}

/// `postgres://user[:password]@host:port/database` → the replay config's fields.
fn replay_postgres(url: &str, schema: &str) -> String {
    let rest = url
        .trim_start_matches("postgres://")
        .trim_start_matches("postgresql://");
    let (auth, rest) = rest.split_once('@').unwrap_or(("postgres", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let db = db.split('?').next().unwrap_or(db);
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    let password = if password.is_empty() {
        String::new()
    } else {
        format!(", password: \"{password}\"")
    };
    format!(
        "  services:\n    router_replay:\n      store_backend: postgres\n      postgres: {{host: \"{host}\", port: {port}, database: \"{db}\", user: \"{user}\"{password}, table_name: \"{schema}\"}}\n"
    )
}

#[tokio::test]
async fn a_second_router_on_the_same_database_keeps_the_conversation_stable() {
    let url = match std::env::var("VSR_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            vsr_testkit::missing(
                "VSR_TEST_POSTGRES_URL is not set (the shared-state session test)",
            );
            return;
        }
    };
    let schema = format!("vsr_sess_{}_{}", std::process::id(), fastrand_suffix());
    let s = sim(&["a", "b", "c"], |_| {}).await;
    let yaml = config(&s.addr.to_string(), &replay_postgres(&url, &schema));
    let one = router_with(&yaml, |o| o.loader = Arc::new(engine_loader())).await;
    let two = router_with(&yaml, |o| o.loader = Arc::new(engine_loader())).await;
    // Turns alternate between the replicas; each sees the state the other wrote.
    play(&[&one, &two], "s-shared").await;
    drop((one, two));
    // The synchronous client runs its own runtime: off the async threads.
    let _ = tokio::task::spawn_blocking(move || {
        vsr_session::PostgresSessionStore::drop_schema(&url, &schema)
    })
    .await;
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}
