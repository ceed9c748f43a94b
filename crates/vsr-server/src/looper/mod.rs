//! The looper algorithms of upstream HEAD (head-delta §15): a decision whose algorithm is
//! `fusion` or `workflows` is answered by the router itself from several model calls — a panel
//! and a judge, or planned steps of workers and a synthesis — instead of one forwarded call.
//!
//! Each inner call is an ordinary chat request to a configured alias through the upstream layer
//! ([`call`]); the client gets one `chat.completion` (or a synthetic stream of it) carrying the
//! trace (`fusion` / `flow`), the summed usage, and the usual route headers and replay record.

mod answer;
mod call;
pub(crate) mod direct;
mod fusion;
mod workflows;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Response, header};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use vsr_config::Decision;
use vsr_config::looper::{FusionSpec, LooperSpec, WorkflowsSpec};
use vsr_config::vocab::LooperOnError;

use crate::body::{RespBody, full};
use crate::error::ApiError;
use crate::headers as hdr;
use crate::proxy::{ChatRequest, Routed};
use crate::record::RecordFinish;
use crate::state::{Runtime, Shared};

pub(crate) use answer::Answer;
pub(crate) use call::{Call, CallError, Caller, Reply};
pub use workflows::FlowStore;

/// A decision's looper: its typed block and the decision's model refs (the default panel, the
/// workers, and the reasoning each inner call asks for).
#[derive(Debug, Clone)]
pub struct Looper {
    pub spec: LooperSpec,
    /// `(model, use_reasoning, effort)` per model ref, in order.
    pub refs: Vec<(String, bool, Option<String>)>,
}

impl Looper {
    pub fn of(d: &Decision) -> Option<Self> {
        let spec = match d.looper()? {
            Ok(spec) => spec,
            Err(e) => {
                // The decoder validated the block; a hand-built config may still be wrong.
                tracing::warn!(decision = %d.name, error = %e, "looper block ignored");
                return None;
            }
        };
        let refs = d
            .model_refs
            .iter()
            .map(|r| {
                (
                    r.model.clone(),
                    r.use_reasoning(),
                    r.reasoning_effort.clone(),
                )
            })
            .collect();
        Some(Looper { spec, refs })
    }

    pub fn kind(&self) -> &'static str {
        match self.spec {
            LooperSpec::Fusion(_) => "fusion",
            LooperSpec::Workflows(_) => "workflows",
        }
    }

    /// Whether the decision's ref for `model` asks for reasoning (`x-vsr-selected-reasoning`).
    fn asks_reasoning(&self, model: &str) -> bool {
        self.refs.iter().any(|(m, on, _)| m == model && *on)
    }

    fn ref_models(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (m, _, _) in &self.refs {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
        out
    }
}

/// The loopers of every profile, by (recipe, decision).
pub type Loopers = crate::by_decision::ByDecision<Arc<Looper>>;

/// What one parallel round of inner calls produced.
#[derive(Debug, Default)]
pub(crate) struct Round {
    /// Successful answers, in the order the calls were given.
    pub replies: Vec<Reply>,
    pub failed: Vec<CallError>,
    /// The round's time ran out before the quorum (partial answers kept).
    pub timed_out: bool,
    /// Calls that were made (the others were cancelled before they started).
    pub started: usize,
}

