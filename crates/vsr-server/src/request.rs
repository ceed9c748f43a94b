//! The one internal request model of the translated client APIs. A Responses or Anthropic
//! Messages body is decoded once into an [`LlmRequest`] (typed turns with text and image
//! parts, tool definitions, tool calls and results, system prompt, sampling, stream flag);
//! the signals' [`RequestView`] and the OpenAI chat body sent upstream are both produced from
//! it. Chat completions requests skip it: they are forwarded byte for byte and only their
//! `messages` are decoded (into `vsr_signals::ChatMessage`) on the routed path.

use serde_json::{Map, Value, json};
use vsr_signals::{ChatMessage, ContentPart, ImageRef, MessageContent, RequestView};

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering the assistant's call `Turn::tool_call_id`.
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A piece of a turn's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// An image by URL (`data:` URLs included).
    Image(String),
}

/// A function call the assistant made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as a JSON value (an object for well-formed calls).
    pub arguments: Value,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub content: Vec<Part>,
    /// Calls made by an assistant turn.
    pub tool_calls: Vec<ToolCall>,
    /// The call a `Tool` turn answers.
    pub tool_call_id: Option<String>,
    /// A `Tool` turn reporting a failure.
    pub is_error: bool,
}

impl Turn {
    pub fn new(role: Role, content: Vec<Part>) -> Self {
        Self {
            role,
            content,
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_error: false,
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

/// How the model may use the tools.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    /// This tool must be called.
    Named(String),
}

/// Sampling and length parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
}

/// A request as the router understands it, whatever API it came in on.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmRequest {
    pub model: String,
    /// The system prompt (Responses `instructions`, Anthropic `system`).
    pub system: Option<String>,
    pub turns: Vec<Turn>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub sampling: Sampling,
    pub stream: bool,
    /// End-user id (`user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
    pub reasoning_effort: Option<String>,
}

impl LlmRequest {
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            system: None,
            turns: Vec::new(),
            tools: Vec::new(),
            tool_choice: None,
            parallel_tool_calls: None,
            sampling: Sampling::default(),
            stream: false,
            user: None,
            reasoning_effort: None,
        }
    }

    /// What the signals read: the turns as chat messages, through the one text-extraction
    /// function (`RequestView::from_messages`). Tool calls carry no text; tool results do.
    pub fn view(&self) -> RequestView {
        let mut messages = Vec::with_capacity(self.turns.len() + 1);
        if let Some(s) = &self.system {
            messages.push(ChatMessage {
                role: "system".into(),
                content: MessageContent::Text(s.clone()),
                tool_calls: 0,
            });
        }
        for t in &self.turns {
            let parts = t
                .content
                .iter()
                .map(|p| match p {
                    Part::Text(s) => ContentPart {
                        kind: Some("text".into()),
                        text: Some(s.clone()),
                        image_url: None,
                    },
                    Part::Image(u) => ContentPart {
                        kind: Some("image_url".into()),
                        text: None,
                        image_url: Some(ImageRef::Url(u.clone())),
                    },
                })
                .collect();
            messages.push(ChatMessage {
                role: t.role.as_str().into(),
                content: MessageContent::Parts(parts),
                tool_calls: u32::try_from(t.tool_calls.len()).unwrap_or(u32::MAX),
            });
        }
        RequestView::from_messages(&messages)
            .with_tools(u32::try_from(self.tools.len()).unwrap_or(u32::MAX))
    }

    /// The OpenAI chat completions body for an OpenAI-compatible backend.
    pub fn to_chat_body(&self) -> Value {
        let mut messages = Vec::with_capacity(self.turns.len() + 1);
        if let Some(s) = &self.system {
            messages.push(json!({"role": "system", "content": s}));
        }
        for t in &self.turns {
            let mut m = Map::new();
            m.insert("role".into(), json!(t.role.as_str()));
            let content = chat_content(&t.content, t.role);
            let content = match (&content, t.role) {
                // Tool results are text on the chat API; an error is marked in words.
                (Value::String(s), Role::Tool) if t.is_error => json!(format!("Error: {s}")),
                _ => content,
            };
            if !(t.role == Role::Assistant && !t.tool_calls.is_empty() && t.content.is_empty()) {
                m.insert("content".into(), content);
            } else {
                m.insert("content".into(), Value::Null);
            }
            if !t.tool_calls.is_empty() {
                let calls: Vec<Value> = t
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function", "function": {
                            "name": c.name,
                            "arguments": serde_json::to_string(&c.arguments).unwrap_or_default(),
                        }})
                    })
                    .collect();
                m.insert("tool_calls".into(), Value::Array(calls));
            }
            if let Some(id) = &t.tool_call_id {
                m.insert("tool_call_id".into(), json!(id));
            }
            messages.push(Value::Object(m));
        }
        let mut chat = Map::new();
        chat.insert("model".into(), json!(self.model));
        chat.insert("messages".into(), Value::Array(messages));
        let s = &self.sampling;
        if let Some(n) = s.max_tokens {
            chat.insert("max_tokens".into(), json!(n));
        }
        if let Some(t) = s.temperature {
            chat.insert("temperature".into(), json!(t));
        }
        if let Some(p) = s.top_p {
            chat.insert("top_p".into(), json!(p));
        }
        if let Some(k) = s.top_k {
            // Not OpenAI's, but vLLM's (and most compatible servers') extension.
            chat.insert("top_k".into(), json!(k));
        }
        if !s.stop.is_empty() {
            chat.insert("stop".into(), json!(s.stop));
        }
        if !self.tools.is_empty() {
            let tools: Vec<Value> = self
                .tools
                .iter()
                .map(|t| {
                    let mut f = Map::new();
                    f.insert("name".into(), json!(t.name));
                    if let Some(d) = &t.description {
                        f.insert("description".into(), json!(d));
                    }
                    f.insert("parameters".into(), t.parameters.clone());
                    json!({"type": "function", "function": f})
                })
                .collect();
            chat.insert("tools".into(), Value::Array(tools));
        }
        if let Some(c) = &self.tool_choice {
            let v = match c {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(n) => json!({"type": "function", "function": {"name": n}}),
            };
            chat.insert("tool_choice".into(), v);
        }
        if let Some(p) = self.parallel_tool_calls {
            chat.insert("parallel_tool_calls".into(), json!(p));
        }
        if self.stream {
            chat.insert("stream".into(), json!(true));
        }
        if let Some(u) = &self.user {
            chat.insert("user".into(), json!(u));
        }
        if let Some(e) = &self.reasoning_effort {
            chat.insert("reasoning_effort".into(), json!(e));
        }
        Value::Object(chat)
    }
}

