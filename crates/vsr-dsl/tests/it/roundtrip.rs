//! Round trips over the reference files: decompile → compile, fmt idempotence, comments.

use crate::common::*;

const PAIRS: [(&str, &str); 2] = [
    (
        "reference/upstream-amd-2026-03/balance.dsl",
        "reference/upstream-amd-2026-03/balance.yaml",
    ),
    (
        "reference/upstream-amd-2026-03/privacy/privacy-router.dsl",
        "reference/upstream-amd-2026-03/privacy/privacy-router.yaml",
    ),
];

#[test]
fn decompile_then_compile_gives_the_same_routing() {
    for (_, yaml) in PAIRS {
        let Some(yaml) = shared(yaml) else { return };
        let routing = yaml_routing(&read(&yaml));
        let dsl = vsr_dsl::decompile(&routing).unwrap_or_else(|e| panic!("{e}"));
        let back = vsr_dsl::compile(&dsl)
            .unwrap_or_else(|d| panic!("{}", vsr_dsl::render_all(&d, "decompiled", &dsl)));
        // Lossless: equal as trees (numbers keep their int/float kind), no normalisation.
        let mut out = Vec::new();
        diff(&back.routing, &routing, "routing", &mut out);
        assert!(out.is_empty(), "{}", out.join("\n"));
        assert_eq!(back.routing, routing);
        // The decompiled text is already in canonical layout.
        assert_eq!(vsr_dsl::format(&dsl).ok().as_deref(), Some(dsl.as_str()));
    }
}

#[test]
fn compile_decompile_compile_is_stable() {
    for (dsl, _) in PAIRS {
        let Some(dsl) = shared(dsl) else { return };
        let first = vsr_dsl::compile(&read(&dsl)).unwrap_or_else(|d| panic!("{d:?}"));
        let text = vsr_dsl::decompile(&first.routing).unwrap_or_else(|e| panic!("{e}"));
        let second = vsr_dsl::compile(&text).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(first.routing, second.routing);
    }
}

#[test]
fn fmt_is_idempotent_and_keeps_meaning() {
    for (dsl, _) in PAIRS {
        let Some(dsl) = shared(dsl) else { return };
        let src = read(&dsl);
        let once = vsr_dsl::format(&src).unwrap_or_else(|d| panic!("{d:?}"));
        let twice = vsr_dsl::format(&once).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(once, twice);
        let a = vsr_dsl::compile(&src).map(|c| c.routing).ok();
        let b = vsr_dsl::compile(&once).map(|c| c.routing).ok();
        assert!(a.is_some());
        assert_eq!(a, b);
    }
}

#[test]
fn fmt_keeps_every_comment_of_the_reference_files() {
    for (dsl, _) in PAIRS {
        let Some(dsl) = shared(dsl) else { return };
        let src = read(&dsl);
        let out = vsr_dsl::format(&src).unwrap_or_else(|d| panic!("{d:?}"));
        let comments = |s: &str| -> Vec<String> {
            vsr_dsl::lexer::lex(s)
                .comments
                .into_iter()
                .map(|c| c.text)
                .collect()
        };
        assert_eq!(comments(&src), comments(&out));
        assert!(!comments(&src).is_empty());
    }
}

#[test]
fn comments_survive_fmt_everywhere() {
    let src = r#"# file header

# signals
SIGNAL domain math { # after brace
  # before field
  description: "m" # trailing
  mmlu_categories: [
    "math", # inside an array
  ]
  # dangling at block end
}
ROUTE r (description = "d") { # header comment
  PRIORITY 10 # p
  WHEN domain("math") AND
    # inside a condition
    NOT (domain("a") OR domain("b"))
  MODEL "m" (reasoning = true) # model
  PLUGIN semantic_cache {
    enabled: true # on
  } # after plugin
}
DECISION_TREE t_unused_in_compile { # tree
  IF domain("x") { MODEL "m" } # if
  ELSE { MODEL "m" }
}
TEST t { # tests
  "what is 2+2" -> r # case
}
# end of file
"#;
    let out = vsr_dsl::format(src).unwrap_or_else(|d| panic!("{d:?}"));
    let count = |s: &str| vsr_dsl::lexer::lex(s).comments.len();
    assert_eq!(count(src), count(&out), "{out}");
    assert_eq!(vsr_dsl::format(&out).ok().as_deref(), Some(out.as_str()));
    insta::assert_snapshot!("fmt_comments", out);
}

