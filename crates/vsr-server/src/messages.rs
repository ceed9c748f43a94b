//! `POST /v1/messages`, the Anthropic Messages API. The body is decoded once into the
//! internal [`LlmRequest`] and routed like a chat request (auto names, entrypoints, explicit
//! aliases). An alias with `api_format: anthropic` gets the client's body untranslated (only
//! `model` rewritten); any other alias gets the OpenAI chat translation, and its answer is
//! translated back: a `message` object, or the Messages SSE events when streaming. Errors on
//! this path are Anthropic's shape, `{"type":"error","error":{"type","message"}}`.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};

use crate::body::{BoxError, RespBody, full};
use crate::error::ApiError;
use crate::proxy::{self, ChatRequest, Flavor};
use crate::record::Usage;
use crate::request::{LlmRequest, Part, Role, Sampling, ToolCall, ToolChoice, ToolDef, Turn};
use crate::rewrite::RawObject;
use crate::settings::{ApiFormat, ModelSettings};
use crate::sse_translate::{SseTranslator, TranslatedSse};
use crate::state::Shared;
use crate::util::hex_id;

/// The client's Anthropic body, kept for an alias that speaks the Messages API itself.
pub struct NativeBody {
    pub fields: RawObject,
    pub original: Bytes,
}

/// Marks an answer that came from an Anthropic-protocol backend (passed through as is).
#[derive(Debug, Clone, Copy)]
pub struct NativeAnswer;

/// What goes to the chosen alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamApi {
    /// An OpenAI-compatible alias: the chat body.
    Chat,
    /// An `api_format: anthropic` alias asked on `/v1/messages`: the client's own body.
    Native,
    /// An `api_format: anthropic` alias asked on chat or Responses: the chat body translated
    /// into a Messages request, the answer translated back (`crate::anthropic_upstream`).
    Translated,
}

impl UpstreamApi {
    /// The upstream body is in Anthropic's shape.
    pub fn is_anthropic(self) -> bool {
        self != UpstreamApi::Chat
    }
}

/// Puts the body the chosen alias speaks into `req`: unchanged for an OpenAI-compatible alias;
/// for an Anthropic one the client's own Anthropic body (only `model` will be rewritten), or
/// the chat body translated into a Messages request.
pub fn use_native(req: &mut ChatRequest, model: &ModelSettings) -> Result<UpstreamApi, ApiError> {
    if model.api_format != Some(ApiFormat::Anthropic) {
        return Ok(UpstreamApi::Chat);
    }
    if let Some(native) = req.native.take() {
        req.fields = native.fields;
        req.original = native.original;
        return Ok(UpstreamApi::Native);
    }
    let body = crate::anthropic_upstream::translate_request(&req.original, req.streaming)?;
    req.fields = serde_json::from_slice(&body).map_err(|_| ApiError::MalformedJson)?;
    req.original = body;
    Ok(UpstreamApi::Translated)
}

/// Largest upstream error body read to translate it.
const ERROR_BODY_CAP: usize = 64 * 1024;

/// The whole endpoint: every failure comes back in Anthropic's error shape.
pub async fn handle(
    shared: &Arc<Shared>,
    parts: &http::request::Parts,
    body: Bytes,
) -> Response<RespBody> {
    match route(shared, parts, body).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn route(
    shared: &Arc<Shared>,
    parts: &http::request::Parts,
    body: Bytes,
) -> Result<Response<RespBody>, ApiError> {
    let (llm, fields) = decode(&body)?;
    let chat_body = serde_json::to_vec(&llm.to_chat_body())
        .map_err(|e| ApiError::InvalidBody(e.to_string()))?;
    let mut chat = proxy::parse_chat(Bytes::from(chat_body), &parts.headers)?;
    chat.view = Some(llm.view());
    chat.native = Some(NativeBody {
        fields,
        original: body,
    });
    let streaming = chat.streaming;
    let resp = proxy::handle_chat(shared, &parts.headers, chat, Flavor::Messages).await?;
    if resp.extensions().get::<NativeAnswer>().is_some()
        || resp.headers().contains_key("x-vsr-fast-response")
    {
        return Ok(resp);
    }
    let (mut head, body) = resp.into_parts();
    head.headers.remove(header::CONTENT_LENGTH);
    if !head.status.is_success() {
        let bytes = collect_capped(body, ERROR_BODY_CAP).await;
        let message = upstream_error_message(&bytes);
        let out = error_json(head.status, &message);
        head.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(Response::from_parts(head, full(out)));
    }
    if streaming {
        head.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        let out = MessagesStream::new(body);
        return Ok(Response::from_parts(head, out.boxed_unsync()));
    }
    let collected = body
        .collect()
        .await
        .map_err(|e| ApiError::UpstreamBody(e.to_string()))?
        .to_bytes();
    let chat_json: Value = serde_json::from_slice(&collected)
        .map_err(|e| ApiError::ResponseTransform(e.to_string()))?;
    let out = serde_json::to_vec(&chat_to_message(&chat_json)?)
        .map_err(|e| ApiError::ResponseTransform(e.to_string()))?;
    head.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Response::from_parts(head, full(out)))
}

