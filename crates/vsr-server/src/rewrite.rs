//! Body rewrite for the upstream request. The top-level object is held as raw JSON values, so
//! every field the router does not touch is forwarded byte for byte (unknown fields included).

use indexmap::IndexMap;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use vsr_config::ReasoningFamilyType;

use crate::settings::ReasoningFamily;

pub type RawObject = IndexMap<String, Box<RawValue>>;

/// What to change in the request body.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rewrite<'a> {
    /// New `model` value when it differs from the client's.
    pub model: Option<&'a str>,
    /// Reasoning to inject: (family, use_reasoning, effort for `reasoning_effort` families).
    pub reasoning: Option<(&'a ReasoningFamily, bool, &'a str)>,
    /// Force `stream: true` and `stream_options.include_usage: true`.
    pub stream_usage: bool,
}

fn raw(v: &Value) -> Result<Box<RawValue>, serde_json::Error> {
    RawValue::from_string(serde_json::to_string(v)?)
}

fn object_of(fields: &RawObject, key: &str) -> Map<String, Value> {
    fields
        .get(key)
        .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// Applies `rw` to `fields`. Returns false when nothing changed (forward the original bytes).
pub fn apply(fields: &mut RawObject, rw: &Rewrite<'_>) -> Result<bool, serde_json::Error> {
    let mut changed = false;
    if let Some(m) = rw.model {
        fields.insert("model".into(), raw(&Value::String(m.into()))?);
        changed = true;
    }
    if let Some((family, on, effort)) = rw.reasoning {
        // Upstream always drops a top-level reasoning_effort on the routed path.
        let client_effort = fields
            .shift_remove("reasoning_effort")
            .and_then(|r| serde_json::from_str::<Value>(r.get()).ok());
        if family.kind == ReasoningFamilyType::TopLevelReasoningEffort {
            // Upstream HEAD: the effort goes to the top-level field; off restores only what the
            // client sent, and the same key inside chat_template_kwargs is dropped.
            if on {
                fields.insert(
                    "reasoning_effort".into(),
                    raw(&Value::String(effort.into()))?,
                );
                if fields.contains_key("chat_template_kwargs") {
                    let mut kwargs = object_of(fields, "chat_template_kwargs");
                    if kwargs.remove(&family.parameter).is_some() {
                        if kwargs.is_empty() {
                            fields.shift_remove("chat_template_kwargs");
                        } else {
                            fields.insert(
                                "chat_template_kwargs".into(),
                                raw(&Value::Object(kwargs))?,
                            );
                        }
                    }
                }
            } else if let Some(v) = client_effort {
                fields.insert("reasoning_effort".into(), raw(&v)?);
            }
            changed = true;
        } else {
            let value = match family.kind {
                ReasoningFamilyType::ChatTemplateKwargs
                | ReasoningFamilyType::TopLevelReasoningEffort => Value::Bool(on),
                ReasoningFamilyType::ReasoningEffort if on => Value::String(effort.into()),
                ReasoningFamilyType::ReasoningEffort => client_effort
                    .filter(|v| v.is_string())
                    .unwrap_or_else(|| Value::String("low".into())),
            };
            let mut kwargs = object_of(fields, "chat_template_kwargs");
            kwargs.insert(family.parameter.clone(), value);
            fields.insert("chat_template_kwargs".into(), raw(&Value::Object(kwargs))?);
            changed = true;
        }
    }
    if rw.stream_usage {
        let already = fields.get("stream").is_some_and(|r| r.get() == "true");
        let mut opts = object_of(fields, "stream_options");
        if !already || opts.get("include_usage") != Some(&Value::Bool(true)) {
            fields.insert("stream".into(), raw(&Value::Bool(true))?);
            opts.insert("include_usage".into(), Value::Bool(true));
            fields.insert("stream_options".into(), raw(&Value::Object(opts))?);
            changed = true;
        }
    }
    Ok(changed)
}

pub fn to_bytes(fields: &RawObject) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(fields)
}

/// What the routed request asks of one alias.
pub(crate) struct Target<'a> {
    pub model: &'a crate::settings::ModelSettings,
    /// `(use_reasoning, effort)` of the decision's model ref; `None` without a decision (no
    /// reasoning change).
    pub reasoning: Option<(bool, Option<&'a str>)>,
}

