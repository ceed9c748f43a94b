//! One body adapter for answering another API from a chat-completions SSE stream (the
//! Responses API, Anthropic Messages): it splits the upstream body into `data:` lines, hands
//! each payload to the API's translator and queues the events it writes.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};

use crate::body::{BoxError, RespBody};

/// What one API does with the chat stream's parts.
pub trait SseTranslator: Default + Unpin {
    /// One `data:` payload, trimmed (`[DONE]` included).
    fn data(&mut self, payload: &[u8], out: &mut Vec<u8>);
    /// The upstream body ended.
    fn end(&mut self, out: &mut Vec<u8>);
    /// The upstream body failed: write the API's own closing error events and return true, or
    /// return false to pass the error on (the client sees a cut connection).
    fn failed(&mut self, error: &BoxError, out: &mut Vec<u8>) -> bool;
}

/// Body adapter: chat SSE in, the translator's events out.
pub struct TranslatedSse<T> {
    inner: RespBody,
    pub(crate) tr: T,
    line: Vec<u8>,
    pending: VecDeque<Bytes>,
    ended: bool,
}

impl<T: SseTranslator> TranslatedSse<T> {
    pub fn new(inner: RespBody) -> Self {
        Self {
            inner,
            tr: T::default(),
            line: Vec::new(),
            pending: VecDeque::new(),
            ended: false,
        }
    }

    /// Translates one chunk of upstream bytes; a line split across chunks waits for its end.
    pub(crate) fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(i);
            self.line.extend_from_slice(head);
            let line = std::mem::take(&mut self.line);
            if let Some(p) = line.strip_prefix(b"data:") {
                self.tr.data(p.trim_ascii(), &mut out);
            }
            rest = &tail[1..];
        }
        self.line.extend_from_slice(rest);
        out
    }

    /// The events that close the stream when the upstream body has ended.
    pub(crate) fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.tr.end(&mut out);
        out
    }

    fn queue(&mut self, out: Vec<u8>) {
        if !out.is_empty() {
            self.pending.push_back(Bytes::from(out));
        }
    }
}

impl<T: SseTranslator> Body for TranslatedSse<T> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(d) = frame.data_ref() {
                        let out = self.feed(d);
                        self.queue(out);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let mut out = Vec::new();
                    if !self.tr.failed(&e, &mut out) {
                        return Poll::Ready(Some(Err(e)));
                    }
                    self.ended = true;
                    self.queue(out);
                }
                Poll::Ready(None) => {
                    self.ended = true;
                    let out = self.end();
                    self.queue(out);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The chat-API SSE error payload that ends a stream which cannot complete
/// (`{"error": {message, type, code}}`). `after_partial_line` first closes a line the client
/// may have half received.
pub(crate) fn error_event(after_partial_line: bool, kind: &str, code: u16, message: &str) -> Bytes {
    let err = serde_json::json!({"error": {"message": message, "type": kind, "code": code}});
    let mut out = Vec::new();
    if after_partial_line {
        out.extend_from_slice(b"\n\n");
    }
    out.extend_from_slice(b"data: ");
    out.extend(serde_json::to_vec(&err).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
