//! Token usage of one answer: what the proxy reads from the backend, what replay records and
//! what [`crate::Pricing`] turns into cost. One type for all of them.

use serde::Serialize;
use serde_json::Value;

/// Token counts of one response (OpenAI `usage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// `prompt_tokens_details.cached_tokens`, when the backend reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
}

impl Usage {
    /// Prompt and completion tokens, no cached-token report.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            cached_tokens: None,
        }
    }

    /// The same usage with `cached` prompt tokens reported.
    pub fn with_cached(mut self, cached: u64) -> Self {
        self.cached_tokens = Some(cached);
        self
    }

    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Reads `usage` of a completion or of a stream's usage chunk; `None` when it is absent,
    /// not an object, or counts nothing. Fractional counts are truncated, negatives read as 0.
    pub fn from_response(body: &Value) -> Option<Usage> {
        body.get("usage").and_then(Usage::from_usage)
    }

    /// Reads a `usage` object itself; see [`Usage::from_response`].
    pub fn from_usage(u: &Value) -> Option<Usage> {
        let u = Some(u).filter(|u| u.is_object())?;
        let n = |v: &Value| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64));
        let usage = Usage {
            prompt_tokens: u.get("prompt_tokens").and_then(n).unwrap_or(0),
            completion_tokens: u.get("completion_tokens").and_then(n).unwrap_or(0),
            cached_tokens: u
                .get("prompt_tokens_details")
                .and_then(|d| d.get("cached_tokens"))
                .and_then(n),
        };
        (usage.total() > 0).then_some(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_reads_counts_and_cached_tokens() {
        let u = Usage::from_response(&json!({"usage": {"prompt_tokens": 10,
            "completion_tokens": 5.0, "prompt_tokens_details": {"cached_tokens": 4}}}))
        .expect("usage");
        assert_eq!(
            u,
            Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
                cached_tokens: Some(4)
            }
        );
        assert_eq!(u.total(), 15);
        assert_eq!(Usage::from_response(&json!({"usage": null})), None);
        assert_eq!(
            Usage::from_response(&json!({"usage": {"prompt_tokens": 0}})),
            None
        );
        assert_eq!(Usage::from_response(&json!({"id": "x"})), None);
    }
}