/// Rewrites `fields` for `target` (model id always; reasoning per its family) and returns the
/// upstream body (`original` itself when nothing changed) and whether reasoning is on.
pub(crate) fn body_for(
    settings: &crate::settings::ProxySettings,
    fields: &mut RawObject,
    original: &bytes::Bytes,
    client_model: &str,
    streaming: bool,
    target: &Target<'_>,
) -> Result<(bytes::Bytes, bool), crate::error::ApiError> {
    use crate::error::ApiError;
    let upstream_id = target.model.upstream_id();
    let default_effort = settings
        .default_reasoning_effort
        .as_deref()
        .unwrap_or("medium");
    let family = target
        .model
        .reasoning_family
        .as_ref()
        .and_then(|f| settings.reasoning_families.get(f));
    let rw = Rewrite {
        model: (upstream_id != client_model).then_some(upstream_id),
        reasoning: target
            .reasoning
            .zip(family)
            .map(|((on, effort), fam)| (fam, on, effort.unwrap_or(default_effort))),
        stream_usage: streaming,
    };
    let changed = apply(fields, &rw).map_err(|e| ApiError::RewriteFailed(e.to_string()))?;
    let body = if changed {
        bytes::Bytes::from(to_bytes(fields).map_err(|e| ApiError::RewriteFailed(e.to_string()))?)
    } else {
        original.clone()
    };
    Ok((body, rw.reasoning.is_some_and(|(_, on, _)| on)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> RawObject {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn untouched_fields_keep_their_bytes() {
        let src = r#"{"model":"MoM","x_custom":{"n":1.50, "e":1e3},"messages":[{"role":"user","content":"hi"}],"temperature":0.70}"#;
        let mut f = parse(src);
        let q3 = ReasoningFamily {
            kind: ReasoningFamilyType::ChatTemplateKwargs,
            parameter: "enable_thinking".into(),
        };
        let changed = apply(
            &mut f,
            &Rewrite {
                model: Some("qwen/a"),
                reasoning: Some((&q3, true, "high")),
                stream_usage: false,
            },
        )
        .unwrap();
        assert!(changed);
        let out = String::from_utf8(to_bytes(&f).unwrap()).unwrap();
        assert!(out.contains(r#""x_custom":{"n":1.50, "e":1e3}"#), "{out}");
        assert!(out.contains(r#""temperature":0.70"#));
        assert!(out.starts_with(r#"{"model":"qwen/a""#));
        assert!(
            out.ends_with(r#""chat_template_kwargs":{"enable_thinking":true}}"#),
            "{out}"
        );
    }

    #[test]
    fn reasoning_families_per_spec() {
        let q3 = ReasoningFamily {
            kind: ReasoningFamilyType::ChatTemplateKwargs,
            parameter: "enable_thinking".into(),
        };
        let mut f = parse(
            r#"{"model":"m","reasoning_effort":"high","chat_template_kwargs":{"keep":1,"enable_thinking":true}}"#,
        );
        apply(
            &mut f,
            &Rewrite {
                reasoning: Some((&q3, false, "high")),
                ..Default::default()
            },
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&to_bytes(&f).unwrap()).unwrap();
        assert!(v.get("reasoning_effort").is_none());
        assert_eq!(
            v["chat_template_kwargs"],
            serde_json::json!({"keep":1,"enable_thinking":false})
        );

        let gpt = ReasoningFamily {
            kind: ReasoningFamilyType::ReasoningEffort,
            parameter: "reasoning_effort".into(),
        };
        let mut f = parse(r#"{"model":"m","reasoning_effort":"minimal"}"#);
        apply(
            &mut f,
            &Rewrite {
                reasoning: Some((&gpt, false, "high")),
                ..Default::default()
            },
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&to_bytes(&f).unwrap()).unwrap();
        assert_eq!(v["chat_template_kwargs"]["reasoning_effort"], "minimal");
        let mut f = parse(r#"{"model":"m"}"#);
        apply(
            &mut f,
            &Rewrite {
                reasoning: Some((&gpt, true, "high")),
                ..Default::default()
            },
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&to_bytes(&f).unwrap()).unwrap();
        assert_eq!(v["chat_template_kwargs"]["reasoning_effort"], "high");
    }

    #[test]
    fn top_level_reasoning_effort_family() {
        let fam = ReasoningFamily {
            kind: ReasoningFamilyType::TopLevelReasoningEffort,
            parameter: "reasoning_effort".into(),
        };
        let on = |src: &str, on: bool| {
            let mut f = parse(src);
            apply(
                &mut f,
                &Rewrite {
                    reasoning: Some((&fam, on, "max")),
                    ..Default::default()
                },
            )
            .unwrap();
            serde_json::from_slice::<Value>(&to_bytes(&f).unwrap()).unwrap()
        };
        let v = on(
            r#"{"model":"m","reasoning_effort":"low","chat_template_kwargs":{"reasoning_effort":"x"}}"#,
            true,
        );
        assert_eq!(v["reasoning_effort"], "max");
        assert!(v.get("chat_template_kwargs").is_none());
        // Off: only the client's own value comes back; none is synthesised.
        let v = on(r#"{"model":"m","reasoning_effort":"low"}"#, false);
        assert_eq!(v["reasoning_effort"], "low");
        let v = on(r#"{"model":"m"}"#, false);
        assert!(v.get("reasoning_effort").is_none());
        assert!(v.get("chat_template_kwargs").is_none());
    }

    #[test]
    fn stream_usage_is_added_and_idempotent() {
        let mut f = parse(r#"{"model":"m","stream":true,"stream_options":{"x":1}}"#);
        assert!(
            apply(
                &mut f,
                &Rewrite {
                    stream_usage: true,
                    ..Default::default()
                }
            )
            .unwrap()
        );
        let v: Value = serde_json::from_slice(&to_bytes(&f).unwrap()).unwrap();
        assert_eq!(
            v["stream_options"],
            serde_json::json!({"x":1,"include_usage":true})
        );
        assert!(
            !apply(
                &mut f,
                &Rewrite {
                    stream_usage: true,
                    ..Default::default()
                }
            )
            .unwrap()
        );
    }
}
