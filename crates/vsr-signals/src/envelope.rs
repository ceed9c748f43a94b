//! The request-envelope token floor that August-2026 configs' `context` family reads
//! (head-delta §11): what a chat request can consume of a model's context window, counted
//! from its JSON without a tokenizer.
//!
//! floor = ⌈text bytes ÷ 4⌉ + structured bytes (one token a byte: tool schemas, tool-call
//! arguments, tool results, non-text parts, `tool_choice`, `response_format`) + 8192 an
//! image + framing (4 a message, 8 a tool call, tool result or tool definition) + the requested
//! output tokens (`max_completion_tokens`, else `max_tokens`, when an exact non-negative
//! integer). Structured JSON counts one token a byte because punctuation-dense payloads
//! tokenize far more densely than prose, and a floor must not undercount.

use serde::{Deserialize, Serialize};
use serde_json::Value;

const TEXT_BYTES_PER_TOKEN: u64 = 4;
const IMAGE_TOKENS: u64 = 8 * 1024;
const MESSAGE_FRAMING: u64 = 4;
const TOOL_FRAMING: u64 = 8;

/// A content-free summary of a request's envelope (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextEnvelope {
    /// Prose: message texts and the role, name and id strings around them.
    pub text_bytes: u64,
    /// Structured JSON, counted as written (serialised compactly).
    pub structured_bytes: u64,
    pub images: u64,
    /// Fixed reserves for the chat template's per-message and per-tool tokens.
    pub framing: u64,
    /// The output tokens the request asks for.
    pub output_reserve: u64,
}

impl ContextEnvelope {
    /// The top-level fields of a chat body that [`Self::of_chat`] reads.
    pub const BODY_FIELDS: [&'static str; 8] = [
        "messages",
        "tools",
        "functions",
        "tool_choice",
        "function_call",
        "response_format",
        "max_completion_tokens",
        "max_tokens",
    ];

    /// The envelope of an OpenAI chat completions body (an object; anything else is empty).
    pub fn of_chat(body: &Value) -> Self {
        let mut e = Self::default();
        let Some(body) = body.as_object() else {
            return e;
        };
        match body.get("messages") {
            Some(Value::Array(ms)) => ms.iter().for_each(|m| e.message(m)),
            Some(other) => e.structured(other),
            None => {}
        }
        for key in ["tools", "functions"] {
            match body.get(key) {
                Some(Value::Array(defs)) => {
                    for d in defs {
                        e.framing += TOOL_FRAMING;
                        e.structured(d);
                    }
                }
                Some(other) => e.structured(other),
                None => {}
            }
        }
        for key in ["tool_choice", "function_call", "response_format"] {
            if let Some(v) = body.get(key) {
                e.structured(v);
            }
        }
        // The first of the two that is present decides, as the API reads them.
        let reserve = body
            .get("max_completion_tokens")
            .filter(|v| !v.is_null())
            .or_else(|| body.get("max_tokens").filter(|v| !v.is_null()));
        e.output_reserve = reserve.and_then(Value::as_u64).unwrap_or(0);
        e
    }

    /// The envelope of a bare text, read as one user message (the eval API's `text`).
    pub fn of_text(text: &str) -> Self {
        Self {
            text_bytes: (text.len() + "user".len()) as u64,
            framing: MESSAGE_FRAMING,
            ..Self::default()
        }
    }

    /// The token floor (module docs).
    pub fn token_floor(&self) -> u64 {
        self.text_bytes
            .div_ceil(TEXT_BYTES_PER_TOKEN)
            .saturating_add(self.structured_bytes)
            .saturating_add(self.images.saturating_mul(IMAGE_TOKENS))
            .saturating_add(self.framing)
            .saturating_add(self.output_reserve)
    }

    fn structured(&mut self, v: &Value) {
        if !v.is_null() {
            self.structured_bytes += serde_json::to_string(v).map_or(0, |s| s.len() as u64);
        }
    }

    /// A string adds its bytes as text; any other non-null value is structured.
    fn text(&mut self, v: Option<&Value>) {
        match v {
            Some(Value::String(s)) => self.text_bytes += s.len() as u64,
            Some(other) => self.structured(other),
            None => {}
        }
    }

    fn message(&mut self, m: &Value) {
        self.framing += MESSAGE_FRAMING;
        let Some(obj) = m.as_object() else {
            self.structured(m);
            return;
        };
        for key in ["role", "name", "tool_call_id"] {
            self.text(obj.get(key));
        }
        let role = obj.get("role").and_then(Value::as_str).unwrap_or_default();
        if role.eq_ignore_ascii_case("tool") || role.eq_ignore_ascii_case("function") {
            self.tool_result(obj.get("content"));
        } else {
            match obj.get("content") {
                Some(Value::Array(parts)) => parts.iter().for_each(|p| self.part(p)),
                Some(p @ Value::Object(_)) => self.part(p),
                other => self.text(other),
            }
        }
        self.text(obj.get("refusal"));
        self.text(obj.get("reasoning_content"));
        match obj.get("tool_calls") {
            Some(Value::Array(calls)) => calls.iter().for_each(|c| self.tool_call(c)),
            Some(other) => self.structured(other),
            None => {}
        }
        if let Some(f) = obj.get("function_call").filter(|f| !f.is_null()) {
            self.framing += TOOL_FRAMING;
            match f.as_object() {
                Some(f) => {
                    self.text(f.get("name"));
                    if let Some(a) = f.get("arguments") {
                        self.structured(a);
                    }
                }
                None => self.structured(f),
            }
        }
    }

