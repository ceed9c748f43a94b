//! Checks of the upstream-HEAD additions (recipes and entrypoints, the new signal families,
//! kb_metric inputs, decision adaptations and fallbacks) and the "validated but not applied
//! yet" warnings for what has no runtime in vllm-sr yet.

use std::collections::{HashMap, HashSet};

use super::{Scope, bounds_shape, hint, indexed, unique};
use crate::decode::Ctx;
use crate::diag::{join_index, join_key};
use crate::kb::BUILTIN_METRICS;
use crate::model::*;

/// A knowledge base of `global.model_catalog.kbs` (or a built-in one): its groups, metrics and,
/// for the built-ins, its labels.
struct Kb {
    name: String,
    labels: Option<Vec<String>>,
    groups: Vec<String>,
    metrics: Vec<String>,
}

/// The knowledge bases in effect ([`Config::knowledge_bases`]); the built-ins with the labels
/// of their embedded manifests.
fn kbs(cfg: &Config) -> Vec<Kb> {
    cfg.knowledge_bases()
        .into_iter()
        .map(|k| {
            let labels = crate::kb::embedded_manifest(&k.path, &k.manifest)
                .filter(|_| crate::kb::builtin_kbs().contains(&k))
                .and_then(|text| crate::kb::KbManifest::parse(text).ok())
                .map(|m| m.labels.keys().cloned().collect());
            Kb {
                labels,
                groups: k.groups.iter().map(|(g, _)| g.clone()).collect(),
                metrics: k.metrics.iter().map(|m| m.name.clone()).collect(),
                name: k.name,
            }
        })
        .collect()
}

