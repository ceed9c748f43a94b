//! The upstream-HEAD (2026-08) recipes: each `recipe.dsl` compiles to the routing section of
//! its `config.yaml` (normalised as the March pairs are), the decompiled YAML routing compiles
//! back to the same tree, and formatting keeps the meaning.

use crate::common::*;

/// Recipes whose DSL uses only the single-profile grammar (no ROUTING/ENTRYPOINT/RECIPE).
const SINGLE_PROFILE: [&str; 6] = [
    "accuracy",
    "agent",
    "balance",
    "feedback",
    "knowledge",
    "privacy",
];

fn pair(name: &str) -> Option<(String, String)> {
    let dsl = shared(&format!(
        "reference/upstream-head-2026-08/{name}/recipe.dsl"
    ))?;
    let yaml = shared(&format!(
        "reference/upstream-head-2026-08/{name}/config.yaml"
    ))?;
    Some((read(&dsl), read(&yaml)))
}

/// A one-child AND or OR is the same condition as its child (the DSL writes a bare leaf as
/// AND[leaf] and drops a one-child wrapper around a compound; see docs/compatibility.md).
fn one_child_as_and(v: &mut serde_json::Value) {
    loop {
        let child = match v {
            serde_json::Value::Object(m)
                if matches!(
                    m.get("operator").and_then(|o| o.as_str()),
                    Some("AND" | "OR")
                ) =>
            {
                match m.get("conditions").and_then(|c| c.as_array()) {
                    Some(c) if c.len() == 1 => c[0].clone(),
                    _ => break,
                }
            }
            _ => break,
        };
        *v = child;
    }
    match v {
        serde_json::Value::Object(m) => m.values_mut().for_each(one_child_as_and),
        serde_json::Value::Array(a) => a.iter_mut().for_each(one_child_as_and),
        _ => {}
    }
}

/// `rules` omitted in YAML (a HEAD fallback) is what a ROUTE without WHEN compiles to.
fn with_fallback_rules(mut routing: serde_json::Value) -> serde_json::Value {
    if let Some(ds) = routing.get_mut("decisions").and_then(|d| d.as_array_mut()) {
        for d in ds {
            // `adaptations` has no DSL form (upstream carries it over from a base YAML).
            // `{operator: AND}` is written with `conditions: []` by the DSL.
            if let Some(m) = d.as_object_mut() {
                m.remove("adaptations");
                if let Some(r) = m.get_mut("rules").and_then(|r| r.as_object_mut())
                    && r.contains_key("operator")
                    && !r.contains_key("conditions")
                {
                    r.insert("conditions".into(), serde_json::json!([]));
                }
            }
            if let Some(m) = d.as_object_mut()
                && !m.contains_key("rules")
            {
                m.insert(
                    "rules".into(),
                    serde_json::json!({"operator": "AND", "conditions": []}),
                );
            }
        }
    }
    routing
}

#[test]
fn head_recipe_dsl_compiles_to_its_config_routing() {
    for name in SINGLE_PROFILE {
        let Some((dsl, yaml)) = pair(name) else {
            return;
        };
        let compiled = vsr_dsl::compile(&dsl)
            .unwrap_or_else(|d| panic!("{name}: {}", vsr_dsl::render_all(&d, name, &dsl)));
        let expected = with_fallback_rules(yaml_routing(&yaml));
        let (mut left, mut right) = (normalise(&compiled.routing), normalise(&expected));
        one_child_as_and(&mut left);
        one_child_as_and(&mut right);
        let mut out = Vec::new();
        diff(&left, &right, "routing", &mut out);
        assert!(out.is_empty(), "{name}:\n{}", out.join("\n"));
    }
}

