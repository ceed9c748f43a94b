//! Random token streams through every entry point: no panic, no hang; whatever formats must
//! format to itself, and whatever compiles must survive decompile → compile.

use proptest::prelude::*;

const VOCAB: &[&str] = &[
    "SIGNAL",
    "PROJECTION",
    "MODEL",
    "PLUGIN",
    "ROUTE",
    "DECISION_TREE",
    "TEST",
    "PRIORITY",
    "TIER",
    "WHEN",
    "ALGORITHM",
    "AND",
    "OR",
    "NOT",
    "IF",
    "ELSE",
    "NAME",
    "DESCRIPTION",
    "true",
    "false",
    "domain",
    "keyword",
    "partition",
    "mapping",
    "score",
    "confidence",
    "semantic_cache",
    "router_replay",
    "math",
    "qwen2.5",
    "a/b",
    "x-y",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    ",",
    ">",
    "=",
    "->",
    "→",
    "\"math\"",
    "\"a\\\"b\"",
    "\"\\d+\"",
    "\"\"",
    "1",
    "-3",
    "0.5",
    "+",
    "-",
    "1e-5",
    "# comment\n",
    "\n",
    "'",
    ";",
    "\"unterminated",
    "99999999999999999999",
    "中文",
    "é",
];

fn program() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCAB), 0..80).prop_map(|toks| toks.join(" "))
}

