//! Forwarding with retries and fallback. One request tries the chosen alias's pool (retrying
//! per its `reliability`), then each further model ref of the decision, until an answer
//! arrives whose first byte can go to the client. Nothing has reached the client before that,
//! so any attempt may be replaced; after it, nothing is retried (a mid-stream failure ends the
//! stream with an error event, see `proxy::Observed`). One deadline bounds all attempts.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, header};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::headers as hdr;
use crate::pool::{InFlight, Pool};
use crate::settings::RetryOn;
use crate::state::Shared;

/// An upstream answer whose first body frame (if any) was already read.
pub(crate) struct Upstream {
    pub parts: http::response::Parts,
    pub body: Incoming,
    pub first: Option<Frame<Bytes>>,
}

/// One alias to try: its pool and the request body rewritten for it.
pub(crate) struct Candidate {
    pub alias: String,
    pub pool: Arc<Pool>,
    pub body: Bytes,
    /// Whether the body asks this alias for reasoning (`x-vsr-selected-reasoning`).
    pub reasoning_on: bool,
}

/// How one upstream attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Response headers (and for a 2xx, the first body byte) arrived with this status.
    Answered(u16),
    /// The connection (TCP or TLS) could not be made.
    ConnectFailure,
    /// The connection closed or reset before response headers.
    Reset,
    /// A 2xx answer whose body failed before its first byte.
    RefusedStream,
    /// No first byte within the attempt's time (`per_try_timeout` or the deadline).
    Timeout,
    /// Every endpoint of the alias is open, probing or unhealthy: nothing was sent.
    CircuitOpen,
}

impl Outcome {
    pub fn label(self) -> Cow<'static, str> {
        match self {
            Outcome::Answered(s) => Cow::Owned(s.to_string()),
            Outcome::ConnectFailure => "connect_failure".into(),
            Outcome::Reset => "reset".into(),
            Outcome::RefusedStream => "refused_stream".into(),
            Outcome::Timeout => "timeout".into(),
            Outcome::CircuitOpen => "circuit_open".into(),
        }
    }

    /// Whether the alias failed (a 5xx or no answer): its fallback may take over.
    pub fn failed(self) -> bool {
        !matches!(self, Outcome::Answered(s) if s < 500)
    }

    /// Whether `retry_on` retries this failure within the alias.
    fn retried_by(self, on: RetryOn) -> bool {
        match self {
            Outcome::ConnectFailure => on.connect_failure,
            Outcome::Reset => on.reset,
            Outcome::RefusedStream => on.refused_stream,
            Outcome::Timeout => on.gateway_error || on.server_error,
            Outcome::Answered(s) if s >= 500 => {
                on.server_error || (on.gateway_error && matches!(s, 502..=504))
            }
            Outcome::Answered(_) | Outcome::CircuitOpen => false,
        }
    }

    /// The `llm_request_errors_total` reason for an alias given up on with this outcome.
    fn error_reason(self) -> &'static str {
        match self {
            Outcome::Timeout => "timeout",
            Outcome::Answered(_) => "upstream_5xx",
            _ => "upstream_unavailable",
        }
    }
}

/// One upstream attempt: which alias and endpoint (none when no endpoint was available).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub model: String,
    pub endpoint: Option<String>,
    pub outcome: Outcome,
}

/// `x-vsr-upstream-attempts`: `alias/endpoint=outcome`, comma-separated, in order.
pub fn attempts_header(attempts: &[Attempt]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(attempts.len() * 32);
    for (i, a) in attempts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&a.model);
        if let Some(e) = &a.endpoint {
            out.push('/');
            out.push_str(e);
        }
        out.push('=');
        match a.outcome {
            Outcome::Answered(status) => {
                let _ = write!(out, "{status}");
            }
            other => out.push_str(&other.label()),
        }
    }
    out
}

/// The aliases tried, in order, without repeats (`x-vsr-fallback-path`).
pub fn models_tried(attempts: &[Attempt]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for a in attempts {
        if out.last() != Some(&a.model.as_str()) {
            out.push(&a.model);
        }
    }
    out
}

/// Adds the path headers to an answer: every attempt, and the aliases when more than one.
pub fn add_path_headers(h: &mut HeaderMap, attempts: &[Attempt]) {
    if attempts.is_empty() {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&attempts_header(attempts)) {
        h.insert(hdr::UPSTREAM_ATTEMPTS.clone(), v);
    }
    let models = models_tried(attempts);
    if models.len() > 1
        && let Ok(v) = HeaderValue::from_str(&models.join(","))
    {
        h.insert(hdr::FALLBACK_PATH.clone(), v);
    }
}

