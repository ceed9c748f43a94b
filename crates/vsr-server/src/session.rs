//! The proxy's hook for session-stable routing (`vsr-session`): between classification and
//! rewrite, read the conversation identity from the request, run the turn through the policy
//! and its state store, and let the outcome replace the turn's model. Headers and the replay
//! record report it (docs/sessions.md).

use crate::headers as hdr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use vsr_engine::RoutingResult;
use vsr_session::{Identity, IdentityInputs, Outcome, Turn};

use crate::proxy::ChatRequest;
use crate::state::{Runtime, Shared};

/// A message, read only as far as identity needs.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    role: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    user_id: Option<String>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn string_field(req: &ChatRequest, name: &str) -> Option<String> {
    req.fields
        .get(name)
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
}

/// Identity inputs and the turn index (assistant messages) of a request.
fn read(
    policy: &vsr_session::Policy,
    headers: &HeaderMap,
    req: &ChatRequest,
) -> (IdentityInputs, u64) {
    let messages: Vec<Peek<'_>> = req
        .fields
        .get("messages")
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default();
    let role = |m: &Peek<'_>| m.role.as_deref().unwrap_or("").to_string();
    let text = |m: &Peek<'_>| m.content.map(|c| c.get().to_string());
    let system: Vec<String> = messages
        .iter()
        .filter(|m| matches!(role(m).as_str(), "system" | "developer"))
        .filter_map(text)
        .collect();
    let inputs = IdentityInputs {
        session_header: header(headers, &policy.session_header),
        conversation_header: header(headers, &policy.conversation_header),
        claude_code_session: header(headers, "x-claude-code-session-id"),
        metadata_user_id: req
            .fields
            .get("metadata")
            .and_then(|raw| serde_json::from_str::<Metadata>(raw.get()).ok())
            .and_then(|m| m.user_id),
        user: string_field(req, "user"),
        system: (!system.is_empty()).then(|| system.join("\n")),
        first_user: messages.iter().find(|m| role(m) == "user").and_then(text),
    };
    let turn_index = messages.iter().filter(|m| role(m) == "assistant").count() as u64;
    (inputs, turn_index)
}

/// Whether a request continues a conversation: an assistant or tool message, or a bound
/// `previous_response_id`.
fn continues(req: &ChatRequest) -> bool {
    if req.fields.contains_key("previous_response_id") {
        return true;
    }
    req.fields
        .get("messages")
        .and_then(|raw| serde_json::from_str::<Vec<Peek<'_>>>(raw.get()).ok())
        .is_some_and(|messages| {
            messages
                .iter()
                .any(|m| matches!(m.role.as_deref(), Some("assistant" | "tool" | "function")))
        })
}

/// Runs router-learning adaptation for a routed request (before protection, which then guards
/// the proposal): a better-learned candidate may replace `result.model` and its reasoning.
/// Exploration (Beta draws, cold models first) is off while protection holds a continuing
/// conversation: a conversation is not moved for the sake of a draw. `None` when adaptation
/// is off, the router answers itself, no decision matched, the decision runs a looper or it
/// bypasses adaptation.
pub(crate) fn adapt(
    shared: &Shared,
    rt: &Runtime,
    req: &ChatRequest,
    result: &mut RoutingResult,
) -> Option<vsr_session::Adaptation> {
    let adapter = rt.settings.adapter.as_ref()?;
    if result.fast_response.is_some() {
        return None;
    }
    let recipe = result.recipe.as_deref();
    let decision = result.decision.as_deref()?;
    if rt.settings.loopers.get(recipe, decision).is_some() {
        return None;
    }
    let held = rt
        .settings
        .session
        .as_ref()
        .is_some_and(|p| p.may_change(recipe, decision))
        && continues(req);
    let out = adapter.adapt(
        &shared.experience,
        recipe,
        decision,
        &result.model,
        !held,
        fastrand::u64(..),
    )?;
    if let Some(c) = &out.switch_to
        && rt.settings.models.contains_key(&c.target)
    {
        result.model = c.target.clone();
        result.reasoning = vsr_engine::Reasoning {
            use_reasoning: c.use_reasoning,
            effort: c.effort.clone(),
            family: rt
                .settings
                .models
                .get(&c.model)
                .and_then(|m| m.reasoning_family.clone()),
        };
    }
    Some(out)
}

/// `x-vsr-learning-*` response headers of an adaptation (upstream's names).
pub(crate) fn add_learning_headers(
    h: &mut HeaderMap,
    adaptation: Option<&vsr_session::Adaptation>,
) {
    let Some(a) = adaptation else {
        return;
    };
    use crate::proxy::set_header as set;
    set(h, &hdr::LEARNING_METHODS, "adaptation");
    set(h, &hdr::LEARNING_ACTIONS, a.action);
    set(h, &hdr::LEARNING_REASONS, a.reason);
    set(h, &hdr::LEARNING_BASE_MODEL, &a.base_model);
}

/// Runs session protection for a routed request; `result.model` becomes the model to serve.
/// `None` when protection is off, the router answers itself, or the request has no identity.
/// A failing store serves the turn's own model (outcome `unavailable`, logged).
pub(crate) async fn protect(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    headers: &HeaderMap,
    req: &ChatRequest,
    result: &mut RoutingResult,
) -> Option<Outcome> {
    let policy = Arc::clone(rt.settings.session.as_ref()?);
    if result.fast_response.is_some() {
        return None;
    }
    let (inputs, turn_index) = read(&policy, headers, req);
    let identity = Identity::resolve(policy.scope, result.recipe.as_deref(), &inputs)?;
    let turn = Turn {
        recipe: result.recipe.clone(),
        decision: result.decision.clone(),
        model: result.model.clone(),
        confidence: result.confidence,
        matched: result
            .decisions
            .evaluated
            .iter()
            .filter(|d| d.matched)
            .map(|d| (d.name.to_string(), d.confidence))
            .collect(),
        turn_index,
    };
    let store = shared.sessions.get(policy.store_choice(), policy.ttl_ms());
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let blocking = store.blocking();
    let run = {
        let (identity, turn) = (identity.clone(), turn.clone());
        move || vsr_session::protect(store.as_ref(), &policy, &identity, &turn, now_ms)
    };
    let outcome = if blocking {
        tokio::task::spawn_blocking(run)
            .await
            .unwrap_or_else(|e| Err(vsr_session::StoreError::Postgres(e.to_string())))
    } else {
        run()
    };
    let outcome = outcome.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "session state unavailable; serving the turn's own model");
        Outcome::unavailable(identity.id.clone(), &turn.model)
    });
    if outcome.model != result.model && rt.settings.models.contains_key(&outcome.model) {
        result.model = outcome.model.clone();
    }
    Some(outcome)
}

/// `x-vsr-session-*` response headers of an outcome.
pub(crate) fn add_headers(h: &mut HeaderMap, outcome: Option<&Outcome>) {
    let Some(o) = outcome else {
        return;
    };
    let mut set = |name: &http::HeaderName, value: &str| {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            h.insert(name.clone(), v);
        }
    };
    set(&hdr::SESSION_ID, &o.session_id);
    set(&hdr::SESSION_ACTION, o.action.as_str());
    set(&hdr::SESSION_OWN_MODEL, &o.own_model);
    if let Some(r) = o.reason {
        set(&hdr::SESSION_REASON, r);
    }
    if o.turns > 0 {
        set(&hdr::SESSION_TURNS, &o.turns.to_string());
    }
}