/// Runs `calls` at most `parallel` at a time until `quorum` answered (the rest are cancelled).
/// With `on_error: fail` the first failure ends the round with that error.
pub(crate) async fn round(
    caller: &Caller,
    calls: Vec<Call>,
    parallel: usize,
    quorum: usize,
    on_error: LooperOnError,
    timeout: Option<Duration>,
) -> Result<Round, CallError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let deadline = timeout.map(|t| Instant::now() + t);
    let quorum = quorum.max(1);
    let permits = Arc::new(Semaphore::new(parallel.max(1)));
    // Counted by the tasks themselves: a success is counted before its permit is released,
    // so a call waiting for that permit sees the quorum reached and is not made.
    let started = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for (i, mut c) in calls.into_iter().enumerate() {
        c.deadline = deadline;
        let caller = caller.clone();
        let permits = Arc::clone(&permits);
        let (started, answered) = (Arc::clone(&started), Arc::clone(&answered));
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            if answered.load(Ordering::SeqCst) >= quorum {
                return (i, None);
            }
            started.fetch_add(1, Ordering::SeqCst);
            let r = caller.call(c).await;
            if r.is_ok() {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            (i, Some(r))
        });
    }
    let mut ok: Vec<(usize, Reply)> = Vec::new();
    let mut out = Round::default();
    loop {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, set.join_next()).await {
                Ok(n) => n,
                Err(_) => {
                    out.timed_out = true;
                    break;
                }
            },
            None => set.join_next().await,
        };
        let Some(joined) = next else { break };
        match joined {
            // Not made: the quorum was already there.
            Ok((_, None)) => {}
            Ok((i, Some(Ok(r)))) => {
                ok.push((i, r));
                if ok.len() >= quorum {
                    break;
                }
            }
            Ok((_, Some(Err(e)))) if on_error == LooperOnError::Fail => return Err(e),
            Ok((_, Some(Err(e)))) => out.failed.push(e),
            Err(e) => out.failed.push(CallError {
                model: String::new(),
                message: format!("call task ended: {e}"),
            }),
        }
    }
    // Calls still running past the quorum are cancelled here.
    set.abort_all();
    out.started = started.load(Ordering::SeqCst);
    ok.sort_by_key(|(i, _)| *i);
    out.replies = ok.into_iter().map(|(_, r)| r).collect();
    Ok(out)
}

/// The client's conversation as JSON messages, and the text of its last user message.
pub(crate) struct Conversation {
    pub messages: Vec<Value>,
    pub prompt: String,
}

impl Conversation {
    fn of(req: &ChatRequest) -> Result<Self, ApiError> {
        let messages: Vec<Value> = req
            .fields
            .get("messages")
            .map(|m| serde_json::from_str(m.get()))
            .transpose()
            .map_err(|_| ApiError::MessagesNotArray)?
            .ok_or(ApiError::MissingMessages)?;
        let prompt = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .map(message_text)
            .unwrap_or_default();
        Ok(Self { messages, prompt })
    }

    /// The conversation without tool use: tool results dropped, assistant tool calls removed
    /// (an assistant turn that only called tools is dropped). Panel and worker calls get no
    /// tool definitions, so they must not see tool traffic either.
    pub fn without_tools(&self) -> Vec<Value> {
        self.messages
            .iter()
            .filter(|m| m["role"] != "tool" && m["role"] != "function")
            .filter_map(|m| {
                let mut m = m.clone();
                let o = m.as_object_mut()?;
                if o.remove("tool_calls").is_some() || o.remove("function_call").is_some() {
                    let empty = o
                        .get("content")
                        .is_none_or(|c| c.is_null() || c.as_str().is_some_and(str::is_empty));
                    if empty {
                        return None;
                    }
                }
                Some(m)
            })
            .collect()
    }

    /// The conversation plus one user message (a stage's instructions).
    pub fn with_stage(base: &[Value], stage: String) -> Vec<Value> {
        let mut m = base.to_vec();
        m.push(serde_json::json!({"role": "user", "content": stage}));
        m
    }
}

