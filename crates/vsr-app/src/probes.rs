//! Running probe manifests (the format is `vsr_config::probes`, re-exported here). [`run`] evaluates every variant
//! in-process ([`ProbeTarget::Router`]) or against a running router's eval endpoint
//! ([`ProbeTarget::Http`]) and scores the manifest.
//!
//! Each probe is checked field by field (decision, request model/recipe, algorithm, plugins,
//! signals, alias); every failed field is reported with what was expected, what was seen and,
//! where the router cannot do it yet (HEAD signal families without runtime), why. In-process,
//! the probe's `model` selects the recipe's router as the eval API does. [`run_with`] takes
//! the config the router was built from, which the algorithm, plugin, recipe and coverage
//! checks read.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use vsr_config::{Config, SignalType};
use vsr_engine::EvalMode;
use vsr_engine::eval_api::EvalResponse;
use vsr_learned::Routers;
use vsr_signals::{ChatMessage, ContextEnvelope, RequestView};

pub use vsr_config::probes::{
    Acceptance, Manifest, ManifestError, ProbeGroup, ProbeRequest, SignalMap, Variant,
};

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Url(String),
    #[error("cannot start the HTTP client: {0}")]
    Runtime(std::io::Error),
}

/// Where probes are evaluated.
pub enum ProbeTarget<'a> {
    /// In-process, every family evaluated (the eval API's mode), with the profile the probe's
    /// `model` selects.
    Router(&'a Routers),
    /// `POST {base}{manifest.router_eval_endpoint}` on a running router (plain HTTP).
    Http { base: &'a str },
}

/// One probe's outcome.
#[derive(Debug, Serialize)]
pub struct ProbeOutcome {
    pub group: String,
    pub variant: String,
    pub query: String,
    pub expected_decision: String,
    pub expected_alias: Option<String>,
    pub decision: Option<String>,
    pub alias: Option<String>,
    pub passed: bool,
    /// Every field that did not hold (empty when the probe passed or could not run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FieldFailure>,
    /// The variant's coverage tag categories (v1).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tag_categories: Vec<&'static str>,
    #[serde(skip)]
    pub response: Option<EvalResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One field of a probe that did not hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldFailure {
    /// `decision`, `model`, `recipe`, `algorithm`, `plugins`, `signals` or `alias`.
    pub field: &'static str,
    pub expected: String,
    pub actual: String,
    /// Why, when the cause is known (e.g. a runtime that does not exist yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl std::fmt::Display for FieldFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.field, self.expected, self.actual
        )?;
        if let Some(r) = &self.reason {
            write!(f, " ({r})")?;
        }
        Ok(())
    }
}

/// A scored manifest run.
#[derive(Debug, Serialize)]
pub struct ProbeReport {
    pub manifest: String,
    pub probes: usize,
    pub probes_passed: usize,
    pub probe_pass_rate: f64,
    pub decisions: usize,
    pub decisions_passed: usize,
    pub decision_pass_rate: f64,
    pub accepted: bool,
    /// Per decision id: (passed probes, probes, required pass rate).
    pub per_decision: Vec<DecisionScore>,
    /// The v1 coverage policy, checked against the config (when one was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<CoverageReport>,
    pub outcomes: Vec<ProbeOutcome>,
}

#[derive(Debug, Serialize)]
pub struct DecisionScore {
    pub id: String,
    pub passed: usize,
    pub probes: usize,
    pub pass_rate: f64,
    pub required: f64,
    pub ok: bool,
}

/// The coverage policy of a v1 manifest: assertion percentages against the config, request
/// shapes, tag counts and live tag pass rates. `failures` lists every unmet requirement.
#[derive(Debug, Default, Serialize)]
pub struct CoverageReport {
    pub signal_assertion_percent: f64,
    pub projection_assertion_percent: f64,
    pub algorithm_assertion_percent: f64,
    pub plugin_assertion_percent: f64,
    pub request_shapes: Vec<String>,
    pub tag_counts: Vec<(String, u64)>,
    pub tag_pass_rates: Vec<(String, f64)>,
    pub failures: Vec<String>,
}