/// The decision's further model refs, in order: each configured alias once, the chosen one
/// left out. Empty without a decision (an explicit alias or the default model).
pub(crate) fn fallback_refs<'a>(
    rt: &'a crate::state::Runtime,
    decided: Option<&'a vsr_engine::RoutingResult>,
    first: &str,
) -> std::vec::IntoIter<&'a vsr_engine::ModelRef> {
    let mut seen: Vec<&str> = vec![first];
    let mut out = Vec::new();
    for r in decided.map(|d| d.model_refs.as_slice()).unwrap_or_default() {
        let target = r.target();
        if seen.contains(&target) {
            continue;
        }
        seen.push(target);
        if rt.pools.contains_key(target) {
            out.push(r);
        } else {
            tracing::debug!(
                model = target,
                "model ref has no configured backend; not a fallback"
            );
        }
    }
    out.into_iter()
}

/// What forwarding ended with.
pub(crate) struct Forwarded {
    /// The answer to stream (possibly a 5xx from the last alias), or the router's error.
    pub result: Result<(Upstream, InFlight), ApiError>,
    /// The alias of the answer (the last one tried when all failed).
    pub served: String,
    pub reasoning_on: bool,
    pub attempts: Vec<Attempt>,
}

/// Tries `first`, then each candidate `fallbacks` yields (built only when needed), until one
/// answers without failing; all before `deadline`.
pub(crate) async fn forward(
    shared: &Arc<Shared>,
    first: Candidate,
    mut fallbacks: impl FnMut() -> Option<Result<Candidate, ApiError>>,
    client_headers: &HeaderMap,
    request_id: &str,
    deadline: Instant,
) -> Forwarded {
    let mut attempts = Vec::new();
    let mut cand = first;
    loop {
        let tried = try_alias(
            shared,
            &cand,
            client_headers,
            request_id,
            deadline,
            &mut attempts,
        )
        .await;
        let failed = match tried {
            Ok(answer) => {
                return Forwarded {
                    result: Ok(answer),
                    served: cand.alias,
                    reasoning_on: cand.reasoning_on,
                    attempts,
                };
            }
            Err(f) => f,
        };
        let out_of_time = Instant::now() >= deadline;
        let next = if out_of_time { None } else { fallbacks() };
        let last = attempts.last().map_or(Outcome::CircuitOpen, |a| a.outcome);
        if next.is_some() || failed.answer.is_none() {
            shared.metrics.error(&cand.alias, last.error_reason());
        }
        match next {
            Some(Ok(next)) => {
                tracing::info!(
                    request_id,
                    from = %cand.alias,
                    to = %next.alias,
                    outcome = %last.label(),
                    "falling back to the next model ref"
                );
                shared.metrics.fallback(&cand.alias, &next.alias);
                cand = next;
            }
            Some(Err(e)) => {
                return Forwarded {
                    result: Err(e),
                    served: cand.alias,
                    reasoning_on: cand.reasoning_on,
                    attempts,
                };
            }
            None => {
                let result = match failed.answer {
                    // The last alias answered (with a 5xx): the client gets that answer.
                    Some(answer) => Ok(answer),
                    None if out_of_time => Err(ApiError::UpstreamTimeout),
                    None => Err(failed.error),
                };
                return Forwarded {
                    result,
                    served: cand.alias,
                    reasoning_on: cand.reasoning_on,
                    attempts,
                };
            }
        }
    }
}

/// An alias that failed: its last answer if it gave one (a 5xx), and the error otherwise.
struct Failed {
    answer: Option<(Upstream, InFlight)>,
    error: ApiError,
}

