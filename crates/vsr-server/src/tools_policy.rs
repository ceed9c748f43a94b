//! The `tools` plugin (HEAD §14): after the decision, what the chosen decision lets the model
//! see of the client's tools. The signals already read the request as sent; only the forwarded
//! body changes.
//! - `none`: the tool fields go (`tools`, `tool_choice`, `functions`, `function_call`,
//!   `parallel_tool_calls`, `web_search_options`); with `strip_tool_history`, also the tool
//!   results and the assistant's tool calls of earlier turns.
//! - `filtered`: tools named in `block_tools`, or missing from a non-empty `allow_tools`, go.
//! - `passthrough` (default): unchanged.
//!
//! Semantic tool selection needs the original's tools database (`global.integrations.tools`),
//! which this router does not have; without it the original leaves the tools as they are too.

use serde_json::Value;
use serde_json::value::RawValue;
use vsr_config::Decision;

use crate::rewrite::RawObject;

const TOOL_FIELDS: [&str; 6] = [
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "parallel_tool_calls",
    "web_search_options",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Passthrough,
    None,
    Filtered,
}

/// One decision's enabled `tools` plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolsPolicy {
    mode: Mode,
    allow: Vec<String>,
    block: Vec<String>,
    strip_history: bool,
}

fn names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl ToolsPolicy {
    /// The policy of a decision, when it has an enabled `tools` plugin that changes anything.
    pub fn of(d: &Decision) -> Option<Self> {
        let p = d.plugins.iter().find(|p| p.kind == "tools")?;
        // HEAD's tools plugin is off unless `enabled: true` is written.
        if p.get("enabled").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let mode = match p.get("mode").and_then(Value::as_str) {
            Some("none") => Mode::None,
            Some("filtered") => Mode::Filtered,
            _ => Mode::Passthrough,
        };
        let policy = ToolsPolicy {
            mode,
            allow: names(p.get("allow_tools")),
            block: names(p.get("block_tools")),
            strip_history: p.get("strip_tool_history").and_then(Value::as_bool) == Some(true),
        };
        (policy.mode != Mode::Passthrough).then_some(policy)
    }

    /// Applies the policy to the forwarded body's fields; true when something changed.
    pub fn apply(&self, fields: &mut RawObject) -> Result<bool, String> {
        match self.mode {
            Mode::Passthrough => Ok(false),
            Mode::None => {
                let mut changed = false;
                for k in TOOL_FIELDS {
                    changed |= fields.shift_remove(k).is_some();
                }
                if self.strip_history {
                    changed |= strip_history(fields)?;
                }
                Ok(changed)
            }
            Mode::Filtered => self.filter(fields),
        }
    }

    fn keeps(&self, name: &str) -> bool {
        !self.block.iter().any(|b| b == name)
            && (self.allow.is_empty() || self.allow.iter().any(|a| a == name))
    }

    fn filter(&self, fields: &mut RawObject) -> Result<bool, String> {
        let Some(raw) = fields.get("tools") else {
            return Ok(false);
        };
        let tools: Vec<Value> =
            serde_json::from_str(raw.get()).map_err(|e| format!("tools: {e}"))?;
        let before = tools.len();
        let kept: Vec<Value> = tools
            .into_iter()
            .filter(|t| {
                let name = t
                    .pointer("/function/name")
                    .or_else(|| t.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                self.keeps(name)
            })
            .collect();
        if kept.len() == before {
            return Ok(false);
        }
        if kept.is_empty() {
            // No tool left: a tool_choice naming or requiring one would be refused upstream.
            for k in TOOL_FIELDS {
                fields.shift_remove(k);
            }
        } else {
            fields.insert("tools".into(), raw_of(&Value::Array(kept))?);
        }
        Ok(true)
    }
}

fn raw_of(v: &Value) -> Result<Box<RawValue>, String> {
    serde_json::value::to_raw_value(v).map_err(|e| e.to_string())
}

/// Drops tool and function results and the assistant's tool calls from the history; an
/// assistant turn that was only a call goes with it.
fn strip_history(fields: &mut RawObject) -> Result<bool, String> {
    let Some(raw) = fields.get("messages") else {
        return Ok(false);
    };
    let messages: Vec<Value> =
        serde_json::from_str(raw.get()).map_err(|e| format!("messages: {e}"))?;
    let before = messages.clone();
    let kept: Vec<Value> = messages
        .into_iter()
        .filter_map(|mut m| {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("");
            if matches!(role, "tool" | "function") {
                return None;
            }
            if role == "assistant"
                && let Some(o) = m.as_object_mut()
                && (o.remove("tool_calls").is_some() | o.remove("function_call").is_some())
            {
                let empty = match o.get("content") {
                    None | Some(Value::Null) => true,
                    Some(Value::String(s)) => s.is_empty(),
                    Some(Value::Array(a)) => a.is_empty(),
                    Some(_) => false,
                };
                if empty {
                    return None;
                }
            }
            Some(m)
        })
        .collect();
    if kept == before {
        return Ok(false);
    }
    fields.insert("messages".into(), raw_of(&Value::Array(kept))?);
    Ok(true)
}

/// The tools policies of every profile, by (recipe, decision).
pub type ToolsPolicies = crate::by_decision::ByDecision<ToolsPolicy>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(conf: Value) -> Option<ToolsPolicy> {
        let d = Decision {
            name: "d".into(),
            plugins: vec![vsr_config::Plugin {
                kind: "tools".into(),
                configuration: conf,
            }],
            ..Default::default()
        };
        ToolsPolicy::of(&d)
    }

    fn fields(v: Value) -> RawObject {
        serde_json::from_value::<Value>(v)
            .map(|v| serde_json::from_str(&v.to_string()).unwrap())
            .unwrap()
    }

    fn back(f: &RawObject) -> Value {
        serde_json::from_slice(&crate::rewrite::to_bytes(f).unwrap()).unwrap()
    }

    fn request() -> Value {
        json!({"model": "MoM", "tool_choice": "auto", "parallel_tool_calls": true,
            "tools": [{"type": "function", "function": {"name": "search"}},
                      {"type": "function", "function": {"name": "shell"}}],
            "messages": [{"role": "user", "content": "find x"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "t", "type": "function",
                    "function": {"name": "search", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t", "content": "x is 1"},
                {"role": "assistant", "content": "x is 1", "tool_calls": []},
                {"role": "user", "content": "thanks"}]})
    }

    #[test]
    fn none_removes_the_tool_fields_and_optionally_the_history() {
        let p = policy(json!({"enabled": true, "mode": "none"})).unwrap();
        let mut f = fields(request());
        assert!(p.apply(&mut f).unwrap());
        let v = back(&f);
        assert!(v.get("tools").is_none() && v.get("tool_choice").is_none());
        assert!(v.get("parallel_tool_calls").is_none());
        assert_eq!(v["messages"].as_array().unwrap().len(), 5, "history kept");
        let p =
            policy(json!({"enabled": true, "mode": "none", "strip_tool_history": true})).unwrap();
        let mut f = fields(request());
        assert!(p.apply(&mut f).unwrap());
        let m = back(&f)["messages"].clone();
        let roles: Vec<&str> = m
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(m[1], json!({"role": "assistant", "content": "x is 1"}));
    }

    #[test]
    fn filtered_keeps_allowed_and_drops_blocked_tools() {
        let p =
            policy(json!({"enabled": true, "mode": "filtered", "block_tools": ["shell"]})).unwrap();
        let mut f = fields(request());
        assert!(p.apply(&mut f).unwrap());
        let v = back(&f);
        assert_eq!(v["tools"].as_array().unwrap().len(), 1);
        assert_eq!(v["tools"][0]["function"]["name"], "search");
        assert_eq!(v["tool_choice"], "auto");
        let p = policy(json!({"enabled": true, "mode": "filtered", "allow_tools": ["nothing"]}))
            .unwrap();
        let mut f = fields(request());
        assert!(p.apply(&mut f).unwrap());
        let v = back(&f);
        assert!(
            v.get("tools").is_none() && v.get("tool_choice").is_none(),
            "{v}"
        );
        let p = policy(
            json!({"enabled": true, "mode": "filtered", "allow_tools": ["search", "shell"]}),
        )
        .unwrap();
        let mut f = fields(request());
        assert!(
            !p.apply(&mut f).unwrap(),
            "nothing to drop: the body stays as sent"
        );
    }

    #[test]
    fn disabled_or_passthrough_plugins_have_no_policy() {
        assert!(
            policy(json!({"mode": "none"})).is_none(),
            "enabled defaults to false"
        );
        assert!(policy(json!({"enabled": false, "mode": "none"})).is_none());
        assert!(policy(json!({"enabled": true})).is_none());
        assert!(policy(json!({"enabled": true, "mode": "passthrough"})).is_none());
    }
}
