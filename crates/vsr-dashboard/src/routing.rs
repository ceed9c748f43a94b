//! Routing questions about the live config or a draft, answered in-process with no backend
//! call: eval with the runner-up's "why not", the topology graph, probe runs, and the impact
//! of a draft on recorded traffic.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vsr_app::{LearnedClassifier, Live};
use vsr_config::{Config, RuleNode};
use vsr_engine::RoutingResult;
use vsr_server::Classifier;
use vsr_signals::RequestView;

use crate::Dash;
use crate::auth::Caller;
use crate::config_api::validated;
use crate::error::{DashError, DashResult};

/// The built-in profile's probe manifest, used when the config has none beside it.
const BUILTIN_PROBES: &str = include_str!("../../../profiles/balance/balance.probes.yaml");

fn live(dash: &Dash) -> DashResult<Live> {
    dash.sup
        .live()
        .ok_or_else(|| DashError::Conflict("no config is active yet".into()))
}

/// A router for a draft config over the process's encoder.
pub fn draft_classifier(cfg: &Config, live: &Live) -> DashResult<LearnedClassifier> {
    LearnedClassifier::new(cfg, &live.models).map_err(|e| DashError::Invalid {
        message: format!("the draft cannot be routed: {e}"),
        diagnostics: vec![],
    })
}

fn blocking_err(e: tokio::task::JoinError) -> DashError {
    DashError::Internal(e.to_string())
}

/// Why the best-ranked other decision did not win.
#[derive(Debug, Serialize)]
pub struct WhyNot {
    pub decision: String,
    pub priority: i64,
    /// It matched too, but ranks below the winner.
    pub matched: bool,
    pub reason: String,
    /// Leaves of its rule tree that did not match, with their confidence and margin.
    pub failed: Vec<FailedLeaf>,
}

#[derive(Debug, Serialize)]
pub struct FailedLeaf {
    pub signal: String,
    pub confidence: f64,
    /// The signal's configured threshold, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// How far the leaf is from matching: threshold − confidence, or for a projection band
    /// the distance of its score to the band.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
}

/// `family:name` → configured threshold, for signals that have one.
pub fn signal_thresholds(cfg: &vsr_config::Config) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(signals) = serde_json::to_value(&cfg.routing.signals) else {
        return out;
    };
    for kind in vsr_config::SignalType::ALL {
        let (Some(key), family) = (kind.family_key(), kind.as_str()) else {
            continue;
        };
        for s in signals[key].as_array().into_iter().flatten() {
            if let (Some(name), Some(t)) = (s["name"].as_str(), s["threshold"].as_f64()) {
                out.insert(format!("{family}:{name}"), t);
            }
        }
    }
    out
}

/// The margin of a projection-band leaf: how far its score is from entering the band.
fn band_margin(cfg: Option<&Config>, r: &RoutingResult, output: &str) -> Option<f64> {
    let mapping = cfg?
        .routing
        .projections
        .mappings
        .iter()
        .find(|m| m.outputs.iter().any(|o| o.name == output))?;
    let band = mapping.outputs.iter().find(|o| o.name == output)?;
    let score = r
        .projections
        .mappings
        .iter()
        .find(|t| *t.name == *mapping.name)?
        .score;
    let b = &band.bounds;
    let lower = b.gte.or(b.gt);
    let upper = b.lt.or(b.lte);
    match (lower, upper) {
        (Some(lo), _) if score < lo => Some(lo - score),
        (_, Some(hi)) if score > hi => Some(score - hi),
        _ => Some(0.0),
    }
}

pub fn why_not(r: &RoutingResult, cfg: Option<&Config>) -> Option<WhyNot> {
    let winner = r.decision.as_deref();
    let mut others: Vec<_> = r
        .decisions
        .evaluated
        .iter()
        .filter(|d| Some(&*d.name) != winner)
        .collect();
    // Matched ones first (they lost on rank), then by priority.
    others.sort_by_key(|d| (!d.matched, std::cmp::Reverse(d.priority)));
    let d = others.first()?;
    let thresholds = cfg.map(signal_thresholds).unwrap_or_default();
    let failed = d
        .leaves
        .iter()
        .filter(|l| !l.matched)
        .map(|l| FailedLeaf {
            signal: l.signal.to_string(),
            confidence: l.confidence,
            threshold: thresholds.get(&*l.signal).copied(),
            margin: match l.signal.strip_prefix("projection:") {
                Some(o) => band_margin(cfg, r, o),
                None => thresholds
                    .get(&*l.signal)
                    .map(|t| (t - l.confidence).max(0.0)),
            },
        })
        .collect();
    let reason = if d.matched {
        format!(
            "its rules matched too, but `{}` ranks first ({} strategy)",
            winner.unwrap_or("-"),
            serde_json::to_value(r.decisions.strategy)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        )
    } else {
        "its rule tree is not satisfied".to_string()
    };
    Some(WhyNot {
        decision: d.name.to_string(),
        priority: d.priority,
        matched: d.matched,
        reason,
        failed,
    })
}

