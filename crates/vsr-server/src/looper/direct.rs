//! Asking a looper directly (head-delta §15.1–15.2): a request whose model is a fusion slug
//! (`vllm-sr/fusion`) or a flow slug (`vllm-sr/flow`) is answered by one of the default
//! profile's fusion / workflows decisions — the best one that matched, else the one with the
//! highest priority — and a fusion request may carry its own settings as a request plugin,
//! `plugins: [{"id": "fusion", …the fusion block's fields…, "enabled": true}]`, which
//! override the decision's (or stand alone, with `analysis_models`, when no decision is there).

use std::sync::Arc;

use serde::Deserialize;
use vsr_config::looper::{FusionSpec, LooperSpec};
use vsr_engine::RoutingResult;

use super::Looper;
use crate::error::ApiError;
use crate::proxy::ChatRequest;
use crate::state::Runtime;

/// The name a request-only fusion runs under.
pub const REQUEST_ONLY_DECISION: &str = "fusion_direct";

/// A `plugins[]` entry with `id: fusion`: the fusion block's fields, all optional.
#[derive(Debug, Deserialize)]
struct FusionPlugin {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(flatten)]
    spec: FusionSpec,
}

#[derive(Deserialize)]
struct PluginId {
    #[serde(default)]
    id: String,
}

/// The request's enabled fusion plugin, if any; a malformed one is a 400.
fn fusion_plugin(req: &ChatRequest) -> Result<Option<FusionSpec>, ApiError> {
    let Some(raw) = req.fields.get("plugins") else {
        return Ok(None);
    };
    let invalid = |e: String| ApiError::InvalidInput(format!("invalid Fusion plugin: {e}"));
    let plugins: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(raw.get()).map_err(|e| invalid(format!("plugins: {e}")))?;
    for p in plugins {
        let id: PluginId = serde_json::from_str(p.get()).map_err(|e| invalid(e.to_string()))?;
        if !matches!(id.id.trim(), "fusion" | "openrouter:fusion") {
            continue;
        }
        let plugin: FusionPlugin =
            serde_json::from_str(p.get()).map_err(|e| invalid(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for o in &plugin.spec.analysis_overrides {
            if o.model.trim().is_empty() || !seen.insert(o.model.trim()) {
                return Err(invalid(format!(
                    "analysis_overrides: model {:?} is empty or repeated",
                    o.model
                )));
            }
        }
        if plugin.spec.temperature.is_some_and(|t| t < 0.0) {
            return Err(invalid("temperature must be >= 0".into()));
        }
        return Ok(plugin.enabled.unwrap_or(true).then_some(plugin.spec));
    }
    Ok(None)
}

/// `over`'s set fields on top of `base` (as upstream merges a request plugin).
fn merge(base: &FusionSpec, over: FusionSpec) -> FusionSpec {
    let mut out = base.clone();
    if over.model.is_some() {
        out.model = over.model;
    }
    if !over.analysis_models.is_empty() {
        out.analysis_models = over.analysis_models;
    }
    for o in over.analysis_overrides {
        match out
            .analysis_overrides
            .iter_mut()
            .find(|x| x.model == o.model)
        {
            Some(x) => {
                x.temperature = o.temperature.or(x.temperature);
                x.max_completion_tokens = o.max_completion_tokens.or(x.max_completion_tokens);
            }
            None => out.analysis_overrides.push(o),
        }
    }
    macro_rules! take {
        ($($f:ident),*) => { $( if over.$f.is_some() { out.$f = over.$f; } )* };
    }
    take!(
        max_concurrent,
        max_completion_tokens,
        round_timeout_seconds,
        min_successful_responses,
        temperature,
        include_analysis,
        include_intermediate_responses,
        on_error,
        analysis_template,
        synthesis_template,
        judge_prompt_version,
        grounding
    );
    out
}

/// The looper a slug request runs, with `result.decision` set to its decision. `kind` is
/// `fusion` or `workflows`; `result` is the default profile's routing of the request.
pub(crate) fn resolve(
    rt: &Runtime,
    req: &ChatRequest,
    kind: &str,
    result: &mut RoutingResult,
) -> Result<Arc<Looper>, ApiError> {
    let loopers = &rt.settings.loopers;
    let is_kind = |name: &str| loopers.get(None, name).is_some_and(|l| l.kind() == kind);
    let plugin = if kind == "fusion" {
        fusion_plugin(req)?
    } else {
        None
    };
    let matched = result
        .decisions
        .best_matched(is_kind)
        .map(|d| d.name.to_string());
    let chosen: Option<(String, Arc<Looper>)> = match matched {
        Some(name) => loopers.get(None, &name).map(|l| (name, Arc::clone(l))),
        None => match &plugin {
            Some(p) if !p.analysis_models.is_empty() => Some((
                REQUEST_ONLY_DECISION.to_string(),
                Arc::new(Looper {
                    spec: LooperSpec::Fusion(FusionSpec::default()),
                    refs: Vec::new(),
                }),
            )),
            // The highest-priority decision of the kind that names models to call.
            _ => rt
                .settings
                .looper_decisions
                .iter()
                .filter(|(_, _, k)| *k == kind)
                .filter_map(|(name, _, _)| {
                    loopers
                        .get(None, name)
                        .map(|l| (name.clone(), Arc::clone(l)))
                })
                .find(|(_, l)| {
                    !l.refs.is_empty()
                        || matches!(&l.spec, LooperSpec::Fusion(f) if !f.analysis_models.is_empty())
                }),
        },
    };
    let Some((name, looper)) = chosen else {
        let what = if kind == "fusion" { "Fusion" } else { "Flow" };
        let hint = if kind == "fusion" {
            " and no request plugins[].id=fusion analysis_models override was provided"
        } else {
            ""
        };
        return Err(ApiError::InvalidInput(format!(
            "no eligible {what} decision matched for model {:?}{hint}",
            req.model
        )));
    };
    result.decision = Some(name);
    result.is_default = false;
    Ok(match (plugin, &looper.spec) {
        (Some(p), LooperSpec::Fusion(base)) => Arc::new(Looper {
            spec: LooperSpec::Fusion(merge(base, p)),
            refs: looper.refs.clone(),
        }),
        _ => looper,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsr_config::looper::AnalysisOverride;

    #[test]
    fn a_request_plugin_overrides_only_what_it_sets() {
        let base = FusionSpec {
            model: Some("judge".into()),
            analysis_models: vec!["a".into(), "b".into()],
            analysis_overrides: vec![AnalysisOverride {
                model: "a".into(),
                temperature: Some(0.2),
                max_completion_tokens: Some(100),
            }],
            max_concurrent: Some(2),
            ..FusionSpec::default()
        };
        let over: FusionPlugin = serde_json::from_str(
            r#"{"id":"fusion","analysis_overrides":[{"model":"a","temperature":0.9}],"min_successful_responses":1,"include_analysis":false}"#,
        )
        .expect("parses");
        let m = merge(&base, over.spec);
        assert_eq!(m.model.as_deref(), Some("judge"));
        assert_eq!(m.analysis_models, ["a", "b"]);
        assert_eq!(m.analysis_overrides[0].temperature, Some(0.9));
        assert_eq!(m.analysis_overrides[0].max_completion_tokens, Some(100));
        assert_eq!(
            (m.max_concurrent, m.min_successful_responses),
            (Some(2), Some(1))
        );
        assert_eq!(m.include_analysis, Some(false));
        let bad = serde_json::from_str::<FusionPlugin>(r#"{"id":"fusion","max_concurrent":-1}"#);
        assert!(bad.is_err());
    }
}
