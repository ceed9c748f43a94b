//! The replay HTTP API as pure functions: `(method, path, query) → (status, JSON)`.
//!
//! Mount it in any server: for a path under `/v1/router_replay`, run [`handle`] on a blocking
//! thread (store calls do I/O) and send back its status and body as `application/json`.
use serde_json::{Value, json};

use crate::query::{AggQuery, ListQuery, QueryError};
use crate::store::{ReplayStore, StoreError};

/// Responses larger than this are refused with 413, as in the original.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

pub const BASE_PATH: &str = "/v1/router_replay";

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

/// An OpenAI-shaped error body.
pub fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", "invalid_request"),
        404 => ("invalid_request_error", "not_found"),
        405 => ("invalid_request_error", "method_not_allowed"),
        413 => ("invalid_request_error", "response_too_large"),
        503 => ("server_error", "replay_store_unavailable"),
        _ => ("server_error", "internal_error"),
    };
    json!({"error": {"message": message, "type": kind, "code": code}})
}

fn error(status: u16, message: &str) -> Response {
    Response {
        status,
        body: error_body(status, message),
    }
}

fn store_error(e: &StoreError) -> Response {
    tracing::error!(error = %e, "replay API store error");
    error(503, &format!("replay store unavailable: {e}"))
}

fn query_error(e: &QueryError) -> Response {
    error(400, &e.to_string())
}

fn ok<T: serde::Serialize>(v: &T) -> Response {
    match serde_json::to_value(v) {
        Ok(body) => {
            let size = serde_json::to_vec(&body).map(|b| b.len()).unwrap_or(0);
            if size > MAX_RESPONSE_BYTES {
                return error(
                    413,
                    "replay response too large; lower `limit` or narrow the filters",
                );
            }
            Response { status: 200, body }
        }
        Err(e) => error(500, &format!("cannot encode the response: {e}")),
    }
}

/// Whether `path` belongs to the replay API (query string and one trailing slash ignored).
pub fn is_replay_path(path: &str) -> bool {
    let p = normalize(path);
    p == BASE_PATH
        || p.strip_prefix(BASE_PATH)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn normalize(path: &str) -> &str {
    let p = path.split('?').next().unwrap_or(path);
    if p.len() > 1 {
        p.strip_suffix('/').unwrap_or(p)
    } else {
        p
    }
}

/// Answers one replay API request, or `None` when the path is not a replay path.
pub fn handle(
    store: &dyn ReplayStore,
    method: &str,
    path: &str,
    query: &[(String, String)],
) -> Option<Response> {
    if !is_replay_path(path) {
        return None;
    }
    if !method.eq_ignore_ascii_case("GET") {
        return Some(error(
            405,
            "method not allowed; the replay API is read-only (GET)",
        ));
    }
    let p = normalize(path);
    let rest = p[BASE_PATH.len()..].trim_start_matches('/');
    Some(match rest {
        "" => match ListQuery::from_query_pairs(query) {
            Ok(q) => store
                .list(&q)
                .map_or_else(|e| store_error(&e), |page| ok(&page)),
            Err(e) => query_error(&e),
        },
        "aggregate" => match AggQuery::from_query_pairs(query) {
            Ok(q) => store
                .aggregate(&q)
                .map_or_else(|e| store_error(&e), |a| ok(&a)),
            Err(e) => query_error(&e),
        },
        id if id.contains('/') => error(404, "endpoint not found"),
        id => match store.get(id) {
            Ok(Some(r)) => ok(&r),
            Ok(None) => error(404, "replay record not found"),
            Err(e) => store_error(&e),
        },
    })
}

/// Splits a raw query string (`a=1&b=x%20y`) into decoded pairs (`+` is a space).
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    raw.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            parse_query("?search=a%20b+c&limit=5&flag&bad=%zz&end=%4"),
            vec![
                ("search".into(), "a b c".into()),
                ("limit".into(), "5".into()),
                ("flag".into(), "".into()),
                ("bad".into(), "%zz".into()),
                ("end".into(), "%4".into()),
            ]
        );
        assert_eq!(decode("%E6%97%A5"), "日");
    }

    #[test]
    fn replay_paths() {
        assert!(is_replay_path("/v1/router_replay"));
        assert!(is_replay_path("/v1/router_replay/"));
        assert!(is_replay_path("/v1/router_replay/aggregate?x=1"));
        assert!(is_replay_path("/v1/router_replay/abc"));
        assert!(!is_replay_path("/v1/router_replayx"));
        assert!(!is_replay_path("/v1/chat/completions"));
    }
}
