//! The management plane on axum: health, readiness, metrics, the eval API, config read and
//! reload, plus the endpoint families other crates mount (the replay API, next the dashboard
//! backend). Routing, extractors, body limits and the per-request span come from axum/tower;
//! the OpenAI data plane stays on raw hyper in [`crate::server`] because it streams and is the
//! hot path.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::json;

use crate::body::{RespBody, json_response, text_response};
use crate::classify::ClassifyError;
use crate::error::{ApiError, management_error};
use crate::state::Shared;
use vsr_signals::{ChatMessage, RequestView};

/// Largest eval request body (`{"text": …}`).
pub const EVAL_BODY_LIMIT: usize = 1024 * 1024;

/// What a management request needs before it runs. Health, readiness, metrics and eval are
/// open; changing the config (`POST /config/reload`) and the replay API (which returns request
/// and response bodies) need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Open,
    /// Reading recorded traffic, bodies included.
    ReadBodies,
    /// Changing the running router.
    Write,
}

/// Checks the credentials of protected management requests (the dashboard's users: the same
/// bearer tokens and session cookies). `Err` is the status and message.
pub trait ManagementAuth: Send + Sync {
    fn check(&self, access: Access, headers: &http::HeaderMap) -> Result<(), (StatusCode, String)>;
    /// Whether any credential exists (a user). Without one, protected requests are answered
    /// for loopback clients only. A store that cannot tell says `Err`: refused.
    fn has_users(&self) -> Result<bool, String> {
        Ok(true)
    }
}

/// The client's address of a request (set by the listener).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// Whether a protected request may go through when no credential exists at all: from the
/// machine itself only (a local operator), never from the network.
pub fn open_without_users(peer: Option<Peer>) -> bool {
    peer.is_some_and(|Peer(p)| match p.ip() {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    })
}

/// The access a management path needs.
pub fn access_for(method: &http::Method, path: &str) -> Access {
    if ((path == "/config/reload" || path == crate::outcomes::PATH) && method == http::Method::POST)
        || ((path == "/v1/cache" || path.starts_with("/v1/cache/")) && method != http::Method::GET)
    {
        Access::Write
    } else if path == "/v1/router_replay" || path.starts_with("/v1/router_replay/") {
        Access::ReadBodies
    } else {
        Access::Open
    }
}

/// The management router over `shared`, with the `mounted` endpoint families merged in.
/// Unknown paths and wrong methods answer in the OpenAI error shape like the data plane.
pub fn router(shared: Arc<Shared>, mounted: Router) -> Router {
    let auth = shared.auth.clone();
    let own = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/eval",
            post(eval).layer(DefaultBodyLimit::max(EVAL_BODY_LIMIT)),
        )
        .route("/config/router", get(config_router))
        .route("/config/reload", post(config_reload))
        .route(
            "/v1/router/outcomes",
            post(crate::outcomes::post).layer(DefaultBodyLimit::max(crate::outcomes::BODY_LIMIT)),
        )
        .with_state(shared);
    own.merge(mounted)
        .fallback(|| async { axum_response(ApiError::NotFound.into_response()) })
        .method_not_allowed_fallback(|| async {
            axum_response(ApiError::MethodNotAllowed.into_response())
        })
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let auth = auth.clone();
            async move { guard(auth, req, next).await }
        }))
        .layer(middleware::from_fn(span))
}

/// Refuses protected requests whose credentials `auth` does not accept. With no user at all
/// (or no credential store: `--no-dashboard` on a fresh data dir), protected requests are
/// answered for loopback clients only.
async fn guard(auth: Option<Arc<dyn ManagementAuth>>, req: Request, next: Next) -> Response {
    let access = access_for(req.method(), req.uri().path());
    if access == Access::Open {
        return next.run(req).await;
    }
    let peer = req.extensions().get::<Peer>().copied();
    let checked = match &auth {
        Some(auth) => match auth.has_users() {
            Ok(true) => auth.check(access, req.headers()),
            Ok(false) => local_only(peer),
            // Never open up when the user store fails.
            Err(e) => Err((
                StatusCode::SERVICE_UNAVAILABLE,
                format!("credential store: {e}"),
            )),
        },
        None => local_only(peer),
    };
    if let Err((status, message)) = checked {
        let code = if status == StatusCode::UNAUTHORIZED {
            "unauthenticated"
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            "unavailable"
        } else {
            "forbidden"
        };
        return axum_response(management_error(status, code, &message));
    }
    next.run(req).await
}

