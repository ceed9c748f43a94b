//! Token usage of one answer: what the proxy reads from the backend, what replay records and
//! what [`crate::Pricing`] turns into cost. One type for all of them.

use serde::Serialize;
use serde_json::Value;

/// Token counts of one response (OpenAI `usage`; Anthropic's names are read too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// `prompt_tokens_details.cached_tokens`, when the backend reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Prompt tokens written to the provider's prompt cache (Anthropic
    /// `cache_creation_input_tokens`, OpenAI-style `…_details.cache_write_tokens`), when
    /// reported; priced at `cache_write_per_1m`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
}

impl Usage {
    /// Prompt and completion tokens, no cached-token report.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            cached_tokens: None,
            cache_write_tokens: None,
        }
    }

    /// The same usage with `cached` prompt tokens reported.
    pub fn with_cached(mut self, cached: u64) -> Self {
        self.cached_tokens = Some(cached);
        self
    }

    /// The same usage with `written` prompt tokens reported as cache writes.
    pub fn with_cache_write(mut self, written: u64) -> Self {
        self.cache_write_tokens = Some(written);
        self
    }

    pub fn total(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// The usage of two answers together (a looper answer is several model calls); a cached
    /// or cache-write count reported by either side is summed, an unreported one reads as 0.
    pub fn plus(self, other: Usage) -> Usage {
        let opt = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        Usage {
            prompt_tokens: self.prompt_tokens.saturating_add(other.prompt_tokens),
            completion_tokens: self
                .completion_tokens
                .saturating_add(other.completion_tokens),
            cached_tokens: opt(self.cached_tokens, other.cached_tokens),
            cache_write_tokens: opt(self.cache_write_tokens, other.cache_write_tokens),
        }
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
        let count = |k: &str| u.get(k).and_then(n);
        let usage = if u.get("prompt_tokens").is_some() || u.get("completion_tokens").is_some() {
            Usage {
                prompt_tokens: count("prompt_tokens").unwrap_or(0),
                completion_tokens: count("completion_tokens").unwrap_or(0),
                cached_tokens: u
                    .get("prompt_tokens_details")
                    .and_then(|d| d.get("cached_tokens"))
                    .and_then(n),
                cache_write_tokens: u
                    .get("prompt_tokens_details")
                    .and_then(|d| d.get("cache_write_tokens"))
                    .and_then(n),
            }
        } else {
            // Anthropic's names: `input_tokens` excludes the cache reads and writes, which
            // OpenAI's `prompt_tokens` includes.
            let read = count("cache_read_input_tokens");
            let written = count("cache_creation_input_tokens");
            Usage {
                // Counts come from the upstream: a huge one saturates, it must not overflow.
                prompt_tokens: count("input_tokens")
                    .unwrap_or(0)
                    .saturating_add(read.unwrap_or(0))
                    .saturating_add(written.unwrap_or(0)),
                completion_tokens: count("output_tokens").unwrap_or(0),
                cached_tokens: read,
                cache_write_tokens: written,
            }
        };
        (usage.total() > 0).then_some(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        let u = Usage::from_usage(&json!({"input_tokens": 1e300,
            "cache_read_input_tokens": 5, "output_tokens": u64::MAX}))
        .expect("usage");
        assert_eq!(u.prompt_tokens, u64::MAX);
        assert_eq!(u.total(), u64::MAX);
    }

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
                cached_tokens: Some(4),
                cache_write_tokens: None,
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

    #[test]
    fn anthropic_usage_counts_cache_reads_as_prompt_tokens() {
        let u = Usage::from_usage(&json!({"input_tokens": 10, "output_tokens": 4,
            "cache_read_input_tokens": 6, "cache_creation_input_tokens": 2}))
        .expect("usage");
        assert_eq!(u, Usage::new(18, 4).with_cached(6).with_cache_write(2));
        let openai = Usage::from_usage(&json!({"prompt_tokens": 10, "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 5}}))
        .expect("usage");
        assert_eq!(openai, Usage::new(10, 1).with_cached(3).with_cache_write(5));
        assert_eq!(
            Usage::from_usage(&json!({"output_tokens": 3})),
            Some(Usage::new(0, 3))
        );
    }

    #[test]
    fn cache_writes_cost_the_cache_write_rate_else_the_prompt_rate() {
        let mut p = crate::Pricing::new("USD", 3.0, 15.0);
        p.cached_input_per_1m = Some(0.3);
        // Anthropic: 1M fresh input, 2M cache reads, 1M cache writes, 1M output.
        let u = Usage::from_usage(
            &json!({"input_tokens": 1_000_000, "output_tokens": 1_000_000,
            "cache_read_input_tokens": 2_000_000, "cache_creation_input_tokens": 1_000_000}),
        )
        .expect("usage");
        // No write rate: writes cost the prompt rate.
        assert!((p.cost(&u) - (3.0 + 2.0 * 0.3 + 3.0 + 15.0)).abs() < 1e-9);
        p.cache_write_per_1m = Some(3.75);
        assert!((p.cost(&u) - (3.0 + 2.0 * 0.3 + 3.75 + 15.0)).abs() < 1e-9);
        // Writes are clamped to the prompt tokens not read from the cache.
        let over = Usage::new(1_000_000, 0)
            .with_cached(600_000)
            .with_cache_write(900_000);
        assert!((p.cost(&over) - (0.6 * 0.3 + 0.4 * 3.75)).abs() < 1e-9);
        // A write rate alone makes a model priced.
        let only_write = crate::Pricing {
            cache_write_per_1m: Some(1.0),
            ..crate::Pricing::default()
        };
        assert!(only_write.is_priced());
    }
}
