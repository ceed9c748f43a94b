//! Request identity: what changes the answer, hashed.
//!
//! - The **context key** covers everything but the last user message: the earlier messages
//!   (system prompt, earlier turns, tool results, in full), every other top-level field of the
//!   request (sampling parameters, `tools`, `response_format`, `seed`, `n`, …; unknown fields
//!   too, so a parameter we have never heard of can only split the cache, never merge it),
//!   the routing profile, decision and selected model, and the scope identity when the
//!   decision's scope names one. Only fields that cannot change the answer's content are left
//!   out: `stream`, `stream_options` (the answer is replayed in either shape) and `user` (an
//!   end-user tag; the scope identity is what separates users).
//! - The **exact key** is the context key plus the last user message's text.
//!
//! Semantic lookups only compare entries with the same context key; both keys are SHA-256
//! over a canonical JSON form (object keys sorted), so field order and whitespace do not
//! matter.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// A 256-bit key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 32]);

impl Key {
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Top-level request fields that cannot change the content of the answer.
const IGNORED_FIELDS: &[&str] = &["messages", "stream", "stream_options", "user"];

/// Where the request was routed, part of the context.
#[derive(Debug, Clone, Default)]
pub struct Route<'a> {
    /// The routing profile (recipe), `None` for the default one.
    pub recipe: Option<&'a str>,
    pub decision: &'a str,
    /// The alias the request goes to.
    pub model: &'a str,
    /// `scope:identity` (e.g. `user:alice`), or `global`.
    pub scope: &'a str,
}

/// The identity of one request.
#[derive(Debug, Clone)]
pub struct RequestKey {
    pub context: Key,
    pub exact: Key,
    /// The last user message's text (the semantic query); `None` when it has no text part,
    /// which makes the request exact-only.
    pub query: Option<String>,
}

/// Why a request cannot be keyed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("`messages` is not an array of messages: {0}")]
    Messages(String),
    #[error("the request has no user message")]
    NoUserMessage,
    #[error("field `{0}` is not valid JSON")]
    Field(String),
}

impl RequestKey {
    /// Keys a chat request from its top-level fields as raw JSON text (`(name, json)`).
    pub fn new<'f>(
        fields: impl IntoIterator<Item = (&'f str, &'f str)>,
        route: &Route<'_>,
    ) -> Result<Self, KeyError> {
        let mut messages: Option<Vec<Value>> = None;
        let mut params: Vec<(&str, Value)> = Vec::new();
        for (name, raw) in fields {
            if name == "messages" {
                let v: Vec<Value> =
                    serde_json::from_str(raw).map_err(|e| KeyError::Messages(e.to_string()))?;
                messages = Some(v);
            } else if !IGNORED_FIELDS.contains(&name) {
                let v: Value =
                    serde_json::from_str(raw).map_err(|_| KeyError::Field(name.to_string()))?;
                params.push((name, v));
            }
        }
        let mut messages = messages.ok_or(KeyError::NoUserMessage)?;
        let last_user = messages
            .iter()
            .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .ok_or(KeyError::NoUserMessage)?;
        let last = messages.remove(last_user);
        // The messages after the last user message (rare: a trailing assistant prefill) stay
        // in the context, marked by position.
        let query = last.get("content").and_then(message_text);
        params.sort_by(|a, b| a.0.cmp(b.0));

        let mut h = Sha256::new();
        h.update(b"vsr-cache/1\0");
        for part in [
            route.recipe.unwrap_or(""),
            route.decision,
            route.model,
            route.scope,
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(canonical(&Value::Array(messages)).as_bytes());
        h.update([0]);
        h.update(last_user.to_le_bytes());
        for (name, v) in &params {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(canonical(v).as_bytes());
            h.update([0]);
        }
        // The last message's other fields (name, non-text parts) belong to the context too.
        let mut rest = last.clone();
        if let Some(o) = rest.as_object_mut() {
            o.remove("content");
        }
        h.update(canonical(&rest).as_bytes());
        let context = Key(h.finalize().into());

        let mut e = Sha256::new();
        e.update(context.0);
        e.update(canonical(last.get("content").unwrap_or(&Value::Null)).as_bytes());
        Ok(RequestKey {
            context,
            exact: Key(e.finalize().into()),
            query,
        })
    }
}

/// A message's text: string content, or the text parts joined with `\n`. `None` when it has
/// a non-text part (an image changes the answer but not the text) or no text.
fn message_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Array(parts) => {
            let mut texts = Vec::new();
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text" | "input_text") => {
                        texts.push(p.get("text").and_then(Value::as_str)?.to_string())
                    }
                    _ => return None,
                }
            }
            let t = texts.join("\n");
            (!t.trim().is_empty()).then_some(t)
        }
        _ => None,
    }
}

/// JSON with object keys sorted at every level.
fn canonical(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    write(v, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(body: &str, decision: &str) -> RequestKey {
        let v: serde_json::Map<String, Value> = serde_json::from_str(body).unwrap();
        let raws: Vec<(String, String)> =
            v.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        RequestKey::new(
            raws.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &Route {
                decision,
                model: "m",
                scope: "global",
                ..Route::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn the_context_covers_what_changes_the_answer() {
        let base = key(
            r#"{"model":"auto","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}],"temperature":0}"#,
            "d",
        );
        // Field order, streaming and the user tag change nothing.
        let same = key(
            r#"{"temperature":0,"stream":true,"user":"u1","messages":[{"content":"Be brief.","role":"system"},{"role":"user","content":"hi"}],"model":"auto"}"#,
            "d",
        );
        assert_eq!(base.exact, same.exact);
        assert_eq!(base.query.as_deref(), Some("hi"));
        for other in [
            r#"{"model":"auto","messages":[{"role":"system","content":"Be long."},{"role":"user","content":"hi"}],"temperature":0}"#,
            r#"{"model":"auto","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}],"temperature":1}"#,
            r#"{"model":"auto","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}],"temperature":0,"seed":3}"#,
            r#"{"model":"auto","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"yo"},{"role":"assistant","content":"?"},{"role":"user","content":"hi"}],"temperature":0}"#,
        ] {
            assert_ne!(key(other, "d").context, base.context, "{other}");
        }
        assert_ne!(
            key(r#"{"messages":[{"role":"user","content":"hi"}]}"#, "a").context,
            key(r#"{"messages":[{"role":"user","content":"hi"}]}"#, "b").context
        );
        // Same context, another question: same context key, another exact key.
        let q2 = key(
            r#"{"model":"auto","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hello"}],"temperature":0}"#,
            "d",
        );
        assert_eq!(q2.context, base.context);
        assert_ne!(q2.exact, base.exact);
    }

    #[test]
    fn images_make_a_request_exact_only_and_no_user_message_is_an_error() {
        let k = key(
            r#"{"messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"x"}}]}]}"#,
            "d",
        );
        assert_eq!(k.query, None);
        let v = [("messages", r#"[{"role":"system","content":"x"}]"#)];
        assert_eq!(
            RequestKey::new(v, &Route::default()).unwrap_err(),
            KeyError::NoUserMessage
        );
        let bad = [("messages", r#"{"a":1}"#)];
        assert!(matches!(
            RequestKey::new(bad, &Route::default()),
            Err(KeyError::Messages(_))
        ));
    }
}