#[test]
fn head_recipe_routing_decompiles_losslessly() {
    for name in SINGLE_PROFILE {
        let Some((dsl, yaml)) = pair(name) else {
            return;
        };
        let routing = with_fallback_rules(yaml_routing(&yaml));
        let text = vsr_dsl::decompile(&routing).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = vsr_dsl::compile(&text)
            .unwrap_or_else(|d| panic!("{name}: {}", vsr_dsl::render_all(&d, name, &text)));
        let (mut left, mut right) = (back.routing.clone(), routing.clone());
        one_child_as_and(&mut left);
        one_child_as_and(&mut right);
        let mut out = Vec::new();
        diff(&left, &right, "routing", &mut out);
        assert!(out.is_empty(), "{name}:\n{}", out.join("\n"));
        assert_eq!(vsr_dsl::format(&text).ok().as_deref(), Some(text.as_str()));
        // And the recipe's own text survives fmt with the same meaning.
        let once = vsr_dsl::format(&dsl).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        let a = vsr_dsl::compile(&dsl).map(|c| c.routing).ok();
        assert_eq!(a, vsr_dsl::compile(&once).map(|c| c.routing).ok(), "{name}");
    }
}

/// Recipes whose DSL declares ROUTING / ENTRYPOINT / RECIPE blocks (several routing profiles).
const MULTI_PROFILE: [&str; 2] = ["mom-v1", "multi-objective"];

/// The sections the DSL owns (`routing`, `entrypoints`, `recipes`) of a config, with the
/// fallback-rules and one-child normalisation applied to every profile.
fn owned_sections(doc: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let Some(r) = doc.get("routing") {
        out.insert("routing".into(), normalise(&with_fallback_rules(r.clone())));
    }
    if let Some(e) = doc.get("entrypoints") {
        out.insert("entrypoints".into(), e.clone());
    }
    if let Some(serde_json::Value::Array(list)) = doc.get("recipes") {
        let list = list
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if let Some(routing) = r.get_mut("routing") {
                    *routing = normalise(&with_fallback_rules(routing.clone()));
                }
                r
            })
            .collect();
        out.insert("recipes".into(), serde_json::Value::Array(list));
    }
    let mut v = serde_json::Value::Object(out);
    one_child_as_and(&mut v);
    remom_false_as_absent(&mut v);
    v
}

/// `remom.include_intermediate_responses` is a plain bool upstream (default false), which its
/// YAML export writes out while the DSL leaves it unset: `false` equals absent there.
fn remom_false_as_absent(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(serde_json::Value::Object(r)) = m.get_mut("remom")
                && r.get("include_intermediate_responses") == Some(&serde_json::Value::Bool(false))
            {
                r.shift_remove("include_intermediate_responses");
            }
            m.values_mut().for_each(remom_false_as_absent);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(remom_false_as_absent),
        _ => {}
    }
}

fn compiled_sections(c: &vsr_dsl::Compiled) -> serde_json::Value {
    owned_sections(&serde_json::Value::Object(c.sections()))
}

#[test]
fn head_multi_profile_dsl_compiles_to_its_config() {
    for name in MULTI_PROFILE {
        let Some((dsl, yaml)) = pair(name) else {
            return;
        };
        let compiled = vsr_dsl::compile(&dsl)
            .unwrap_or_else(|d| panic!("{name}: {}", vsr_dsl::render_all(&d, name, &dsl)));
        assert!(!compiled.recipes.is_empty() && !compiled.entrypoints.is_empty());
        let doc: serde_json::Value = serde_yaml::from_str(&yaml).expect("reference YAML parses");
        let (left, right) = (compiled_sections(&compiled), owned_sections(&doc));
        let mut out = Vec::new();
        diff(&left, &right, "config", &mut out);
        assert!(
            out.is_empty(),
            "{name}: {} differences:\n{}",
            out.len(),
            out.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
        );
    }
}

