//! The `conversation` family (head-delta §5): counts and presence tests over the request's
//! structure — messages per role, tool definitions, assistant tool calls, tool results, an
//! open tool loop, images — read from [`ConversationFacts`], never from the text.

use vsr_config::{ConversationFeatureType, ConversationRole, ConversationSourceType};

use crate::bounds::Bounds;
use crate::family::{Family, SignalError, SignalFamily};
use crate::request::{ConversationFacts, RequestContext};
use crate::set::SignalResult;

/// One compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRule {
    pub name: String,
    pub feature: ConversationFeatureType,
    pub source: ConversationSourceType,
    /// Only with `source: message`; `None` counts every role.
    pub role: Option<ConversationRole>,
    /// Only with `feature: count`; empty holds for every value.
    pub predicate: Bounds,
}

impl ConversationRule {
    /// The rule of a config entry (a missing feature or source type reads as the first
    /// value; validation rejects such entries before a router is built).
    pub fn from_config(c: &vsr_config::ConversationSignal) -> Self {
        let p = c.predicate.clone().unwrap_or_default();
        Self {
            name: c.name.clone(),
            feature: c.feature.kind.unwrap_or(ConversationFeatureType::Count),
            source: c
                .feature
                .source
                .kind
                .unwrap_or(ConversationSourceType::Message),
            role: c.feature.source.role,
            predicate: Bounds {
                gt: p.gt,
                gte: p.gte,
                lt: p.lt,
                lte: p.lte,
            },
        }
    }

    /// The raw count this rule reads.
    pub fn count(&self, f: &ConversationFacts) -> f64 {
        let developer = u32::from(f.developer);
        let n = match self.source {
            ConversationSourceType::Message => match self.role {
                Some(ConversationRole::User) => f.user,
                Some(ConversationRole::Assistant) => f.assistant,
                Some(ConversationRole::System) => f.system,
                Some(ConversationRole::Tool) => f.tool,
                Some(ConversationRole::Developer) => developer,
                Some(ConversationRole::NonUser) => f.assistant + f.system + f.tool + developer,
                None => f.user + f.assistant + f.system + f.tool + developer,
            },
            ConversationSourceType::ToolDefinition => f.tool_definitions,
            ConversationSourceType::AssistantToolCall => f.assistant_tool_calls,
            ConversationSourceType::AssistantToolCycle => f.tool,
            ConversationSourceType::ActiveToolLoop => u32::from(f.active_tool_loop),
            ConversationSourceType::ImageContent => f.images,
        };
        f64::from(n)
    }

    /// The rule's value and whether it matches.
    pub fn evaluate(&self, f: &ConversationFacts) -> (f64, bool) {
        let raw = self.count(f);
        match self.feature {
            ConversationFeatureType::Exists => {
                let v = if raw > 0.0 { 1.0 } else { 0.0 };
                (v, v > 0.0)
            }
            ConversationFeatureType::Count => (raw, self.predicate.holds(raw)),
        }
    }
}

/// The compiled conversation family.
pub struct ConversationFamily {
    rules: Vec<ConversationRule>,
}

impl ConversationFamily {
    pub fn new(rules: Vec<ConversationRule>) -> Self {
        Self { rules }
    }
}

impl SignalFamily for ConversationFamily {
    fn family(&self) -> Family {
        Family::Conversation
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let facts = &ctx.view().facts;
        for (rule, slot) in self.rules.iter().zip(out.iter_mut()) {
            let (value, matched) = rule.evaluate(facts);
            slot.value = value;
            if matched {
                slot.set_match(1.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{ChatMessage, RequestView};
    use serde_json::json;

    fn rule(
        feature: ConversationFeatureType,
        source: ConversationSourceType,
        role: Option<ConversationRole>,
        predicate: Bounds,
    ) -> ConversationRule {
        ConversationRule {
            name: "r".into(),
            feature,
            source,
            role,
            predicate,
        }
    }

    fn tool_loop() -> RequestView {
        let ms: Vec<ChatMessage> = serde_json::from_value(json!([
            {"role": "system", "content": "You are an agent."},
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is the weather in Paris?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                {"type": "input_image", "image_url": "u"}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "weather", "arguments": "{}"}},
                {"id": "2", "type": "function", "function": {"name": "time", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "1", "content": "18C"}
        ]))
        .expect("messages");
        RequestView::from_messages(&ms).with_tools(3)
    }

    #[test]
    fn facts_of_a_tool_loop_request() {
        let f = tool_loop().facts;
        assert_eq!((f.user, f.assistant, f.system, f.tool), (1, 1, 1, 1));
        assert!(f.developer && f.active_tool_loop);
        assert_eq!(f.assistant_tool_calls, 2);
        assert_eq!(f.tool_definitions, 3);
        assert_eq!(f.images, 2);
    }

    #[test]
    fn counts_per_source_and_role() {
        let f = tool_loop().facts;
        use ConversationFeatureType::*;
        use ConversationSourceType::*;
        let c = |s, r| rule(Count, s, r, Bounds::default()).count(&f);
        assert_eq!(c(Message, None), 5.0);
        assert_eq!(c(Message, Some(ConversationRole::NonUser)), 4.0);
        assert_eq!(c(Message, Some(ConversationRole::Developer)), 1.0);
        assert_eq!(c(ToolDefinition, None), 3.0);
        assert_eq!(c(AssistantToolCall, None), 2.0);
        assert_eq!(c(AssistantToolCycle, None), 1.0);
        assert_eq!(c(ActiveToolLoop, None), 1.0);
        assert_eq!(c(ImageContent, None), 2.0);
        let gte2 = Bounds {
            gte: Some(2.0),
            ..Bounds::default()
        };
        assert_eq!(
            rule(Count, AssistantToolCall, None, gte2).evaluate(&f),
            (2.0, true)
        );
        assert_eq!(
            rule(Count, AssistantToolCycle, None, gte2).evaluate(&f),
            (1.0, false)
        );
        assert_eq!(
            rule(Exists, ImageContent, None, Bounds::default()).evaluate(&f),
            (1.0, true)
        );
    }

    #[test]
    fn a_plain_text_request_has_no_tools_and_no_loop() {
        let v = RequestView::from_text("hello");
        let fam = ConversationFamily::new(vec![rule(
            ConversationFeatureType::Exists,
            ConversationSourceType::ToolDefinition,
            None,
            Bounds::default(),
        )]);
        let ctx = RequestContext::new(&v);
        let mut out = vec![SignalResult::unmatched("r".into())];
        fam.evaluate(&ctx, &mut out).expect("evaluates");
        assert!(!out[0].matched && out[0].confidence == 0.0 && out[0].value == 0.0);
        // A user message right after a tool result keeps the loop open.
        let ms: Vec<ChatMessage> = serde_json::from_value(json!([
            {"role": "assistant", "content": "x", "tool_calls": "not an array"},
            {"role": "tool", "content": "r"},
            {"role": "user", "content": "and now?"}
        ]))
        .expect("messages");
        let f = ConversationFacts::of(&ms);
        assert!(f.active_tool_loop);
        assert_eq!(f.assistant_tool_calls, 0);
    }
}
