//! The client's answer to a looper decision: one `chat.completion` (or a synthetic stream of
//! it) with the final stage's message, the usage of every inner call, and the trace object.

use serde_json::{Map, Value, json};

use crate::record::Usage;
use crate::util::{hex_id, unix_now};

/// Characters per content chunk of the synthetic stream.
const CHUNK_CHARS: usize = 50;

#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// `fusion` or `flow` (the id prefix and the trace's key).
    pub kind: &'static str,
    /// The alias whose answer is the final one.
    pub model: String,
    pub content: String,
    pub tool_calls: Option<Value>,
    pub finish_reason: String,
    /// Every inner call's usage, summed.
    pub usage: Usage,
    /// Each inner call's alias and usage (replay prices them per model).
    pub parts: Vec<(String, Usage)>,
    /// Inner calls made (successful or not).
    pub calls: usize,
    pub reasoning_on: bool,
    /// The `fusion` / `flow` trace object, when the block asks for it.
    pub trace: Option<Value>,
    id: String,
}

impl Answer {
    pub fn new(kind: &'static str, final_reply: super::Reply) -> Self {
        let finish_reason = final_reply.finish_reason.clone().unwrap_or_else(|| {
            if final_reply.tool_calls.is_some() {
                "tool_calls".into()
            } else {
                "stop".into()
            }
        });
        Answer {
            kind,
            id: format!("chatcmpl-{kind}-{}", hex_id()),
            model: final_reply.model,
            content: final_reply.content,
            tool_calls: final_reply.tool_calls,
            finish_reason,
            usage: Usage::default(),
            parts: Vec::new(),
            calls: 0,
            reasoning_on: false,
            trace: None,
        }
    }

    /// Sets the inner calls' usage: per call, and summed.
    pub fn set_parts(&mut self, parts: Vec<(String, Usage)>) {
        self.usage = parts.iter().fold(Usage::default(), |u, (_, p)| u.plus(*p));
        self.parts = parts;
    }

    fn usage_json(&self) -> Value {
        let mut u = json!({"prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "total_tokens": self.usage.total()});
        if let Some(c) = self.usage.cached_tokens {
            u["prompt_tokens_details"] = json!({"cached_tokens": c});
        }
        u
    }

    fn message(&self) -> Value {
        let mut m = json!({"role": "assistant", "content": self.content});
        if let Some(t) = &self.tool_calls {
            m["tool_calls"] = t.clone();
            if self.content.is_empty() {
                m["content"] = Value::Null;
            }
        }
        m
    }

    /// The non-streaming answer.
    pub fn completion(&self) -> Value {
        let mut v = json!({"id": self.id, "object": "chat.completion", "created": unix_now(),
            "model": self.model,
            "choices": [{"index": 0, "message": self.message(), "finish_reason": self.finish_reason}],
            "usage": self.usage_json()});
        if let Some(t) = &self.trace {
            v[self.kind] = t.clone();
        }
        v
    }

    fn chunk(&self, created: u64, delta: Value, finish: Value) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": created,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    /// The streaming answer: a role chunk carrying the trace, the content in short chunks, the
    /// tool calls, the finish chunk, the usage chunk when asked for, `[DONE]`.
    pub fn sse(&self, include_usage: bool) -> Vec<u8> {
        let created = unix_now();
        let mut out = Vec::new();
        let mut push = |v: &Value| {
            out.extend_from_slice(b"data: ");
            out.extend(serde_json::to_vec(v).unwrap_or_default());
            out.extend_from_slice(b"\n\n");
        };
        let mut first = self.chunk(
            created,
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        );
        if let Some(t) = &self.trace {
            first[self.kind] = t.clone();
        }
        push(&first);
        let chars: Vec<char> = self.content.chars().collect();
        for piece in chars.chunks(CHUNK_CHARS) {
            let text: String = piece.iter().collect();
            push(&self.chunk(created, json!({"content": text}), Value::Null));
        }
        if let Some(Value::Array(calls)) = &self.tool_calls {
            let indexed: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut c = c.as_object().cloned().unwrap_or_else(Map::new);
                    c.insert("index".into(), json!(i));
                    Value::Object(c)
                })
                .collect();
            push(&self.chunk(created, json!({"tool_calls": indexed}), Value::Null));
        }
        push(&self.chunk(created, json!({}), json!(self.finish_reason)));
        if include_usage {
            push(
                &json!({"id": self.id, "object": "chat.completion.chunk", "created": created,
                "model": self.model, "choices": [], "usage": self.usage_json()}),
            );
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(content: &str) -> Answer {
        let mut a = Answer::new(
            "fusion",
            super::super::Reply {
                model: "judge".into(),
                content: content.into(),
                ..Default::default()
            },
        );
        a.usage = Usage::new(10, 4);
        a.trace = Some(json!({"judge_model": "judge"}));
        a
    }

    #[test]
    fn the_completion_carries_the_trace_and_usage() {
        let v = answer("hello").completion();
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-fusion-"));
        assert_eq!(v["choices"][0]["message"]["content"], "hello");
        assert_eq!(v["usage"]["total_tokens"], 14);
        assert_eq!(v["fusion"]["judge_model"], "judge");
    }

    #[test]
    fn the_stream_rebuilds_the_content_in_order() {
        let text = "é".repeat(120);
        let sse = String::from_utf8(answer(&text).sse(true)).unwrap();
        let events: Vec<Value> = sse
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(events[0]["fusion"]["judge_model"], "judge");
        let joined: String = events
            .iter()
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(joined, text);
        assert_eq!(events.last().unwrap()["usage"]["completion_tokens"], 4);
        assert!(sse.ends_with("data: [DONE]\n\n"));
    }
}
