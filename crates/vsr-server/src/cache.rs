//! The response cache on the data plane (the logic is `vsr-cache`; this is its seam with the
//! proxy): after the decision, [`consult`] looks the request up when the decision's
//! `response_cache` plugin enables it; a hit is answered by [`hit_response`] (JSON, or
//! re-chunked SSE when the client streams) without going upstream; on a miss the answer is
//! observed by a [`Capture`] and stored when it completes with 200, and it is neither a tool
//! call nor cut short. Also the management endpoints that invalidate and flush.
//!
//! Opting out per request: `Cache-Control: no-store` (do not store the answer), `no-cache`
//! (do not serve from the cache), both or `x-vsr-cache-control: bypass` (neither). With the
//! plugin's `request_controls` enabled its header (default `x-vsr-cache-control`) also takes
//! `ttl=N` (clamped to `max_ttl_seconds`), among its `allowed` directives.

use crate::headers as hdr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, post};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use vsr_cache::{
    Answer, CacheStatus, DecisionPolicy, Lookup, Outcome, RequestKey, ResponseCache, Route, Scope,
    Write,
};

use crate::body::{RespBody, full, json_response};
use crate::proxy::{ChatRequest, Routed};
use crate::record::RecordFinish;
use crate::state::{Runtime, Shared};

/// What the cache decided for one request before it goes upstream.
pub(crate) struct Consulted {
    pub status: CacheStatus,
    /// Why the cache was bypassed (`x-vsr-cache-reason`).
    reason: Option<&'static str>,
    key: Option<RequestKey>,
    hit: Option<vsr_cache::Hit>,
    /// Set on a miss whose answer may be stored.
    write: Option<Write>,
}

impl Consulted {
    fn bypass(reason: &'static str) -> Self {
        Self {
            status: CacheStatus::Bypass,
            reason: Some(reason),
            key: None,
            hit: None,
            write: None,
        }
    }

    pub fn hit(&self) -> Option<&vsr_cache::Hit> {
        self.hit.as_ref()
    }

    /// `x-vsr-cache`, `x-vsr-cache-key` (the entry's id for invalidation) and, for a
    /// semantic hit, `x-vsr-cache-similarity`.
    pub fn headers(&self, h: &mut HeaderMap) {
        h.insert(
            hdr::CACHE.clone(),
            HeaderValue::from_static(self.status.as_str()),
        );
        if let Some(r) = self.reason {
            h.insert(hdr::CACHE_REASON.clone(), HeaderValue::from_static(r));
        }
        let key = self
            .hit
            .as_ref()
            .map(|h| h.entry.exact)
            .or(self.key.as_ref().map(|k| k.exact));
        if let Some(k) = key
            && let Ok(v) = HeaderValue::from_str(&k.hex())
        {
            h.insert(hdr::CACHE_KEY.clone(), v);
        }
        if let Some(s) = self.hit.as_ref().and_then(|h| h.similarity)
            && let Ok(v) = HeaderValue::from_str(&format!("{s:.4}"))
        {
            h.insert(hdr::CACHE_SIMILARITY.clone(), v);
        }
    }

    /// The observer that stores the answer of a miss.
    pub fn capture(&mut self, shared: &Shared, sse: bool) -> Option<Capture> {
        Some(Capture {
            cache: Arc::clone(&shared.cache),
            write: self.write.take()?,
            sse,
            text: String::new(),
            id: None,
            model: None,
            created: None,
            finish: None,
            usage: None,
            tool_calls: false,
            done: false,
        })
    }
}

/// Request-side opt-outs.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Controls {
    no_read: bool,
    no_write: bool,
    ttl: Option<Duration>,
}

