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