fn names_of(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// The HEAD signal families of one routing profile.
pub(super) fn signals(sc: &Scope, cx: &mut Ctx) {
    let s = &sc.r.signals;
    let signals_path = sc.path("signals");
    let fam = |k: &str| join_key(&signals_path, k);
    unique(cx, "reask signal", indexed(&s.reasks, &fam("reasks")));
    unique(cx, "kb signal", indexed(&s.kb, &fam("kb")));
    unique(
        cx,
        "conversation signal",
        indexed(&s.conversation, &fam("conversation")),
    );
    unique(cx, "event signal", indexed(&s.events, &fam("events")));
    unique(
        cx,
        "metadata signal",
        indexed(&s.metadata, &fam("metadata")),
    );
    unique(
        cx,
        "classifier signal",
        indexed(&s.classifiers, &fam("classifiers")),
    );

    for (i, l) in s.language.iter().enumerate() {
        cx.unit_range(
            &join_key(&join_index(&fam("language"), i), "threshold"),
            l.threshold,
        );
    }
    for (i, r) in s.reasks.iter().enumerate() {
        cx.unit_range(
            &join_key(&join_index(&fam("reasks"), i), "threshold"),
            r.threshold,
        );
    }
    let catalog = kbs(sc.cfg);
    for (i, k) in s.kb.iter().enumerate() {
        let p = join_index(&fam("kb"), i);
        let Some(kb) = catalog.iter().find(|c| c.name == k.kb) else {
            if !k.kb.is_empty() {
                let names: Vec<&str> = catalog.iter().map(|c| c.name.as_str()).collect();
                cx.err(
                    &join_key(&p, "kb"),
                    format!(
                        "knowledge base {:?} is not declared in global.model_catalog.kbs{}",
                        k.kb,
                        hint(&k.kb, &names)
                    ),
                );
            }
            continue;
        };
        let vp = join_key(&join_key(&p, "target"), "value");
        match k.target.kind {
            Some(KbTargetKind::Group) if !kb.groups.contains(&k.target.value) => cx.err(
                &vp,
                format!(
                    "group {:?} is not a group of knowledge base {:?}{}",
                    k.target.value,
                    kb.name,
                    hint(&k.target.value, &names_of(&kb.groups))
                ),
            ),
            Some(KbTargetKind::Label) => {
                if let Some(labels) = &kb.labels
                    && !labels.contains(&k.target.value)
                {
                    cx.err(
                        &vp,
                        format!(
                            "label {:?} is not a label of knowledge base {:?}{}",
                            k.target.value,
                            kb.name,
                            hint(&k.target.value, &names_of(labels))
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    for (i, c) in s.conversation.iter().enumerate() {
        let p = join_index(&fam("conversation"), i);
        let fp = join_key(&p, "feature");
        let sp = join_key(&fp, "source");
        if c.feature.source.role.is_some()
            && c.feature
                .source
                .kind
                .is_some_and(|k| k != ConversationSourceType::Message)
        {
            cx.err(
                &join_key(&sp, "role"),
                "`role` is only allowed with source type `message`",
            );
        }
        let pp = join_key(&p, "predicate");
        match (&c.predicate, c.feature.kind) {
            (Some(_), Some(ConversationFeatureType::Exists)) => {
                cx.err(&pp, "feature.type exists does not take a predicate")
            }
            (Some(b), _) => bounds_shape(cx, b, &pp),
            _ => {}
        }
    }
    for (i, m) in s.metadata.iter().enumerate() {
        let p = join_index(&fam("metadata"), i);
        if m.name != m.name.trim() {
            cx.err(
                &join_key(&p, "name"),
                "metadata signal name must not have surrounding whitespace",
            );
        }
        if m.key.trim().is_empty() || m.key != m.key.trim() {
            cx.err(
                &join_key(&p, "key"),
                "metadata key must be non-empty, without surrounding whitespace",
            );
        }
        let pr = &m.predicate;
        let set = usize::from(pr.equals.is_some())
            + usize::from(pr.any_of.as_ref().is_some_and(|v| !v.is_empty()))
            + usize::from(pr.exists.is_some());
        if set != 1 {
            cx.err(
                &join_key(&p, "predicate"),
                "a metadata predicate needs exactly one of `equals`, a non-empty `in`, `exists`",
            );
        }
    }
    let externals: Vec<String> = sc
        .cfg
        .external_models()
        .into_iter()
        .map(|e| e.name)
        .collect();
    for (i, c) in s.classifiers.iter().enumerate() {
        let p = join_index(&fam("classifiers"), i);
        if c.name.contains(':') || c.name != c.name.trim() {
            cx.err(
                &join_key(&p, "name"),
                "classifier name must not contain `:` or surrounding whitespace",
            );
        }
        let lp = join_key(&p, "labels");
        if c.labels.is_empty() {
            cx.err(&lp, "a classifier needs at least one label");
        }
        let mut seen = HashSet::new();
        for (j, l) in c.labels.iter().enumerate() {
            if l.contains(':') || l.trim().is_empty() || !seen.insert(l.as_str()) {
                cx.err(
                    &join_index(&lp, j),
                    format!("label {l:?} must be non-empty, unique and without `:`"),
                );
            }
        }
        match c.kind {
            Some(ClassifierKind::Local) => {
                if c.model_path.is_none() {
                    cx.err(&p, "a local classifier needs `model_path`");
                }
                if c.labels.len() != 2 {
                    cx.err(&lp, "a local classifier has exactly two labels");
                }
                for (key, set) in [
                    ("model", c.model.is_some()),
                    ("instructions", c.instructions.is_some()),
                ] {
                    if set {
                        cx.err(
                            &join_key(&p, key),
                            format!("`{key}` is only for llm classifiers"),
                        );
                    }
                }
            }
            Some(ClassifierKind::Llm) => {
                match &c.model {
                    None => cx.err(&p, "an llm classifier needs `model`"),
                    Some(m) if !externals.contains(m) => cx.err(
                        &join_key(&p, "model"),
                        format!(
                            "model {m:?} is not a global.model_catalog.external[].name{}",
                            hint(m, &names_of(&externals))
                        ),
                    ),
                    _ => {}
                }
                if c.instructions.is_none() {
                    cx.err(&p, "an llm classifier needs `instructions`");
                }
                for (key, set) in [
                    ("model_path", c.model_path.is_some()),
                    ("use_cpu", c.use_cpu.is_some()),
                ] {
                    if set {
                        cx.err(
                            &join_key(&p, key),
                            format!("`{key}` is only for local classifiers"),
                        );
                    }
                }
            }
            None => {}
        }
    }
}

/// A `kb_metric` score input: a declared knowledge base and one of its metrics.
pub(super) fn kb_metric_input(cfg: &Config, cx: &mut Ctx, input: &ScoreInput, p: &str) {
    let catalog = kbs(cfg);
    let kb_name = input.kb.as_deref().unwrap_or("");
    let metric = input.metric.as_deref().unwrap_or("");
    if let Some(vs) = input.value_source
        && vs != ValueSource::Score
    {
        cx.err(
            &join_key(p, "value_source"),
            "a kb_metric input reads its metric: value_source must be `score` or unset",
        );
    }
    if kb_name.is_empty() {
        return;
    }
    let Some(kb) = catalog.iter().find(|k| k.name == kb_name) else {
        let names: Vec<&str> = catalog.iter().map(|c| c.name.as_str()).collect();
        cx.err(
            &join_key(p, "kb"),
            format!(
                "knowledge base {kb_name:?} is not declared in global.model_catalog.kbs{}",
                hint(kb_name, &names)
            ),
        );
        return;
    };
    if !metric.is_empty()
        && !BUILTIN_METRICS.contains(&metric)
        && !kb.metrics.iter().any(|m| m == metric)
    {
        let mut names = names_of(&kb.metrics);
        names.extend(BUILTIN_METRICS);
        cx.err(
            &join_key(p, "metric"),
            format!(
                "metric {metric:?} is not a metric of knowledge base {kb_name:?}{}",
                hint(metric, &names)
            ),
        );
    }
}

/// Per decision: the adaptations mode boundary and duplicate plugin types after the cache
/// aliases are folded together.
pub(super) fn decision(cx: &mut Ctx, d: &Decision, p: &str) {
    if let Some(a) = &d.adaptations {
        let ap = join_key(p, "adaptations");
        let outer = a.mode.unwrap_or(AdaptationMode::Apply);
        let inner = [
            ("adaptation", a.adaptation.as_ref().and_then(|x| x.mode)),
            ("protection", a.protection.as_ref().and_then(|x| x.mode)),
        ];
        for (key, mode) in inner {
            let Some(mode) = mode else { continue };
            let bad = match outer {
                AdaptationMode::Bypass => mode != AdaptationMode::Bypass,
                AdaptationMode::Observe => mode == AdaptationMode::Apply,
                AdaptationMode::Apply => false,
            };
            if bad {
                cx.err(
                    &join_key(&join_key(&ap, key), "mode"),
                    format!(
                        "decision adaptations mode `{outer}` does not allow {key} mode `{mode}`"
                    ),
                );
            }
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (j, pl) in d.plugins.iter().enumerate() {
        let norm = match pl.kind.as_str() {
            "semantic-cache" | "semantic_cache" | "response-cache" => "response_cache",
            k => k,
        };
        if let Some(first) = seen.insert(norm, j) {
            cx.err(
                &join_key(&join_index(&join_key(p, "plugins"), j), "type"),
                format!("duplicate plugin type {norm:?} (also plugins[{first}])"),
            );
        }
    }
}

/// The models a `fusion` or `workflows` block names (head-delta §15): every one a configured
/// model; override models unique; workflow role models non-empty and unique, and for a static
/// workflow within the decision's modelRefs, as `final.model`; a dynamic workflow needs a
/// planner and takes no roles; the decision needs modelRefs.
pub(super) fn looper(cx: &mut Ctx, d: &Decision, p: &str, models: &[&str]) {
    use crate::looper::LooperSpec;
    let Some(Ok(spec)) = d.looper() else {
        return;
    };
    let refs: Vec<&str> = d.model_refs.iter().map(|r| r.model.as_str()).collect();
    let known = |cx: &mut Ctx, m: &str, path: String| {
        if !models.contains(&m) {
            cx.err(
                &path,
                format!(
                    "model {m:?} is not declared in providers.models{}",
                    hint(m, models)
                ),
            );
        }
    };
    match spec {
        LooperSpec::Fusion(f) => {
            let fp = join_key(p, "algorithm.fusion");
            if let Some(m) = &f.model {
                known(cx, m, join_key(&fp, "model"));
            }
            for (i, m) in f.analysis_models.iter().enumerate() {
                known(cx, m, join_index(&join_key(&fp, "analysis_models"), i));
            }
            let mut seen = HashSet::new();
            for (i, o) in f.analysis_overrides.iter().enumerate() {
                let op = join_key(
                    &join_index(&join_key(&fp, "analysis_overrides"), i),
                    "model",
                );
                known(cx, &o.model, op.clone());
                if !seen.insert(o.model.as_str()) {
                    cx.err(&op, format!("model {:?} is overridden twice", o.model));
                }
            }
        }
        LooperSpec::Workflows(w) => {
            let wp = join_key(p, "algorithm.workflows");
            if refs.is_empty() {
                cx.err(
                    &join_key(p, "modelRefs"),
                    "a workflows decision needs modelRefs (its workers)",
                );
            }
            let dynamic = w.mode == Some(crate::vocab::WorkflowsMode::Dynamic);
            let planner = w.planner.as_ref().and_then(|pl| pl.model.as_deref());
            match (dynamic, planner) {
                (true, None) => cx.err(
                    &join_key(&wp, "planner.model"),
                    "a dynamic workflow needs planner.model",
                ),
                (_, Some(m)) => known(cx, m, join_key(&wp, "planner.model")),
                _ => {}
            }
            if dynamic && !w.roles.is_empty() {
                cx.err(
                    &join_key(&wp, "roles"),
                    "a dynamic workflow takes no roles (the planner writes the steps)",
                );
            }
            if !dynamic && w.roles.is_empty() {
                cx.err(
                    &join_key(&wp, "roles"),
                    "a static workflow needs at least one role",
                );
            }
            for (i, r) in w.roles.iter().enumerate() {
                let rp = join_index(&join_key(&wp, "roles"), i);
                if r.models.is_empty() {
                    cx.err(&join_key(&rp, "models"), "a role needs at least one model");
                }
                let mut seen = HashSet::new();
                for (j, m) in r.models.iter().enumerate() {
                    let mp = join_index(&join_key(&rp, "models"), j);
                    if !seen.insert(m.as_str()) {
                        cx.err(&mp, format!("model {m:?} is listed twice"));
                    } else if !refs.contains(&m.as_str()) {
                        cx.err(
                            &mp,
                            format!(
                                "model {m:?} is not one of the decision's modelRefs{}",
                                hint(m, &refs)
                            ),
                        );
                    }
                }
            }
            if let Some(m) = w.final_stage.as_ref().and_then(|f| f.model.as_deref())
                && !refs.contains(&m)
            {
                cx.err(
                    &join_key(&wp, "final.model"),
                    format!(
                        "model {m:?} is not one of the decision's modelRefs{}",
                        hint(m, &refs)
                    ),
                );
            }
        }
    }
}

/// `recipes[]` and `entrypoints[]`.
pub(super) fn recipes(cfg: &Config, cx: &mut Ctx) {
    unique(cx, "recipe", indexed(&cfg.recipes, "recipes"));
    for (i, r) in cfg.recipes.iter().enumerate() {
        let np = join_key(&join_index("recipes", i), "name");
        if r.name != r.name.trim() {
            cx.err(&np, "recipe name must not have surrounding whitespace");
        }
        if r.name == "default" {
            let top = &cfg.routing;
            if top.strategy.is_some()
                || !top.signals.is_empty()
                || !top.projections.is_empty()
                || !top.decisions.is_empty()
            {
                cx.err(
                    &np,
                    "recipes[default]: conflicts with the top-level routing profile; keep the default profile in routing or move it entirely into recipes",
                );
            }
        }
    }
    let mut recipe_names: Vec<&str> = vec!["default"];
    recipe_names.extend(cfg.recipes.iter().map(|r| r.name.as_str()));
    let mut taken: HashSet<&str> = cfg
        .providers
        .models
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    for c in &cfg.routing.model_cards {
        taken.insert(&c.name);
        taken.extend(c.loras.iter().map(|l| l.name.as_str()));
    }
    let mut claimed: HashMap<&str, String> = HashMap::new();
    for (i, e) in cfg.entrypoints.iter().enumerate() {
        let p = join_index("entrypoints", i);
        if !e.recipe.is_empty() && !recipe_names.contains(&e.recipe.as_str()) {
            cx.err(
                &join_key(&p, "recipe"),
                format!(
                    "unknown recipe {:?}{}",
                    e.recipe,
                    hint(&e.recipe, &recipe_names)
                ),
            );
        }
        let np = join_key(&p, "model_names");
        if e.model_names.iter().all(|n| n.trim().is_empty()) {
            cx.err(&np, "an entrypoint needs at least one model name");
        }
        for (j, n) in e.model_names.iter().enumerate() {
            let n = n.trim();
            let ip = join_index(&np, j);
            if n.is_empty() {
                continue;
            }
            if taken.contains(n) {
                cx.err(
                    &ip,
                    format!("model name {n:?} is already a configured model; entrypoint names must be new virtual names"),
                );
            }
            match claimed.get(n) {
                Some(first) if !first.starts_with(&format!("{p}.")) => cx.err(
                    &ip,
                    format!("model name {n:?} is already claimed by {first}"),
                ),
                Some(_) => {}
                None => {
                    claimed.insert(n, ip);
                }
            }
        }
    }
}

/// One warning per HEAD field that is parsed and validated but has no runtime yet, at its first
/// occurrence.
pub(super) fn not_applied(cfg: &Config, cx: &mut Ctx) {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut note = |path: String, what: &str, why: &str| {
        if !found
            .iter()
            .any(|(_, w)| w.starts_with(&format!("`{what}`")))
        {
            found.push((
                path,
                format!("`{what}` is validated but not applied yet{why}"),
            ));
        }
    };
    let mut profiles: Vec<(String, &Routing)> = vec![("routing".into(), &cfg.routing)];
    profiles.extend(
        cfg.recipes
            .iter()
            .enumerate()
            .map(|(i, r)| (join_key(&join_index("recipes", i), "routing"), &r.routing)),
    );
    for (base, r) in &profiles {
        let s = &r.signals;
        if let Some(i) = s.embeddings.iter().position(|e| e.query_modality.is_some()) {
            note(
                join_key(
                    &join_index(&join_key(base, "signals.embeddings"), i),
                    "query_modality",
                ),
                "routing.signals.embeddings[].query_modality",
                ": queries are embedded as text",
            );
        }
        for (i, d) in r.decisions.iter().enumerate() {
            let p = join_index(&join_key(base, "decisions"), i);
            // Parsed, validated and exported; no runtime reads them.
            for (present, key) in [
                (!d.emits.is_empty(), "emits"),
                (!d.candidate_iterations.is_empty(), "candidateIterations"),
                (
                    d.output_contract.is_some() || d.output_contract_spec.is_some(),
                    "output_contract",
                ),
            ] {
                if present {
                    note(join_key(&p, key), &format!("routing.decisions[].{key}"), "");
                }
            }
            if let Some(a) = &d.algorithm
                && matches!(a.kind.as_str(), "prompt" | "mlp")
            {
                note(
                    join_key(&join_key(&p, "algorithm"), "type"),
                    &format!("algorithm.type: {}", a.kind),
                    "",
                );
            }
            // fusion and workflows run (vsr-server looper) except these parts.
            if let Some(a) = &d.algorithm
                && a.kind == "fusion"
                && let Some(g) = a.params.as_ref().and_then(|p| p.get("grounding"))
                && g.get("enabled").and_then(|e| e.as_bool()) != Some(false)
            {
                note(
                    join_key(&join_key(&join_key(&p, "algorithm"), "fusion"), "grounding"),
                    "algorithm.fusion.grounding",
                    ": it needs local NLI models this build does not ship",
                );
            }
            for (j, pl) in d.plugins.iter().enumerate() {
                let kind = match pl.kind.as_str() {
                    "response-cache" => "response_cache",
                    k => k,
                };
                // `tools` runs (vsr-server tools_policy) except its dynamic retrieval.
                if kind == "tools"
                    && pl
                        .configuration
                        .pointer("/dynamic_retrieval/enabled")
                        .and_then(serde_json::Value::as_bool)
                        == Some(true)
                {
                    note(
                        join_key(
                            &join_key(&join_index(&join_key(&p, "plugins"), j), "configuration"),
                            "dynamic_retrieval",
                        ),
                        "plugins[].tools.dynamic_retrieval",
                        "",
                    );
                }
                if matches!(
                    kind,
                    "tool_selection" | "request_params" | "context_compression"
                ) {
                    note(
                        join_key(&join_index(&join_key(&p, "plugins"), j), "type"),
                        &format!("plugins[].{kind}"),
                        "",
                    );
                }
            }
        }
    }
    if cfg.global.is_some() {
        // Protection (session-stable routing) and adaptation are applied; a non-default
        // stability weight and the Redis store are not.
        let l = cfg.global_settings().learning;
        if l.protection_active() && (l.stability_weight - 1.0).abs() > f64::EPSILON {
            note(
                "global.router.learning.protection.tuning.stability_weight".into(),
                "global.router.learning.protection.tuning.stability_weight",
                ": it acts as 1",
            );
        }
        if l.store_backend == Some(crate::LearningStoreBackend::Redis) {
            note(
                "global.router.learning.state_store.backend".into(),
                "global.router.learning.state_store.backend: redis",
                ": the state is kept in the replay PostgreSQL database when there is one, else in-process",
            );
        }
        // Workflows paused by a tool call wait in the router process whatever the backend.
        let flow_backend = cfg
            .effective_global()
            .pointer("/integrations/looper/flow/state/store_backend")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        if let Some(b) = flow_backend.filter(|b| b == "file" || b == "redis") {
            note(
                "global.integrations.looper.flow.state.store_backend".into(),
                &format!("global.integrations.looper.flow.state.store_backend: {b}"),
                ": paused workflows are kept in the router process",
            );
        }
    }
    for (path, msg) in found {
        cx.warn(&path, msg);
    }
}