#[derive(Deserialize)]
pub struct EvalBody {
    text: String,
    #[serde(default)]
    yaml: Option<String>,
}

pub async fn eval(
    State(dash): State<Arc<Dash>>,
    _caller: Caller,
    Json(b): Json<EvalBody>,
) -> DashResult<Json<Value>> {
    let live = live(&dash)?;
    if b.text.trim().is_empty() {
        return Err(DashError::BadRequest("`text` is empty".into()));
    }
    let out = tokio::task::spawn_blocking(move || -> DashResult<Value> {
        let (result, cfg) = match &b.yaml {
            Some(y) => {
                let cfg = validated(y)?;
                let c = draft_classifier(&cfg, &live)?;
                (c.eval(None, &RequestView::from_text(b.text.as_str())), cfg)
            }
            None => {
                let text = std::fs::read_to_string(&live.config_path).unwrap_or_default();
                let cfg = vsr_config::load_str(&text, "config.yaml")
                    .map(|l| l.config)
                    .map_err(|e| DashError::Unavailable(e.to_string()))?;
                let view = RequestView::from_text(b.text.as_str());
                (live.shared.runtime.load().classifier.eval(None, &view), cfg)
            }
        };
        let result = result.map_err(|e| DashError::Unavailable(e.to_string()))?;
        let why = why_not(&result, Some(&cfg));
        Ok(json!({"result": result, "why_not": why}))
    })
    .await
    .map_err(blocking_err)??;
    Ok(Json(out))
}

fn leaves(node: &RuleNode, out: &mut Vec<String>) {
    match node {
        RuleNode::Signal(s) => {
            let id = format!("{}:{}", s.kind.as_str(), s.name);
            if !out.contains(&id) {
                out.push(id);
            }
        }
        RuleNode::And(c) | RuleNode::Or(c) => c.iter().for_each(|n| leaves(n, out)),
        RuleNode::Not(n) => leaves(n, out),
    }
}

/// The config as a graph: signals → projections → decisions → aliases.
pub fn topology_of(cfg: &Config) -> Value {
    let signals: Vec<Value> = cfg
        .signals()
        .map(|(kind, name)| json!({"id": format!("{}:{name}", kind.as_str()), "family": kind.as_str(), "name": name}))
        .collect();
    let p = &cfg.routing.projections;
    let mut projections = Vec::new();
    for part in &p.partitions {
        projections.push(
            json!({"id": format!("partition:{}", part.name), "kind": "partition",
            "name": part.name, "inputs": part.members.clone(), "outputs": part.members.clone()}),
        );
    }
    for s in &p.scores {
        let inputs: Vec<String> = s
            .inputs
            .iter()
            .map(|i| format!("{}:{}", i.kind.as_str(), i.name))
            .collect();
        projections.push(json!({"id": format!("score:{}", s.name), "kind": "score",
            "name": s.name, "inputs": inputs, "outputs": []}));
    }
    for m in &p.mappings {
        let outputs: Vec<String> = m
            .outputs
            .iter()
            .map(|o| format!("projection:{}", o.name))
            .collect();
        projections.push(
            json!({"id": format!("mapping:{}", m.name), "kind": "mapping",
            "name": m.name, "inputs": [format!("score:{}", m.source)], "outputs": outputs}),
        );
    }
    let decisions: Vec<Value> = cfg
        .decisions()
        .map(|d| {
            let mut sig = Vec::new();
            leaves(&d.rules, &mut sig);
            let models: Vec<&str> = d.model_refs.iter().map(|m| m.model.as_str()).collect();
            json!({"name": d.name, "priority": d.priority, "tier": d.tier, "signals": sig, "models": models})
        })
        .collect();
    let aliases: Vec<&str> = cfg
        .providers
        .models
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    json!({
        "signals": signals,
        "projections": projections,
        "decisions": decisions,
        "aliases": aliases,
        "default_model": cfg.default_model(),
    })
}

