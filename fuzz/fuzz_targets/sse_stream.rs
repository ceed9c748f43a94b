//! The upstream chat-completions SSE stream as the proxy reads it, on arbitrary bytes cut into
//! arbitrary chunks (a line split across chunks included), optionally ending in a transport
//! error: the Responses and the Messages translators (`TranslatedSse`), and the usage reader the
//! proxy applies to every `data:` payload. Oracle: no panic, and every event the translators
//! write carries a JSON `data:` payload.
#![no_main]
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;

/// The server's body types (`vsr_server`'s `RespBody` and `BoxError`).
type BoxError = Box<dyn std::error::Error + Send + Sync>;
type RespBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// The upstream body: the chunks in order, then the end or a transport error.
struct Chunks {
    chunks: VecDeque<Bytes>,
    fail: bool,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(c) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(c))));
        }
        if std::mem::take(&mut self.fail) {
            return Poll::Ready(Some(Err("upstream reset".into())));
        }
        Poll::Ready(None)
    }
}

fn upstream(data: &[u8], size: usize, fail: bool) -> RespBody {
    let chunks = data.chunks(size).map(Bytes::copy_from_slice).collect();
    Chunks { chunks, fail }.boxed_unsync()
}

/// Drains a body whose every frame is ready: its bytes, or None when it ended in an error.
fn drain<B: Body<Data = Bytes> + Unpin>(mut body: B) -> Option<Vec<u8>> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    out.extend_from_slice(d);
                }
            }
            Poll::Ready(Some(Err(_))) => return None,
            Poll::Ready(None) => return Some(out),
            Poll::Pending => panic!("a translated body waited on a ready upstream"),
        }
    }
}

fn check_events(out: &[u8], api: &str) {
    for line in out.split(|&b| b == b'\n') {
        if let Some(p) = line.strip_prefix(b"data:") {
            let p = p.trim_ascii();
            assert!(
                p == b"[DONE]" || serde_json::from_slice::<serde_json::Value>(p).is_ok(),
                "{api} event data is not JSON: {}",
                String::from_utf8_lossy(p)
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, data)) = data.split_first() else {
        return;
    };
    let size = usize::from(ctl & 0x7f).max(1);
    let fail = ctl & 0x80 != 0;
    if let Some(out) = drain(vsr_server::responses::ResponsesStream::new(upstream(data, size, fail))) {
        check_events(&out, "Responses");
    }
    if let Some(out) = drain(vsr_server::messages::MessagesStream::new(upstream(data, size, fail))) {
        check_events(&out, "Messages");
    }
    // What the proxy does with each payload of a stream it observes: the usage it records.
    let mut usage = None;
    for line in data.split(|&b| b == b'\n') {
        if let Some(p) = line.strip_prefix(b"data:")
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(p.trim_ascii())
            && let Some(u) = vsr_server::messages::event_usage(&v)
        {
            usage = Some(vsr_server::messages::merge_usage(usage, u));
        }
    }
});