fn local_only(peer: Option<Peer>) -> Result<(), (StatusCode, String)> {
    if open_without_users(peer) {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            "this endpoint needs credentials, and this router has no user yet: call it from \
             the router's own machine (loopback), or create a user in the dashboard and send \
             Authorization: Bearer <token>"
                .into(),
        ))
    }
}

/// One span per management request, and one debug line with its outcome.
async fn span(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let span = tracing::info_span!("management", method = %req.method(), path = %req.uri().path());
    async move {
        let resp = next.run(req).await;
        tracing::debug!(status = resp.status().as_u16(), "management request");
        resp
    }
    .instrument(span)
    .await
}

/// Our response type as axum's.
fn axum_response(resp: http::Response<RespBody>) -> Response {
    resp.map(axum::body::Body::new)
}

/// axum's response as ours (the listener loop answers both planes with one body type).
pub(crate) fn from_axum(resp: Response) -> http::Response<RespBody> {
    use http_body_util::BodyExt;
    resp.map(|b| {
        b.map_err(|e| Box::new(e) as crate::body::BoxError)
            .boxed_unsync()
    })
}

async fn health() -> Response {
    axum_response(json_response(
        StatusCode::OK,
        &json!({"status": "healthy", "service": "classification-api"}),
    ))
}

async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let rt = shared.runtime.load();
    let n = rt.settings.models.len();
    axum_response(json_response(
        StatusCode::OK,
        &json!({"status": "ready", "ready": true, "phase": "ready",
            "message": "router is ready", "ready_models": n, "total_models": n,
            "pending_models": [], "downloading_model": "",
            "upstreams": upstreams_json(&rt)}),
    ))
}

/// Each endpoint's circuit, health and load, aliases in config order (`/ready`).
fn upstreams_json(rt: &crate::state::Runtime) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for alias in rt.settings.models.keys() {
        let Some(pool) = rt.pools.get(alias) else {
            continue;
        };
        for (i, e) in pool.endpoints.iter().enumerate() {
            out.push(json!({
                "model": alias,
                "endpoint": e.settings.name,
                "address": format!("{}://{}", e.settings.scheme(), e.settings.authority),
                "circuit": pool.circuit(i).as_str(),
                "healthy": pool.is_healthy(i),
                "in_flight": pool.in_flight(i),
            }));
        }
    }
    out
}

