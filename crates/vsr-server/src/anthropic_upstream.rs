//! Chat completions (and Responses, which reach the proxy as chat) routed to an
//! `api_format: anthropic` alias (surface spec §2.10): the chat body becomes an Anthropic
//! Messages request through the internal [`LlmRequest`], and the answer comes back as a chat
//! completion, or as chat chunks when streaming. A request the translation cannot carry is a
//! 400 naming the field; an answer it cannot read is a 502 (`Response transformation error`).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};

use crate::body::{BoxError, RespBody, full};
use crate::error::ApiError;
use crate::record::Usage;
use crate::request::{LlmRequest, Part, Role, Sampling, ToolCall, ToolChoice, ToolDef, Turn};
use crate::sse_translate::{SseTranslator, TranslatedSse};
use crate::util::hex_id;

/// `max_tokens` is required by the Messages API; chat makes it optional.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

fn invalid(at: impl std::fmt::Display, what: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidBody(format!(
        "{at}: {what} (translating for an Anthropic backend)"
    ))
}

fn text_of(v: &Value, at: &str) -> Result<String, ApiError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(at, "must be a string"))
}

/// Chat `content`: a string, null, or an array of `text` / `image_url` parts.
fn chat_parts(v: Option<&Value>, at: &str) -> Result<Vec<Part>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let at = format!("{at}[{i}]");
                match p.get("type").and_then(|t| t.as_str()) {
                    Some("text") => Ok(Part::Text(text_of(
                        p.get("text").unwrap_or(&Value::Null),
                        &format!("{at}.text"),
                    )?)),
                    Some("image_url") => {
                        let url = p
                            .get("image_url")
                            .map(|u| u.get("url").unwrap_or(u))
                            .unwrap_or(&Value::Null);
                        Ok(Part::Image(text_of(url, &format!("{at}.image_url.url"))?))
                    }
                    other => Err(invalid(
                        format!("{at}.type"),
                        format!("must be text or image_url, not {other:?}"),
                    )),
                }
            })
            .collect(),
        Some(_) => Err(invalid(at, "must be a string, null or an array of parts")),
    }
}

