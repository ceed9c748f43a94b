//! `POST /v1/router/outcomes`: a client (an agent, an evaluator, an operator) tells the router
//! how a routed answer went — `good_fit`, `underpowered`, `overprovisioned` or `failed` —
//! naming the answer by its replay id (`x-vsr-replay-id`). The outcome is appended to that
//! replay record (once per `Idempotency-Key`), and a model outcome teaches router-learning
//! adaptation about the model that answered, in the decision's scope (head-delta §12.3).
//! Changing what the router learns is a write: it needs credentials like `/config/reload`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::body::json_response;
use crate::error::management_error;
use crate::record::{OutcomeStored, PostedOutcome};
use crate::state::Shared;

/// The path (management.rs declares the route with the same literal).
pub const PATH: &str = "/v1/router/outcomes";
/// Largest request body.
pub const BODY_LIMIT: usize = 64 * 1024;
const MAX_KEY: usize = 256;
const MAX_TARGET_REF: usize = 512;
const MAX_METADATA: usize = 32;

const SOURCES: [&str; 6] = ["user", "agent", "eval", "operator", "provider", "router"];
const TARGETS: [&str; 6] = [
    "model",
    "route",
    "policy",
    "stability",
    "provider",
    "router",
];

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    replay_id: String,
    /// Accepted for compatibility; who posted is not taken from the body.
    #[serde(default)]
    source: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    target_ref: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

fn invalid(code: &str, message: &str) -> http::Response<crate::body::RespBody> {
    management_error(StatusCode::BAD_REQUEST, code, message)
}

/// Checks a posted body; `Err` is the message of the 400 `INVALID_OUTCOME` answer.
fn check(body: &[u8], key: String) -> Result<(String, PostedOutcome), String> {
    let b: Body = serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    let replay_id = b.replay_id.trim().to_string();
    if replay_id.is_empty() {
        return Err("replay_id is required".to_string());
    }
    let source = b.source.trim();
    if !source.is_empty() && !SOURCES.contains(&source) {
        return Err(format!("source must be one of {}", SOURCES.join(", ")));
    }
    let target = b.target.trim();
    if !TARGETS.contains(&target) {
        return Err(format!("target must be one of {}", TARGETS.join(", ")));
    }
    let Some(verdict) = vsr_session::Verdict::parse(&b.verdict) else {
        return Err(
            "verdict must be one of good_fit, underpowered, overprovisioned, failed".to_string(),
        );
    };
    let score = b.score.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&score) {
        return Err("score must be between 0.0 and 1.0".to_string());
    }
    let target_ref = b.target_ref.trim().to_string();
    if target_ref.len() > MAX_TARGET_REF {
        return Err(format!("target_ref is longer than {MAX_TARGET_REF} bytes"));
    }
    if b.metadata.len() > MAX_METADATA {
        return Err(format!("metadata has more than {MAX_METADATA} keys"));
    }
    if let Some((k, _)) = b
        .metadata
        .iter()
        .find(|(k, v)| k.trim().is_empty() || k.len() > 128 || v.len() > 1024)
    {
        return Err(format!(
            "metadata key {k:?}: keys must be 1 to 128 bytes and values at most 1024 bytes"
        ));
    }
    Ok((
        replay_id,
        PostedOutcome {
            target: target.to_string(),
            target_ref,
            verdict,
            score,
            reason: b.reason.trim().to_string(),
            metadata: b
                .metadata
                .into_iter()
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
            key,
        },
    ))
}

/// The handler.
pub(crate) async fn post(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(&shared, &headers, body)
        .await
        .map(axum::body::Body::new)
}