/// `vsr_upstream_circuit_state{model,endpoint}` (0 closed, 1 half-open, 2 open), read from
/// the live pools at scrape time, in the OpenMetrics text format.
fn render_circuits(rt: &crate::state::Runtime, out: &mut String) {
    use std::fmt::Write;
    fn label(v: &str) -> String {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    }
    out.push_str(
        "# HELP vsr_upstream_circuit_state Circuit of each upstream endpoint: 0 closed, 1 half-open, 2 open.\n\
         # TYPE vsr_upstream_circuit_state gauge\n",
    );
    for alias in rt.settings.models.keys() {
        let Some(pool) = rt.pools.get(alias) else {
            continue;
        };
        for (i, e) in pool.endpoints.iter().enumerate() {
            let _ = writeln!(
                out,
                "vsr_upstream_circuit_state{{model=\"{}\",endpoint=\"{}\"}} {}",
                label(alias),
                label(&e.settings.name),
                pool.circuit(i).gauge()
            );
        }
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    if !shared.runtime.load().settings.metrics_enabled {
        return axum_response(ApiError::NotFound.into_response());
    }
    let text = shared.metrics.render_with(|out| {
        render_queue_depth(&shared, out);
        render_circuits(&shared.runtime.load(), out);
        if let Some(sink) = &shared.sink {
            sink.render_metrics(out);
        }
        shared.cache.render_metrics(out);
    });
    axum_response(text_response(
        StatusCode::OK,
        crate::metrics::CONTENT_TYPE,
        text,
    ))
}

/// `vsr_classify_queue_depth`: requests classifying or waiting to (the autoscaling signal:
/// it rises before the 429s do), with its capacity beside it.
fn render_queue_depth(shared: &Shared, out: &mut String) {
    let capacity = shared.classify_capacity;
    let depth = capacity.saturating_sub(shared.classify_queue.available_permits());
    out.push_str(
        "# HELP vsr_classify_queue_depth Requests classifying or waiting for classification.\n\
         # TYPE vsr_classify_queue_depth gauge\n",
    );
    out.push_str(&format!("vsr_classify_queue_depth {depth}\n"));
    out.push_str(
        "# HELP vsr_classify_queue_capacity Classification slots before the router answers 429.\n\
         # TYPE vsr_classify_queue_capacity gauge\n",
    );
    out.push_str(&format!("vsr_classify_queue_capacity {capacity}\n"));
}

/// The running config, open to anyone who reaches the port: its credentials (provider keys,
/// secret headers, database passwords) are redacted.
async fn config_router(State(shared): State<Arc<Shared>>) -> Response {
    let mut source = shared.runtime.load().source.clone();
    vsr_config::secrets::redact_config(&mut source);
    axum_response(json_response(StatusCode::OK, &source))
}

async fn config_reload(State(shared): State<Arc<Shared>>) -> Response {
    axum_response(match shared.reload().await {
        Ok(generation) => json_response(
            StatusCode::OK,
            &json!({"status": "success", "generation": generation}),
        ),
        Err(e) => management_error(StatusCode::BAD_REQUEST, "CONFIG_VALIDATION_ERROR", &e),
    })
}

/// `POST /api/v1/eval` `{"text": …}`: routes the text and answers the decision with its trace.
async fn eval(State(shared): State<Arc<Shared>>, body: Result<Bytes, BytesRejection>) -> Response {
    axum_response(eval_response(&shared, body).await)
}

async fn eval_response(
    shared: &Arc<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> http::Response<RespBody> {
    let invalid = |status: StatusCode, msg: &str| management_error(status, "INVALID_INPUT", msg);
    let body = match body {
        Ok(b) => b,
        Err(BytesRejection::FailedToBufferBody(e)) if is_length_limit(&e) => {
            let e = ApiError::BodyTooLarge {
                limit: EVAL_BODY_LIMIT,
            };
            return invalid(e.status(), &e.to_string());
        }
        Err(e) => return invalid(e.status(), &e.body_text()),
    };
    let v = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) => v,
        Err(e) => return invalid(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}")),
    };
    let text = match v.get("text") {
        Some(serde_json::Value::String(s)) => s.clone(),
        None | Some(serde_json::Value::Null) => String::new(),
        Some(_) => return invalid(StatusCode::BAD_REQUEST, "text must be a string"),
    };
    let model = match v.get("model") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        None | Some(serde_json::Value::Null | serde_json::Value::String(_)) => None,
        Some(_) => return invalid(StatusCode::BAD_REQUEST, "model must be a string"),
    };
    // The messages path (as the proxy reads them); `text` only when they yield no text.
    let mut view = None;
    match v.get("messages") {
        None | Some(serde_json::Value::Null) => {}
        Some(ms) => match serde_json::from_value::<Vec<ChatMessage>>(ms.clone()) {
            Ok(ms) if !ms.is_empty() => {
                let from_messages = RequestView::from_messages(&ms);
                if !from_messages.text.is_empty() || text.is_empty() {
                    view = Some(from_messages);
                }
            }
            Ok(_) => {}
            Err(e) => return invalid(StatusCode::BAD_REQUEST, &format!("messages: {e}")),
        },
    }
    let failed = |msg: &str| {
        management_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "CLASSIFICATION_ERROR",
            msg,
        )
    };
    let metadata = match vsr_signals::parse_metadata(v.get("metadata")) {
        Ok(m) => m,
        Err(e) => return invalid(StatusCode::BAD_REQUEST, &e),
    };
    let from_messages = view.is_some();
    let view = match view {
        Some(view) => view,
        None if text.is_empty() && metadata.is_empty() => {
            return failed("text cannot be empty");
        }
        None => RequestView::from_text(text.as_str()),
    };
    if view.text.is_empty() && view.image_url.is_none() && metadata.is_empty() {
        return failed("text cannot be empty");
    }
    let view = view
        .with_tools(vsr_signals::count_tool_definitions(
            v.get("tools"),
            v.get("functions"),
        ))
        .with_metadata(metadata);
    // The envelope of the request as sent; a text is wrapped in one user message.
    let mut envelope_body = v.clone();
    if !from_messages && let Some(b) = envelope_body.as_object_mut() {
        b.insert(
            "messages".into(),
            serde_json::json!([{"role": "user", "content": &view.text}]),
        );
    }
    let view = view
        .with_envelope(vsr_signals::ContextEnvelope::of_chat(&envelope_body))
        .with_bytes_per_token(shared.tokens.ratio());
    // The model selects the profile like the data plane: an auto name (or none) → the
    // default profile, an entrypoint name → its recipe; anything else is refused.
    let recipe = match &model {
        None => None,
        Some(m) => match shared.runtime.load().settings.routing_profile(m) {
            Some(r) => r.map(str::to_string),
            None => {
                return management_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ROUTING_MODEL",
                    &format!(
                        "model {m:?} is neither an auto model name nor an entrypoint model name"
                    ),
                );
            }
        },
    };
    let Ok(permit) = Arc::clone(&shared.classify_queue).try_acquire_owned() else {
        return ApiError::RateLimited.into_response();
    };
    let rt = shared.runtime.load_full();
    let classifier = Arc::clone(&rt.classifier);
    let session = rt.settings.session.clone();
    let adapter = rt.settings.adapter.clone();
    let live = Arc::clone(shared);
    let r = tokio::task::spawn_blocking(move || {
        let r = classifier
            .eval(recipe.as_deref(), &view)
            .map(|mut r| {
                // Latency-aware and multi-factor selection as the proxy would run it now.
                crate::live::reselect(&rt, &live.latency, &mut r);
                let mut resp =
                    vsr_engine::eval_api::EvalResponse::from_result(&view.text, &r, false);
                resp.requested_model = model;
                // Router learning may serve another model on a live request (§12.2):
                // adaptation by what it learned, protection by the conversation's model.
                let recipe = r.recipe.as_deref();
                let reason = r.decision.as_deref().and_then(|d| {
                    if adapter.as_ref().is_some_and(|a| a.may_change(recipe, d)) {
                        Some("learning adaptation may pick another of the decision's candidates")
                    } else if session.as_ref().is_some_and(|p| p.may_change(recipe, d)) {
                        Some("learning protection may keep the conversation's earlier model")
                    } else {
                        None
                    }
                });
                if let Some(reason) = reason {
                    resp.selection_status = Some("execution_required".into());
                    resp.selected_model = None;
                    resp.selection_reason = Some(reason.into());
                }
                resp
            })
            .and_then(|resp| {
                serde_json::to_value(&resp).map_err(|e| ClassifyError::Failed(e.to_string()))
            });
        drop(permit);
        r
    })
    .await;
    match r {
        Ok(Ok(v)) => json_response(StatusCode::OK, &v),
        Ok(Err(e @ ClassifyError::Overloaded(_))) => {
            management_error(StatusCode::TOO_MANY_REQUESTS, "OVERLOADED", &e.to_string())
        }
        Ok(Err(e)) => failed(&e.to_string()),
        Err(e) => failed(&e.to_string()),
    }
}

