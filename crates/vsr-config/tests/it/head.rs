//! The upstream-HEAD (2026-08) recipes: each config loads without errors, every warning is a
//! "validated but not applied yet" notice (one per field), the export round-trips, and a
//! misspelt HEAD key gets a did-you-mean at its line:column.

use vsr_config::{Severity, load_file, load_str};
use vsr_testkit::shared_file;

const RECIPES: [&str; 8] = [
    "accuracy",
    "agent",
    "balance",
    "feedback",
    "knowledge",
    "mom-v1",
    "multi-objective",
    "privacy",
];

fn recipe_config(name: &str) -> Option<std::path::PathBuf> {
    shared_file(&format!(
        "reference/upstream-head-2026-08/{name}/config.yaml"
    ))
}

#[test]
fn every_head_recipe_validates_and_round_trips() {
    for name in RECIPES {
        let Some(path) = recipe_config(name) else {
            continue;
        };
        let first = load_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut seen = std::collections::HashSet::new();
        for w in &first.warnings {
            assert!(
                w.message.contains("is validated but not applied yet"),
                "{name}: unexpected warning {w}"
            );
            // These have a runtime now and must not be announced as unapplied.
            for applied in [
                "multi_factor",
                "language[].threshold",
                "cache_write_per_1m",
                "algorithm.type: fusion",
                "algorithm.type: workflows",
                "learning.adaptation",
                "adaptations.adaptation",
            ] {
                assert!(!w.message.contains(applied), "{name}: {w}");
            }
            assert!(
                seen.insert(w.message.clone()),
                "{name}: repeated warning {w}"
            );
        }
        let yaml = first.config.to_yaml();
        let second = load_str(&yaml, "export.yaml").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            first.config, second.config,
            "{name}: export changed the config"
        );
        assert_eq!(
            second.config.to_yaml(),
            yaml,
            "{name}: export is not a fixed point"
        );
    }
}

#[test]
fn head_recipes_parse_into_the_typed_model() {
    if let Some(p) = recipe_config("mom-v1") {
        let c = load_file(&p).unwrap().config;
        assert_eq!(c.recipes.len(), 5);
        assert!(!c.entrypoints.is_empty());
        assert_eq!(c.routing.strategy, Some(vsr_config::Strategy::Priority));
        assert!(
            c.recipes
                .iter()
                .any(|r| r.routing.decisions.iter().any(|d| d.fallback))
        );
    }
    if let Some(p) = recipe_config("knowledge") {
        let c = load_file(&p).unwrap().config;
        let input = &c.routing.projections.scores[0].inputs[0];
        assert_eq!(input.kind, vsr_config::SignalType::KbMetric);
        assert_eq!(input.kb.as_deref(), Some("mmlu_kb"));
        assert_eq!(input.metric.as_deref(), Some("escalate_vs_keep"));
        assert!(!c.routing.signals.kb.is_empty());
    }
    if let Some(p) = recipe_config("agent") {
        let c = load_file(&p).unwrap().config;
        assert!(!c.routing.signals.conversation.is_empty());
        assert!(c.routing.decisions.iter().any(|d| d.adaptations.is_some()));
        let priced = c.providers.models[0].pricing.as_ref().unwrap();
        assert!(priced.cached_input_per_1m.is_some());
    }
}

const BASE: &str = include_str!("base.yaml");

/// Inserts `snippet` after the unique `anchor` of base.yaml and returns the source and the
/// rendered diagnostics.
fn load_with(anchor: &str, snippet: &str) -> (String, Vec<String>) {
    assert_eq!(BASE.matches(anchor).count(), 1, "{anchor:?}");
    let src = BASE.replacen(anchor, &format!("{anchor}{snippet}"), 1);
    let rendered = render(&src);
    (src, rendered)
}