fn controls(headers: &HeaderMap, policy: &DecisionPolicy) -> Controls {
    let mut c = Controls::default();
    let directives = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect()
    };
    let apply = |d: &str, c: &mut Controls| match d {
        "no-cache" => c.no_read = true,
        "no-store" => c.no_write = true,
        "bypass" => {
            c.no_read = true;
            c.no_write = true;
        }
        _ => {}
    };
    // HTTP's own request directives are always honoured.
    for d in directives(header::CACHE_CONTROL.as_str()) {
        apply(&d, &mut c);
    }
    let own = directives("x-vsr-cache-control");
    if own.iter().any(|d| d == "bypass") {
        apply("bypass", &mut c);
    }
    let pc = &policy.controls;
    if pc.enabled {
        for d in directives(&pc.header) {
            let name = d.split('=').next().unwrap_or_default().trim();
            if !pc.allowed.iter().any(|a| a == name) {
                continue;
            }
            if name == "ttl" {
                if let Some(n) = d.split('=').nth(1).and_then(|n| n.trim().parse().ok()) {
                    let t = Duration::from_secs(n);
                    c.ttl = Some(pc.max_ttl.map_or(t, |m| t.min(m)));
                }
            } else {
                apply(name, &mut c);
            }
        }
    }
    c
}

/// The scope identity (`scope:identity`), or `None` when the scope needs one the request
/// does not carry (then the cache is off for the request).
fn scope_identity(headers: &HeaderMap, scope: Scope) -> Option<String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let id = match scope {
        Scope::Global => return Some("global".into()),
        Scope::User => get("x-authz-user-id"),
        Scope::Team => get("x-authz-team-id").or_else(|| {
            get("x-authz-user-groups")
                .and_then(|g| g.split(',').next().map(|s| s.trim().to_string()))
                .filter(|g| !g.is_empty())
        }),
        Scope::Tenant => get("x-authz-tenant-id"),
    }?;
    Some(format!("{}:{id}", scope.as_str()))
}

/// Looks the request up when its decision enables the cache.
pub(crate) fn consult(
    shared: &Shared,
    rt: &Runtime,
    headers: &HeaderMap,
    req: &ChatRequest,
    routed: &Routed,
) -> Consulted {
    let Some(result) = &routed.result else {
        return Consulted::bypass("no_decision");
    };
    let Some(decision) = result.decision.as_deref() else {
        return Consulted::bypass("no_decision");
    };
    let Some(policy) = rt.settings.cache.policy(result.recipe.as_deref(), decision) else {
        return Consulted::bypass("disabled");
    };
    let c = controls(headers, policy);
    if c.no_read && c.no_write {
        return Consulted::bypass("request_opt_out");
    }
    let Some(scope) = scope_identity(headers, policy.scope) else {
        return Consulted::bypass("no_scope_identity");
    };
    let route = Route {
        recipe: result.recipe.as_deref(),
        decision,
        model: &routed.alias,
        scope: &scope,
    };
    let fields = req.fields.iter().map(|(k, v)| (k.as_str(), v.get()));
    let key = match RequestKey::new(fields, &route) {
        Ok(k) => k,
        Err(e) => {
            tracing::debug!(error = %e, "request not cacheable");
            return Consulted::bypass("not_keyable");
        }
    };
    let embedding = result.prompt_embedding.clone();
    let write = (!c.no_write).then(|| Write {
        key: key.clone(),
        decision: format!("{}/{decision}", result.recipe.as_deref().unwrap_or("")),
        embedding: embedding.clone(),
        semantic: policy.semantic(),
        ttl: c
            .ttl
            .or(policy.ttl)
            .unwrap_or_else(|| shared.cache.settings().ttl),
    });
    if c.no_read {
        return Consulted {
            status: CacheStatus::Bypass,
            reason: Some("request_no_cache"),
            key: Some(key),
            hit: None,
            write,
        };
    }
    let started = std::time::Instant::now();
    let outcome = shared.cache.lookup(&Lookup {
        key: &key,
        embedding: embedding.as_deref(),
        policy,
    });
    shared
        .metrics
        .phase(crate::metrics::Phase::Cache, started.elapsed());
    match outcome {
        Outcome::Hit(hit) => Consulted {
            status: CacheStatus::Hit,
            reason: None,
            key: Some(key),
            hit: Some(hit),
            write: None,
        },
        Outcome::Miss(_) => Consulted {
            status: CacheStatus::Miss,
            reason: None,
            key: Some(key),
            hit: None,
            write,
        },
    }
}

