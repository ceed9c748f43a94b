//! What the signals see of a request: [`RequestView`], and the per-request [`RequestContext`]
//! that carries shared, lazily computed artefacts (lower-cased text, the prompt embedding, ...).

use std::any::Any;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::text::estimate_tokens;

/// One message of the conversation, reduced to its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub text: String,
}

/// The parts of a request that signals read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    /// The evaluation text: the last `user` message (text parts joined with a space); when there
    /// is no user text, the system and assistant texts joined with a space.
    pub text: String,
    /// Every other message with text, in order (earlier user turns included).
    pub history: Vec<Message>,
    /// Estimated tokens of the whole conversation (see [`estimate_tokens`]); the `context`
    /// family compares it with its bands.
    pub token_count: u64,
    /// The first image URL of the last user message, if any (for multimodal families).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// Why a chat request body cannot be viewed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("messages field is required")]
    MissingMessages,
    #[error("messages field must be an array")]
    MessagesNotArray,
}

impl RequestView {
    /// A single text with no history (the eval API and CLI).
    pub fn from_text(text: impl Into<String>) -> Self {
        let text = text.into();
        let token_count = estimate_tokens(&text);
        Self {
            text,
            history: Vec::new(),
            token_count,
            image_url: None,
        }
    }

    /// A view of an OpenAI chat-completions body. Messages that are not objects, and content
    /// of unknown shape, are skipped rather than rejected: the proxy validates bodies elsewhere.
    pub fn from_chat_json(body: &Value) -> Result<Self, RequestError> {
        let obj = body.as_object().ok_or(RequestError::NotAnObject)?;
        let messages = obj.get("messages").ok_or(RequestError::MissingMessages)?;
        let messages = messages.as_array().ok_or(RequestError::MessagesNotArray)?;

        let mut all: Vec<(Message, Option<String>)> = Vec::with_capacity(messages.len());
        for m in messages {
            let Some(m) = m.as_object() else { continue };
            let role = m
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let (text, image) = content_text(m.get("content"));
            all.push((Message { role, text }, image));
        }

        let last_user = all
            .iter()
            .rposition(|(m, _)| m.role == "user" && !m.text.is_empty());
        let token_count = all.iter().map(|(m, _)| estimate_tokens(&m.text)).sum();
        let mut image_url = None;
        let text = match last_user {
            Some(i) => {
                image_url = all[i].1.clone();
                all[i].0.text.clone()
            }
            None => all
                .iter()
                .filter(|(m, _)| matches!(m.role.as_str(), "system" | "assistant"))
                .filter(|(m, _)| !m.text.is_empty())
                .map(|(m, _)| m.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let history = all
            .into_iter()
            .enumerate()
            .filter(|(i, (m, _))| Some(*i) != last_user && !m.text.is_empty())
            .map(|(_, (m, _))| m)
            .collect();
        Ok(Self {
            text,
            history,
            token_count,
            image_url,
        })
    }

    /// Texts of the history messages with one of the given roles.
    pub fn history_texts<'a>(&'a self, roles: &'a [&str]) -> impl Iterator<Item = &'a str> + 'a {
        self.history
            .iter()
            .filter(move |m| roles.contains(&m.role.as_str()))
            .map(|m| m.text.as_str())
    }
}

/// The text of a message `content`: a string, or the text parts of an array joined with a
/// space. Also returns the first image URL of the array, if any.
fn content_text(content: Option<&Value>) -> (String, Option<String>) {
    match content {
        Some(Value::String(s)) => (s.clone(), None),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            let mut image = None;
            for p in parts {
                let kind = p.get("type").and_then(Value::as_str);
                match kind {
                    None | Some("text") | Some("input_text") => {
                        if let Some(t) = p.get("text").and_then(Value::as_str)
                            && !t.is_empty()
                        {
                            texts.push(t);
                        }
                    }
                    Some("image_url") if image.is_none() => {
                        image = p
                            .get("image_url")
                            .and_then(|u| u.get("url").or(Some(u)))
                            .and_then(Value::as_str)
                            .map(str::to_string);
                    }
                    _ => {}
                }
            }
            (texts.join(" "), image)
        }
        _ => (String::new(), None),
    }
}

/// A request being evaluated, with artefacts that several families share. Everything is
/// computed at most once per request, on first use, and is safe to read from several threads.
pub struct RequestContext<'a> {
    view: &'a RequestView,
    lowered: OnceLock<String>,
    embedding: OnceLock<Option<Arc<[f32]>>>,
    artefacts: Mutex<Vec<(&'static str, Arc<dyn Any + Send + Sync>)>>,
}

impl<'a> RequestContext<'a> {
    pub fn new(view: &'a RequestView) -> Self {
        Self {
            view,
            lowered: OnceLock::new(),
            embedding: OnceLock::new(),
            artefacts: Mutex::new(Vec::new()),
        }
    }