async fn collect_capped(mut body: RespBody, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(d) = frame.data_ref() {
            let room = cap.saturating_sub(out.len());
            out.extend_from_slice(&d[..d.len().min(room)]);
            if out.len() >= cap {
                break;
            }
        }
    }
    out
}

/// The message of an upstream error body (OpenAI's or Anthropic's shape, or its text).
fn upstream_error_message(body: &[u8]) -> String {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    v.as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .and_then(|m| m.as_str())
        })
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

/// Anthropic's error `type` for an HTTP status.
pub fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 405 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        503 | 529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

fn error_value(status: StatusCode, message: &str) -> Value {
    json!({"type": "error", "error": {"type": error_type(status), "message": message}})
}

fn error_json(status: StatusCode, message: &str) -> Vec<u8> {
    serde_json::to_vec(&error_value(status, message)).unwrap_or_default()
}

/// A router error in Anthropic's shape, with the same status as on the chat path.
pub fn error_response(e: &ApiError) -> Response<RespBody> {
    let status = e.status();
    let mut resp = Response::new(full(error_json(status, &e.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if matches!(e, ApiError::RateLimited) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// Request: Anthropic → LlmRequest.

fn invalid(at: impl std::fmt::Display, what: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidBody(format!("{at}: {what}"))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_at(v: &Value, at: &str) -> Result<String, ApiError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(at, format!("must be a string, not {}", type_name(v))))
}

fn number_at(v: &Value, at: &str) -> Result<f64, ApiError> {
    v.as_f64()
        .ok_or_else(|| invalid(at, format!("must be a number, not {}", type_name(v))))
}

fn count_at(v: &Value, at: &str) -> Result<u64, ApiError> {
    v.as_u64()
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid(at, "must be a positive integer"))
}

fn object_at<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object()
        .ok_or_else(|| invalid(at, format!("must be an object, not {}", type_name(v))))
}

/// Decodes a Messages request: the typed request, and the top-level fields kept raw for an
/// Anthropic-protocol backend.
pub fn decode(body: &[u8]) -> Result<(LlmRequest, RawObject), ApiError> {
    let fields: RawObject = serde_json::from_slice(body).map_err(|_| ApiError::MalformedJson)?;
    let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::MalformedJson)?;
    Ok((from_anthropic(&v)?, fields))
}