/// A chat completions body → the internal request.
pub fn from_chat(v: &Value, streaming: bool) -> Result<LlmRequest, ApiError> {
    let obj = v.as_object().ok_or(ApiError::MalformedJson)?;
    let model = match obj.get("model") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::ModelNotString),
        None => return Err(ApiError::MissingModel),
    };
    let mut r = LlmRequest::new(model);
    r.stream = streaming;
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m,
        Some(_) => return Err(ApiError::MessagesNotArray),
        None => return Err(ApiError::MissingMessages),
    };
    let mut system: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m.get("role").and_then(|r| r.as_str());
        let content = chat_parts(m.get("content"), &format!("{at}.content"))?;
        let mut turn = match role {
            Some("system" | "developer") => {
                for p in content {
                    match p {
                        Part::Text(t) => system.push(t),
                        Part::Image(_) => {
                            return Err(invalid(&at, "a system message cannot carry an image"));
                        }
                    }
                }
                continue;
            }
            Some("user") => Turn::new(Role::User, content),
            Some("assistant") => Turn::new(Role::Assistant, content),
            Some("tool") => {
                let mut t = Turn::new(Role::Tool, content);
                t.tool_call_id = Some(text_of(
                    m.get("tool_call_id").unwrap_or(&Value::Null),
                    &format!("{at}.tool_call_id"),
                )?);
                t
            }
            other => {
                return Err(invalid(
                    format!("{at}.role"),
                    format!("must be system, developer, user, assistant or tool, not {other:?}"),
                ));
            }
        };
        if let Some(calls) = m.get("tool_calls").filter(|c| !c.is_null()) {
            let calls = calls
                .as_array()
                .ok_or_else(|| invalid(format!("{at}.tool_calls"), "must be an array"))?;
            for (j, c) in calls.iter().enumerate() {
                let cat = format!("{at}.tool_calls[{j}]");
                let args = c
                    .pointer("/function/arguments")
                    .and_then(|a| a.as_str())
                    .unwrap_or("");
                let arguments: Value = if args.trim().is_empty() {
                    json!({})
                } else {
                    serde_json::from_str(args).map_err(|e| {
                        invalid(
                            format!("{cat}.function.arguments"),
                            format!("not JSON: {e}"),
                        )
                    })?
                };
                if !arguments.is_object() {
                    return Err(invalid(
                        format!("{cat}.function.arguments"),
                        "must be a JSON object",
                    ));
                }
                turn.tool_calls.push(ToolCall {
                    id: text_of(c.get("id").unwrap_or(&Value::Null), &format!("{cat}.id"))?,
                    name: text_of(
                        c.pointer("/function/name").unwrap_or(&Value::Null),
                        &format!("{cat}.function.name"),
                    )?,
                    arguments,
                });
            }
        }
        r.turns.push(turn);
    }
    if !system.is_empty() {
        r.system = Some(system.join("\n\n"));
    }
    let num = |k: &str| obj.get(k).and_then(|v| v.as_f64());
    let count = |k: &str| obj.get(k).and_then(|v| v.as_u64());
    r.sampling = Sampling {
        max_tokens: count("max_completion_tokens").or_else(|| count("max_tokens")),
        temperature: num("temperature"),
        top_p: num("top_p"),
        top_k: count("top_k"),
        stop: match obj.get("stop") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        },
    };
    if let Some(tools) = obj.get("tools").and_then(|t| t.as_array()) {
        for (i, t) in tools.iter().enumerate() {
            let f = t
                .get("function")
                .ok_or_else(|| invalid(format!("tools[{i}]"), "only function tools translate"))?;
            r.tools.push(ToolDef {
                name: text_of(
                    f.get("name").unwrap_or(&Value::Null),
                    &format!("tools[{i}].function.name"),
                )?,
                description: f
                    .get("description")
                    .and_then(|d| d.as_str())
                    .map(str::to_string),
                parameters: f
                    .get("parameters")
                    .filter(|p| p.is_object())
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            });
        }
    }
    r.tool_choice = match obj.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(invalid(
                    "tool_choice",
                    format!("must be auto, none, required or a function, not {other:?}"),
                ));
            }
        }),
        Some(c) => Some(ToolChoice::Named(text_of(
            c.pointer("/function/name").unwrap_or(&Value::Null),
            "tool_choice.function.name",
        )?)),
    };
    r.parallel_tool_calls = obj.get("parallel_tool_calls").and_then(|p| p.as_bool());
    r.user = obj.get("user").and_then(|u| u.as_str()).map(str::to_string);
    Ok(r)
}

/// An image URL as an Anthropic `source`: a `data:` URL becomes base64, any other a URL.
fn image_source(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((media_type, data)) = rest.split_once(";base64,")
    {
        return json!({"type": "base64", "media_type": media_type, "data": data});
    }
    json!({"type": "url", "url": url})
}