#[test]
fn head_multi_profile_config_decompiles_losslessly() {
    for name in MULTI_PROFILE {
        let Some((dsl, yaml)) = pair(name) else {
            return;
        };
        let doc: serde_json::Value = serde_yaml::from_str(&yaml).expect("reference YAML parses");
        let mut owned = serde_json::Map::new();
        for k in ["routing", "entrypoints", "recipes"] {
            if let Some(v) = doc.get(k) {
                owned.insert(k.into(), v.clone());
            }
        }
        // `adaptations` has no DSL form; compare without it (as the single-profile test does).
        let mut owned = serde_json::Value::Object(owned);
        if let Some(r) = owned.get_mut("routing") {
            *r = with_fallback_rules(r.clone());
        }
        if let Some(serde_json::Value::Array(list)) = owned.get_mut("recipes") {
            for r in list {
                if let Some(routing) = r.get_mut("routing") {
                    *routing = with_fallback_rules(routing.clone());
                }
            }
        }
        let text = vsr_dsl::decompile_config(&owned).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = vsr_dsl::compile(&text)
            .unwrap_or_else(|d| panic!("{name}: {}", vsr_dsl::render_all(&d, name, &text)));
        let mut out = Vec::new();
        diff(
            &compiled_sections(&back),
            &owned_sections(&owned),
            "config",
            &mut out,
        );
        assert!(out.is_empty(), "{name}:\n{}", out.join("\n"));
        assert_eq!(vsr_dsl::format(&text).ok().as_deref(), Some(text.as_str()));
        // The recipe's own text survives fmt with the same meaning, and fmt is idempotent.
        let once = vsr_dsl::format(&dsl).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        assert_eq!(
            vsr_dsl::format(&once).ok().as_deref(),
            Some(once.as_str()),
            "{name}"
        );
        let a = vsr_dsl::compile(&dsl).map(|c| c.sections()).ok();
        assert_eq!(
            a,
            vsr_dsl::compile(&once).map(|c| c.sections()).ok(),
            "{name}"
        );
        // And the YAML-text entry point takes the whole config.
        let from_yaml = vsr_dsl::decompile_yaml(&yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(from_yaml.contains("ENTRYPOINT {") && from_yaml.contains("RECIPE "));
    }
}

#[test]
fn multi_profile_diagnostics_have_positions_and_suggestions() {
    let src = r#"ROUTING { strategy: priorty }
MODEL m {}
ENTRYPOINT { model_names: ["vllm-sr/a"], recipe: "balanse" }
ENTRYPOINT { model_names: ["vllm-sr/a"], recipe: balance }
ENTRYPOINT { recipe: balance }
RECIPE balance (description = "b") {
  ROUTING {}
  SIGNLA keyword k { keywords: ["x"] }
  MODEL n {}
  SIGNAL keyword k { keywords: ["x"] }
  ROUTE r { WHEN keyword("kk") MODEL "m" }
}
RECIPE default {}
"#;
    // Parse errors stop compile; compile the rest without them.
    let rest = src.replace(
        "  SIGNLA keyword k { keywords: [\"x\"] }\n  MODEL n {}\n",
        "",
    );
    let Err(diags) = vsr_dsl::compile(&rest) else {
        panic!("must fail")
    };
    let text = vsr_dsl::render_all(&diags, "t.dsl", &rest);
    assert!(text.contains("ROUTING requires strategy"), "{text}");
    assert!(text.contains("RECIPE \"default\" is a duplicate"), "{text}");
    let want = [
        ("1:21", "got \"priorty\"", Some("did you mean `priority`?")),
        (
            "3:50",
            "unknown recipe `balanse`",
            Some("did you mean `balance`?"),
        ),
        ("4:28", "already mapped", None),
        ("5:1", "ENTRYPOINT requires a non-empty model_names", None),
    ];
    for (pos, msg, help) in want {
        let (line, col) = pos.split_once(':').unwrap_or_default();
        assert!(
            diags.iter().any(|d| d.span.line.to_string() == line
                && d.span.col.to_string() == col
                && d.message.contains(msg)
                && help.is_none_or(|h| d.suggestion.as_deref() == Some(h))),
            "missing {pos} {msg}:\n{text}"
        );
    }
    let (_, parse_diags) = vsr_dsl::parse(src);
    let p = vsr_dsl::render_all(&parse_diags, "t.dsl", src);
    assert!(
        p.contains("t.dsl:8:3") && p.contains("did you mean `SIGNAL`?"),
        "{p}"
    );
    assert!(
        p.contains("t.dsl:9:3") && p.contains("MODEL is not allowed inside RECIPE"),
        "{p}"
    );
}

#[test]
fn multi_profile_semantics() {
    let src = r#"MODEL m {}
ENTRYPOINT { model_names: ["vllm-sr/a", "", 3], recipe: fast }
RECIPE fast (description = "d", strategy = confidence) {
  ROUTING { strategy: priority }
  SIGNAL keyword k { keywords: ["x"] }
  ROUTE r { WHEN keyword("kk") MODEL "m" }
  TEST t { "x" -> r }
}
RECIPE default {}
"#;
    let Err(d) = vsr_dsl::compile(src) else {
        panic!("must fail")
    };
    let all = vsr_dsl::render_all(&d, "t.dsl", src);
    assert!(all.contains("RECIPE \"default\" is a duplicate"), "{all}");
    assert!(all.contains("must not be empty"), "{all}");
    // Warnings inside a recipe name it and keep did-you-mean.
    assert!(
        all.contains("RECIPE \"fast\": signal keyword(\"kk\") is not declared")
            && all.contains("did you mean keyword(\"k\")?"),
        "{all}"
    );
    let ok = src
        .replace(", \"\", 3", "")
        .replace("RECIPE default {}\n", "");
    let c = vsr_dsl::compile(&ok).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(
        serde_json::Value::Array(c.entrypoints.clone()),
        serde_json::json!([{"model_names": ["vllm-sr/a"], "recipe": "fast"}])
    );
    let r = &c.recipes[0];
    assert_eq!(r["name"], "fast");
    assert_eq!(r["description"], "d");
    // ROUTING in the body wins over the header option.
    assert_eq!(r["routing"]["strategy"], "priority");
    assert_eq!(r["routing"]["decisions"][0]["name"], "r");
    assert!(r["routing"].get("modelCards").is_none());
    assert_eq!(c.routing["modelCards"][0]["name"], "m");
    // Paths inside a recipe map back to the DSL.
    let span = c
        .source_map
        .get("recipes[0].routing.decisions[0].rules.conditions[0].name")
        .expect("mapped");
    assert_eq!((span.line, span.col), (6, 26));
    // A full build validates the merged config, recipes included; findings map back.
    let Err(found) = vsr_dsl::build(&ok, None) else {
        panic!("the validator rejects kk")
    };
    assert!(
        found.iter().any(|d| d.is_error()
            && (d.span.line, d.span.col) == (6, 26)
            && d.message.contains("\"kk\" is not declared")),
        "{found:?}"
    );
    let good = ok
        .replace("keyword(\"kk\")", "keyword(\"k\")")
        .replace("{ keywords", "{ operator: \"OR\", keywords");
    let built = vsr_dsl::build(&good, None).unwrap_or_else(|d| panic!("{d:?}"));
    assert!(built.yaml.contains("entrypoints:") && built.yaml.contains("recipes:"));
    assert!(
        built.warnings.iter().all(|w| w.span.line > 0),
        "{:?}",
        built.warnings
    );
}

/// Signal-reference fields (head-delta §18): `label`, `predicate` and `on_error` become leaf
/// fields, other fields are ignored, and decompiling writes them back.
#[test]
fn classifier_leaf_fields_compile_and_decompile() {
    let src = r#"SIGNAL classifier intent {
  type: "llm"
  model: "intent-llm"
  instructions: "Classify the intent."
  labels: ["billing", "other"]
}
ROUTE billing {
  PRIORITY 100
  WHEN classifier("intent", label: "billing", predicate: {gte: 0.5}, on_error: "match", note: "x")
  MODEL "m"
}
"#;
    let c = vsr_dsl::compile(src)
        .unwrap_or_else(|d| panic!("{}", vsr_dsl::render_all(&d, "t.dsl", src)));
    // A WHEN of one leaf compiles to an AND of it, as every route does.
    let leaf = &c.routing["decisions"][0]["rules"]["conditions"][0];
    assert_eq!(
        leaf,
        &serde_json::json!({"type": "classifier", "name": "intent", "label": "billing",
            "predicate": {"gte": 0.5}, "on_error": "match"})
    );
    let text = vsr_dsl::decompile(&c.routing).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.contains(
            r#"classifier("intent", label: "billing", predicate: { gte: 0.5 }, on_error: "match")"#
        ) || text.contains(
            r#"classifier("intent", label: "billing", predicate: {gte: 0.5}, on_error: "match")"#
        ),
        "{text}"
    );
    let back = vsr_dsl::compile(&text).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(back.routing, c.routing);
    assert_eq!(vsr_dsl::format(&text).ok().as_deref(), Some(text.as_str()));
}

