//! Token usage and response text from OpenAI-shaped responses, plain or streamed (SSE).
use serde_json::Value;

/// Token counts of one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: Option<u64>,
}

impl Usage {
    /// Reads `usage` of a chat completion (or of a stream's usage chunk). `None` when absent.
    pub fn from_response(body: &Value) -> Option<Usage> {
        let u = body.get("usage").filter(|u| u.is_object())?;
        let n = |v: &Value| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64));
        Some(Usage {
            prompt_tokens: u.get("prompt_tokens").and_then(n).unwrap_or(0),
            completion_tokens: u.get("completion_tokens").and_then(n).unwrap_or(0),
            cached_tokens: u
                .get("prompt_tokens_details")
                .and_then(|d| d.get("cached_tokens"))
                .and_then(n),
        })
    }
}

/// Collects a streamed answer: the assistant text of every `choices[].delta.content` and the
/// usage of the final usage chunk (the last one that carries `usage`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamAccumulator {
    pub text: String,
    pub usage: Option<Usage>,
    pub done: bool,
    /// Stop collecting text beyond this many bytes (usage is still read); 0 = unlimited.
    pub max_text_bytes: usize,
}

impl StreamAccumulator {
    pub fn new(max_text_bytes: usize) -> Self {
        StreamAccumulator {
            max_text_bytes,
            ..Default::default()
        }
    }

    /// Feeds one SSE event's `data:` payload (without the `data:` prefix).
    pub fn push_data(&mut self, data: &str) {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        if let Some(choices) = v.get("choices").and_then(Value::as_array) {
            for c in choices {
                if let Some(t) = c.pointer("/delta/content").and_then(Value::as_str) {
                    self.push_text(t);
                }
            }
        }
        if let Some(u) = Usage::from_response(&v) {
            self.usage = Some(u);
        }
    }

    /// Feeds raw SSE bytes split at line boundaries (each `data:` line is one payload).
    pub fn push_lines(&mut self, chunk: &str) {
        for line in chunk.lines() {
            if let Some(d) = line.strip_prefix("data:") {
                self.push_data(d);
            }
        }
    }

    fn push_text(&mut self, t: &str) {
        if self.max_text_bytes == 0 {
            self.text.push_str(t);
            return;
        }
        // Keep one byte beyond the limit so truncation later knows it cut.
        let room = (self.max_text_bytes + 1).saturating_sub(self.text.len());
        if room == 0 {
            return;
        }
        let mut end = t.len().min(room);
        while !t.is_char_boundary(end) {
            end += 1;
        }
        self.text.push_str(&t[..end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_from_a_completion() {
        let v = serde_json::json!({"usage": {"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 999,
            "prompt_tokens_details": {"cached_tokens": 64}}});
        assert_eq!(
            Usage::from_response(&v),
            Some(Usage {
                prompt_tokens: 100,
                completion_tokens: 200,
                cached_tokens: Some(64)
            })
        );
        assert_eq!(
            Usage::from_response(&serde_json::json!({"usage": null})),
            None
        );
    }

    #[test]
    fn stream_text_and_final_usage_chunk() {
        let mut acc = StreamAccumulator::new(0);
        acc.push_lines(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n\
             data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
             data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}],\"usage\":null}\n\n\
             data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n\
             data: [DONE]\n\n",
        );
        assert_eq!(acc.text, "Hello");
        assert_eq!(
            acc.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((7, 2))
        );
        assert!(acc.done);
    }

    #[test]
    fn stream_text_is_bounded_on_a_char_boundary() {
        let mut acc = StreamAccumulator::new(3);
        acc.push_data("{\"choices\":[{\"delta\":{\"content\":\"aé\"}}]}");
        acc.push_data("{\"choices\":[{\"delta\":{\"content\":\"日本\"}}]}");
        assert_eq!(acc.text, "aé日");
        let (cut, truncated) = crate::truncate_utf8(&acc.text, 3);
        assert_eq!((cut.as_str(), truncated), ("aé", true));
    }
}