/// The internal request → an Anthropic Messages body. Consecutive turns of one Anthropic role
/// (tool results are user turns there) are merged into one message, as the API alternates.
pub fn to_messages_body(r: &LlmRequest) -> Value {
    let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for t in &r.turns {
        let mut blocks = Vec::new();
        let role = match t.role {
            Role::Tool => {
                let text: Vec<&str> = t
                    .content
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text(s) => Some(s.as_str()),
                        Part::Image(_) => None,
                    })
                    .collect();
                let mut b = json!({"type": "tool_result",
                    "tool_use_id": t.tool_call_id.clone().unwrap_or_default(),
                    "content": text.join("\n")});
                if t.is_error {
                    b["is_error"] = json!(true);
                }
                blocks.push(b);
                "user"
            }
            Role::Assistant => "assistant",
            Role::User | Role::System => "user",
        };
        if t.role != Role::Tool {
            blocks.extend(t.content.iter().map(|p| match p {
                Part::Text(s) => json!({"type": "text", "text": s}),
                Part::Image(u) => json!({"type": "image", "source": image_source(u)}),
            }));
        }
        for c in &t.tool_calls {
            blocks.push(
                json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}),
            );
        }
        if blocks.is_empty() {
            // The API refuses empty content; an empty turn says nothing.
            continue;
        }
        match messages.last_mut() {
            Some((last, b)) if *last == role => b.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, blocks)| match blocks.as_slice() {
            [b] if b["type"] == "text" => json!({"role": role, "content": b["text"]}),
            _ => json!({"role": role, "content": blocks}),
        })
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), json!(r.model));
    body.insert(
        "max_tokens".into(),
        json!(r.sampling.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if let Some(s) = &r.system {
        body.insert("system".into(), json!(s));
    }
    body.insert("messages".into(), Value::Array(messages));
    let s = &r.sampling;
    if let Some(t) = s.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = s.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = s.top_k {
        body.insert("top_k".into(), json!(k));
    }
    if !s.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(s.stop));
    }
    if !r.tools.is_empty() {
        let tools: Vec<Value> = r
            .tools
            .iter()
            .map(|t| {
                let mut o = json!({"name": t.name, "input_schema": t.parameters});
                if let Some(d) = &t.description {
                    o["description"] = json!(d);
                }
                o
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = r.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::None => json!({"type": "none"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Named(n) => json!({"type": "tool", "name": n}),
    });
    if r.parallel_tool_calls == Some(false) && !r.tools.is_empty() {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if c["type"] != "none" {
            c["disable_parallel_tool_use"] = json!(true);
        }
    }
    if let Some(c) = choice {
        body.insert("tool_choice".into(), c);
    }
    if r.stream {
        body.insert("stream".into(), json!(true));
    }
    if let Some(u) = &r.user {
        body.insert("metadata".into(), json!({"user_id": u}));
    }
    Value::Object(body)
}

/// The chat body of a request → the Anthropic body's bytes.
pub fn translate_request(original: &[u8], streaming: bool) -> Result<Bytes, ApiError> {
    let v: Value = serde_json::from_slice(original).map_err(|_| ApiError::MalformedJson)?;
    let body = to_messages_body(&from_chat(&v, streaming)?);
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| ApiError::InvalidBody(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Answer: Anthropic message → chat completion.

/// Anthropic `stop_reason` → chat `finish_reason`.
fn finish_reason(stop: Option<&str>) -> Option<&'static str> {
    stop.map(|s| match s {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    })
}

/// OpenAI's `usage` from Anthropic's (prompt tokens include the cache reads and writes).
fn chat_usage(u: Usage) -> Value {
    let mut v = json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                       "total_tokens": u.total()});
    if let Some(c) = u.cached_tokens {
        v["prompt_tokens_details"] = json!({"cached_tokens": c});
    }
    v
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An Anthropic `message` → a chat completion; anything else is a transformation error.
pub fn message_to_chat(m: &Value) -> Result<Value, ApiError> {
    if m.get("type").and_then(|t| t.as_str()) != Some("message") {
        return Err(ApiError::ResponseTransform(
            "the Anthropic answer is not a message".into(),
        ));
    }
    let blocks = m
        .get("content")
        .and_then(|c| c.as_array())
        .ok_or_else(|| ApiError::ResponseTransform("the message has no content array".into()))?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for b in blocks {
        match b.get("type").and_then(|t| t.as_str()) {
            Some("text") => text.push_str(b.get("text").and_then(|t| t.as_str()).unwrap_or("")),
            Some("thinking") => {
                reasoning.push_str(b.get("thinking").and_then(|t| t.as_str()).unwrap_or(""))
            }
            Some("tool_use") => {
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({"id": b.get("id").cloned().unwrap_or(Value::Null),
                    "type": "function",
                    "function": {"name": b.get("name").cloned().unwrap_or(Value::Null),
                                 "arguments": serde_json::to_string(&input).unwrap_or_default()}}));
            }
            // Redacted thinking and server-tool blocks have no chat form.
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    let finish = finish_reason(m.get("stop_reason").and_then(|s| s.as_str())).unwrap_or("stop");
    let mut chat = json!({
        "id": format!("chatcmpl-{}", m.get("id").and_then(|i| i.as_str()).unwrap_or("anthropic")),
        "object": "chat.completion",
        "created": unix_now(),
        "model": m.get("model").cloned().unwrap_or(Value::Null),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    });
    if let Some(u) = Usage::from_response(m) {
        chat["usage"] = chat_usage(u);
    }
    Ok(chat)
}

/// An upstream error body (Anthropic's shape or any text) → OpenAI's error object.
fn error_to_chat(status: StatusCode, body: &[u8]) -> Vec<u8> {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    let message = v
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    let kind = v
        .as_ref()
        .and_then(|v| v.pointer("/error/type"))
        .and_then(|t| t.as_str())
        .unwrap_or("upstream_error");
    serde_json::to_vec(
        &json!({"error": {"message": message, "type": kind, "code": status.as_u16()}}),
    )
    .unwrap_or_default()
}

/// Largest upstream error body read to translate it.
const ERROR_BODY_CAP: usize = 64 * 1024;

/// The answer of an Anthropic backend to a translated chat request, as chat.
pub async fn answer(resp: Response<RespBody>) -> Result<Response<RespBody>, ApiError> {
    let (mut head, body) = resp.into_parts();
    head.headers.remove(header::CONTENT_LENGTH);
    let sse = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if head.status.is_success() && sse {
        return Ok(Response::from_parts(
            head,
            ChatFromMessages::new(body).boxed_unsync(),
        ));
    }
    let mut bytes = Vec::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::UpstreamBody(e.to_string()))?;
        // Read to the end (the record is written when the body completes); of an error
        // body only the start is kept.
        if let Some(d) = frame.data_ref() {
            let room = if head.status.is_success() {
                d.len()
            } else {
                ERROR_BODY_CAP.saturating_sub(bytes.len())
            };
            bytes.extend_from_slice(&d[..d.len().min(room)]);
        }
    }
    let out = if head.status.is_success() {
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::ResponseTransform(format!("the answer is not JSON: {e}")))?;
        serde_json::to_vec(&message_to_chat(&v)?)
            .map_err(|e| ApiError::ResponseTransform(e.to_string()))?
    } else {
        error_to_chat(head.status, &bytes)
    };
    head.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Response::from_parts(head, full(out)))
}

