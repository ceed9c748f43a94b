//! What the proxy needs from the routing engine, as a small trait, so the data plane builds and
//! is tested without it. The engine adapter implements [`Classifier`]; until it is plugged in,
//! [`FallbackClassifier`] sends every auto request to `providers.defaults.default_model`.

use indexmap::IndexMap;
use serde::Serialize;

use crate::settings::ProxySettings;

/// The request as the classifier sees it (owned: classification runs on a blocking thread).
#[derive(Debug, Clone, Serialize)]
pub struct RouteInput {
    /// The client's `model` (an auto name on the routed path).
    pub requested_model: String,
    /// The request's `messages` array, parsed.
    pub messages: serde_json::Value,
    /// Text of the last `user` message (array parts joined with spaces).
    pub user_text: String,
    /// System and assistant texts joined with newlines.
    pub non_user_text: String,
    /// `x-authz-user-id` / `x-authz-user-groups` identity headers, when present.
    pub user_id: Option<String>,
    pub user_groups: Vec<String>,
}

/// The routing decision for one request.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RouteOutcome {
    /// Matched decision; `None` on the default-model fallback.
    pub decision: Option<String>,
    /// The alias to forward to.
    pub model: String,
    pub confidence: f64,
    /// `modelRefs[].use_reasoning` of the chosen ref; `None` means inject nothing.
    pub reasoning: Option<bool>,
    /// `modelRefs[].reasoning_effort`, for `reasoning_effort` families.
    pub reasoning_effort: Option<String>,
    /// Domain of the winning decision's rules (`x-vsr-selected-category`).
    pub category: Option<String>,
    /// Matched signal names per header family: the key is the suffix of
    /// `x-vsr-matched-<key>` (`keywords`, `embeddings`, `domains`, `fact-check`,
    /// `user-feedback`, `preference`, `language`, `context`, `structure`, `complexity`,
    /// `modality`, `authz`, `jailbreak`, `pii`).
    pub matched: IndexMap<String, Vec<String>>,
    pub matched_projections: Vec<String>,
    pub context_tokens: u64,
    /// Set when the decision carries a `fast_response` plugin: answer with this message.
    pub fast_response: Option<String>,
    /// `single`, `static`, ... or `default`.
    pub selection_method: String,
    /// Free-form trace from the engine, passed to the record sink.
    pub trace: serde_json::Value,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClassifyError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("classification failed: {0}")]
    Failed(String),
    /// The classifier's model queue is full: the proxy answers 429 instead of queueing.
    #[error("classifier overloaded: {0}")]
    Overloaded(String),
}

pub trait Classifier: Send + Sync {
    /// Routes one chat request. Runs on a blocking thread; may be slow (model inference).
    fn route(&self, input: &RouteInput) -> Result<RouteOutcome, ClassifyError>;

    /// The `POST /api/v1/eval` response (surface spec §3.1) for one text.
    fn eval(&self, text: &str) -> Result<serde_json::Value, ClassifyError>;
}

/// Routes every request to the default model, without a decision. Stands in for the engine.
pub struct FallbackClassifier {
    default_model: String,
}

impl FallbackClassifier {
    pub fn new(settings: &ProxySettings) -> Self {
        let default_model = settings
            .default_model
            .clone()
            .or_else(|| settings.models.keys().next().cloned())
            .unwrap_or_default();
        Self { default_model }
    }
}

impl Classifier for FallbackClassifier {
    fn route(&self, _input: &RouteInput) -> Result<RouteOutcome, ClassifyError> {
        if self.default_model.is_empty() {
            return Err(ClassifyError::Failed("no models configured".into()));
        }
        Ok(RouteOutcome {
            model: self.default_model.clone(),
            selection_method: "default".into(),
            ..Default::default()
        })
    }

    fn eval(&self, text: &str) -> Result<serde_json::Value, ClassifyError> {
        Ok(serde_json::json!({
            "original_text": text,
            "decision_result": {"decision_name": "", "used_signals": {},
                                "matched_signals": {}, "unmatched_signals": {}},
            "metrics": {},
            "signal_confidences": {},
            "signal_values": {},
        }))
    }
}

/// Text extraction of surface spec §2.2 step 3: the last user message, and the others.
pub fn extract_texts(messages: &serde_json::Value) -> (String, String) {
    let Some(list) = messages.as_array() else {
        return (String::new(), String::new());
    };
    let mut user = None;
    let mut others = Vec::new();
    for m in list {
        let text = content_text(m.get("content"));
        match m.get("role").and_then(|r| r.as_str()) {
            Some("user") => user = Some(text),
            Some("system") | Some("assistant") | Some("developer") if !text.is_empty() => {
                others.push(text)
            }
            _ => {}
        }
    }
    (user.unwrap_or_default(), others.join("\n"))
}

fn content_text(content: Option<&serde_json::Value>) -> String {
    match content {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_user_message_wins_and_parts_join() {
        let m = serde_json::json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "hello"},
                                         {"type": "image_url", "image_url": {"url": "x"}},
                                         {"type": "text", "text": "world"}]}
        ]);
        let (u, o) = extract_texts(&m);
        assert_eq!(u, "hello world");
        assert_eq!(o, "be brief\nok");
        assert_eq!(
            extract_texts(&serde_json::json!("x")),
            (String::new(), String::new())
        );
    }
}