async fn answer(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> http::Response<crate::body::RespBody> {
    let rt = shared.runtime.load_full();
    if rt.settings.adapter.is_none() && rt.settings.session.is_none() {
        return management_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NO_ROUTER_LEARNING_RUNTIME",
            "router learning is off (global.router.learning.enabled)",
        );
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    if key.is_empty() {
        return invalid(
            "MISSING_IDEMPOTENCY_KEY",
            "the Idempotency-Key header is required",
        );
    }
    if key.len() > MAX_KEY {
        return invalid(
            "INVALID_IDEMPOTENCY_KEY",
            &format!("Idempotency-Key must be at most {MAX_KEY} characters"),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => return management_error(e.status(), "INVALID_OUTCOME", &e.body_text()),
    };
    let (replay_id, outcome) = match check(&body, key) {
        Ok(ok) => ok,
        Err(m) => return invalid("INVALID_OUTCOME", &m),
    };
    let Some(sink) = shared.sink.clone() else {
        return management_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NO_REPLAY_STORE",
            "outcomes are stored with replay records; this router keeps none",
        );
    };
    let stored = {
        let (id, o) = (replay_id.clone(), outcome.clone());
        tokio::task::spawn_blocking(move || sink.add_outcome(&id, &o))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    };
    let now = crate::util::rfc3339_now();
    match stored {
        Err(e) => management_error(StatusCode::SERVICE_UNAVAILABLE, "STORE_UNAVAILABLE", &e),
        Ok(OutcomeStored::Missing) => management_error(
            StatusCode::NOT_FOUND,
            "REPLAY_NOT_FOUND",
            &format!(
                "no replay record {replay_id:?} (records are written shortly after the answer)"
            ),
        ),
        Ok(OutcomeStored::Mismatch(m)) => {
            management_error(StatusCode::CONFLICT, "OUTCOME_OWNERSHIP_MISMATCH", &m)
        }
        Ok(OutcomeStored::Duplicate) => json_response(
            StatusCode::OK,
            &json!({"success": true, "updated": 0, "recorded": false, "duplicate": true, "timestamp": now}),
        ),
        Ok(OutcomeStored::Added {
            recipe,
            decision,
            tier,
            model,
        }) => {
            // Only a model outcome about a routed decision teaches adaptation.
            let mut updated = 0;
            if outcome.target == "model"
                && !decision.is_empty()
                && let Some(adapter) = &rt.settings.adapter
            {
                let key = adapter.outcome_key(recipe.as_deref(), &decision, tier);
                shared
                    .experience
                    .record_outcome(&key, &model, outcome.verdict, outcome.score);
                updated = 1;
            }
            json_response(
                StatusCode::OK,
                &json!({"success": true, "updated": updated, "recorded": true, "timestamp": now}),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(body: &str) -> Result<PostedOutcome, StatusCode> {
        check(body.as_bytes(), "k".into())
            .map(|(_, o)| o)
            .map_err(|_| StatusCode::BAD_REQUEST)
    }

    #[test]
    fn bodies_are_checked_field_by_field() {
        let ok = status(
            r#"{"replay_id":" r1 ","target":"model","target_ref":" m ","verdict":"good_fit","score":0.75,"metadata":{" run ":" 1 "}}"#,
        )
        .expect("valid");
        assert_eq!(ok.target_ref, "m");
        assert_eq!(ok.score, 0.75);
        assert_eq!(ok.metadata.get("run").map(String::as_str), Some("1"));
        for bad in [
            r#"{"target":"model","verdict":"good_fit"}"#,
            r#"{"replay_id":"r","target":"planet","verdict":"good_fit"}"#,
            r#"{"replay_id":"r","target":"model","verdict":"great"}"#,
            r#"{"replay_id":"r","target":"model","verdict":"failed","score":2}"#,
            r#"{"replay_id":"r","target":"model","verdict":"failed","source":"martian"}"#,
            r#"{"replay_id":"r","target":"model","verdict":"failed","metadata":{"":"x"}}"#,
            r#"{"replay_id":"r","#,
            r#"[1]"#,
        ] {
            assert_eq!(status(bad).err(), Some(StatusCode::BAD_REQUEST), "{bad}");
        }
    }
}