impl CoverageReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Evaluates every variant of `manifest` on `target`; `progress` is called before each probe
/// with (done, total, group, variant). Without the config, algorithm, plugin and recipe
/// assertions cannot be checked (they fail, saying so) and coverage is not computed.
pub fn run(
    manifest: &Manifest,
    target: &ProbeTarget<'_>,
    progress: impl FnMut(usize, usize, &str, &str),
) -> Result<ProbeReport, ProbeError> {
    run_with(manifest, target, None, progress)
}

/// [`run`] with the config the router was built from.
pub fn run_with(
    manifest: &Manifest,
    target: &ProbeTarget<'_>,
    config: Option<&Config>,
    mut progress: impl FnMut(usize, usize, &str, &str),
) -> Result<ProbeReport, ProbeError> {
    let total = manifest.probe_count();
    let http = match target {
        ProbeTarget::Http { base } => Some(EvalClient::new(base, &manifest.router_eval_endpoint)?),
        ProbeTarget::Router(_) => None,
    };
    let ctx = config.map(Profiles::new);
    let mut outcomes = Vec::with_capacity(total);
    for group in &manifest.decisions {
        for v in &group.variants {
            progress(outcomes.len(), total, &group.id, &v.id);
            let request = v.request(manifest.fixtures.as_ref());
            let shown = match &request {
                Ok(ProbeRequest::Text(t)) => t.clone(),
                Ok(ProbeRequest::Messages(_)) | Err(_) => {
                    v.display_prompt.clone().unwrap_or_else(|| {
                        format!("<{} messages>", v.messages.as_ref().map_or(0, Vec::len))
                    })
                }
            };
            let response = request.and_then(|req| match (target, &http) {
                (_, Some(client)) => client.eval(&req, group.model.as_deref(), v.tools.as_deref()),
                (ProbeTarget::Router(routers), None) => {
                    let tools = v.tools.as_ref().map_or(0, Vec::len);
                    let view = request_view(&req)?
                        .with_tools(u32::try_from(tools).unwrap_or(u32::MAX))
                        .with_envelope(envelope(&req, v.tools.as_deref()));
                    // The eval API's selection: auto names (or none) → the default profile,
                    // an entrypoint name → its recipe. A model that selects nothing (the
                    // eval API refuses it) is routed by the default profile here, and the
                    // `model` check reports it.
                    let recipe = match (ctx.as_ref(), group.model.as_deref()) {
                        (Some(c), model) => c.recipe_for(model).ok(),
                        (None, Some(m)) => routers.entrypoint_recipe(m),
                        (None, None) => None,
                    };
                    let router = routers.get(recipe).ok_or_else(|| {
                        format!("no router for recipe `{}`", recipe.unwrap_or_default())
                    })?;
                    let mut r = EvalResponse::from_result(
                        &view.text,
                        &router.route(&view, EvalMode::All),
                        true,
                    );
                    r.requested_model = group.model.clone();
                    Ok(r)
                }
                (ProbeTarget::Http { .. }, None) => Err("no HTTP client".to_string()),
            });
            let mut o = outcome(group, v, response, manifest.is_v1(), ctx.as_ref());
            o.query = shown;
            outcomes.push(o);
        }
    }
    let mut report = score(manifest, outcomes);
    if manifest.is_v1()
        && let Some(ctx) = &ctx
    {
        let cov = coverage(manifest, ctx, &report.outcomes);
        report.accepted &= cov.passed();
        report.coverage = Some(cov);
    }
    Ok(report)
}

/// What the router sees of a probe's request (the one text-extraction function of
/// `vsr_signals`).
pub fn request_view(req: &ProbeRequest) -> Result<RequestView, String> {
    Ok(match req {
        ProbeRequest::Text(t) => RequestView::from_text(t.as_str()),
        ProbeRequest::Messages(ms) => RequestView::from_messages(&chat_messages(ms)?),
    })
}