/// Mostly well-formed routes with random conditions, to exercise compile and decompile deeper.
fn route_program() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "domain(\"math\")",
        "keyword(\"k\")",
        "projection(\"p\")",
        "embedding(\"e\")",
    ])
    .prop_map(str::to_string);
    let expr = leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join(" AND ")),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join(" OR ")),
            inner.clone().prop_map(|e| format!("NOT {e}")),
            inner.prop_map(|e| format!("({e})")),
        ]
    });
    expr.prop_map(|e| {
        format!("SIGNAL domain math {{}}\nROUTE r {{\n  WHEN {e}\n  MODEL \"m\"\n}}\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_token_streams_never_panic(src in program()) {
        let _ = vsr_dsl::parse(&src);
        if let Ok(out) = vsr_dsl::format(&src) {
            let again = vsr_dsl::format(&out);
            prop_assert_eq!(again.as_ref().ok(), Some(&out), "fmt not idempotent for {:?}", src);
        }
        if let Ok(c) = vsr_dsl::compile(&src)
            && let Ok(text) = vsr_dsl::decompile(&c.routing)
        {
            let _ = vsr_dsl::compile(&text);
        }
    }

    #[test]
    fn random_conditions_round_trip(src in route_program()) {
        let c = vsr_dsl::compile(&src).map_err(|d| TestCaseError::fail(format!("{d:?}")))?;
        let text = vsr_dsl::decompile(&c.routing).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = vsr_dsl::compile(&text).map_err(|d| TestCaseError::fail(format!("{d:?}\n{text}")))?;
        // Single-child AND/OR nodes cannot come from the DSL, so the tree comes back unchanged.
        prop_assert_eq!(&back.routing, &c.routing, "{}", text);
        let f = vsr_dsl::format(&src).map_err(|d| TestCaseError::fail(format!("{d:?}")))?;
        prop_assert_eq!(vsr_dsl::compile(&f).map(|c| c.routing).ok(), Some(c.routing));
    }
}

const RICH: &str = r#"SIGNAL keyword urgent { operator: "OR", keywords: ["now", "asap"] }
SIGNAL domain "computer science" { description: "cs", mmlu_categories: ["computer science"] }
PROJECTION mapping band { source: "s", outputs: [{ name: "hi", gte: 0.5 }, { name: "lo", lt: 0.5 }] }
MODEL m { description: "d", loras: [{ name: "x" }] }
PLUGIN cache semantic_cache { enabled: true, similarity_threshold: 0.9 }
ROUTE r (description = "route") {
  PRIORITY 10
  TIER 1
  WHEN keyword("urgent") AND NOT (domain("computer science") OR projection("hi"))
  MODEL "m" (reasoning = true, effort = "high"), "n" (weight = 0.5)
  ALGORITHM confidence (on_error = "fallback") { threshold: 0.7, hybrid_weights: { logprob_weight: 0.6 } }
  PLUGIN cache { similarity_threshold: 0.95 }
  PLUGIN header_mutation
}
TEST t { "hurry now" -> r "hello" -> r }
"#;

const TREE: &str = r#"SIGNAL jailbreak jb { threshold: 0.5 }
DECISION_TREE main {
  IF jailbreak("jb") { NAME blocked DESCRIPTION "no" MODEL "a" PLUGIN fast_response { message: "no" } }
  ELSE IF domain("math") AND NOT keyword("k") { TIER 2 MODEL "b" (reasoning = true) ALGORITHM static }
  ELSE { MODEL "a", "b" }
}
"#;

/// Inserts ` # cN` + newline after the tokens at `picks`, formats, and checks that every comment
/// survives, fmt is idempotent and the meaning is unchanged.
fn check_comments(base: &str, picks: &[prop::sample::Index]) -> Result<(), TestCaseError> {
    let tokens = vsr_dsl::lexer::lex(base).tokens;
    let mut cuts: Vec<usize> = picks
        .iter()
        .map(|i| tokens[i.index(tokens.len())].span.end)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut src = String::new();
    let mut last = 0;
    for (n, c) in cuts.iter().enumerate() {
        src.push_str(&base[last..*c]);
        src.push_str(&format!(" # c{n}\n"));
        last = *c;
    }
    src.push_str(&base[last..]);
    let out = vsr_dsl::format(&src).map_err(|d| TestCaseError::fail(format!("{d:?}\n{src}")))?;
    let texts = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = vsr_dsl::lexer::lex(s)
            .comments
            .into_iter()
            .map(|c| c.text)
            .collect();
        v.sort();
        v
    };
    prop_assert_eq!(texts(&src), texts(&out), "{}", out);
    let again = vsr_dsl::format(&out).ok();
    prop_assert_eq!(again.as_ref(), Some(&out));
    let a = vsr_dsl::compile(&src).map(|c| c.routing).ok();
    prop_assert!(a.is_some());
    prop_assert_eq!(vsr_dsl::compile(&out).map(|c| c.routing).ok(), a);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Comments dropped between any two tokens all survive fmt, which stays idempotent and keeps
    /// the meaning.
    #[test]
    fn comments_anywhere_survive_fmt(picks in prop::collection::vec(any::<prop::sample::Index>(), 1..12)) {
        check_comments(RICH, &picks)?;
    }

    #[test]
    fn comments_anywhere_in_a_decision_tree_survive_fmt(picks in prop::collection::vec(any::<prop::sample::Index>(), 1..12)) {
        check_comments(TREE, &picks)?;
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary payloads (any string, key, integer or finite float) survive decompile → compile.
    #[test]
    fn arbitrary_payloads_round_trip(fields in prop::collection::vec((any::<String>(), json_value()), 0..5),
                                     name in any::<String>()) {
        let mut signal = serde_json::Map::new();
        signal.insert("name".into(), serde_json::Value::String(name.clone()));
        for (k, v) in fields {
            if k != "name" && !v.is_null() {
                signal.insert(k, v);
            }
        }
        let routing = serde_json::json!({
            "signals": {"keywords": [serde_json::Value::Object(signal.clone())]},
            "decisions": [{"name": name, "rules": {"operator": "AND", "conditions": []},
                "modelRefs": [{"model": name}],
                "plugins": [{"type": "rag", "configuration": serde_json::Value::Object(signal)}]}]
        });
        let has_null = routing.to_string().contains("null");
        match vsr_dsl::decompile(&routing) {
            Ok(text) => {
                let back = vsr_dsl::compile(&text).map_err(|d| TestCaseError::fail(format!("{d:?}\n{text}")))?;
                if !has_null {
                    prop_assert_eq!(&back.routing, &routing, "{}", text);
                }
            }
            // Only nulls inside lists have no DSL form.
            Err(e) => prop_assert!(has_null, "{}", e),
        }
    }
}