fn message_text(m: &Value) -> String {
    match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Answers a routed request whose decision is a looper: runs it, records it, and returns the
/// client's answer (chat JSON or SSE; the Responses and Messages handlers translate it).
pub(crate) async fn answer(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    headers: &HeaderMap,
    req: &ChatRequest,
    routed: &Routed,
    looper: &Looper,
    request_id: &str,
) -> Result<Response<RespBody>, ApiError> {
    let conversation = Conversation::of(req)?;
    let timeout = rt.settings.request_timeout();
    let caller = Caller {
        shared: Arc::clone(shared),
        rt: Arc::clone(rt),
        headers: headers.clone(),
        request_id: request_id.to_string(),
        client_model: req.model.clone(),
        base: Arc::new(req.fields.clone()),
        refs: Arc::new(looper.refs.clone()),
        deadline: Instant::now() + timeout,
    };
    let replay_id = crate::proxy::record_routed(shared, req, routed, request_id, false);
    let started = std::time::Instant::now();
    let ran = match &looper.spec {
        LooperSpec::Fusion(spec) => fusion::run(&caller, spec, looper, &conversation).await,
        LooperSpec::Workflows(spec) => workflows::run(&caller, spec, looper, &conversation).await,
    };
    let answer = match ran {
        Ok(a) => a,
        Err(e) => {
            if let (Some(sink), Some(id)) = (&shared.sink, &replay_id) {
                sink.finish(
                    id,
                    RecordFinish::failed(e.status().as_u16(), req.streaming, None, Vec::new()),
                );
            }
            let mut resp = e.into_response();
            crate::proxy::set_header(resp.headers_mut(), &hdr::REQUEST_ID, request_id);
            crate::proxy::set_header(resp.headers_mut(), &hdr::LOOPER, looper.kind());
            return Ok(resp);
        }
    };
    let include_usage = req
        .fields
        .get("stream_options")
        .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
        .is_some_and(|o| o["include_usage"] == true);
    let (body, content_type, recorded) = if req.streaming {
        (
            answer.sse(include_usage),
            "text/event-stream",
            bytes::Bytes::from(answer.content.clone()),
        )
    } else {
        let json = serde_json::to_vec(&answer.completion()).unwrap_or_default();
        let recorded = bytes::Bytes::from(json.clone());
        (json, "application/json", recorded)
    };
    if let (Some(sink), Some(id)) = (&shared.sink, &replay_id) {
        sink.finish(
            id,
            RecordFinish {
                status: 200,
                streaming: req.streaming,
                usage: Some(answer.usage),
                response_body: recorded,
                completed: true,
                ttft: Some(started.elapsed()),
                served_model: Some(answer.model.clone()),
                attempts: Vec::new(),
                usage_by_model: answer.parts.clone(),
            },
        );
    }
    let mut resp = Response::new(full(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    crate::proxy::add_route_headers(
        h,
        routed,
        &answer.model,
        &req.model,
        answer.reasoning_on,
        replay_id.as_deref(),
    );
    crate::proxy::set_header(h, &hdr::LOOPER, looper.kind());
    crate::proxy::set_header(h, &hdr::LOOPER_CALLS, &answer.calls.to_string());
    crate::proxy::set_header(h, &hdr::REQUEST_ID, request_id);
    Ok(resp)
}

/// A panel or worker size bound: `n` when set and positive, else `default`, never above `cap`.
fn bound(n: Option<u32>, default: usize, cap: usize) -> usize {
    n.map(|n| n as usize)
        .filter(|n| *n > 0)
        .unwrap_or(default)
        .min(cap)
        .max(1)
}

fn seconds(n: Option<u32>) -> Option<Duration> {
    n.filter(|n| *n > 0)
        .map(|n| Duration::from_secs(u64::from(n)))
}

/// The fusion block's defaults (upstream's): `skip` on error.
fn fusion_on_error(s: &FusionSpec) -> LooperOnError {
    s.on_error.unwrap_or(LooperOnError::Skip)
}

/// The workflows block's defaults (upstream's): `fail` on error.
fn workflows_on_error(s: &WorkflowsSpec) -> LooperOnError {
    s.on_error.unwrap_or(LooperOnError::Fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_panel_conversation_has_no_tool_traffic() {
        let c = Conversation {
            messages: vec![
                json!({"role": "user", "content": "weather?"}),
                json!({"role": "assistant", "content": null, "tool_calls": [{"id": "t"}]}),
                json!({"role": "tool", "content": "sunny", "tool_call_id": "t"}),
                json!({"role": "assistant", "content": "It is sunny.", "tool_calls": [{"id": "u"}]}),
                json!({"role": "user", "content": "and tomorrow?"}),
            ],
            prompt: "and tomorrow?".into(),
        };
        let m = c.without_tools();
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[1],
            json!({"role": "assistant", "content": "It is sunny."})
        );
    }

    #[test]
    fn bounds_default_and_cap() {
        assert_eq!(bound(None, 3, 3), 3);
        assert_eq!(bound(Some(0), 3, 3), 3);
        assert_eq!(bound(Some(5), 3, 3), 3);
        assert_eq!(bound(Some(2), 3, 3), 2);
        assert_eq!(bound(None, 0, 0), 1);
    }
}