/// Sends to one endpoint of the candidate's pool, retrying on another endpoint (when there is
/// one) as `retry_on` says, at most `retry_count` times.
async fn try_alias(
    shared: &Arc<Shared>,
    cand: &Candidate,
    client_headers: &HeaderMap,
    request_id: &str,
    deadline: Instant,
    attempts: &mut Vec<Attempt>,
) -> Result<(Upstream, InFlight), Failed> {
    let pool = &cand.pool;
    let rel = &pool.reliability;
    let mut tried: Vec<usize> = Vec::new();
    let mut failed = Failed {
        answer: None,
        error: ApiError::NoHealthyUpstream(pool.alias.clone()),
    };
    for attempt in 0..=rel.retry_count {
        let picked = pool.pick(&tried).or_else(|| {
            if tried.is_empty() {
                None
            } else {
                pool.pick(&[])
            }
        });
        let Some(guard) = picked else {
            attempts.push(Attempt {
                model: cand.alias.clone(),
                endpoint: None,
                outcome: Outcome::CircuitOpen,
            });
            return Err(failed);
        };
        if attempt > 0 {
            shared.metrics.retry(&pool.alias);
        }
        let now = Instant::now();
        let limit = deadline
            .saturating_duration_since(now)
            .min(rel.per_try_timeout.unwrap_or(Duration::MAX));
        let (outcome, result) = attempt_once(
            pool,
            guard,
            client_headers,
            cand.body.clone(),
            request_id,
            limit,
        )
        .await;
        attempts.push(Attempt {
            model: cand.alias.clone(),
            endpoint: Some(pool.endpoints[result.guard().index()].settings.name.clone()),
            outcome,
        });
        let guard = result.guard();
        let failure = outcome.failed().then(|| match &result {
            AttemptResult::Failed { error, .. } => error.to_string(),
            AttemptResult::Answered { .. } => format!("answered {}", outcome.label()),
        });
        if pool.report(guard.index(), failure.as_deref()) {
            shared
                .metrics
                .ejection(&pool.alias, &guard.endpoint().settings.name);
        }
        tried.push(guard.index());
        match result {
            AttemptResult::Answered { upstream, guard } if !outcome.failed() => {
                return Ok((upstream, guard));
            }
            AttemptResult::Answered { upstream, guard } => {
                failed.answer = Some((upstream, guard));
            }
            AttemptResult::Failed { error, .. } => {
                tracing::debug!(request_id, model = %cand.alias, error = %error, "upstream attempt failed");
                failed.answer = None;
                failed.error = error;
            }
        }
        if Instant::now() >= deadline || !outcome.retried_by(rel.retry_on) {
            break;
        }
    }
    Err(failed)
}

enum AttemptResult {
    Answered { upstream: Upstream, guard: InFlight },
    Failed { error: ApiError, guard: InFlight },
}

impl AttemptResult {
    fn guard(&self) -> &InFlight {
        match self {
            AttemptResult::Answered { guard, .. } | AttemptResult::Failed { guard, .. } => guard,
        }
    }
}