/// A turn's content on the chat API: one text part as a string, otherwise an array of parts
/// (tool results, which chat takes as text only, join their text parts).
fn chat_content(parts: &[Part], role: Role) -> Value {
    match parts {
        [] => json!(""),
        [Part::Text(s)] => json!(s),
        _ if role == Role::Tool || parts.iter().all(|p| matches!(p, Part::Text(_))) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text(s) => Some(s.as_str()),
                    Part::Image(_) => None,
                })
                .collect();
            if role == Role::Tool || role == Role::System {
                json!(texts.join("\n"))
            } else {
                Value::Array(
                    texts
                        .iter()
                        .map(|t| json!({"type": "text", "text": t}))
                        .collect(),
                )
            }
        }
        _ => Value::Array(
            parts
                .iter()
                .map(|p| match p {
                    Part::Text(s) => json!({"type": "text", "text": s}),
                    Part::Image(u) => json!({"type": "image_url", "image_url": {"url": u}}),
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LlmRequest {
        let mut r = LlmRequest::new("MoM");
        r.system = Some("be brief".into());
        r.turns.push(Turn::new(
            Role::User,
            vec![
                Part::Text("what is".into()),
                Part::Image("data:image/png;base64,AA".into()),
                Part::Text("this".into()),
            ],
        ));
        let mut call = Turn::new(Role::Assistant, Vec::new());
        call.tool_calls.push(ToolCall {
            id: "t1".into(),
            name: "lookup".into(),
            arguments: json!({"q": "x"}),
        });
        r.turns.push(call);
        let mut result = Turn::new(Role::Tool, vec![Part::Text("found".into())]);
        result.tool_call_id = Some("t1".into());
        result.is_error = true;
        r.turns.push(result);
        r.tools.push(ToolDef {
            name: "lookup".into(),
            description: None,
            parameters: json!({"type": "object"}),
        });
        r.tool_choice = Some(ToolChoice::Named("lookup".into()));
        r.sampling.stop = vec!["END".into()];
        r.stream = true;
        r
    }

    #[test]
    fn chat_body_carries_every_part() {
        let c = sample().to_chat_body();
        assert_eq!(
            c["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(c["messages"][1]["content"][1]["type"], "image_url");
        assert_eq!(c["messages"][2]["content"], Value::Null);
        assert_eq!(
            c["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"q\":\"x\"}"
        );
        assert_eq!(
            c["messages"][3],
            json!({"role": "tool", "content": "Error: found", "tool_call_id": "t1"})
        );
        assert_eq!(c["tools"][0]["function"]["name"], "lookup");
        assert_eq!(c["tool_choice"]["function"]["name"], "lookup");
        assert_eq!(c["stop"], json!(["END"]));
        assert_eq!(c["stream"], true);
    }

    #[test]
    fn view_reads_the_last_user_text_and_image() {
        let v = sample().view();
        // The last user turn with text is the first one (the tool result is not user text).
        assert_eq!(v.text, "what is this");
        assert_eq!(v.image_url.as_deref(), Some("data:image/png;base64,AA"));
        assert!(v.history.iter().any(|m| m.role == "system"));
        assert!(
            v.history
                .iter()
                .any(|m| m.role == "tool" && m.text == "found")
        );
    }
}