/// The answer to a hit: the stored completion as JSON, or re-chunked into the chat SSE shape
/// (role chunk, content chunks, finish chunk, usage chunk, `[DONE]`) when the client streams.
/// The replay record carries `from_cache` and no usage: a hit costs no upstream tokens.
pub(crate) fn hit_response(
    shared: &Arc<Shared>,
    req: &ChatRequest,
    routed: &Routed,
    request_id: &str,
    consulted: &Consulted,
) -> Option<http::Response<RespBody>> {
    let hit = consulted.hit()?;
    let completion = &hit.entry.answer.completion;
    let replay_id = crate::proxy::record_routed(shared, req, routed, request_id, false);
    let (body, content_type): (Vec<u8>, &'static str) = if req.streaming {
        let v: Value = serde_json::from_slice(completion).ok()?;
        (sse_from_completion(&v), "text/event-stream")
    } else {
        (completion.to_vec(), "application/json")
    };
    if let (Some(sink), Some(id)) = (&shared.sink, &replay_id) {
        let text = serde_json::from_slice::<Value>(completion)
            .ok()
            .and_then(|v| {
                v.pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let response_body = if req.streaming {
            Bytes::from(text)
        } else {
            Bytes::copy_from_slice(completion)
        };
        sink.finish_from_cache(
            id,
            RecordFinish {
                status: 200,
                streaming: req.streaming,
                usage: None,
                response_body,
                completed: true,
                ttft: Some(Duration::ZERO),
                served_model: None,
                attempts: Vec::new(),
                usage_by_model: Vec::new(),
            },
        );
    }
    let mut resp = http::Response::new(full(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    crate::proxy::add_route_headers(
        h,
        routed,
        &routed.alias,
        &req.model,
        false,
        replay_id.as_deref(),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(hdr::REQUEST_ID.clone(), v);
    }
    consulted.headers(h);
    Some(resp)
}

/// A stored completion as chat SSE chunks (content split at spaces), with its usage.
fn sse_from_completion(v: &Value) -> Vec<u8> {
    use crate::sim::{chunk, sse};
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("chatcmpl-cache");
    let model = v.get("model").and_then(Value::as_str).unwrap_or_default();
    let created = v.get("created").and_then(Value::as_u64).unwrap_or(0);
    let text = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let finish = v
        .pointer("/choices/0/finish_reason")
        .cloned()
        .unwrap_or(json!("stop"));
    let mut out = sse(&chunk(
        id,
        created,
        model,
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ));
    let mut rest = text;
    while !rest.is_empty() {
        // Up to and including the next space: pieces concatenate back to the text exactly.
        let cut = rest
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == ' ')
            .map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(cut);
        out.extend(sse(&chunk(
            id,
            created,
            model,
            json!({"content": piece}),
            Value::Null,
        )));
        rest = tail;
    }
    out.extend(sse(&chunk(id, created, model, json!({}), finish)));
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        out.extend(sse(&json!({"id": id, "object": "chat.completion.chunk",
            "created": created, "model": model, "choices": [], "usage": u})));
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

/// Observes a miss's answer and stores it once complete: a JSON body as it came; a stream
/// rebuilt into one `chat.completion` (content, finish reason, id, model, usage), only after
/// `[DONE]`.
pub(crate) struct Capture {
    cache: Arc<ResponseCache>,
    write: Write,
    sse: bool,
    text: String,
    id: Option<String>,
    model: Option<String>,
    created: Option<u64>,
    finish: Option<Value>,
    usage: Option<Value>,
    tool_calls: bool,
    done: bool,
}

impl Capture {
    /// One parsed SSE chunk.
    pub fn on_chunk(&mut self, v: &Value) {
        if self.id.is_none() {
            self.id = v.get("id").and_then(Value::as_str).map(str::to_string);
            self.model = v.get("model").and_then(Value::as_str).map(str::to_string);
            self.created = v.get("created").and_then(Value::as_u64);
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(u.clone());
        }
        let Some(choices) = v.get("choices").and_then(Value::as_array) else {
            return;
        };
        for c in choices {
            if c.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                // More than one choice (`n` > 1) is not rebuilt; do not store it.
                self.tool_calls = true;
            }
            let delta = c.get("delta");
            if let Some(t) = delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
                self.text.push_str(t);
            }
            if delta.is_some_and(|d| {
                d.get("tool_calls").is_some_and(|t| !t.is_null())
                    || d.get("function_call").is_some_and(|f| !f.is_null())
            }) {
                self.tool_calls = true;
            }
            if let Some(f) = c.get("finish_reason").filter(|f| !f.is_null()) {
                self.finish = Some(f.clone());
            }
        }
    }

    /// The stream's `[DONE]`.
    pub fn on_done(&mut self) {
        self.done = true;
    }

    /// The answer is over: stores it if it can be replayed.
    pub fn finish(self, completed: bool, status: u16, raw: &[u8]) {
        if !completed || status != 200 {
            return;
        }
        let completion = if self.sse {
            if !self.done || self.tool_calls {
                return;
            }
            let mut v = json!({
                "id": self.id.unwrap_or_else(|| "chatcmpl-cache".into()),
                "object": "chat.completion",
                "created": self.created.unwrap_or(0),
                "model": self.model.unwrap_or_default(),
                "choices": [{"index": 0,
                    "message": {"role": "assistant", "content": self.text},
                    "finish_reason": self.finish.unwrap_or(Value::Null)}],
            });
            if let Some(u) = self.usage {
                v["usage"] = u;
            }
            v
        } else {
            match serde_json::from_slice::<Value>(raw) {
                Ok(v) => v,
                Err(_) => return,
            }
        };
        if let Err(e) = vsr_cache::check_cacheable(&completion) {
            tracing::debug!(reason = %e, "answer not stored in the response cache");
            return;
        }
        let bytes = if self.sse {
            serde_json::to_vec(&completion).unwrap_or_default()
        } else {
            raw.to_vec()
        };
        self.cache.insert(
            self.write,
            Answer {
                completion: bytes.into(),
            },
        );
    }
}

/// The management endpoints (guarded as writes: see `management::access_for`):
/// `DELETE /v1/cache` flushes everything, `DELETE /v1/cache/entries/{key}` removes one entry
/// (its `x-vsr-cache-key`), `DELETE /v1/cache/decisions/{name}` removes a decision's entries
/// (`name`, or `recipe/name` percent-encoded), `POST /v1/cache/flush` is the flush for
/// clients that cannot send DELETE.
pub(crate) fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/cache", delete(flush).get(stats))
        .route("/v1/cache/flush", post(flush))
        .route("/v1/cache/entries/{key}", delete(invalidate_entry))
        .route("/v1/cache/decisions/{name}", delete(invalidate_decision))
        .with_state(shared)
}

fn axum(resp: http::Response<RespBody>) -> Response {
    resp.map(axum::body::Body::new)
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let s = shared.cache.settings();
    axum(json_response(
        StatusCode::OK,
        &json!({"enabled": s.enabled, "entries": shared.cache.len(), "bytes": shared.cache.bytes(),
                "max_entries": s.max_entries, "max_bytes": s.max_bytes,
                "ttl_seconds": s.ttl.as_secs(), "eviction_policy": if s.lru { "lru" } else { "fifo" }}),
    ))
}

async fn flush(State(shared): State<Arc<Shared>>) -> Response {
    let n = shared.cache.flush();
    tracing::info!(removed = n, "response cache flushed");
    axum(json_response(StatusCode::OK, &json!({"removed": n})))
}

async fn invalidate_entry(State(shared): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return axum(crate::error::management_error(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "the entry key is the 64 hex digits of x-vsr-cache-key",
        ));
    }
    let removed = shared.cache.invalidate_key(&key.to_ascii_lowercase());
    let status = if removed {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    axum(json_response(
        status,
        &json!({"removed": usize::from(removed)}),
    ))
}

async fn invalidate_decision(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    let n = shared.cache.invalidate_decision(&name);
    axum(json_response(StatusCode::OK, &json!({"removed": n})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsr_cache::RequestControls;
    use vsr_config::vocab::CacheMode;

    fn policy(controls: RequestControls) -> DecisionPolicy {
        DecisionPolicy {
            mode: CacheMode::Semantic,
            scope: Scope::User,
            threshold: 0.8,
            ttl: None,
            controls,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn opt_outs_and_ttl_directives() {
        let off = policy(RequestControls::default());
        assert_eq!(
            controls(&headers(&[("cache-control", "no-store")]), &off),
            Controls {
                no_write: true,
                ..Controls::default()
            }
        );
        let c = controls(&headers(&[("cache-control", "no-cache, no-store")]), &off);
        assert!(c.no_read && c.no_write);
        assert!(controls(&headers(&[("x-vsr-cache-control", "bypass")]), &off).no_read);
        // `ttl=` only through enabled request controls that allow it, clamped.
        assert_eq!(
            controls(&headers(&[("x-vsr-cache-control", "ttl=50")]), &off).ttl,
            None
        );
        let on = policy(RequestControls {
            enabled: true,
            allowed: vec!["ttl".into(), "no-store".into()],
            max_ttl: Some(Duration::from_secs(30)),
            ..RequestControls::default()
        });
        let c = controls(
            &headers(&[("x-vsr-cache-control", "ttl=50, no-cache")]),
            &on,
        );
        assert_eq!(c.ttl, Some(Duration::from_secs(30)));
        assert!(!c.no_read, "no-cache is not allowed by this policy");
    }

    #[test]
    fn scopes_need_their_identity() {
        let h = headers(&[
            ("x-authz-user-id", "alice"),
            ("x-authz-user-groups", "eng, ops"),
        ]);
        assert_eq!(
            scope_identity(&h, Scope::User).as_deref(),
            Some("user:alice")
        );
        assert_eq!(scope_identity(&h, Scope::Team).as_deref(), Some("team:eng"));
        assert_eq!(scope_identity(&h, Scope::Tenant), None);
        assert_eq!(
            scope_identity(&HeaderMap::new(), Scope::Global).as_deref(),
            Some("global")
        );
    }

    #[test]
    fn sse_replay_concatenates_back_to_the_text_and_carries_usage() {
        let v = json!({"id": "c1", "model": "m", "created": 5,
            "choices": [{"message": {"content": "Hello  big wörld 你好"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}});
        let out = String::from_utf8(sse_from_completion(&v)).unwrap();
        let mut text = String::new();
        let mut usage = None;
        for line in out.lines().filter_map(|l| l.strip_prefix("data: ")) {
            if line == "[DONE]" {
                continue;
            }
            let c: Value = serde_json::from_str(line).unwrap();
            if let Some(t) = c
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
            {
                text.push_str(t);
            }
            if c.get("usage").is_some() {
                usage = c.get("usage").cloned();
            }
        }
        assert_eq!(text, "Hello  big wörld 你好");
        assert_eq!(usage.unwrap()["total_tokens"], 7);
        assert!(out.ends_with("data: [DONE]\n\n"));
    }
}
