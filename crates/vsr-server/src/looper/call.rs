//! One inner model call of a looper algorithm: an ordinary, non-streaming chat request for a
//! configured alias, sent through the same upstream layer as client requests (pools, keys,
//! reasoning family, circuit breakers), and read to the end.

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::record::Usage;
use crate::rewrite::{self, RawObject};
use crate::state::{Runtime, Shared};
use crate::upstream::forward::{Candidate, forward};

/// The most an inner answer may be (the client's answer is assembled from several).
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// Model names whose chat template takes `enable_thinking` (the planner asks them not to think
/// so its JSON plan is the whole answer).
const THINKING_TEMPLATES: [&str; 3] = ["qwen", "qwq", "deepseek"];

/// What is the same for every inner call of one client request.
#[derive(Clone)]
pub(crate) struct Caller {
    pub shared: Arc<Shared>,
    pub rt: Arc<Runtime>,
    pub headers: HeaderMap,
    pub request_id: String,
    pub client_model: String,
    /// The client's body (chat shape), the base of every inner body.
    pub base: Arc<RawObject>,
    /// `(model, use_reasoning, effort)` of the decision's refs: an inner call to a listed model
    /// asks for reasoning as the ref says.
    pub refs: Arc<Vec<(String, bool, Option<String>)>>,
    /// The whole request's deadline.
    pub deadline: Instant,
}

/// One inner call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Call {
    pub model: String,
    pub messages: Vec<Value>,
    pub temperature: Option<f64>,
    pub max_completion_tokens: Option<u32>,
    /// Keep the client's tool definitions (only final stages may call tools).
    pub keep_tools: bool,
    /// Ask for a JSON object (`response_format`) and no thinking.
    pub json_plan: bool,
    /// This call's own deadline (a round timeout), if earlier than the request's.
    pub deadline: Option<Instant>,
}

/// An inner call's answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    pub model: String,
    pub content: String,
    pub reasoning: Option<String>,
    /// The assistant message's `tool_calls`, passed through from a final stage.
    pub tool_calls: Option<Value>,
    pub finish_reason: Option<String>,
    pub usage: Usage,
}

/// Why an inner call produced no answer.
#[derive(Debug, Clone)]
pub(crate) struct CallError {
    pub model: String,
    pub message: String,
}

impl CallError {
    /// The trace's `failed_models` entry.
    pub fn to_json(&self) -> Value {
        json!({"model": self.model, "error": self.message})
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.model, self.message)
    }
}