#[test]
fn not_over_a_compound_keeps_parentheses() {
    let src = "ROUTE r { WHEN NOT (domain(\"a\") AND domain(\"b\")) OR NOT (domain(\"c\") OR domain(\"d\")) MODEL \"m\" }";
    let out = vsr_dsl::format(src).unwrap_or_else(|d| panic!("{d:?}"));
    assert!(
        out.contains(
            "WHEN NOT (domain(\"a\") AND domain(\"b\")) OR NOT (domain(\"c\") OR domain(\"d\"))"
        ),
        "{out}"
    );
    let c = vsr_dsl::compile(src).unwrap_or_else(|d| panic!("{d:?}"));
    let text = vsr_dsl::decompile(&c.routing).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.contains("NOT (domain(\"a\") AND domain(\"b\"))"),
        "{text}"
    );
    let back = vsr_dsl::compile(&text).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(back.routing, c.routing);
}

#[test]
fn a_real_change_is_detected() {
    let Some(dsl) = shared(PAIRS[0].0) else {
        return;
    };
    let Some(yaml) = shared(PAIRS[0].1) else {
        return;
    };
    let src = read(&dsl).replacen("PRIORITY 260", "PRIORITY 261", 1);
    let c = vsr_dsl::compile(&src).unwrap_or_else(|d| panic!("{d:?}"));
    let mut out = Vec::new();
    diff(
        &normalise(&c.routing),
        &normalise(&yaml_routing(&read(&yaml))),
        "routing",
        &mut out,
    );
    assert_eq!(out.len(), 1, "{out:?}");
}

fn assert_lossless(routing: &serde_json::Value, what: &str) {
    let dsl = vsr_dsl::decompile(routing).unwrap_or_else(|e| panic!("{what}: {e}"));
    let back = vsr_dsl::compile(&dsl)
        .unwrap_or_else(|d| panic!("{what}: {}", vsr_dsl::render_all(&d, what, &dsl)));
    let mut out = Vec::new();
    diff(&back.routing, routing, "routing", &mut out);
    assert!(out.is_empty(), "{what}:\n{}", out.join("\n"));
    assert_eq!(&back.routing, routing, "{what}");
}

/// The exhaustive upstream reference config: every signal family, algorithm and plugin.
#[test]
fn reference_config_routing_round_trips_losslessly() {
    let Some(p) = shared("reference/upstream-config-2026-03/config.yaml") else {
        return;
    };
    assert_lossless(&yaml_routing(&read(&p)), "config.yaml");
}

/// Every fragment of the config reference: decisions as they are, plugins and algorithms placed
/// in a decision.
#[test]
fn reference_fragments_round_trip_losslessly() {
    let Some(root) = shared("reference/upstream-config-2026-03") else {
        return;
    };
    let mut seen = 0;
    for dir in ["decision", "plugin", "algorithm"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let doc: serde_json::Value =
                    serde_yaml::from_str(&read(&p)).unwrap_or_else(|e| panic!("{p:?}: {e}"));
                let mut decision = serde_json::json!({"name": "d",
                    "rules": {"operator": "AND", "conditions": [{"type": "domain", "name": "x"}]},
                    "modelRefs": [{"model": "m"}]});
                let routing = if let Some(r) = doc.get("routing") {
                    r.clone()
                } else {
                    if let Some(plugin) = doc.get("plugin") {
                        decision["plugins"] = serde_json::json!([plugin]);
                    } else if let Some(plugins) = doc.get("plugins") {
                        decision["plugins"] = plugins.clone();
                    } else if let Some(a) = doc.get("algorithm") {
                        decision["algorithm"] = a.clone();
                    } else {
                        panic!("{p:?}: unknown fragment shape");
                    }
                    serde_json::json!({"decisions": [decision]})
                };
                assert_lossless(&routing, &p.display().to_string());
                seen += 1;
            }
        }
    }
    assert!(seen >= 20, "only {seen} fragments");
}