// ---------------------------------------------------------------------------------------------
// Streaming: Messages SSE events → chat chunks.

/// Turns Messages events into chat completion chunks, incrementally.
pub struct FromMessages {
    id: String,
    model: Value,
    created: u64,
    /// Anthropic block index → chat tool-call index, for `tool_use` blocks.
    tools: Vec<(u64, u64)>,
    usage: Option<Usage>,
    finish: Option<&'static str>,
    done: bool,
}

impl Default for FromMessages {
    fn default() -> Self {
        Self {
            id: format!("chatcmpl-{}", hex_id()),
            model: Value::Null,
            created: unix_now(),
            tools: Vec::new(),
            usage: None,
            finish: None,
            done: false,
        }
    }
}

impl FromMessages {
    fn chunk(&self, delta: Value, finish: Option<&str>, out: &mut Vec<u8>) {
        let c = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        data_line(&c, out);
    }

    fn event(&mut self, v: &Value, out: &mut Vec<u8>) {
        if let Some(u) = crate::messages::event_usage(v) {
            self.usage = Some(crate::messages::merge_usage(self.usage, u));
        }
        match v.get("type").and_then(|t| t.as_str()) {
            Some("message_start") => {
                if let Some(m) = v.pointer("/message/model") {
                    self.model = m.clone();
                }
                self.chunk(json!({"role": "assistant", "content": ""}), None, out);
            }
            Some("content_block_start") => {
                let block = v.get("content_block").unwrap_or(&Value::Null);
                if block.get("type").and_then(|t| t.as_str()) == Some("tool_use") {
                    let index = v.get("index").and_then(|i| i.as_u64()).unwrap_or(0);
                    let call = self.tools.len() as u64;
                    self.tools.push((index, call));
                    self.chunk(
                        json!({"tool_calls": [{"index": call, "id": block.get("id"), "type": "function",
                            "function": {"name": block.get("name"), "arguments": ""}}]}),
                        None,
                        out,
                    );
                }
            }
            Some("content_block_delta") => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                let s = |k: &str| d.get(k).and_then(|t| t.as_str()).unwrap_or("");
                match d.get("type").and_then(|t| t.as_str()) {
                    Some("text_delta") => self.chunk(json!({"content": s("text")}), None, out),
                    Some("thinking_delta") => {
                        self.chunk(json!({"reasoning_content": s("thinking")}), None, out)
                    }
                    Some("input_json_delta") => {
                        let index = v.get("index").and_then(|i| i.as_u64()).unwrap_or(0);
                        if let Some((_, call)) = self.tools.iter().find(|(b, _)| *b == index) {
                            self.chunk(
                                json!({"tool_calls": [{"index": call,
                                    "function": {"arguments": s("partial_json")}}]}),
                                None,
                                out,
                            );
                        }
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                if let Some(f) =
                    finish_reason(v.pointer("/delta/stop_reason").and_then(|s| s.as_str()))
                {
                    self.finish = Some(f);
                }
            }
            Some("message_stop") => self.close(out),
            Some("error") => {
                let message = v
                    .pointer("/error/message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("upstream error");
                self.fail(message, out);
            }
            _ => {}
        }
    }

    /// The finish chunk, the usage chunk and `[DONE]`.
    fn close(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.done = true;
        self.chunk(json!({}), Some(self.finish.unwrap_or("stop")), out);
        if let Some(u) = self.usage {
            let c = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": chat_usage(u)});
            data_line(&c, out);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// A stream that cannot complete ends with an error payload, as the chat path's do.
    fn fail(&mut self, message: &str, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.done = true;
        out.extend_from_slice(&crate::sse_translate::error_event(
            false,
            "upstream_error",
            502,
            message,
        ));
    }
}

fn data_line(v: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&serde_json::to_vec(v).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
}

impl SseTranslator for FromMessages {
    fn data(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        if let Ok(v) = serde_json::from_slice::<Value>(payload) {
            self.event(&v, out);
        }
    }

    /// Ended without `message_stop`: the answer was cut.
    fn end(&mut self, out: &mut Vec<u8>) {
        self.fail(
            "the upstream stream ended before the answer was complete",
            out,
        );
    }

    fn failed(&mut self, error: &BoxError, out: &mut Vec<u8>) -> bool {
        self.fail(&format!("upstream body failed: {error}"), out);
        true
    }
}

/// Body adapter: Messages SSE in, chat SSE out.
pub type ChatFromMessages = TranslatedSse<FromMessages>;

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_request() -> Value {
        json!({"model": "c", "max_completion_tokens": 77, "temperature": 0.2, "stop": "END",
            "user": "u1", "parallel_tool_calls": false,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "and kind"}]},
                {"role": "user", "content": [{"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUFB"}}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                    {"id": "t2", "type": "function", "function": {"name": "f", "arguments": ""}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "one"},
                {"role": "tool", "tool_call_id": "t2", "content": "two"},
                {"role": "user", "content": "thanks"}],
            "tools": [{"type": "function", "function": {"name": "f", "description": "d",
                "parameters": {"type": "object"}}}],
            "tool_choice": "required"})
    }