/// The envelope of the chat request the eval API builds from a probe: its messages, or its
/// text as one user message, with the probe's tools.
fn envelope(req: &ProbeRequest, tools: Option<&[serde_json::Value]>) -> ContextEnvelope {
    let messages = match req {
        ProbeRequest::Text(t) => serde_json::json!([{"role": "user", "content": t}]),
        ProbeRequest::Messages(ms) => serde_json::Value::Array(ms.clone()),
    };
    let mut body = serde_json::json!({ "messages": messages });
    if let (Some(tools), Some(b)) = (tools, body.as_object_mut()) {
        b.insert("tools".into(), serde_json::Value::Array(tools.to_vec()));
    }
    ContextEnvelope::of_chat(&body)
}

/// Chat messages as the proxy reads them.
fn chat_messages(ms: &[serde_json::Value]) -> Result<Vec<ChatMessage>, String> {
    ms.iter()
        .map(|m| serde_json::from_value(m.clone()).map_err(|e| format!("message: {e}")))
        .collect()
}

/// What the checks read from the config: the decisions of every profile, the request-model →
/// recipe map, and the configured signal, projection, algorithm and plugin names.
struct Profiles<'a> {
    config: &'a Config,
    auto_names: Vec<String>,
    /// Entrypoint model name → recipe.
    entrypoints: HashMap<&'a str, &'a str>,
}

impl<'a> Profiles<'a> {
    fn new(config: &'a Config) -> Self {
        let g = config.global_settings();
        let mut auto_names: Vec<String> = ["vllm-sr/auto", "auto", "MoM"]
            .into_iter()
            .map(String::from)
            .collect();
        auto_names.push(g.auto_model_name.clone());
        auto_names.extend(g.auto_model_names.iter().cloned());
        let mut entrypoints = HashMap::new();
        for e in &config.entrypoints {
            for n in &e.model_names {
                entrypoints.insert(n.trim(), e.recipe.as_str());
            }
        }
        Self {
            config,
            auto_names,
            entrypoints,
        }
    }

    /// The profiles: (`default`, top-level routing), then each recipe.
    fn profiles(&self) -> Vec<(&'a str, &'a vsr_config::Routing)> {
        let mut out = vec![("default", &self.config.routing)];
        out.extend(
            self.config
                .recipes
                .iter()
                .map(|r| (r.name.as_str(), &r.routing)),
        );
        out
    }

    fn decision(&self, recipe: &str, name: &str) -> Option<&'a vsr_config::Decision> {
        self.profiles()
            .into_iter()
            .find(|(r, _)| *r == recipe)
            .and_then(|(_, p)| p.decisions.iter().find(|d| d.name == name))
    }

    /// The recipe a request model selects (§1.4: auto names → default, entrypoints → theirs).
    fn recipe_for(&self, model: Option<&str>) -> Result<&'a str, String> {
        let Some(m) = model.map(str::trim) else {
            return Ok("default");
        };
        if self.auto_names.iter().any(|a| a == m) {
            return Ok("default");
        }
        self.entrypoints.get(m).copied().ok_or_else(|| {
            format!("model `{m}` is neither an auto model name nor an entrypoint (eval answers INVALID_ROUTING_MODEL)")
        })
    }
}

/// `semantic-cache` and the other spellings of the response cache read as `response_cache`.
fn plugin_type(t: &str) -> String {
    match t {
        "semantic-cache" | "semantic_cache" | "response-cache" => "response_cache".into(),
        other => other.to_string(),
    }
}