    /// A context whose prompt embedding was computed beforehand (e.g. on a blocking pool).
    pub fn with_embedding(view: &'a RequestView, embedding: Arc<[f32]>) -> Self {
        let ctx = Self::new(view);
        let _ = ctx.embedding.set(Some(embedding));
        ctx
    }

    pub fn view(&self) -> &RequestView {
        self.view
    }

    /// The evaluation text.
    pub fn text(&self) -> &str {
        &self.view.text
    }

    /// The evaluation text, lower-cased (Unicode simple case mapping of `str::to_lowercase`).
    pub fn lowered(&self) -> &str {
        self.lowered.get_or_init(|| self.view.text.to_lowercase())
    }

    /// The prompt embedding, if one was supplied or computed.
    pub fn embedding(&self) -> Option<&[f32]> {
        self.embedding.get().and_then(|e| e.as_deref())
    }

    /// The prompt embedding, computing it with `encode` on first use. A failed computation
    /// (`None`) is remembered, so the encoder runs at most once per request.
    pub fn embedding_or_compute(
        &self,
        encode: impl FnOnce(&str) -> Option<Vec<f32>>,
    ) -> Option<&[f32]> {
        self.embedding
            .get_or_init(|| encode(&self.view.text).map(Arc::from))
            .as_deref()
    }

    /// A shared artefact by key (e.g. one classifier's logits read by two families), computed
    /// with `make` on first use. Keys are owned by the family that defines them.
    pub fn artefact<T: Any + Send + Sync>(
        &self,
        key: &'static str,
        make: impl FnOnce(&str) -> T,
    ) -> Arc<T> {
        if let Some(found) = self.find_artefact::<T>(key) {
            return found;
        }
        // Computed outside the lock so a slow model does not block other families.
        let made: Arc<T> = Arc::new(make(&self.view.text));
        let mut guard = self.artefacts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, existing)) = guard.iter().find(|(k, _)| *k == key)
            && let Ok(existing) = existing.clone().downcast::<T>()
        {
            return existing;
        }
        guard.push((key, made.clone()));
        made
    }

    fn find_artefact<T: Any + Send + Sync>(&self, key: &'static str) -> Option<Arc<T>> {
        let guard = self.artefacts.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.clone().downcast::<T>().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_user_message_wins_and_parts_are_joined() {
        let body = json!({"model": "MoM", "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [
                {"type": "text", "text": "second"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                {"type": "text", "text": "question"}
            ]}
        ]});
        let v = RequestView::from_chat_json(&body).expect("valid body");
        assert_eq!(v.text, "second question");
        assert_eq!(v.image_url.as_deref(), Some("data:image/png;base64,AA"));
        assert_eq!(v.history.len(), 3);
        assert_eq!(v.history[1].text, "first question");
        // Be(1) terse(2) .(1) first(2) question(2) an(1) answer(2) second(2) question(2)
        assert_eq!(v.token_count, 15);
    }

    #[test]
    fn no_user_text_falls_back_to_system_and_assistant() {
        let body = json!({"messages": [
            {"role": "system", "content": "sys"},
            {"role": "tool", "content": "ignored"},
            {"role": "assistant", "content": "asst"}
        ]});
        let v = RequestView::from_chat_json(&body).expect("valid body");
        assert_eq!(v.text, "sys asst");
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert_eq!(
            RequestView::from_chat_json(&json!([])),
            Err(RequestError::NotAnObject)
        );
        assert_eq!(
            RequestView::from_chat_json(&json!({})),
            Err(RequestError::MissingMessages)
        );
        assert_eq!(
            RequestView::from_chat_json(&json!({"messages": "x"})),
            Err(RequestError::MessagesNotArray)
        );
        let v =
            RequestView::from_chat_json(&json!({"messages": [1, {"role": "user", "content": 5}]}))
                .expect("odd messages are skipped");
        assert_eq!(v.text, "");
    }

    #[test]
    fn context_computes_artefacts_once() {
        let view = RequestView::from_text("Hello World");
        let ctx = RequestContext::new(&view);
        assert_eq!(ctx.lowered(), "hello world");
        let mut calls = 0;
        let e = ctx.embedding_or_compute(|_| {
            calls += 1;
            Some(vec![1.0, 0.0])
        });
        assert_eq!(e, Some(&[1.0f32, 0.0][..]));
        assert!(
            ctx.embedding_or_compute(|_| panic!("computed twice"))
                .is_some()
        );
        assert_eq!(calls, 1);
        let a = ctx.artefact("len", |t| t.len());
        let b = ctx.artefact("len", |_| 0usize);
        assert_eq!((*a, *b), (11, 11));
    }

    #[test]
    fn precomputed_embedding_is_used() {
        let view = RequestView::from_text("x");
        let ctx = RequestContext::with_embedding(&view, Arc::from(vec![0.5f32]));
        assert_eq!(ctx.embedding(), Some(&[0.5f32][..]));
    }
}