    fn part(&mut self, p: &Value) {
        match part_kind(p).as_deref() {
            Some("image" | "image_url" | "input_image") => self.images += 1,
            Some("text" | "input_text" | "output_text") if p.get("text").is_some() => {
                self.text(p.get("text"));
            }
            _ => self.structured(p),
        }
    }

    fn tool_result(&mut self, content: Option<&Value>) {
        self.framing += TOOL_FRAMING;
        match content {
            Some(Value::Array(parts)) => {
                for p in parts {
                    if is_image(p) {
                        self.images += 1;
                    } else {
                        self.structured(p);
                    }
                }
            }
            Some(p) if is_image(p) => self.images += 1,
            Some(other) => self.structured(other),
            None => {}
        }
    }

    fn tool_call(&mut self, call: &Value) {
        self.framing += TOOL_FRAMING;
        let function = call.get("function").and_then(Value::as_object);
        let (Some(obj), Some(function)) = (call.as_object(), function) else {
            // A malformed call counts once, whole.
            self.structured(call);
            return;
        };
        for key in ["id", "type", "tool_call_id"] {
            self.text(obj.get(key));
        }
        self.text(function.get("name"));
        if let Some(a) = function.get("arguments") {
            self.structured(a);
        }
    }
}

fn part_kind(p: &Value) -> Option<String> {
    p.get("type")
        .and_then(Value::as_str)
        .map(|k| k.trim().to_ascii_lowercase())
}

fn is_image(p: &Value) -> bool {
    matches!(
        part_kind(p).as_deref(),
        Some("image" | "image_url" | "input_image")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bare_text_is_one_user_message() {
        // ⌈(n + 4) / 4⌉ + 4: the role's bytes and the message framing.
        let e = ContextEnvelope::of_text("12345678");
        assert_eq!(e.token_floor(), 3 + 4);
        assert_eq!(
            ContextEnvelope::of_chat(
                &json!({"messages": [{"role": "user", "content": "12345678"}]})
            ),
            e
        );
    }

    #[test]
    fn every_component_counts() {
        let body = json!({
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"}
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "auto",
            "max_tokens": 100
        });
        let e = ContextEnvelope::of_chat(&body);
        assert_eq!(e.images, 1);
        // Text: roles (6+4+9+4), "be brief" (8), "look" (4), id/type/name (2+8+1), tool_call_id (2).
        assert_eq!(e.text_bytes, 23 + 8 + 4 + 11 + 2);
        // Structured: arguments as a JSON string (11), the tool result (4), the tool
        // definition (38), tool_choice (6).
        let def = serde_json::to_string(&body["tools"][0]).map_or(0, |s| s.len() as u64);
        assert_eq!(e.structured_bytes, 11 + 4 + def + 6);
        // Framing: 4 messages, one call, one result, one definition.
        assert_eq!(e.framing, 4 * 4 + 3 * 8);
        assert_eq!(e.output_reserve, 100);
        assert_eq!(
            e.token_floor(),
            e.text_bytes.div_ceil(4) + e.structured_bytes + 8192 + e.framing + 100
        );
    }

    #[test]
    fn max_completion_tokens_wins_and_only_exact_integers_reserve() {
        let floor = |extra: Value| {
            let mut body = json!({"messages": []});
            if let (Some(b), Value::Object(x)) = (body.as_object_mut(), extra) {
                b.extend(x);
            }
            ContextEnvelope::of_chat(&body).output_reserve
        };
        assert_eq!(
            floor(json!({"max_completion_tokens": 7, "max_tokens": 9})),
            7
        );
        assert_eq!(floor(json!({"max_tokens": 9})), 9);
        assert_eq!(floor(json!({"max_tokens": 9.5})), 0);
        assert_eq!(floor(json!({"max_tokens": -1})), 0);
        assert_eq!(floor(json!({"max_tokens": "9"})), 0);
    }

    #[test]
    fn odd_shapes_count_as_structured_and_never_panic() {
        for body in [
            json!(null),
            json!([]),
            json!({"messages": "hi"}),
            json!({"messages": [1, "x", null, {"role": 3, "content": {"a": 1}}]}),
            json!({"messages": [{"role": "assistant", "tool_calls": [1, {"function": 2}]}]}),
        ] {
            let _ = ContextEnvelope::of_chat(&body).token_floor();
        }
        let e = ContextEnvelope::of_chat(&json!({"messages": "hi"}));
        assert_eq!((e.structured_bytes, e.framing), (4, 0));
    }
}