/// Whether a body-buffering failure is the configured limit (axum reports it as an error
/// source, not a variant).
fn is_length_limit(e: &axum::extract::rejection::FailedToBufferBody) -> bool {
    matches!(
        e,
        axum::extract::rejection::FailedToBufferBody::LengthLimitError(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_users_only_loopback_clients_pass() {
        let peer = |s: &str| Some(Peer(s.parse().unwrap()));
        for local in [
            "127.0.0.1:5",
            "127.9.9.9:5",
            "[::1]:5",
            "[::ffff:127.0.0.1]:5",
        ] {
            assert!(open_without_users(peer(local)), "{local}");
        }
        for remote in [
            "10.0.0.2:5",
            "192.168.1.9:5",
            "[fe80::1]:5",
            "[::ffff:10.0.0.1]:5",
        ] {
            assert!(!open_without_users(peer(remote)), "{remote}");
        }
        assert!(!open_without_users(None), "no address known: refused");
        assert!(local_only(peer("10.0.0.2:5")).is_err_and(|(s, _)| s == StatusCode::UNAUTHORIZED));
    }

    #[test]
    fn writes_and_bodies_are_protected() {
        use http::Method;
        assert_eq!(access_for(&Method::POST, "/config/reload"), Access::Write);
        assert_eq!(access_for(&Method::DELETE, "/v1/cache"), Access::Write);
        assert_eq!(access_for(&Method::POST, "/v1/cache/flush"), Access::Write);
        assert_eq!(access_for(&Method::GET, "/v1/cache"), Access::Open);
        assert_eq!(
            access_for(&Method::GET, "/v1/router_replay/x"),
            Access::ReadBodies
        );
        assert_eq!(access_for(&Method::GET, "/health"), Access::Open);
    }
}