impl Caller {
    pub async fn call(&self, call: Call) -> Result<Reply, CallError> {
        let fail = |message: String| CallError {
            model: call.model.clone(),
            message,
        };
        let settings = &self.rt.settings;
        let model = settings
            .models
            .get(&call.model)
            .ok_or_else(|| fail("not a configured model".into()))?;
        if model.api_format == Some(vsr_config::ApiFormat::Anthropic) {
            return Err(fail(
                "an api_format: anthropic model cannot take a looper stage".into(),
            ));
        }
        let pool = self
            .rt
            .pools
            .get(&call.model)
            .cloned()
            .ok_or_else(|| fail("no backend".into()))?;
        let mut fields = self.body(&call).map_err(|e| fail(e.to_string()))?;
        let original = Bytes::from(rewrite::to_bytes(&fields).map_err(|e| fail(e.to_string()))?);
        let reasoning = self
            .refs
            .iter()
            .find(|(m, _, _)| *m == call.model)
            .map(|(_, on, effort)| (*on && !call.json_plan, effort.as_deref()));
        let (body, reasoning_on) = rewrite::body_for(
            settings,
            &mut fields,
            &original,
            &self.client_model,
            false,
            &rewrite::Target { model, reasoning },
        )
        .map_err(|e| fail(e.to_string()))?;
        let deadline = call
            .deadline
            .map_or(self.deadline, |d| d.min(self.deadline));
        let metrics = self.shared.metrics.model(&call.model);
        metrics.request();
        let forwarded = forward(
            &self.shared,
            Candidate {
                alias: call.model.clone(),
                pool,
                body,
                reasoning_on,
            },
            || None,
            &self.headers,
            &self.request_id,
            deadline,
        )
        .await;
        let (upstream, _guard) = forwarded.result.map_err(|e| fail(e.to_string()))?;
        let status = upstream.parts.status;
        let mut bytes = Vec::new();
        if let Some(first) = upstream.first.and_then(|f| f.into_data().ok()) {
            bytes.extend_from_slice(&first);
        }
        let mut body = upstream.body;
        let read = async {
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| e.to_string())?;
                if let Ok(data) = frame.into_data() {
                    if bytes.len() + data.len() > MAX_ANSWER_BYTES {
                        return Err(format!("answer over {MAX_ANSWER_BYTES} bytes"));
                    }
                    bytes.extend_from_slice(&data);
                }
            }
            Ok(())
        };
        match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(fail(e)),
            Err(_) => return Err(fail("timed out".into())),
        }
        if !status.is_success() {
            let detail = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_default();
            self.shared.metrics.error(
                &call.model,
                if status.is_server_error() {
                    "upstream_5xx"
                } else {
                    "upstream_4xx"
                },
            );
            return Err(fail(format!("status {status} {detail}").trim_end().into()));
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("the answer is not JSON: {e}")))?;
        Reply::of_completion(&call.model, &v)
            .ok_or_else(|| fail("the answer has no message".into()))
    }

    /// The inner body: the client's fields, its messages replaced, streaming off.
    fn body(&self, call: &Call) -> Result<RawObject, serde_json::Error> {
        let mut fields = (*self.base).clone();
        for k in ["stream", "stream_options", "n"] {
            fields.shift_remove(k);
        }
        if !call.keep_tools || call.json_plan {
            for k in [
                "tools",
                "tool_choice",
                "functions",
                "function_call",
                "parallel_tool_calls",
            ] {
                fields.shift_remove(k);
            }
        }
        let raw = |v: Value| serde_json::value::RawValue::from_string(v.to_string());
        fields.insert("messages".into(), raw(Value::Array(call.messages.clone()))?);
        if let Some(t) = call.temperature {
            fields.insert("temperature".into(), raw(json!(t))?);
        }
        if let Some(n) = call.max_completion_tokens.filter(|n| *n > 0) {
            fields.shift_remove("max_tokens");
            fields.insert("max_completion_tokens".into(), raw(json!(n))?);
        }
        if call.json_plan {
            fields.insert(
                "response_format".into(),
                raw(json!({"type": "json_object"}))?,
            );
            let lower = call.model.to_lowercase();
            if THINKING_TEMPLATES.iter().any(|t| lower.contains(t)) {
                fields.insert(
                    "chat_template_kwargs".into(),
                    raw(json!({"enable_thinking": false}))?,
                );
            }
        }
        Ok(fields)
    }
}

impl Reply {
    /// The first choice of an OpenAI chat completion.
    pub fn of_completion(model: &str, v: &Value) -> Option<Reply> {
        let choice = v.get("choices")?.get(0)?;
        let message = choice.get("message")?;
        let content = match message.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        };
        let reasoning = ["reasoning_content", "reasoning"]
            .iter()
            .find_map(|k| message.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Some(Reply {
            model: model.to_string(),
            content,
            reasoning,
            tool_calls: message
                .get("tool_calls")
                .filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
                .cloned(),
            finish_reason: choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .map(str::to_string),
            usage: v
                .get("usage")
                .and_then(Usage::from_usage)
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_gives_text_reasoning_tools_and_usage() {
        let v = json!({"choices": [{"message": {"role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            "reasoning_content": "think", "tool_calls": [{"id": "t"}]},
            "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}});
        let r = Reply::of_completion("m", &v).unwrap();
        assert_eq!(r.content, "ab");
        assert_eq!(r.reasoning.as_deref(), Some("think"));
        assert!(r.tool_calls.is_some());
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!((r.usage.prompt_tokens, r.usage.completion_tokens), (3, 2));
        assert!(Reply::of_completion("m", &json!({"choices": []})).is_none());
    }
}