pub async fn topology(State(dash): State<Arc<Dash>>, _caller: Caller) -> DashResult<Json<Value>> {
    let live = live(&dash)?;
    let text = std::fs::read_to_string(&live.config_path)
        .map_err(|e| DashError::Unavailable(format!("cannot read the config: {e}")))?;
    let cfg = vsr_config::load_str(&text, "config.yaml")
        .map_err(|e| DashError::Unavailable(e.to_string()))?
        .config;
    Ok(Json(topology_of(&cfg)))
}

#[derive(Debug, Serialize)]
pub struct ProbeRun {
    pub manifest: String,
    pub passed: usize,
    pub total: usize,
    pub results: Vec<ProbeResult>,
}

#[derive(Debug, Serialize)]
pub struct ProbeResult {
    pub name: String,
    pub prompt: String,
    pub expected: Expected,
    pub actual: Expected,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Expected {
    pub decision: Option<String>,
    pub model: Option<String>,
}

/// The manifest beside the config (`<stem>.probes.yaml`), else the built-in profile's.
fn default_manifest(live: &Live) -> (String, String) {
    let p = &live.config_path;
    if let Some(stem) = p.file_stem() {
        let beside = p.with_file_name(format!("{}.probes.yaml", stem.to_string_lossy()));
        if let Ok(text) = std::fs::read_to_string(&beside) {
            return (text, beside.display().to_string());
        }
    }
    (
        BUILTIN_PROBES.to_string(),
        "balance.probes.yaml (built in)".into(),
    )
}

/// Runs a manifest through the live router, or through `draft` when given. Blocking.
pub fn probe_run(
    live: &Live,
    manifest: Option<&str>,
    draft: Option<&LearnedClassifier>,
) -> DashResult<ProbeRun> {
    let (text, origin) = match manifest.filter(|m| !m.trim().is_empty()) {
        Some(m) => (m.to_string(), "uploaded manifest".to_string()),
        None => default_manifest(live),
    };
    let manifest =
        vsr_config::probes::Manifest::parse(&text, &origin).map_err(|e| DashError::Invalid {
            message: e.to_string(),
            diagnostics: vec![],
        })?;
    let runtime = live.shared.runtime.load();
    let classifier: &dyn Classifier = match draft {
        Some(d) => d,
        None => runtime.classifier.as_ref(),
    };
    // The profile a probe's `model` selects (an entrypoint's recipe; else the default one).
    let recipe_of = |model: Option<&str>| -> Option<String> {
        let m = model?;
        let recipe = match draft {
            Some(d) => d.routers().entrypoint_recipe(m).map(str::to_string),
            None => runtime
                .settings
                .routing_profile(m)
                .flatten()
                .map(str::to_string),
        };
        recipe.filter(|r| r != vsr_config::DEFAULT_RECIPE)
    };
    let mut results = Vec::new();
    for group in &manifest.decisions {
        let recipe = recipe_of(group.model.as_deref());
        for v in &group.variants {
            // March variants are one text (every family evaluated, as the eval API does);
            // v1 variants may be whole conversations, routed as the proxy would.
            let request = v.request(manifest.fixtures.as_ref());
            let prompt = match &request {
                Ok(vsr_config::probes::ProbeRequest::Text(t)) => t.clone(),
                _ => v.display_prompt.clone().unwrap_or_else(|| v.query.clone()),
            };
            let routed = request
                .map_err(vsr_server::ClassifyError::InvalidInput)
                .and_then(|req| match &req {
                    vsr_config::probes::ProbeRequest::Text(t) => {
                        classifier.eval(recipe.as_deref(), &RequestView::from_text(t.as_str()))
                    }
                    vsr_config::probes::ProbeRequest::Messages(_) => {
                        let view = vsr_app::probes::request_view(&req)
                            .map_err(vsr_server::ClassifyError::InvalidInput)?;
                        classifier.route(recipe.as_deref(), &view)
                    }
                });
            let (actual, error) = match routed {
                Ok(r) => (
                    Expected {
                        decision: r.decision.clone(),
                        model: Some(r.model.clone()),
                    },
                    None,
                ),
                Err(e) => (
                    Expected {
                        decision: None,
                        model: None,
                    },
                    Some(e.to_string()),
                ),
            };
            let passed = actual.decision.as_deref() == Some(group.expected_decision.as_str())
                && group
                    .expected_alias
                    .as_deref()
                    .is_none_or(|a| actual.model.as_deref() == Some(a));
            results.push(ProbeResult {
                name: format!("{}/{}", group.id, v.id),
                prompt,
                expected: Expected {
                    decision: Some(group.expected_decision.clone()),
                    model: group.expected_alias.clone(),
                },
                actual,
                passed,
                error,
            });
        }
    }
    Ok(ProbeRun {
        manifest: origin,
        passed: results.iter().filter(|r| r.passed).count(),
        total: results.len(),
        results,
    })
}

#[derive(Deserialize)]
pub struct ProbesBody {
    #[serde(default)]
    manifest: Option<String>,
    #[serde(default)]
    yaml: Option<String>,
}

pub async fn run_probes(
    State(dash): State<Arc<Dash>>,
    _caller: Caller,
    Json(b): Json<ProbesBody>,
) -> DashResult<Json<Value>> {
    let live = live(&dash)?;
    let run = tokio::task::spawn_blocking(move || {
        let draft = match &b.yaml {
            Some(y) => Some(draft_classifier(&validated(y)?, &live)?),
            None => None,
        };
        probe_run(&live, b.manifest.as_deref(), draft.as_ref())
    })
    .await
    .map_err(blocking_err)??;
    Ok(Json(json!(run)))
}

/// The impact of a draft: the last `limit` recorded requests whose prompt was captured,
/// routed again through the live and the draft config. Blocking.
pub fn impact(
    live: &Live,
    draft_cfg: &Config,
    draft: &LearnedClassifier,
    limit: usize,
) -> DashResult<Value> {
    let Some(replay) = &live.replay else {
        return Ok(
            json!({"records": 0, "covered": 0, "covered_share": 0.0, "changed": 0,
            "changed_share": 0.0, "rows": [], "note": "replay is off: nothing recorded to preview against"}),
        );
    };
    let mut records = Vec::new();
    let mut cursor: Option<vsr_replay::Cursor> = None;
    while records.len() < limit {
        let q = vsr_replay::ListQuery {
            limit: vsr_replay::query::MAX_LIMIT.min((limit - records.len()) as u32),
            cursor: cursor.clone(),
            ..Default::default()
        };
        let page = replay.store.list(&q)?;
        let done = !page.has_more;
        cursor = page.items.last().map(vsr_replay::Cursor::of);
        records.extend(page.items);
        if done || cursor.is_none() {
            break;
        }
    }
    let runtime = live.shared.runtime.load();
    let price = |cfg: &Config, alias: &str, r: &vsr_replay::ReplayRecord| {
        let p = cfg.model(alias)?.pricing.as_ref()?;
        let usage = vsr_config::Usage {
            prompt_tokens: r.prompt_tokens?,
            completion_tokens: r.completion_tokens?,
            cached_tokens: r.cached_tokens,
            cache_write_tokens: None,
        };
        Some(p.cost(&usage))
    };
    let headers = http::HeaderMap::new();
    let mut rows = Vec::new();
    let (mut covered, mut changed) = (0usize, 0usize);
    let (mut before_total, mut after_total) = (0.0f64, 0.0f64);
    let mut currency = String::new();
    for r in &records {
        let Some(body) = r
            .request_body
            .as_deref()
            .filter(|_| !r.request_body_truncated)
        else {
            continue;
        };
        let Ok(view) = vsr_server::parse_chat(bytes::Bytes::from(body.to_string()), &headers)
            // The envelope too: either config may be an August one that reads it.
            .and_then(|c| c.view(true))
        else {
            continue;
        };
        let (Ok(before), Ok(after)) = (
            runtime.classifier.route(None, &view),
            draft.route(None, &view),
        ) else {
            continue;
        };
        covered += 1;
        let moved = before.decision != after.decision || before.model != after.model;
        if moved {
            changed += 1;
        }
        let cost_before = r.actual_cost;
        let cost_after = price(draft_cfg, &after.model, r);
        if let (Some(b), Some(a)) = (cost_before, cost_after) {
            before_total += b;
            after_total += a;
        }
        if currency.is_empty() {
            currency = r.currency.clone();
        }
        rows.push(json!({
            "id": r.id,
            "before": {"decision": before.decision, "model": before.model},
            "after": {"decision": after.decision, "model": after.model},
            "recorded": {"decision": r.decision, "model": r.selected_model},
            "changed": moved,
            "cost_before": cost_before,
            "cost_after": cost_after,
        }));
    }
    let share = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    Ok(json!({
        "records": records.len(),
        "covered": covered,
        "covered_share": share(covered, records.len()),
        "changed": changed,
        "changed_share": share(changed, covered),
        "cost_before": before_total,
        "cost_after": after_total,
        "currency": currency,
        "note": if covered < records.len() {
            Some(format!("{} of {} records had no captured prompt; the preview covers the captured share", records.len() - covered, records.len()))
        } else { None },
        "rows": rows,
    }))
}
