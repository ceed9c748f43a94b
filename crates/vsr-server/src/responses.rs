//! `POST /v1/responses`: the request is translated into a chat completion, routed like any
//! chat request, and the answer is translated back (a Responses object, or Responses SSE
//! events when streaming).

use serde_json::{Value, json};

use crate::body::BoxError;
use crate::error::ApiError;
use crate::record::Usage;
use crate::request::{LlmRequest, Part, Role, Turn};
use crate::sse_translate::{SseTranslator, TranslatedSse};
use crate::util::{hex_id, unix_now};

/// Responses request → chat completions request body.
pub fn request_to_chat(req: &Value) -> Result<Value, ApiError> {
    Ok(from_responses(req)?.to_chat_body())
}

/// Responses request → the internal request model.
pub fn from_responses(req: &Value) -> Result<LlmRequest, ApiError> {
    let obj = req.as_object().ok_or(ApiError::MalformedJson)?;
    let input = obj.get("input").ok_or(ApiError::ResponsesInput)?;
    let model = match obj.get("model") {
        None => return Err(ApiError::MissingModel),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::ModelNotString),
    };
    let mut r = LlmRequest::new(model);
    r.system = obj
        .get("instructions")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    match input {
        Value::String(s) => r
            .turns
            .push(Turn::new(Role::User, vec![Part::Text(s.clone())])),
        Value::Array(items) => {
            for item in items {
                let role = match item.get("role").and_then(|r| r.as_str()).unwrap_or("user") {
                    "developer" | "system" => Role::System,
                    "assistant" => Role::Assistant,
                    "user" => Role::User,
                    _ => return Err(ApiError::ResponsesItem),
                };
                let content = match item.get("content") {
                    Some(Value::String(s)) => vec![Part::Text(s.clone())],
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter_map(|p| {
                            if let Some(t) = p.get("text").and_then(|t| t.as_str()) {
                                Some(Part::Text(t.to_string()))
                            } else {
                                p.get("image_url")
                                    .and_then(|u| u.as_str())
                                    .map(|u| Part::Image(u.to_string()))
                            }
                        })
                        .collect(),
                    _ => return Err(ApiError::ResponsesItem),
                };
                r.turns.push(Turn::new(role, content));
            }
        }
        _ => return Err(ApiError::ResponsesInput),
    }
    let number = |k: &str| obj.get(k).and_then(|v| v.as_f64());
    r.sampling.max_tokens = obj.get("max_output_tokens").and_then(|v| v.as_u64());
    r.sampling.temperature = number("temperature");
    r.sampling.top_p = number("top_p");
    r.stream = obj.get("stream") == Some(&Value::Bool(true));
    r.user = obj.get("user").and_then(|u| u.as_str()).map(str::to_string);
    r.reasoning_effort = req
        .pointer("/reasoning/effort")
        .and_then(|e| e.as_str())
        .map(str::to_string);
    Ok(r)
}

fn response_shell(
    id: &str,
    model: &str,
    created: u64,
    status: &str,
    output: Value,
    usage: Value,
) -> Value {
    json!({
        "id": id, "object": "response", "created_at": created, "status": status,
        "model": model, "output": output, "usage": usage,
        "error": null, "incomplete_details": null, "instructions": null, "metadata": {},
        "parallel_tool_calls": false, "tool_choice": "auto", "tools": [],
        "temperature": null, "top_p": null,
    })
}