/// One request to the guard's endpoint, given `limit` until its first byte.
async fn attempt_once(
    pool: &Pool,
    guard: InFlight,
    client_headers: &HeaderMap,
    body: Bytes,
    request_id: &str,
    limit: Duration,
) -> (Outcome, AttemptResult) {
    let ep = guard.endpoint();
    let backend = ep.settings.name.clone();
    let req = match build_upstream_request(pool, &guard, client_headers, body, request_id) {
        Ok(r) => r,
        Err(error) => {
            return (
                Outcome::ConnectFailure,
                AttemptResult::Failed { error, guard },
            );
        }
    };
    let started = Instant::now();
    let resp = match tokio::time::timeout(limit, ep.client.request(req)).await {
        Err(_) => {
            return (
                Outcome::Timeout,
                AttemptResult::Failed {
                    error: ApiError::UpstreamTimeout,
                    guard,
                },
            );
        }
        Ok(Err(e)) => {
            let outcome = if e.is_connect() {
                Outcome::ConnectFailure
            } else {
                Outcome::Reset
            };
            let mut cause = error_chain(&e);
            if cause.contains("certificate") {
                cause.push_str(
                    " (check the backend's certificate, or name its CA in backend_refs[].tls_ca_file)",
                );
            }
            return (
                outcome,
                AttemptResult::Failed {
                    error: ApiError::UpstreamFailed { backend, cause },
                    guard,
                },
            );
        }
        Ok(Ok(resp)) => resp,
    };
    let (parts, mut body) = resp.into_parts();
    let status = parts.status.as_u16();
    if !parts.status.is_success() {
        return (
            Outcome::Answered(status),
            AttemptResult::Answered {
                upstream: Upstream {
                    parts,
                    body,
                    first: None,
                },
                guard,
            },
        );
    }
    let left = limit.saturating_sub(started.elapsed());
    let first = match tokio::time::timeout(left, body.frame()).await {
        Err(_) => {
            return (
                Outcome::Timeout,
                AttemptResult::Failed {
                    error: ApiError::UpstreamTimeout,
                    guard,
                },
            );
        }
        Ok(Some(Err(e))) => {
            return (
                Outcome::RefusedStream,
                AttemptResult::Failed {
                    error: ApiError::UpstreamNoBody {
                        backend,
                        cause: error_chain(&e),
                    },
                    guard,
                },
            );
        }
        Ok(Some(Ok(frame))) => Some(frame),
        Ok(None) => None,
    };
    (
        Outcome::Answered(status),
        AttemptResult::Answered {
            upstream: Upstream { parts, body, first },
            guard,
        },
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn build_upstream_request(
    pool: &Pool,
    guard: &InFlight,
    client_headers: &HeaderMap,
    body: Bytes,
    request_id: &str,
) -> Result<Request<Full<Bytes>>, ApiError> {
    let ep = guard.endpoint();
    let bad_address = || ApiError::BadBackendAddress(ep.settings.authority.clone());
    let uri = ep.chat_uri.clone().ok_or_else(bad_address)?;
    let mut req = Request::post(uri)
        .body(Full::new(body))
        .map_err(|_| bad_address())?;
    let h = req.headers_mut();
    h.reserve(client_headers.len() + 6);
    for (name, value) in client_headers {
        let n = name.as_str();
        if crate::proxy::is_hop_by_hop(name)
            || matches!(n, "host" | "content-length" | "accept-encoding" | "expect")
            || (n.starts_with("x-user-") && n.ends_with("-key"))
        {
            continue;
        }
        h.append(name.clone(), value.clone());
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = &ep.host_value {
        h.insert(header::HOST, v.clone());
        h.insert(hdr::DESTINATION_ENDPOINT.clone(), v.clone());
    }
    if let Some(v) = &pool.alias_value {
        h.insert(hdr::SELECTED_MODEL_UPSTREAM.clone(), v.clone());
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(hdr::REQUEST_ID.clone(), v);
    }
    // A configured key replaces the client's credentials; otherwise theirs is forwarded.
    if let Some((name, value)) = &ep.auth_value {
        h.insert(name.clone(), value.clone());
    }
    for (name, value) in &ep.extra_headers {
        h.insert(name.clone(), value.clone());
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_on_decides_per_outcome() {
        let default = RetryOn::default();
        assert!(Outcome::ConnectFailure.retried_by(default));
        assert!(Outcome::Reset.retried_by(default));
        assert!(Outcome::RefusedStream.retried_by(default));
        assert!(!Outcome::Timeout.retried_by(default));
        assert!(!Outcome::Answered(503).retried_by(default));
        let gateway = RetryOn::from_names(&["gateway-error".into()]);
        assert!(Outcome::Answered(503).retried_by(gateway));
        assert!(!Outcome::Answered(500).retried_by(gateway));
        assert!(Outcome::Timeout.retried_by(gateway));
        assert!(!Outcome::ConnectFailure.retried_by(gateway));
        let all5 = RetryOn::from_names(&["5xx".into()]);
        assert!(Outcome::Answered(500).retried_by(all5));
        assert!(!Outcome::Answered(429).retried_by(all5));
        assert!(!Outcome::CircuitOpen.retried_by(all5));
        assert!(Outcome::Answered(503).failed() && !Outcome::Answered(404).failed());
    }

    #[test]
    fn path_headers_name_every_attempt_and_the_models() {
        let a = |m: &str, e: Option<&str>, o| Attempt {
            model: m.into(),
            endpoint: e.map(str::to_string),
            outcome: o,
        };
        let attempts = [
            a("big", Some("be0"), Outcome::ConnectFailure),
            a("big", Some("be0"), Outcome::Answered(503)),
            a("mid", None, Outcome::CircuitOpen),
            a("small", Some("s"), Outcome::Answered(200)),
        ];
        assert_eq!(
            attempts_header(&attempts),
            "big/be0=connect_failure,big/be0=503,mid=circuit_open,small/s=200"
        );
        assert_eq!(models_tried(&attempts), ["big", "mid", "small"]);
        let mut h = HeaderMap::new();
        add_path_headers(&mut h, &attempts[3..]);
        assert_eq!(h["x-vsr-upstream-attempts"], "small/s=200");
        assert!(h.get("x-vsr-fallback-path").is_none());
        add_path_headers(&mut h, &attempts);
        assert_eq!(h["x-vsr-fallback-path"], "big,mid,small");
    }
}