/// The diagnostics of loading `src` as `head.yaml`, one line each.
fn render(src: &str) -> Vec<String> {
    let diags = match load_str(src, "head.yaml") {
        Ok(l) => l.warnings,
        Err(e) => e.diagnostics().to_vec(),
    };
    diags
        .iter()
        .map(|d| match d.severity {
            Severity::Error => format!("error: {d}"),
            Severity::Warning => format!("warning: {d}"),
        })
        .collect()
}

/// `line:column` of the first occurrence of `needle` in `src` (1-based).
fn pos_of(src: &str, needle: &str) -> String {
    let at = src
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in source"));
    let line = src[..at].matches('\n').count() + 1;
    let col = at - src[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

/// Asserts a did-you-mean error for the misspelt key `typo` (at its position) at `path`.
fn assert_suggests(anchor: &str, snippet: &str, typo: &str, path: &str, want: &str) {
    let (src, diags) = load_with(anchor, snippet);
    let expected = format!(
        "error: head.yaml:{}: {path}: unknown field `{typo}`; did you mean `{want}`?",
        pos_of(&src, &format!("{typo}:"))
    );
    assert!(
        diags.contains(&expected),
        "expected {expected}\ngot:\n{}",
        diags.join("\n")
    );
}

const SIGNALS: &str = "  signals:\n";
const DECISION: &str = "      tier: 1\n";

#[test]
fn misspelt_reask_field() {
    assert_suggests(
        SIGNALS,
        "    reasks:\n      - name: again\n        lookback_turn: 2\n",
        "lookback_turn",
        "routing.signals.reasks[0].lookback_turn",
        "lookback_turns",
    );
}

#[test]
fn misspelt_conversation_field() {
    assert_suggests(
        SIGNALS,
        "    conversation:\n      - name: tools\n        feature:\n          type: exists\n          sourse:\n            type: tool_definition\n",
        "sourse",
        "routing.signals.conversation[0].feature.sourse",
        "source",
    );
}

#[test]
fn misspelt_kb_target_field() {
    assert_suggests(
        SIGNALS,
        "    kb:\n      - name: bio\n        kb: mmlu_kb\n        target:\n          kind: label\n          valeu: biology\n",
        "valeu",
        "routing.signals.kb[0].target.valeu",
        "value",
    );
}

#[test]
fn misspelt_adaptations_field() {
    assert_suggests(
        DECISION,
        "      adaptations:\n        mdoe: bypass\n",
        "mdoe",
        "routing.decisions[0].adaptations.mdoe",
        "mode",
    );
}

#[test]
fn misspelt_fusion_field() {
    assert_suggests(
        DECISION,
        "      algorithm:\n        type: fusion\n        fusion:\n          analysis_model: [small, large]\n",
        "analysis_model",
        "routing.decisions[0].algorithm.fusion.analysis_model",
        "analysis_models",
    );
}

#[test]
fn misspelt_top_level_recipes_key() {
    let (src, diags) = load_with("version: v0.3\n", "recipe:\n  - name: x\n");
    let expected = format!(
        "error: head.yaml:{}: recipe: unknown top-level key `recipe`: canonical v0.3 has version, listeners, providers, routing, entrypoints, recipes, global; did you mean `recipes`?",
        pos_of(&src, "recipe:")
    );
    assert!(diags.contains(&expected), "{}", diags.join("\n"));
}

#[test]
fn misspelt_learning_field() {
    assert_suggests(
        "version: v0.3\n",
        "global:\n  router:\n    learning:\n      enabled: true\n      adaptaton:\n        enabled: false\n",
        "adaptaton",
        "global.router.learning.adaptaton",
        "adaptation",
    );
}

#[test]
fn unknown_closed_values_list_the_allowed_ones() {
    let (src, diags) = load_with(
        SIGNALS,
        "    conversation:\n      - name: tools\n        feature:\n          type: exists\n          source:\n            type: tool_definitions\n",
    );
    let expected = format!(
        "error: head.yaml:{}: routing.signals.conversation[0].feature.source.type: unknown conversation source type \"tool_definitions\": expected message, tool_definition, assistant_tool_call, assistant_tool_cycle, active_tool_loop or image_content; did you mean \"tool_definition\"?",
        pos_of(&src, "tool_definitions")
    );
    assert!(diags.contains(&expected), "{}", diags.join("\n"));
}

#[test]
fn recipes_and_entrypoints_are_checked() {
    let (_, diags) = load_with(
        "version: v0.3\n",
        "entrypoints:\n  - model_names: [small]\n    recipe: balanse\nrecipes:\n  - name: balance\n    routing:\n      decisions:\n        - name: d\n          priority: 1\n          modelRefs:\n            - model: nope\n",
    );
    let text = diags.join("\n");
    assert!(
        text.contains("unknown recipe \"balanse\"; did you mean \"balance\"?"),
        "{text}"
    );
    assert!(
        text.contains("model name \"small\" is already a configured model"),
        "{text}"
    );
    assert!(
        text.contains(
            "recipes[0].routing.decisions[0].modelRefs[0].model: model \"nope\" is not declared"
        ),
        "{text}"
    );
}

#[test]
fn a_recipe_profile_shares_the_cards_and_resolves_its_strategy() {
    let src = BASE.replacen(
        "routing:\n",
        "entrypoints:\n  - model_names: [' team/fast ', team/fast2]\n    recipe: fast\n  - model_names: [team/main]\n    recipe: default\nrecipes:\n  - name: fast\n    routing:\n      signals:\n        keywords:\n          - name: quick\n            operator: OR\n            keywords: [quick]\n      decisions:\n        - name: quick_route\n          priority: 1\n          rules:\n            operator: AND\n            conditions:\n              - type: keyword\n                name: quick\n          modelRefs:\n            - model: small\nrouting:\n  strategy: confidence\n",
        1,
    );
    let loaded = load_str(&src, "recipes.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        loaded
            .warnings
            .iter()
            .all(|w| !w.message.contains("recipes")
                && !w.message.contains("entrypoints")
                && !w.message.contains("strategy")),
        "{:?}",
        loaded.warnings
    );
    let c = loaded.config;
    assert_eq!(c.entrypoint_recipe("team/fast"), Some("fast"));
    assert_eq!(c.entrypoint_recipe("team/fast2"), Some("fast"));
    assert_eq!(c.entrypoint_recipe("team/main"), Some("default"));
    assert_eq!(c.entrypoint_recipe("MoM"), None);
    let fast = c.profile(Some("fast")).expect("recipe");
    assert_eq!(fast.routing.decisions.len(), 1);
    assert_eq!(fast.routing.decisions[0].name, "quick_route");
    assert_eq!(fast.routing.model_cards, c.routing.model_cards);
    assert_eq!(
        fast.routing.strategy,
        Some(vsr_config::Strategy::Confidence)
    );
    assert!(fast.recipes.is_empty() && fast.entrypoints.is_empty());
    let default = c.profile(None).expect("default");
    assert_eq!(default.routing, c.routing);
    assert_eq!(c.profile(Some("default")), Some(default));
    assert_eq!(c.profile(Some("nope")), None);
    assert_eq!(c.named_recipes().count(), 1);
}

#[test]
fn a_decision_without_rules_is_a_fallback_without_warnings() {
    let (_, diags) = load_with(
        "  decisions:\n",
        "    - name: fallback_one\n      priority: 1\n      modelRefs:\n        - model: small\n    - name: fallback_two\n      priority: 1\n      modelRefs:\n        - model: small\n",
    );
    assert!(diags.is_empty(), "{}", diags.join("\n"));
}

#[test]
fn every_head_probe_manifest_parses() {
    for name in RECIPES {
        let Some(path) = shared_file(&format!(
            "reference/upstream-head-2026-08/{name}/probes.yaml"
        )) else {
            continue;
        };
        let m = vsr_config::probes::Manifest::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(m.is_v1(), "{name}");
        assert_eq!(m.name, name);
        assert!(m.coverage.is_some() && m.probe_count() > 0, "{name}");
        for g in &m.decisions {
            for v in &g.variants {
                // Every variant builds its request (fixtures resolve, generated text fits).
                let r = v.request(m.fixtures.as_ref());
                assert!(r.is_ok(), "{name} {}:{}: {r:?}", g.id, v.id);
            }
        }
    }
}

#[test]
fn the_march_probe_manifest_still_parses() {
    let Some(path) = shared_file("reference/upstream-amd-2026-03/balance.probes.yaml") else {
        return;
    };
    let m = vsr_config::probes::Manifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!m.is_v1() && m.probe_count() > 0);
    assert!(
        m.decisions
            .iter()
            .flat_map(|g| &g.variants)
            .all(|v| !v.query.is_empty())
    );
}

#[test]
fn an_explicit_regex_keyword_must_compile_in_an_august_config() {
    // A `reasks` family makes the file an August one; there `method: regex` means expressions.
    let src = BASE.replacen(
        "    keywords:\n",
        "    reasks:\n      - name: again\n        lookback_turns: 2\n    keywords:\n      - name: inject\n        operator: OR\n        method: regex\n        keywords: ['\\bok\\b', '(unclosed']\n",
        1,
    );
    let diags = render(&src);
    let want = format!(
        "error: head.yaml:{}: routing.signals.keywords[0].keywords[1]: invalid regex \"(unclosed\"",
        pos_of(&src, "'(unclosed'")
    );
    assert!(
        diags.iter().any(|d| d.starts_with(&want)),
        "expected {want}\ngot:\n{}",
        diags.join("\n")
    );
    assert_eq!(diags.iter().filter(|d| d.starts_with("error")).count(), 1);
    // In a March file the same keywords are literal phrases, so nothing is wrong.
    let march = BASE.replacen(
        "    keywords:\n",
        "    keywords:\n      - name: inject\n        operator: OR\n        method: regex\n        keywords: ['(unclosed']\n",
        1,
    );
    assert!(render(&march).iter().all(|d| !d.starts_with("error")));
}

/// The models a fusion or workflows block names are checked where they are written.
#[test]
fn looper_models_are_checked_at_their_position() {
    let has = |snippet: &str, want: &str| {
        let (_, diags) = load_with(DECISION, snippet);
        assert!(
            diags
                .iter()
                .any(|d| d.starts_with("error:") && d.contains(want)),
            "{want}\ngot:\n{}",
            diags.join("\n")
        );
    };
    has(
        "      algorithm:\n        type: fusion\n        fusion:\n          model: lage\n",
        "routing.decisions[0].algorithm.fusion.model: model \"lage\" is not declared in providers.models; did you mean \"large\"?",
    );
    has(
        "      algorithm:\n        type: fusion\n        fusion:\n          analysis_overrides: [{model: small}, {model: small}]\n",
        "analysis_overrides[1].model: model \"small\" is overridden twice",
    );
    has(
        "      algorithm:\n        type: workflows\n        workflows:\n          roles: [{name: r, models: [small]}]\n",
        "roles[0].models[0]: model \"small\" is not one of the decision's modelRefs",
    );
    has(
        "      algorithm:\n        type: workflows\n        workflows:\n          mode: dynamic\n",
        "algorithm.workflows.planner.model: a dynamic workflow needs planner.model",
    );
    has(
        "      algorithm:\n        type: workflows\n        workflows:\n          roles: [{name: r, models: [large]}]\n          final: {model: small}\n",
        "algorithm.workflows.final.model: model \"small\" is not one of the decision's modelRefs",
    );
    let (_, diags) = load_with(
        DECISION,
        "      algorithm:\n        type: workflows\n        workflows:\n          roles: [{name: r, models: [large]}]\n          final: {model: large}\n",
    );
    assert!(diags.iter().all(|d| !d.starts_with("error:")), "{diags:?}");
}

/// The decision fields HEAD parses without a runtime (§2).
const CONTRACT_FIELDS: &str = "      output_contract: json_answer\n      output_contract_spec: {schema: {type: object}}\n      emits:\n        - kind: retention\n          retention: {ttl_turns: 3, keep_current_model: true}\n      candidateIterations:\n        - variable: m\n          source: models\n          models: [{model: qwen/qwen3.6-rocm}]\n          outputs: [{type: model, value: m}]\n      annotations: {owner: platform, reviewed: true}\n";

#[test]
fn decision_contract_fields_load_export_and_warn() {
    let (src, diags) = load_with(DECISION, CONTRACT_FIELDS);
    let loaded = load_str(&src, "head.yaml").unwrap_or_else(|e| panic!("{e}"));
    let d = loaded
        .config
        .routing
        .decisions
        .iter()
        .find(|d| !d.emits.is_empty())
        .expect("the decision with the fields");
    assert_eq!(d.output_contract.as_deref(), Some("json_answer"));
    assert_eq!(
        d.emits[0].retention.as_ref().and_then(|r| r.ttl_turns),
        Some(3)
    );
    assert_eq!(
        d.candidate_iterations[0].models[0].model,
        "qwen/qwen3.6-rocm"
    );
    assert_eq!(d.candidate_iterations[0].outputs[0].kind, "model");
    assert_eq!(
        d.annotations.as_ref().map(|a| a["owner"].clone()),
        Some("platform".into())
    );
    for key in ["emits", "candidateIterations", "output_contract"] {
        assert!(
            diags.iter().any(|w| w.starts_with("warning:")
                && w.contains(&format!(
                    "`routing.decisions[].{key}` is validated but not applied yet"
                ))),
            "{key}: {diags:?}"
        );
    }
    assert!(
        !diags.iter().any(|w| w.contains("annotations")),
        "{diags:?}"
    );
    let yaml = loaded.config.to_yaml();
    let again = load_str(&yaml, "export.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config, again.config, "export keeps the fields");
}

#[test]
fn decision_contract_fields_are_checked() {
    let cases = [
        (
            "kind: retention\n",
            "kind: keep\n",
            "unknown emit kind \"keep\"",
        ),
        ("ttl_turns: 3,", "ttl_turns: -1,", "must be >= 0, got -1"),
        (
            "ttl_turns: 3, keep_current_model: true",
            "ttl_turns: 3, drop: true",
            "`drop: true` cannot keep the state for `ttl_turns`",
        ),
        (
            "source: models",
            "source: everything",
            "unknown source \"everything\"",
        ),
        (
            "type: model, value",
            "type: tool, value",
            "unknown output type \"tool\"",
        ),
        (
            "annotations: {owner: platform, reviewed: true}",
            "annotations: [1]",
            "expected a mapping",
        ),
    ];
    for (from, to, want) in cases {
        assert!(CONTRACT_FIELDS.contains(from), "{from}");
        let (src, diags) = load_with(DECISION, &CONTRACT_FIELDS.replacen(from, to, 1));
        let hit = diags
            .iter()
            .find(|d| d.starts_with("error:") && d.contains(want))
            .unwrap_or_else(|| panic!("{want}: {diags:?}"));
        // Every error points into the snippet (its line:column).
        let line: usize = hit
            .split(':')
            .nth(2)
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0);
        let first = src[..src.find("output_contract:").unwrap_or(0)]
            .matches('\n')
            .count()
            + 1;
        assert!(line >= first, "{hit}");
    }
    // A kind at most once.
    let twice = CONTRACT_FIELDS.replace(
        "      candidateIterations:",
        "        - kind: retention\n      candidateIterations:",
    );
    let (_, diags) = load_with(DECISION, &twice);
    assert!(
        diags.iter().any(|d| d.contains("appears more than once")),
        "{diags:?}"
    );
}

#[test]
fn a_persistent_flow_state_store_is_announced_as_in_process() {
    let Some(p) = recipe_config("multi-objective") else {
        return;
    };
    let loaded = load_file(&p).unwrap_or_else(|e| panic!("{e}"));
    let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("flow.state.store_backend: file")
                && w.contains("kept in the router process")),
        "{w:?}"
    );
}