#[test]
fn decision_contract_fields_round_trip() {
    // emits and candidateIterations are written as EMIT / FOR; output_contract* and
    // annotations (no body keyword) travel as route options; all losslessly.
    let routing = serde_json::json!({"decisions": [{
        "name": "r", "priority": 10,
        "rules": {"operator": "AND", "conditions": [{"type": "keyword", "name": "k"}]},
        "modelRefs": [{"model": "m"}],
        "output_contract": "json_answer",
        "output_contract_spec": {"schema": {"type": "object"}},
        "emits": [{"kind": "retention", "retention": {"ttl_turns": 3, "keep_current_model": true}}],
        "candidateIterations": [{"variable": "v", "source": "models", "models": [{"model": "m"}],
            "outputs": [{"type": "model", "value": "v"}]}],
        "annotations": {"owner": "platform", "reviewed": true}
    }], "signals": {"keywords": [{"name": "k", "operator": "OR", "keywords": ["x"]}]}});
    let text = vsr_dsl::decompile(&routing).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("EMIT retention {"), "{text}");
    assert!(text.contains("FOR v IN [\"m\"] { MODEL v }"), "{text}");
    assert!(text.contains("annotations = "), "{text}");
    let back = vsr_dsl::compile(&text)
        .unwrap_or_else(|d| panic!("{}", vsr_dsl::render_all(&d, "t.dsl", &text)));
    let d = &back.routing["decisions"][0];
    for key in [
        "output_contract",
        "output_contract_spec",
        "emits",
        "candidateIterations",
        "annotations",
    ] {
        assert_eq!(d[key], routing["decisions"][0][key], "{key}: {text}");
    }
}