    #[test]
    fn chat_request_becomes_an_alternating_messages_body() {
        let b = to_messages_body(&from_chat(&chat_request(), true).unwrap());
        assert_eq!(b["system"], "be brief\n\nand kind");
        assert_eq!(b["max_tokens"], 77);
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["metadata"]["user_id"], "u1");
        assert_eq!(b["stream"], true);
        assert_eq!(
            b["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(b["tools"][0]["input_schema"], json!({"type": "object"}));
        let m = b["messages"].as_array().unwrap();
        let roles: Vec<&str> = m.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(m[0]["content"][1]["source"]["type"], "base64");
        assert_eq!(m[0]["content"][1]["source"]["media_type"], "image/png");
        assert_eq!(m[1]["content"][0]["input"], json!({"a": 1}));
        assert_eq!(m[1]["content"][1]["input"], json!({}));
        // Both tool results and the following user text share one user message.
        assert_eq!(m[2]["content"][0]["type"], "tool_result");
        assert_eq!(m[2]["content"][1]["tool_use_id"], "t2");
        assert_eq!(m[2]["content"][2]["text"], "thanks");
        // The body is one our own Messages decoder accepts, turn for turn.
        let back = crate::messages::from_anthropic(&b).unwrap();
        assert_eq!(back.turns.len(), 5, "{back:?}");
        assert_eq!(back.sampling.max_tokens, Some(77));
    }

    #[test]
    fn bad_chat_input_names_the_field() {
        let mut r = chat_request();
        r["messages"][3]["tool_calls"][0]["function"]["arguments"] = json!("[1]");
        let e = from_chat(&r, false).unwrap_err().to_string();
        assert!(
            e.contains("messages[3].tool_calls[0].function.arguments"),
            "{e}"
        );
        let mut r = chat_request();
        r["messages"][0]["role"] = json!("robot");
        let e = from_chat(&r, false).unwrap_err().to_string();
        assert!(e.contains("messages[0].role"), "{e}");
        let r = json!({"model": "c", "messages": [{"role": "user", "content": 5}]});
        assert!(from_chat(&r, false).is_err());
        assert_eq!(
            to_messages_body(&from_chat(&json!({"model": "c", "messages": []}), false).unwrap())["max_tokens"],
            DEFAULT_MAX_TOKENS
        );
    }

    #[test]
    fn message_becomes_a_chat_completion() {
        let m = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "thinking", "thinking": "hm"}, {"type": "text", "text": "hi"},
                {"type": "tool_use", "id": "t", "name": "f", "input": {"x": 2}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 3}});
        let c = message_to_chat(&m).unwrap();
        assert_eq!(c["object"], "chat.completion");
        assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(c["choices"][0]["message"]["content"], "hi");
        assert_eq!(c["choices"][0]["message"]["reasoning_content"], "hm");
        assert_eq!(
            c["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"x\":2}"
        );
        assert_eq!(c["usage"]["prompt_tokens"], 15);
        assert_eq!(c["usage"]["prompt_tokens_details"]["cached_tokens"], 5);
        assert_eq!(c["usage"]["completion_tokens"], 3);
        assert!(message_to_chat(&json!({"type": "error"})).is_err());
        assert!(message_to_chat(&json!({"type": "message"})).is_err());
    }

    fn run(events: &[Value]) -> Vec<Value> {
        let mut tr = FromMessages::default();
        let mut out = Vec::new();
        for e in events {
            tr.data(&serde_json::to_vec(e).unwrap(), &mut out);
        }
        tr.end(&mut out);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|p| serde_json::from_str(p).unwrap_or(json!("[DONE]")))
            .collect()
    }

    #[test]
    fn events_become_chunks_with_tool_calls_usage_and_done() {
        let out = run(&[
            json!({"type": "message_start", "message": {"model": "claude", "usage": {"input_tokens": 9, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "he"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "y"}}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "f"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\""}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ":1}"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}),
            json!({"type": "message_stop"}),
        ]);
        let text: String = out
            .iter()
            .filter_map(|c| c.pointer("/choices/0/delta/content")?.as_str())
            .collect();
        assert_eq!(text, "hey");
        let args: String = out
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/tool_calls/0/function/arguments")?
                    .as_str()
            })
            .collect();
        assert_eq!(args, "{\"a\":1}");
        let n = out.len();
        assert_eq!(out[n - 3]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(out[n - 2]["usage"]["prompt_tokens"], 9);
        assert_eq!(out[n - 2]["usage"]["completion_tokens"], 7);
        assert_eq!(out[n - 1], "[DONE]");
        assert!(out.iter().all(|c| c["model"] == "claude" || c == "[DONE]"));
    }

    #[test]
    fn a_cut_or_failed_stream_ends_with_an_error_and_no_done() {
        let out = run(&[
            json!({"type": "message_start", "message": {"model": "claude"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "he"}}),
        ]);
        assert!(
            out.last().unwrap()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ended before")
        );
        assert!(!out.iter().any(|c| c == "[DONE]"));
        let out = run(&[
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
        ]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["error"]["message"], "busy");
    }
}