/// A manifest family key (the eval API's `matched_signals` key) → the signal type.
fn family_of(key: &str) -> Option<SignalType> {
    SignalType::ALL
        .into_iter()
        .find(|t| t.api_key() == key || t.as_str() == key)
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

/// Every failed field of one probe (v1 checks; the March format asserts decision and alias).
fn check(
    group: &ProbeGroup,
    v: &Variant,
    r: &EvalResponse,
    v1: bool,
    ctx: Option<&Profiles<'_>>,
) -> Vec<FieldFailure> {
    let mut out = Vec::new();
    let mut fail = |field, expected: String, actual: String, reason: Option<String>| {
        out.push(FieldFailure {
            field,
            expected,
            actual,
            reason,
        })
    };
    let decision = r.decision();
    // The profile that evaluated the request, as the router reports it.
    let actual_recipe = if r.recipe.is_empty() {
        vsr_config::DEFAULT_RECIPE
    } else {
        r.recipe.as_str()
    };
    if v1 {
        let expected = group.recipe();
        if let Some(Err(e)) = ctx.map(|c| c.recipe_for(group.model.as_deref())) {
            fail(
                "model",
                group.model.clone().unwrap_or_default(),
                "no recipe".into(),
                Some(e),
            );
        }
        if r.recipe.is_empty() && expected != actual_recipe {
            fail(
                "recipe",
                expected.to_string(),
                "unknown".into(),
                Some("the eval response carries no recipe".into()),
            );
        } else if actual_recipe != expected {
            fail(
                "recipe",
                expected.to_string(),
                actual_recipe.to_string(),
                Some(format!(
                    "model `{}` selects recipe `{actual_recipe}`",
                    group.model.as_deref().unwrap_or_default()
                )),
            );
        }
    }
    if decision != Some(group.expected_decision.as_str()) {
        let reason = r.trace.as_ref().map(|t| t.decisions.reason.clone());
        fail(
            "decision",
            group.expected_decision.clone(),
            decision.unwrap_or("no decision").to_string(),
            reason,
        );
    }
    let winner = decision.and_then(|d| ctx.and_then(|c| c.decision(actual_recipe, d)));
    if let Some(want) = &group.expected_algorithm {
        match (ctx, winner, decision) {
            (None, ..) => fail(
                "algorithm",
                want.clone(),
                "unknown".into(),
                Some("no config given to read the decision's algorithm from".into()),
            ),
            (_, _, None) => fail("algorithm", want.clone(), "no decision".into(), None),
            (_, w, Some(_)) => {
                let got = w
                    .and_then(|d| d.algorithm.as_ref())
                    .map_or("static", |a| a.kind.as_str());
                if got != want {
                    fail("algorithm", want.clone(), got.to_string(), None);
                }
            }
        }
        if decision.is_some()
            && let Some(problem) = selection_problem(want, r)
        {
            fail("selection", want.clone(), problem, None);
        }
    }
    let asserts_plugins = !group.expected_plugins.is_empty()
        || !group.forbidden_plugins.is_empty()
        || group.plugin_match.as_deref() == Some("exact");
    if asserts_plugins {
        match ctx {
            None => fail(
                "plugins",
                list(&group.expected_plugins),
                "unknown".into(),
                Some("no config given to read the decision's plugins from".into()),
            ),
            Some(_) => {
                let got: Vec<String> = winner
                    .map(|d| d.plugins.iter().map(|p| plugin_type(&p.kind)).collect())
                    .unwrap_or_default();
                let missing: Vec<&String> = group
                    .expected_plugins
                    .iter()
                    .filter(|p| !got.contains(&plugin_type(p)))
                    .collect();
                let forbidden: Vec<&String> = group
                    .forbidden_plugins
                    .iter()
                    .filter(|p| got.contains(&plugin_type(p)))
                    .collect();
                let extra: Vec<&String> = if group.plugin_match.as_deref() == Some("exact") {
                    got.iter()
                        .filter(|g| !group.expected_plugins.iter().any(|e| plugin_type(e) == **g))
                        .collect()
                } else {
                    Vec::new()
                };
                if !missing.is_empty() || !forbidden.is_empty() || !extra.is_empty() {
                    let mut why = Vec::new();
                    if !missing.is_empty() {
                        why.push(format!("missing {}", list(&missing)));
                    }
                    if !forbidden.is_empty() {
                        why.push(format!("forbidden {}", list(&forbidden)));
                    }
                    if !extra.is_empty() {
                        why.push(format!("not expected {}", list(&extra)));
                    }
                    fail(
                        "plugins",
                        list(&group.expected_plugins),
                        list(&got),
                        Some(why.join("; ")),
                    );
                }
            }
        }
    }
    let matched = &r.decision_result.matched_signals;
    let has = |fam: &str, name: &str| {
        matched
            .get(fam)
            .is_some_and(|ns| ns.iter().any(|n| n == name))
    };
    let mut expected_pairs: BTreeSet<(String, String)> = BTreeSet::new();
    if let Some(exp) = group.expected_signals_for(v) {
        for (fam, names) in exp {
            let t = family_of(fam);
            for n in names {
                expected_pairs.insert((
                    t.map_or(fam.clone(), |t| t.api_key().to_string()),
                    n.clone(),
                ));
                let reason = match t {
                    None => Some(format!("unknown signal family `{fam}`")),
                    Some(t) if !has(t.api_key(), n) => None,
                    Some(_) => continue,
                };
                fail(
                    "signals",
                    format!("{fam}:{n} matched"),
                    "not matched".into(),
                    reason,
                );
            }
        }
    }
    if let Some(forb) = &group.forbidden_signals {
        for (fam, names) in forb {
            let key = family_of(fam).map_or(fam.as_str(), |t| t.api_key());
            for n in names {
                if has(key, n) {
                    fail(
                        "signals",
                        format!("{fam}:{n} not matched"),
                        "matched".into(),
                        Some("forbidden signal".into()),
                    );
                }
            }
        }
    }
    if group.signal_match.as_deref() == Some("exact") {
        for (fam, names) in matched {
            for n in names {
                if fam != "projection" && !expected_pairs.contains(&(fam.clone(), n.clone())) {
                    fail(
                        "signals",
                        "only the expected signals".into(),
                        format!("{fam}:{n} matched"),
                        Some("signal_match: exact".into()),
                    );
                }
            }
        }
    }
    if let Some(want) = &group.expected_alias {
        let recs = &r.recommended_models;
        let ok = if v1 && recs.len() != 1 {
            recs.contains(want)
        } else {
            r.alias() == Some(want.as_str())
        };
        if !ok {
            fail("alias", want.clone(), list(recs), None);
        }
    }
    out
}

fn outcome(
    group: &ProbeGroup,
    v: &Variant,
    response: Result<EvalResponse, String>,
    v1: bool,
    ctx: Option<&Profiles<'_>>,
) -> ProbeOutcome {
    let mut o = ProbeOutcome {
        group: group.id.clone(),
        variant: v.id.clone(),
        query: v.query.clone(),
        expected_decision: group.expected_decision.clone(),
        expected_alias: group.expected_alias.clone(),
        decision: None,
        alias: None,
        passed: false,
        failures: Vec::new(),
        tag_categories: if v1 { v.tag_categories() } else { Vec::new() },
        response: None,
        error: None,
    };
    match response {
        Ok(r) => {
            o.decision = r.decision().map(str::to_string);
            o.alias = r.alias().map(str::to_string);
            o.failures = check(group, v, &r, v1, ctx);
            o.passed = o.failures.is_empty();
            o.response = Some(r);
        }
        Err(e) => o.error = Some(e),
    }
    o
}

/// The coverage policy (§19.5) of a v1 manifest against the config, and the live tag pass
/// rates of `outcomes`.
fn coverage(m: &Manifest, ctx: &Profiles<'_>, outcomes: &[ProbeOutcome]) -> CoverageReport {
    let Some(policy) = &m.coverage else {
        return CoverageReport::default();
    };
    let mut rep = CoverageReport::default();
    // Static gate: every decision of every recipe and every entrypoint has a probe.
    for (recipe, p) in ctx.profiles() {
        for d in &p.decisions {
            if !m
                .decisions
                .iter()
                .any(|g| g.recipe() == recipe && g.expected_decision == d.name)
            {
                rep.failures
                    .push(format!("decision {recipe}:{} has no probe", d.name));
            }
        }
    }
    for e in &ctx.config.entrypoints {
        for n in &e.model_names {
            if !m
                .decisions
                .iter()
                .any(|g| g.model.as_deref() == Some(n.as_str()))
            {
                rep.failures.push(format!("entrypoint `{n}` has no probe"));
            }
        }
    }
    // Assertion percentages.
    let pct = |asserted: usize, configured: usize| {
        if configured == 0 {
            100.0
        } else {
            (1000.0 * asserted as f64 / configured as f64).round() / 10.0
        }
    };
    let mut signals = BTreeSet::new();
    let mut outputs = BTreeSet::new();
    let mut algos = BTreeSet::new();
    let mut plugins = BTreeSet::new();
    for (recipe, p) in ctx.profiles() {
        for (t, n) in p.signals.iter() {
            signals.insert(format!("{}:{n}", t.api_key()));
        }
        let v = serde_json::to_value(&p.projections).unwrap_or_default();
        let maps = v.pointer("/mappings").and_then(|x| x.as_array());
        for mp in maps.into_iter().flatten() {
            let outs = mp.get("outputs").and_then(|x| x.as_array());
            for o in outs.into_iter().flatten() {
                if let Some(n) = o.get("name").and_then(|n| n.as_str()) {
                    outputs.insert(n.to_string());
                }
            }
        }
        for d in &p.decisions {
            algos.insert(format!("{recipe}:{}", d.name));
            for pl in &d.plugins {
                plugins.insert(format!("{recipe}:{}:{}", d.name, plugin_type(&pl.kind)));
            }
        }
    }
    let mut a_signals = BTreeSet::new();
    let mut a_outputs = BTreeSet::new();
    let mut a_algos = BTreeSet::new();
    let mut a_plugins = BTreeSet::new();
    for g in &m.decisions {
        let maps = [g.expected_signals.as_ref(), g.forbidden_signals.as_ref()]
            .into_iter()
            .flatten()
            .chain(
                g.variants
                    .iter()
                    .filter_map(|v| v.expected_signals.as_ref()),
            );
        for map in maps {
            for (fam, names) in map {
                let key = family_of(fam).map_or(fam.clone(), |t| t.api_key().to_string());
                for n in names {
                    if key == "projection" {
                        a_outputs.insert(n.clone());
                    } else {
                        let base = n.split(':').next().unwrap_or(n);
                        for c in [n.as_str(), base] {
                            let k = format!("{key}:{c}");
                            if signals.contains(&k) {
                                a_signals.insert(k);
                            }
                        }
                    }
                }
            }
        }
        if g.expected_algorithm.is_some() {
            a_algos.insert(format!("{}:{}", g.recipe(), g.expected_decision));
        }
        for p in &g.expected_plugins {
            a_plugins.insert(format!(
                "{}:{}:{}",
                g.recipe(),
                g.expected_decision,
                plugin_type(p)
            ));
        }
    }
    let inter = |a: &BTreeSet<String>, b: &BTreeSet<String>| a.intersection(b).count();
    rep.signal_assertion_percent = pct(inter(&a_signals, &signals), signals.len());
    rep.projection_assertion_percent = pct(inter(&a_outputs, &outputs), outputs.len());
    rep.algorithm_assertion_percent = pct(inter(&a_algos, &algos), algos.len());
    rep.plugin_assertion_percent = pct(inter(&a_plugins, &plugins), plugins.len());
    for (what, got, min) in [
        (
            "signal",
            rep.signal_assertion_percent,
            policy.min_signal_assertion_percent,
        ),
        (
            "projection",
            rep.projection_assertion_percent,
            policy.min_projection_assertion_percent,
        ),
        (
            "algorithm",
            rep.algorithm_assertion_percent,
            policy.min_algorithm_assertion_percent,
        ),
        (
            "plugin",
            rep.plugin_assertion_percent,
            policy.min_plugin_assertion_percent,
        ),
    ] {
        if got < min {
            rep.failures.push(format!(
                "{what} assertions cover {got:.1}% of the config, need {min:.1}%"
            ));
        }
    }
    // Request shapes and tags.
    let variants: Vec<&Variant> = m.decisions.iter().flat_map(|g| &g.variants).collect();
    let shapes: BTreeSet<&str> = variants.iter().flat_map(|v| v.shapes()).collect();
    rep.request_shapes = shapes.iter().map(|s| s.to_string()).collect();
    for s in &policy.required_request_shapes {
        if !shapes.contains(s.as_str()) {
            rep.failures
                .push(format!("no probe has the request shape `{s}`"));
        }
    }
    for (cat, min) in &policy.min_tag_counts {
        let n = variants
            .iter()
            .filter(|v| v.tag_categories().contains(&cat.as_str()))
            .count() as u64;
        rep.tag_counts.push((cat.clone(), n));
        if n < *min {
            rep.failures
                .push(format!("{n} probes are tagged {cat}, need {min}"));
        }
    }
    for (cat, min) in &policy.min_tag_pass_rate {
        let mine: Vec<&ProbeOutcome> = outcomes
            .iter()
            .filter(|o| o.tag_categories.contains(&cat.as_str()))
            .collect();
        let rate = pct(mine.iter().filter(|o| o.passed).count(), mine.len());
        rep.tag_pass_rates.push((cat.clone(), rate));
        if rate < *min {
            rep.failures
                .push(format!("{cat} probes pass at {rate:.1}%, need {min:.1}%"));
        }
    }
    rep
}

/// Pass rates per probe and per decision. March format: a decision passes when all its
/// variants do, and the share of passing decisions is held to `min_decision_pass_rate`. v1: each
/// decision's pass rate is held to its `robustness.min_pass_rate`, else to
/// `min_decision_pass_rate`, and every decision must pass.
pub fn score(manifest: &Manifest, outcomes: Vec<ProbeOutcome>) -> ProbeReport {
    let total = outcomes.len();
    let probes_passed = outcomes.iter().filter(|o| o.passed).count();
    let rate = |n: usize, d: usize| {
        if d == 0 {
            100.0
        } else {
            100.0 * n as f64 / d as f64
        }
    };
    let v1 = manifest.is_v1();
    let per_decision: Vec<DecisionScore> = manifest
        .decisions
        .iter()
        .map(|g| {
            let mine: Vec<&ProbeOutcome> = outcomes.iter().filter(|o| o.group == g.id).collect();
            let passed = mine.iter().filter(|o| o.passed).count();
            let pass_rate = (rate(passed, mine.len()) * 10.0).round() / 10.0;
            let required = if v1 {
                g.robustness
                    .as_ref()
                    .map_or(manifest.acceptance.min_decision_pass_rate, |r| {
                        r.min_pass_rate
                    })
            } else {
                100.0
            };
            DecisionScore {
                id: g.id.clone(),
                passed,
                probes: mine.len(),
                pass_rate,
                required,
                ok: pass_rate >= required,
            }
        })
        .collect();
    let groups = per_decision.len();
    let groups_passed = per_decision.iter().filter(|d| d.ok).count();
    let probe_pass_rate = rate(probes_passed, total);
    let decision_pass_rate = rate(groups_passed, groups);
    let accepted = probe_pass_rate >= manifest.acceptance.min_probe_pass_rate
        && if v1 {
            groups_passed == groups
        } else {
            decision_pass_rate >= manifest.acceptance.min_decision_pass_rate
        };
    ProbeReport {
        manifest: manifest.name.clone(),
        probes: total,
        probes_passed,
        probe_pass_rate,
        decisions: groups,
        decisions_passed: groups_passed,
        decision_pass_rate,
        accepted,
        per_decision,
        coverage: None,
        outcomes,
    }
}

/// A blocking client for a router's eval endpoint (hyper on a private current-thread runtime).
struct EvalClient {
    runtime: tokio::runtime::Runtime,
    client: Client<HttpConnector, Full<Bytes>>,
    uri: http::Uri,
}

impl EvalClient {
    fn new(base: &str, endpoint: &str) -> Result<Self, ProbeError> {
        let url = format!("{}{endpoint}", base.trim_end_matches('/'));
        let uri: http::Uri = url
            .parse()
            .map_err(|e| ProbeError::Url(format!("--url `{base}`: {e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(ProbeError::Url(format!(
                    "--url `{base}`: scheme `{other}` is not supported (use http://)"
                )));
            }
            None => {
                return Err(ProbeError::Url(format!(
                    "--url `{base}` must start with http://"
                )));
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ProbeError::Runtime)?;
        let client = {
            let _guard = runtime.enter();
            Client::builder(TokioExecutor::new()).build(HttpConnector::new())
        };
        Ok(Self {
            runtime,
            client,
            uri,
        })
    }

    fn eval(
        &self,
        req: &ProbeRequest,
        model: Option<&str>,
        tools: Option<&[serde_json::Value]>,
    ) -> Result<EvalResponse, String> {
        let mut body = match req {
            ProbeRequest::Text(t) => serde_json::json!({ "text": t }),
            ProbeRequest::Messages(ms) => serde_json::json!({ "messages": ms }),
        };
        if let Some(m) = model {
            body["model"] = serde_json::Value::String(m.to_string());
        }
        if let Some(t) = tools {
            body["tools"] = serde_json::Value::Array(t.to_vec());
        }
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let req = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let (status, payload) = self.runtime.block_on(async {
            let resp = tokio::time::timeout(Duration::from_secs(60), self.client.request(req))
                .await
                .map_err(|_| format!("{}: no answer within 60 s", self.uri))?
                .map_err(|e| format!("{}: {e}", self.uri))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{}: reading the answer: {e}", self.uri))?
                .to_bytes();
            Ok::<_, String>((status, body))
        })?;
        if !status.is_success() {
            return Err(format!(
                "HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&payload)
            ));
        }
        serde_json::from_slice(&payload)
            .map_err(|e| format!("eval response is not the expected JSON: {e}"))
    }
}