#[test]
fn for_and_emit_compile_as_head_does() {
    let src = r#"SIGNAL keyword k { operator: "OR" keywords: ["x"] }
ROUTE r {
  PRIORITY 1
  WHEN keyword("k")
  MODEL "a"
  FOR m IN decision.candidates { MODEL m }
  FOR n IN ["a", "b"] { MODEL n }
  EMIT retention { ttl_turns: 2, keep_current_model: true }
}
"#;
    let c = vsr_dsl::compile(src)
        .unwrap_or_else(|d| panic!("{}", vsr_dsl::render_all(&d, "t.dsl", src)));
    let d = &c.routing["decisions"][0];
    assert_eq!(
        d["candidateIterations"],
        serde_json::json!([
            {"variable": "m", "source": "decision.candidates", "outputs": [{"type": "model", "value": "m"}]},
            {"variable": "n", "source": "models", "models": [{"model": "a"}, {"model": "b"}],
             "outputs": [{"type": "model", "value": "n"}]}
        ])
    );
    // A literal list's models join the route's.
    assert_eq!(
        d["modelRefs"],
        serde_json::json!([{"model": "a"}, {"model": "b"}])
    );
    assert_eq!(
        d["emits"],
        serde_json::json!([{"kind": "retention", "retention": {"ttl_turns": 2, "keep_current_model": true}}])
    );
    let text = vsr_dsl::decompile(&c.routing).unwrap_or_else(|e| panic!("{e}"));
    let back = vsr_dsl::compile(&text).unwrap_or_else(|d| panic!("{d:?}\n{text}"));
    assert_eq!(back.routing, c.routing, "{text}");
    assert_eq!(vsr_dsl::format(&text).ok().as_deref(), Some(text.as_str()));
    // Errors point at the offending word.
    for (bad, want) in [
        (
            "FOR m IN everything { MODEL m }",
            "unknown FOR source `everything`",
        ),
        ("EMIT keep { drop: true }", "unknown EMIT kind `keep`"),
        (
            "EMIT retention { drop: true }\n  EMIT retention { ttl_turns: 1 }",
            "EMIT retention is given twice",
        ),
    ] {
        let s = src.replace(
            "EMIT retention { ttl_turns: 2, keep_current_model: true }",
            bad,
        );
        let diags = vsr_dsl::compile(&s).err().unwrap_or_default();
        assert!(
            diags.iter().any(|d| d.message.contains(want)),
            "{want}: {}",
            vsr_dsl::render_all(&diags, "t.dsl", &s)
        );
    }
}