/// An Anthropic Messages body → the internal request. Every field the translation cannot
/// carry faithfully is refused with a message naming it (never silently dropped), except
/// `thinking` blocks of earlier assistant turns, which chat has no place for.
pub fn from_anthropic(v: &Value) -> Result<LlmRequest, ApiError> {
    let obj = v.as_object().ok_or(ApiError::MalformedJson)?;
    let model = match obj.get("model") {
        None => return Err(ApiError::MissingModel),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::ModelNotString),
    };
    let mut r = LlmRequest::new(model);
    let max_tokens = obj
        .get("max_tokens")
        .ok_or_else(|| invalid("max_tokens", "field required"))?;
    r.sampling = Sampling {
        max_tokens: Some(count_at(max_tokens, "max_tokens")?),
        temperature: obj
            .get("temperature")
            .map(|t| number_at(t, "temperature"))
            .transpose()?,
        top_p: obj
            .get("top_p")
            .map(|t| number_at(t, "top_p"))
            .transpose()?,
        top_k: obj.get("top_k").map(|t| count_at(t, "top_k")).transpose()?,
        stop: match obj.get("stop_sequences") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| string_at(s, &format!("stop_sequences[{i}]")))
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(invalid(
                    "stop_sequences",
                    format!("must be an array of strings, not {}", type_name(other)),
                ));
            }
        },
    };
    r.stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(invalid(
                "stream",
                format!("must be a boolean, not {}", type_name(other)),
            ));
        }
    };
    if let Some(m) = obj.get("metadata").filter(|m| !m.is_null()) {
        let m = object_at(m, "metadata")?;
        if let Some(u) = m.get("user_id").filter(|u| !u.is_null()) {
            r.user = Some(string_at(u, "metadata.user_id")?);
        }
    }
    r.system = match obj.get("system") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::new();
            for (i, b) in blocks.iter().enumerate() {
                let at = format!("system[{i}]");
                let b = object_at(b, &at)?;
                match b.get("type").and_then(|t| t.as_str()) {
                    Some("text") => texts.push(string_at(
                        b.get("text").unwrap_or(&Value::Null),
                        &format!("{at}.text"),
                    )?),
                    other => {
                        return Err(invalid(
                            format!("{at}.type"),
                            format!("system blocks must be `text`, not {other:?}"),
                        ));
                    }
                }
            }
            Some(texts.join("\n"))
        }
        Some(other) => {
            return Err(invalid(
                "system",
                format!(
                    "must be a string or an array of text blocks, not {}",
                    type_name(other)
                ),
            ));
        }
    };
    let messages = match obj.get("messages") {
        None => return Err(ApiError::MissingMessages),
        Some(Value::Array(m)) => m,
        Some(_) => return Err(ApiError::MessagesNotArray),
    };
    if messages.is_empty() {
        return Err(invalid("messages", "at least one message is required"));
    }
    for (i, m) in messages.iter().enumerate() {
        decode_message(m, i, &mut r.turns)?;
    }
    if let Some(tools) = obj.get("tools").filter(|t| !t.is_null()) {
        let tools = tools
            .as_array()
            .ok_or_else(|| invalid("tools", "must be an array"))?;
        for (i, t) in tools.iter().enumerate() {
            r.tools.push(decode_tool(t, i)?);
        }
    }
    if let Some(c) = obj.get("tool_choice").filter(|c| !c.is_null()) {
        let c = object_at(c, "tool_choice")?;
        r.tool_choice = Some(match c.get("type").and_then(|t| t.as_str()) {
            Some("auto") => ToolChoice::Auto,
            Some("any") => ToolChoice::Required,
            Some("none") => ToolChoice::None,
            Some("tool") => ToolChoice::Named(string_at(
                c.get("name").unwrap_or(&Value::Null),
                "tool_choice.name",
            )?),
            other => {
                return Err(invalid(
                    "tool_choice.type",
                    format!("must be auto, any, tool or none, not {other:?}"),
                ));
            }
        });
        if c.get("disable_parallel_tool_use") == Some(&Value::Bool(true)) {
            r.parallel_tool_calls = Some(false);
        }
    }
    Ok(r)
}

fn decode_tool(t: &Value, i: usize) -> Result<ToolDef, ApiError> {
    let at = format!("tools[{i}]");
    let o = object_at(t, &at)?;
    if let Some(kind) = o.get("type").and_then(|k| k.as_str())
        && kind != "custom"
    {
        return Err(invalid(
            format!("{at}.type"),
            format!("server tool `{kind}` cannot be translated for this backend"),
        ));
    }
    let name = string_at(o.get("name").unwrap_or(&Value::Null), &format!("{at}.name"))?;
    let schema = o
        .get("input_schema")
        .ok_or_else(|| invalid(format!("{at}.input_schema"), "field required"))?;
    object_at(schema, &format!("{at}.input_schema"))?;
    let description = match o.get("description") {
        None | Some(Value::Null) => None,
        Some(d) => Some(string_at(d, &format!("{at}.description"))?),
    };
    Ok(ToolDef {
        name,
        description,
        parameters: schema.clone(),
    })
}

/// An image block's `source` as a URL (`data:` for base64).
fn image_url(b: &Map<String, Value>, at: &str) -> Result<String, ApiError> {
    let src = object_at(
        b.get("source").unwrap_or(&Value::Null),
        &format!("{at}.source"),
    )?;
    let field = |k: &str| {
        string_at(
            src.get(k).unwrap_or(&Value::Null),
            &format!("{at}.source.{k}"),
        )
    };
    match src.get("type").and_then(|t| t.as_str()) {
        Some("base64") => Ok(format!(
            "data:{};base64,{}",
            field("media_type")?,
            field("data")?
        )),
        Some("url") => field("url"),
        other => Err(invalid(
            format!("{at}.source.type"),
            format!("must be base64 or url, not {other:?}"),
        )),
    }
}