fn message_item(item_id: &str, text: &str, status: &str) -> Value {
    json!({"id": item_id, "type": "message", "status": status, "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

/// The Responses API's `usage` from the chat completion's (zeros when the backend sent none).
fn usage_of(u: Option<Usage>) -> Value {
    let u = u.unwrap_or_default();
    json!({"input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens,
           "total_tokens": u.total(),
           "input_tokens_details": {"cached_tokens": u.cached_tokens.unwrap_or(0)},
           "output_tokens_details": {"reasoning_tokens": 0}})
}

/// Chat completion JSON → Responses object.
pub fn chat_to_response(chat: &Value) -> Value {
    let text = chat
        .pointer("/choices/0/message/content")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    let model = chat.get("model").and_then(|m| m.as_str()).unwrap_or("");
    let created = chat
        .get("created")
        .and_then(|c| c.as_u64())
        .unwrap_or_else(unix_now);
    response_shell(
        &format!("resp_{}", hex_id()),
        model,
        created,
        "completed",
        json!([message_item(
            &format!("msg_{}", hex_id()),
            text,
            "completed"
        )]),
        usage_of(Usage::from_response(chat)),
    )
}

fn event(out: &mut Vec<u8>, seq: &mut u64, kind: &str, mut data: Value) {
    if let Some(o) = data.as_object_mut() {
        o.insert("type".into(), json!(kind));
        o.insert("sequence_number".into(), json!(*seq));
    }
    *seq += 1;
    out.extend_from_slice(format!("event: {kind}\ndata: ").as_bytes());
    out.extend_from_slice(&serde_json::to_vec(&data).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
}

/// Translates chat SSE into Responses SSE events incrementally.
pub struct Translator {
    seq: u64,
    resp_id: String,
    item_id: String,
    model: String,
    created: u64,
    text: String,
    usage: Option<Usage>,
    started: bool,
    finished: bool,
}

impl Default for Translator {
    fn default() -> Self {
        Self {
            seq: 0,
            resp_id: format!("resp_{}", hex_id()),
            item_id: format!("msg_{}", hex_id()),
            model: String::new(),
            created: unix_now(),
            text: String::new(),
            usage: None,
            started: false,
            finished: false,
        }
    }
}

impl Translator {
    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let shell = response_shell(
            &self.resp_id,
            &self.model,
            self.created,
            "in_progress",
            json!([]),
            Value::Null,
        );
        event(
            out,
            &mut self.seq,
            "response.created",
            json!({"response": shell.clone()}),
        );
        event(
            out,
            &mut self.seq,
            "response.in_progress",
            json!({"response": shell}),
        );
        event(
            out,
            &mut self.seq,
            "response.output_item.added",
            json!({"output_index": 0, "item": {"id": self.item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        );
        event(
            out,
            &mut self.seq,
            "response.content_part.added",
            json!({"item_id": self.item_id, "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        );
    }

    fn chunk(&mut self, v: &Value, out: &mut Vec<u8>) {
        if self.model.is_empty()
            && let Some(m) = v.get("model").and_then(|m| m.as_str())
        {
            self.model = m.to_string();
        }
        self.start(out);
        if let Some(u) = Usage::from_response(v) {
            self.usage = Some(u);
        }
        if let Some(d) = v
            .pointer("/choices/0/delta/content")
            .and_then(|t| t.as_str())
            && !d.is_empty()
        {
            self.text.push_str(d);
            event(
                out,
                &mut self.seq,
                "response.output_text.delta",
                json!({"item_id": self.item_id, "output_index": 0, "content_index": 0, "delta": d, "logprobs": []}),
            );
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.start(out);
        self.finished = true;
        let part = json!({"type": "output_text", "text": self.text, "annotations": []});
        event(
            out,
            &mut self.seq,
            "response.output_text.done",
            json!({"item_id": self.item_id, "output_index": 0, "content_index": 0, "text": self.text, "logprobs": []}),
        );
        event(
            out,
            &mut self.seq,
            "response.content_part.done",
            json!({"item_id": self.item_id, "output_index": 0, "content_index": 0, "part": part}),
        );
        let item = message_item(&self.item_id, &self.text, "completed");
        event(
            out,
            &mut self.seq,
            "response.output_item.done",
            json!({"output_index": 0, "item": item.clone()}),
        );
        let resp = response_shell(
            &self.resp_id,
            &self.model,
            self.created,
            "completed",
            json!([item]),
            usage_of(self.usage),
        );
        event(
            out,
            &mut self.seq,
            "response.completed",
            json!({"response": resp}),
        );
    }
}

/// All events for an already complete Responses object (synthetic answers).
pub fn events_for_response(resp: &Value) -> Vec<u8> {
    let mut t = Translator {
        model: resp
            .get("model")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string(),
        ..Translator::default()
    };
    let text = resp
        .pointer("/output/0/content/0/text")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    let mut out = Vec::new();
    t.chunk(
        &json!({"choices": [{"delta": {"content": text}}]}),
        &mut out,
    );
    t.finish(&mut out);
    out
}

/// Body adapter: chat SSE in, Responses SSE out.
pub type ResponsesStream = TranslatedSse<Translator>;

impl SseTranslator for Translator {
    fn data(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        if payload == b"[DONE]" {
            self.finish(out);
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(payload) else {
            return;
        };
        if let Some(err) = v.get("error") {
            // The upstream failed mid-stream: the response did not complete.
            let message = err.get("message").cloned().unwrap_or(json!(""));
            event(
                out,
                &mut self.seq,
                "error",
                json!({"code": "upstream_error", "message": message, "param": null}),
            );
            self.finished = true;
        } else {
            self.chunk(&v, out);
        }
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        self.finish(out);
    }

    fn failed(&mut self, _error: &BoxError, _out: &mut Vec<u8>) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn request_translation() {
        let r = json!({"model": "MoM", "input": [{"role": "developer", "content": "sys"},
                       {"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
                       "instructions": "be kind", "max_output_tokens": 5, "stream": true});
        let c = request_to_chat(&r).unwrap();
        assert_eq!(
            c["messages"][0],
            json!({"role": "system", "content": "be kind"})
        );
        assert_eq!(c["messages"][1]["role"], "system");
        assert_eq!(c["messages"][2], json!({"role": "user", "content": "hi"}));
        assert_eq!(c["max_tokens"], 5);
        assert_eq!(c["stream"], true);
        let e = request_to_chat(&json!({"model": "m"})).unwrap_err();
        assert!(e.to_string().starts_with("'input' field is required"));
        // Images come through as image parts; the view reads the last user text.
        let r = from_responses(
            &json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "what is"},
            {"type": "input_image", "image_url": "data:image/png;base64,AA"}]}]}),
        )
        .unwrap();
        let c = r.to_chat_body();
        assert_eq!(
            c["messages"][0]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AA"
        );
        assert_eq!(
            r.view().image_url.as_deref(),
            Some("data:image/png;base64,AA")
        );
        let e =
            from_responses(&json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}));
        assert_eq!(e.unwrap_err(), ApiError::ResponsesItem);
        assert_eq!(
            from_responses(&json!({"input": "x"})).unwrap_err(),
            ApiError::MissingModel
        );
    }

    #[test]
    fn response_translation() {
        let chat = json!({"model": "m", "created": 7, "choices": [{"message": {"role": "assistant", "content": "hello"}}],
                          "usage": {"prompt_tokens": 3, "completion_tokens": 2}});
        let r = chat_to_response(&chat);
        assert_eq!(r["output"][0]["content"][0]["text"], "hello");
        assert_eq!(r["usage"]["total_tokens"], 5);
        assert_eq!(r["object"], "response");
    }

    #[test]
    fn an_upstream_error_event_becomes_a_responses_error_and_no_completion() {
        let mut st = ResponsesStream::new(crate::body::full(Vec::<u8>::new()));
        let mut out = st.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n");
        out.extend(
            st.feed(b"data: {\"error\":{\"message\":\"upstream stream failed\",\"code\":502}}\n\n"),
        );
        st.tr.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("event: error\n"), "{text}");
        assert!(text.contains("upstream stream failed"), "{text}");
        assert!(!text.contains("response.completed"), "{text}");
    }

    #[test]
    fn stream_translation_emits_ordered_events() {
        let mut s = ResponsesStream::new(crate::body::full(Bytes::new()));
        let a = s.feed(b"data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"he\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"con");
        let b = s.feed(b"tent\":\"llo\"}}]}\n\ndata: [DONE]\n\n");
        let all = String::from_utf8([a, b].concat()).unwrap();
        let kinds: Vec<&str> = all
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(kinds.first(), Some(&"response.created"));
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == "response.output_text.delta")
                .count(),
            2
        );
        assert_eq!(kinds.last(), Some(&"response.completed"));
        assert!(all.contains("\"text\":\"hello\""));
    }
}
