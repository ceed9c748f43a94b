//! Limits on what one client may make the data plane do, each refused with a precise error:
//! request heads (header count and bytes, enforced by hyper: 431), JSON nesting depth and
//! the number of chat messages (400, checked before anything walks the tree), and the total
//! duration of a streamed answer (the stream ends with an SSE error event). The body size is
//! `max_body_bytes` (settings). `docs/security.md` lists them all.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body::BoxError;
use crate::error::ApiError;

/// The data plane's limits (defaults: [`Limits::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Headers in one request head (hyper answers 431 beyond it).
    pub max_headers: usize,
    /// Bytes of one request head, request line included (hyper answers 431 beyond it).
    pub max_head_bytes: usize,
    /// Nesting of arrays and objects in a request body.
    pub max_json_depth: usize,
    /// Entries of `messages` in one chat request (OpenAI's own limit is 2048).
    pub max_messages: usize,
    /// Wall time of one streamed answer, first byte to last (`None`: no bound beyond the
    /// listener's idle timeout between chunks).
    pub max_stream_duration: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_headers: 100,
            max_head_bytes: 64 * 1024,
            max_json_depth: 64,
            max_messages: 2048,
            max_stream_duration: Some(Duration::from_secs(30 * 60)),
        }
    }
}

/// The bytes of a JSON text outside string contents, with their offsets: a string shows only
/// as its opening `"`. Enough to follow nesting and top-level items without parsing.
fn structure(body: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut in_string = false;
    let mut escaped = false;
    body.iter().enumerate().filter_map(move |(at, &b)| {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            return None;
        }
        in_string = b == b'"';
        Some((at, b))
    })
}

/// Refuses a JSON text whose arrays and objects nest deeper than `max`, naming the byte
/// offset where the limit is crossed. A linear scan that skips strings; it checks nesting
/// only (the parser reports every other error afterwards).
pub fn check_json_depth(body: &[u8], max: usize) -> Result<(), ApiError> {
    let mut depth = 0usize;
    for (at, b) in structure(body) {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(ApiError::InvalidInput(format!(
                        "request body nests arrays and objects deeper than {max} levels (at byte {at})"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The number of top-level items of a JSON array's text (`raw` starts with `[`), counted
/// without parsing them.
pub fn array_len(raw: &str) -> usize {
    let mut depth = 0usize;
    let mut items = 0usize;
    let mut item_open = false;
    for (_, b) in structure(raw.as_bytes()) {
        match b {
            b'[' | b'{' => {
                if depth == 1 && !item_open {
                    items += 1;
                    item_open = true;
                }
                depth += 1;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => item_open = false,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            // A scalar or the opening quote of a string.
            _ => {
                if depth == 1 && !item_open {
                    items += 1;
                    item_open = true;
                }
            }
        }
    }
    items
}

/// Refuses a `messages` array (its raw text) with more than `max` entries.
pub fn check_messages(raw: &str, max: usize) -> Result<(), ApiError> {
    let n = array_len(raw);
    if n > max {
        return Err(ApiError::InvalidInput(format!(
            "messages has {n} entries; this router accepts at most {max}"
        )));
    }
    Ok(())
}

/// A streamed answer bounded in total time: past `deadline` it ends with an SSE error event
/// (the OpenAI error shape the official clients raise) and drops the upstream stream.
pub struct StreamDeadline<B> {
    inner: Option<B>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl<B> StreamDeadline<B> {
    pub fn new(inner: B, limit: Duration) -> Self {
        StreamDeadline {
            inner: Some(inner),
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

/// Bounds a streamed (SSE) answer to `limit`; other answers pass unchanged.
pub(crate) fn bound_stream(
    resp: http::Response<crate::body::RespBody>,
    limit: Option<Duration>,
) -> http::Response<crate::body::RespBody> {
    use http_body_util::BodyExt;
    let sse = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    match limit {
        Some(limit) if sse => resp.map(|b| StreamDeadline::new(b, limit).boxed_unsync()),
        _ => resp,
    }
}

/// The SSE event that ends a stream cut at its duration limit.
pub fn stream_limit_event(limit: Duration) -> Bytes {
    crate::sse_translate::error_event(
        true,
        "stream_duration_exceeded",
        504,
        &format!(
            "the streamed answer exceeded this router's limit of {} s",
            limit.as_secs()
        ),
    )
}

impl<B> Body for StreamDeadline<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(frame) = Pin::new(inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            // Dropping the upstream body closes its connection and records the answer as cut.
            this.inner = None;
            tracing::warn!(
                limit_s = this.limit.as_secs(),
                "streamed answer cut at the duration limit"
            );
            return Poll::Ready(Some(Ok(Frame::data(stream_limit_event(this.limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_outside_strings_only() {
        assert!(check_json_depth(br#"{"a":[[1]]}"#, 3).is_ok());
        assert!(check_json_depth(br#"{"a":"[[[[[[[[\"[[["}"#, 1).is_ok());
        let e = check_json_depth(br#"{"a":[[1]]}"#, 2).unwrap_err();
        assert!(
            e.to_string().contains("deeper than 2 levels (at byte 6)"),
            "{e}"
        );
        let deep = "[".repeat(100_000);
        assert!(check_json_depth(deep.as_bytes(), 64).is_err());
    }

    #[test]
    fn array_items_are_counted_without_parsing() {
        assert_eq!(array_len("[]"), 0);
        assert_eq!(array_len("[ ]"), 0);
        assert_eq!(array_len(r#"[{"role":"user","content":"a,b]"}]"#), 1);
        assert_eq!(
            array_len(r#"[{"a":[1,2,3]}, {"b":{"c":[]}} ,"x", 3, null]"#),
            5
        );
        assert!(check_messages(r#"[{},{},{}]"#, 3).is_ok());
        let e = check_messages(r#"[{},{},{}]"#, 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "messages has 3 entries; this router accepts at most 2"
        );
    }
}