fn decode_message(m: &Value, i: usize, turns: &mut Vec<Turn>) -> Result<(), ApiError> {
    let at = format!("messages[{i}]");
    let o = object_at(m, &at)?;
    let role = match o.get("role").and_then(|r| r.as_str()) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        other => {
            return Err(invalid(
                format!("{at}.role"),
                format!("must be `user` or `assistant`, not {other:?}"),
            ));
        }
    };
    let blocks = match o.get("content") {
        Some(Value::String(s)) => {
            turns.push(Turn::new(role, vec![Part::Text(s.clone())]));
            return Ok(());
        }
        Some(Value::Array(b)) => b,
        other => {
            return Err(invalid(
                format!("{at}.content"),
                format!(
                    "must be a string or an array of content blocks, not {}",
                    other.map_or("missing", type_name)
                ),
            ));
        }
    };
    let mut turn = Turn::new(role, Vec::new());
    // Tool results become `tool` turns, placed before the user's other content (they answer
    // the previous assistant turn's calls).
    let mut results = Vec::new();
    for (j, b) in blocks.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        let b = object_at(b, &at)?;
        let kind = b.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let text_of = |b: &Map<String, Value>| {
            string_at(b.get("text").unwrap_or(&Value::Null), &format!("{at}.text"))
        };
        match (kind, role) {
            ("text", _) => turn.content.push(Part::Text(text_of(b)?)),
            ("image", Role::User) => turn.content.push(Part::Image(image_url(b, &at)?)),
            ("tool_use", Role::Assistant) => {
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                object_at(&input, &format!("{at}.input"))?;
                turn.tool_calls.push(ToolCall {
                    id: string_at(b.get("id").unwrap_or(&Value::Null), &format!("{at}.id"))?,
                    name: string_at(b.get("name").unwrap_or(&Value::Null), &format!("{at}.name"))?,
                    arguments: input,
                });
            }
            ("tool_result", Role::User) => {
                let id = string_at(
                    b.get("tool_use_id").unwrap_or(&Value::Null),
                    &format!("{at}.tool_use_id"),
                )?;
                let content = match b.get("content") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::String(s)) => vec![Part::Text(s.clone())],
                    Some(Value::Array(inner)) => {
                        let mut parts = Vec::new();
                        for (k, p) in inner.iter().enumerate() {
                            let pat = format!("{at}.content[{k}]");
                            let p = object_at(p, &pat)?;
                            match p.get("type").and_then(|t| t.as_str()) {
                                Some("text") => parts.push(Part::Text(string_at(
                                    p.get("text").unwrap_or(&Value::Null),
                                    &format!("{pat}.text"),
                                )?)),
                                Some("image") => parts.push(Part::Image(image_url(p, &pat)?)),
                                other => {
                                    return Err(invalid(
                                        format!("{pat}.type"),
                                        format!(
                                            "tool results hold text or image blocks, not {other:?}"
                                        ),
                                    ));
                                }
                            }
                        }
                        parts
                    }
                    Some(other) => {
                        return Err(invalid(
                            format!("{at}.content"),
                            format!(
                                "must be a string or an array of blocks, not {}",
                                type_name(other)
                            ),
                        ));
                    }
                };
                let mut t = Turn::new(Role::Tool, content);
                t.tool_call_id = Some(id);
                t.is_error = b.get("is_error") == Some(&Value::Bool(true));
                results.push(t);
            }
            // Earlier reasoning has no place in a chat request; the model does not need it.
            ("thinking" | "redacted_thinking", Role::Assistant) => {}
            ("image" | "tool_result", Role::Assistant) | ("tool_use", Role::User) => {
                return Err(invalid(
                    format!("{at}.type"),
                    format!(
                        "`{kind}` blocks are not allowed in {} messages",
                        role.as_str()
                    ),
                ));
            }
            _ => {
                return Err(invalid(
                    format!("{at}.type"),
                    format!("content block type {kind:?} is not supported"),
                ));
            }
        }
    }
    turns.extend(results);
    if !turn.content.is_empty() || !turn.tool_calls.is_empty() || blocks.is_empty() {
        turns.push(turn);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Answer: chat completion → Anthropic message.

/// Chat `finish_reason` → Anthropic `stop_reason` (with the matched stop sequence, which vLLM
/// reports as the choice's `stop_reason`).
fn stop_reason(finish: Option<&str>, matched: Option<&str>) -> (&'static str, Option<String>) {
    match finish {
        Some("length") => ("max_tokens", None),
        Some("tool_calls" | "function_call") => ("tool_use", None),
        Some("content_filter") => ("refusal", None),
        Some("stop") if matched.is_some() => ("stop_sequence", matched.map(str::to_string)),
        _ => ("end_turn", None),
    }
}

/// Anthropic's `usage` from the chat completion's (zeros when the backend sent none).
fn usage_json(u: Option<Usage>) -> Value {
    let u = u.unwrap_or_default();
    let cached = u.cached_tokens.unwrap_or(0);
    let mut v = json!({"input_tokens": u.prompt_tokens.saturating_sub(cached),
                       "output_tokens": u.completion_tokens});
    if cached > 0 {
        v["cache_read_input_tokens"] = json!(cached);
    }
    v
}

fn message_shell(
    id: &str,
    model: &str,
    content: Value,
    stop: Option<(&str, Option<String>)>,
    usage: Value,
) -> Value {
    let (reason, seq) = match stop {
        Some((r, s)) => (json!(r), json!(s)),
        None => (Value::Null, Value::Null),
    };
    json!({"id": id, "type": "message", "role": "assistant", "model": model, "content": content,
           "stop_reason": reason, "stop_sequence": seq, "usage": usage})
}

/// A chat completion → an Anthropic `message`. Tool-call arguments that are not a JSON object
/// are a transformation error (502), as Anthropic's `input` must be one.
pub fn chat_to_message(chat: &Value) -> Result<Value, ApiError> {
    let choice = chat.pointer("/choices/0");
    let msg = choice.and_then(|c| c.get("message"));
    let mut content = Vec::new();
    if let Some(t) = msg
        .and_then(|m| m.get("content"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
    {
        content.push(json!({"type": "text", "text": t}));
    }
    if let Some(calls) = msg
        .and_then(|m| m.get("tool_calls"))
        .and_then(|c| c.as_array())
    {
        for c in calls {
            let args = c
                .pointer("/function/arguments")
                .and_then(|a| a.as_str())
                .unwrap_or("{}");
            let args = if args.trim().is_empty() { "{}" } else { args };
            let input: Value = serde_json::from_str(args).map_err(|e| {
                ApiError::ResponseTransform(format!("tool call arguments are not JSON: {e}"))
            })?;
            if !input.is_object() {
                return Err(ApiError::ResponseTransform(
                    "tool call arguments are not a JSON object".into(),
                ));
            }
            content.push(json!({
                "type": "tool_use",
                "id": c.get("id").and_then(|i| i.as_str()).map_or_else(|| format!("toolu_{}", hex_id()), str::to_string),
                "name": c.pointer("/function/name").and_then(|n| n.as_str()).unwrap_or(""),
                "input": input,
            }));
        }
    }
    let stop = stop_reason(
        choice
            .and_then(|c| c.get("finish_reason"))
            .and_then(|f| f.as_str()),
        choice
            .and_then(|c| c.get("stop_reason"))
            .and_then(|s| s.as_str()),
    );
    Ok(message_shell(
        &format!("msg_{}", hex_id()),
        chat.get("model").and_then(|m| m.as_str()).unwrap_or(""),
        Value::Array(content),
        Some(stop),
        usage_json(Usage::from_response(chat)),
    ))
}

// ---------------------------------------------------------------------------------------------
// Streaming: chat SSE → Messages SSE events.

fn event(out: &mut Vec<u8>, data: &Value) {
    let kind = data.get("type").and_then(|t| t.as_str()).unwrap_or("");
    out.extend_from_slice(format!("event: {kind}\ndata: ").as_bytes());
    out.extend_from_slice(&serde_json::to_vec(data).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
}

/// The content block being streamed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    Text,
    /// A tool call, by its chat `tool_calls[].index`.
    Tool(u64),
}

/// Turns chat completion chunks into Messages events, incrementally.
pub struct Translator {
    id: String,
    model: String,
    started: bool,
    finished: bool,
    /// The open block and its Anthropic index.
    open: Option<(Open, usize)>,
    next_index: usize,
    stop: Option<(&'static str, Option<String>)>,
    usage: Option<Usage>,
}

impl Default for Translator {
    fn default() -> Self {
        Self {
            id: format!("msg_{}", hex_id()),
            model: String::new(),
            started: false,
            finished: false,
            open: None,
            next_index: 0,
            stop: None,
            usage: None,
        }
    }
}

impl Translator {
    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = message_shell(
            &self.id,
            &self.model,
            json!([]),
            None,
            json!({"input_tokens": 0, "output_tokens": 0}),
        );
        event(out, &json!({"type": "message_start", "message": message}));
        event(out, &json!({"type": "ping"}));
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some((_, index)) = self.open.take() {
            event(out, &json!({"type": "content_block_stop", "index": index}));
        }
    }

    fn open(&mut self, kind: Open, block: Value, out: &mut Vec<u8>) -> usize {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((kind, index));
        event(
            out,
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        index
    }

    fn chunk(&mut self, v: &Value, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        if let Some(e) = v.get("error") {
            let message = e
                .get("message")
                .and_then(|m| m.as_str())
                .map_or_else(|| e.to_string(), str::to_string);
            self.fail(&message, out);
            return;
        }
        if self.model.is_empty()
            && let Some(m) = v.get("model").and_then(|m| m.as_str())
        {
            self.model = m.to_string();
        }
        self.start(out);
        if let Some(u) = Usage::from_response(v) {
            self.usage = Some(u);
        }
        let Some(choice) = v.pointer("/choices/0") else {
            return;
        };
        let delta = choice.get("delta");
        if let Some(t) = delta
            .and_then(|d| d.get("content"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
        {
            let index = match self.open {
                Some((Open::Text, i)) => i,
                _ => self.open(Open::Text, json!({"type": "text", "text": ""}), out),
            };
            event(
                out,
                &json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": t}}),
            );
        }
        if let Some(calls) = delta
            .and_then(|d| d.get("tool_calls"))
            .and_then(|c| c.as_array())
        {
            for c in calls {
                let k = c.get("index").and_then(|i| i.as_u64()).unwrap_or(0);
                let index = match self.open {
                    Some((Open::Tool(open), i)) if open == k => i,
                    _ => {
                        let id = c
                            .get("id")
                            .and_then(|i| i.as_str())
                            .map_or_else(|| format!("toolu_{}", hex_id()), str::to_string);
                        let name = c
                            .pointer("/function/name")
                            .and_then(|n| n.as_str())
                            .unwrap_or("");
                        self.open(
                            Open::Tool(k),
                            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                            out,
                        )
                    }
                };
                if let Some(args) = c
                    .pointer("/function/arguments")
                    .and_then(|a| a.as_str())
                    .filter(|a| !a.is_empty())
                {
                    event(
                        out,
                        &json!({"type": "content_block_delta", "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": args}}),
                    );
                }
            }
        }
        if let Some(f) = choice.get("finish_reason").and_then(|f| f.as_str()) {
            self.stop = Some(stop_reason(
                Some(f),
                choice.get("stop_reason").and_then(|s| s.as_str()),
            ));
        }
    }

    /// Ends the message normally (`[DONE]`, or the end of a stream that gave a finish reason).
    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.start(out);
        self.close(out);
        self.finished = true;
        let (reason, seq) = self.stop.clone().unwrap_or(("end_turn", None));
        let mut usage = usage_json(self.usage);
        if self.usage.is_none() {
            usage = json!({"output_tokens": 0});
        }
        event(
            out,
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": seq}, "usage": usage}),
        );
        event(out, &json!({"type": "message_stop"}));
    }

    /// Ends the stream with an `error` event (the upstream failed mid-answer).
    fn fail(&mut self, message: &str, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        event(out, &error_value(StatusCode::BAD_GATEWAY, message));
    }
}

/// Body adapter: chat SSE in, Messages SSE out.
pub type MessagesStream = TranslatedSse<Translator>;

impl SseTranslator for Translator {
    fn data(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        if payload == b"[DONE]" {
            self.finish(out);
        } else if let Ok(v) = serde_json::from_slice::<Value>(payload) {
            self.chunk(&v, out);
        }
    }

    /// A stream that gave its finish reason is complete; one that did not was cut.
    fn end(&mut self, out: &mut Vec<u8>) {
        if self.stop.is_some() {
            self.finish(out);
        } else {
            self.start(out);
            self.fail(
                "the upstream stream ended before the answer was complete",
                out,
            );
        }
    }

    /// The client gets Anthropic's `error` event instead of a cut connection.
    fn failed(&mut self, error: &BoxError, out: &mut Vec<u8>) -> bool {
        self.start(out);
        self.fail(&format!("upstream body failed: {error}"), out);
        true
    }
}

/// A router-made answer (`fast_response`) as a message, or its events when streaming.
pub fn fast_answer(completion: &Value, streaming: bool) -> (Vec<u8>, &'static str) {
    let message = chat_to_message(completion).unwrap_or_else(|_| json!({}));
    if !streaming {
        return (
            serde_json::to_vec(&message).unwrap_or_default(),
            "application/json",
        );
    }
    let mut tr = Translator {
        model: message
            .get("model")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string(),
        ..Translator::default()
    };
    let mut out = Vec::new();
    let text = completion
        .pointer("/choices/0/message/content")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    tr.chunk(
        &json!({"choices": [{"delta": {"content": text}, "finish_reason": "stop"}]}),
        &mut out,
    );
    tr.finish(&mut out);
    (out, "text/event-stream")
}

/// Usage reported in a Messages stream event: `message_start` carries it under `message`,
/// `message_delta` at the top (read by `vsr_config::Usage`, which knows Anthropic's names).
pub fn event_usage(v: &Value) -> Option<Usage> {
    Usage::from_response(v).or_else(|| v.pointer("/message/usage").and_then(Usage::from_usage))
}

/// Combines usage reports of one stream: a later report's zero counts keep the earlier ones
/// (Anthropic reports input tokens at the start and output tokens at the end).
pub fn merge_usage(earlier: Option<Usage>, later: Usage) -> Usage {
    match earlier {
        None => later,
        Some(e) => Usage {
            prompt_tokens: if later.prompt_tokens > 0 {
                later.prompt_tokens
            } else {
                e.prompt_tokens
            },
            completion_tokens: if later.completion_tokens > 0 {
                later.completion_tokens
            } else {
                e.completion_tokens
            },
            cached_tokens: later.cached_tokens.or(e.cached_tokens),
            cache_write_tokens: later.cache_write_tokens.or(e.cache_write_tokens),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: Value) -> LlmRequest {
        from_anthropic(&v).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(v: Value) -> String {
        from_anthropic(&v).unwrap_err().to_string()
    }

    #[test]
    fn request_translation_covers_blocks_tools_and_parameters() {
        let r = ok(json!({
            "model": "MoM", "max_tokens": 64, "temperature": 0.2, "top_p": 0.9, "top_k": 5,
            "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "u1"},
            "system": [{"type": "text", "text": "be brief"}, {"type": "text", "text": "be kind"}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "weather?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "checking"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
                    {"type": "text", "text": "thanks"}]}
            ],
            "tools": [{"name": "get_weather", "description": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
        }));
        let c = r.to_chat_body();
        assert_eq!(
            c["messages"][0],
            json!({"role": "system", "content": "be brief\nbe kind"})
        );
        assert_eq!(
            c["messages"][1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AA"
        );
        assert_eq!(c["messages"][2]["content"], "checking");
        assert_eq!(
            c["messages"][2]["tool_calls"][0],
            json!({"id": "toolu_1", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}})
        );
        assert_eq!(
            c["messages"][3],
            json!({"role": "tool", "content": "sunny", "tool_call_id": "toolu_1"})
        );
        assert_eq!(
            c["messages"][4],
            json!({"role": "user", "content": "thanks"})
        );
        assert_eq!(c["tools"][0]["function"]["parameters"]["type"], "object");
        assert_eq!(c["tool_choice"], "required");
        assert_eq!(c["parallel_tool_calls"], false);
        assert_eq!(c["max_tokens"], 64);
        assert_eq!(c["top_k"], 5);
        assert_eq!(c["stop"], json!(["END"]));
        assert_eq!(c["user"], "u1");
        assert_eq!(c["stream"], true);
        assert_eq!(r.view().text, "thanks");
    }

    #[test]
    fn bad_requests_name_the_field() {
        let base = || json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            b
        };
        assert!(err(json!({"max_tokens": 1, "messages": []})).contains("model"));
        assert!(err(json!({"model": "m", "messages": []})).contains("max_tokens: field required"));
        assert!(err(with("max_tokens", json!(0))).contains("positive integer"));
        assert!(err(with("messages", json!([]))).contains("at least one message"));
        assert!(err(with("messages", json!("hi"))).contains("must be an array"));
        assert!(
            err(with(
                "messages",
                json!([{"role": "system", "content": "x"}])
            ))
            .contains("messages[0].role")
        );
        assert!(
            err(with(
                "messages",
                json!([{"role": "user", "content": [{"type": "video"}]}])
            ))
            .contains("messages[0].content[0].type")
        );
        assert!(
            err(with("messages", json!([{"role": "user", "content": [{"type": "tool_use", "id": "x", "name": "n", "input": {}}]}])))
                .contains("not allowed in user messages")
        );
        assert!(
            err(with("messages", json!([{"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}])))
                .contains("source.type")
        );
        assert!(err(with("system", json!(5))).contains("system"));
        assert!(err(with("tools", json!([{"name": "t"}]))).contains("tools[0].input_schema"));
        assert!(
            err(with(
                "tools",
                json!([{"type": "web_search_20250305", "name": "web_search"}])
            ))
            .contains("server tool")
        );
        assert!(err(with("tool_choice", json!({"type": "maybe"}))).contains("tool_choice.type"));
        assert!(err(with("temperature", json!("hot"))).contains("temperature"));
        assert!(err(with("stop_sequences", json!("END"))).contains("stop_sequences"));
        assert!(err(with("stream", json!("yes"))).contains("stream"));
        assert!(err(with("metadata", json!({"user_id": 3}))).contains("metadata.user_id"));
        assert!(matches!(decode(b"{nope"), Err(ApiError::MalformedJson)));
        assert!(matches!(decode(b"[1]"), Err(ApiError::MalformedJson)));
    }

    #[test]
    fn errors_have_anthropic_types() {
        let v: Value = serde_json::from_slice(&error_json(StatusCode::BAD_REQUEST, "bad")).unwrap();
        assert_eq!(
            v,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}})
        );
        assert_eq!(error_type(StatusCode::NOT_FOUND), "not_found_error");
        assert_eq!(
            error_type(StatusCode::TOO_MANY_REQUESTS),
            "rate_limit_error"
        );
        assert_eq!(error_type(StatusCode::BAD_GATEWAY), "api_error");
        assert_eq!(
            error_type(StatusCode::SERVICE_UNAVAILABLE),
            "overloaded_error"
        );
        assert_eq!(
            upstream_error_message(br#"{"error":{"message":"boom","type":"x"}}"#),
            "boom"
        );
        assert_eq!(upstream_error_message(b"plain text"), "plain text");
    }

    #[test]
    fn answer_translation_with_tool_calls_and_usage() {
        let chat = json!({"model": "m", "choices": [{"finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "let me check",
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 3}}});
        let m = chat_to_message(&chat).unwrap();
        assert_eq!(m["type"], "message");
        assert_eq!(
            m["content"][0],
            json!({"type": "text", "text": "let me check"})
        );
        assert_eq!(
            m["content"][1],
            json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}})
        );
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(
            m["usage"],
            json!({"input_tokens": 7, "output_tokens": 4, "cache_read_input_tokens": 3})
        );
        let stop = json!({"choices": [{"finish_reason": "stop", "stop_reason": "END", "message": {"content": "x"}}]});
        let m = chat_to_message(&stop).unwrap();
        assert_eq!(
            (m["stop_reason"].as_str(), m["stop_sequence"].as_str()),
            (Some("stop_sequence"), Some("END"))
        );
        let length = json!({"choices": [{"finish_reason": "length", "message": {"content": "x"}}]});
        assert_eq!(
            chat_to_message(&length).unwrap()["stop_reason"],
            "max_tokens"
        );
        let bad = json!({"choices": [{"finish_reason": "tool_calls", "message": {"tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": "{not json"}}]}}]});
        assert!(matches!(
            chat_to_message(&bad),
            Err(ApiError::ResponseTransform(_))
        ));
    }

    fn events(s: &str) -> Vec<Value> {
        s.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn stream_translation_emits_text_and_tool_blocks_in_order() {
        let mut s = MessagesStream::new(full(Bytes::new()));
        let chunks = [
            r#"{"model":"m","choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"delta":{"content":"let me"}}]}"#,
            r#"{"choices":[{"delta":{"content":" check"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":5}}"#,
        ];
        let mut wire = String::new();
        for c in chunks {
            wire.push_str(&format!("data: {c}\n\n"));
        }
        wire.push_str("data: [DONE]\n\n");
        // Split mid-line to exercise the line buffer.
        let (a, b) = wire.split_at(wire.len() / 2);
        let out = [s.feed(a.as_bytes()), s.feed(b.as_bytes()), s.end()].concat();
        let text = String::from_utf8(out).unwrap();
        let ev = events(&text);
        let kinds: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(ev[0]["message"]["model"], "m");
        assert_eq!(ev[6]["content_block"]["name"], "get_weather");
        assert_eq!(ev[6]["index"], 1);
        let json: String = ev[7..9]
            .iter()
            .map(|e| e["delta"]["partial_json"].as_str().unwrap())
            .collect();
        assert_eq!(json, "{\"city\":\"Oslo\"}");
        assert_eq!(ev[10]["delta"]["stop_reason"], "tool_use");
        assert_eq!(ev[10]["usage"]["output_tokens"], 5);
        assert_eq!(ev[10]["usage"]["input_tokens"], 9);
        // Every event line names its type.
        assert_eq!(text.matches("event: ").count(), ev.len());
    }

    #[test]
    fn a_cut_stream_ends_with_an_error_event() {
        let mut s = MessagesStream::new(full(Bytes::new()));
        let a = s.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"he\"}}]}\n\n");
        let out = String::from_utf8([a, s.end()].concat()).unwrap();
        let ev = events(&out);
        let last = ev.last().unwrap();
        assert_eq!(last["type"], "error");
        assert_eq!(last["error"]["type"], "api_error");
        assert!(!out.contains("message_stop"));
    }

    #[test]
    fn anthropic_stream_usage_is_merged() {
        let start = json!({"type": "message_start", "message": {"usage": {"input_tokens": 12, "output_tokens": 1}}});
        let delta = json!({"type": "message_delta", "usage": {"output_tokens": 30}});
        let u = event_usage(&start).unwrap();
        let u = merge_usage(Some(u), event_usage(&delta).unwrap());
        assert_eq!((u.prompt_tokens, u.completion_tokens), (12, 30));
    }
}