/// What is wrong with the eval response's selection preview for a decision of algorithm
/// `want` (head-delta §19.3 check 10); `None` when it is consistent.
fn selection_problem(want: &str, r: &vsr_engine::eval_api::EvalResponse) -> Option<String> {
    let status = r.selection_status.as_deref()?;
    let allowed: &[&str] = match want {
        "fusion" | "workflows" | "remom" => &["planned_final", "execution_required"],
        "confidence" => &["execution_required"],
        _ => &["selected", "execution_required"],
    };
    if !allowed.contains(&status) {
        return Some(format!("selection_status {status}"));
    }
    let method = r.selection_method.as_deref().unwrap_or("");
    let single = r.recommended_models.len() == 1 && method == "single";
    if method != want && !single {
        return Some(format!("selection_method {method:?}"));
    }
    match (status, r.selected_model.as_deref()) {
        ("selected" | "planned_final", None) => Some(format!("{status} without a selected_model")),
        ("selected", Some(m)) if !r.recommended_models.iter().any(|x| x == m) => {
            Some(format!("selected_model {m} is not recommended"))
        }
        ("execution_required", Some(m)) => {
            Some(format!("execution_required with selected_model {m}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_other_than_plain_http_are_refused() {
        for bad in [
            "https://x:1",
            "ftp://x",
            "127.0.0.1:8080",
            "http://bad host",
        ] {
            assert!(
                matches!(
                    EvalClient::new(bad, "/api/v1/eval"),
                    Err(ProbeError::Url(_))
                ),
                "{bad}"
            );
        }
    }
}
