//! Malformed inputs: each must give positioned diagnostics (snapshot-tested) and never panic.

/// Compile diagnostics (errors, or warnings when it compiles), rendered like the CLI does.
fn diagnose(src: &str) -> String {
    let diags = match vsr_dsl::compile(src) {
        Ok(c) => c.warnings,
        Err(d) => d,
    };
    assert!(!diags.is_empty(), "expected diagnostics for:\n{src}");
    vsr_dsl::render_all(&diags, "input.dsl", src)
}

const CASES: &[(&str, &str)] = &[
    (
        "missing_colon",
        "SIGNAL domain math { description \"no colon\" }",
    ),
    ("unknown_route_item", "ROUTE test { FOO 123 }"),
    (
        "misspelt_priority",
        "ROUTE r {\n  PRIORTY 10\n  MODEL \"m\"\n}",
    ),
    ("model_number", "ROUTE t { MODEL 123 }"),
    ("priority_string", "ROUTE t { PRIORITY \"x\" }"),
    ("lone_plus", "SIGNAL keyword k { threshold: + }"),
    ("exponent", "SIGNAL embedding e { threshold: 1e-5 }"),
    (
        "unterminated_string",
        "SIGNAL domain math {\n  description: \"oops\n}\nSIGNAL domain law { }",
    ),
    ("single_quotes", "SIGNAL domain math { description: 'x' }"),
    ("unknown_top_level", "SIGNALS domain math { }"),
    ("stray_token_top_level", "} SIGNAL domain math { }"),
    ("missing_signal_name", "SIGNAL domain { }"),
    (
        "missing_open_brace",
        "SIGNAL domain math description: \"x\" }",
    ),
    (
        "unclosed_block",
        "SIGNAL domain math {\n  description: \"x\"\n",
    ),
    (
        "unclosed_array",
        "SIGNAL keyword k { keywords: [\"a\", \"b\" }",
    ),
    (
        "missing_comma_in_array",
        "SIGNAL keyword k { keywords: [\"a\" \"b\"] }",
    ),
    ("value_missing", "SIGNAL keyword k { operator: }"),
    (
        "unknown_signal_type",
        "SIGNAL keywrd k { operator: \"OR\" }",
    ),
    ("unknown_projection_type", "PROJECTION partitions p { }"),
    (
        "plugin_template_without_type",
        "PLUGIN cache { enabled: true }",
    ),
    ("unknown_plugin_type", "PLUGIN c semantik_cache { }"),
    (
        "unknown_inline_plugin",
        "ROUTE r { MODEL \"m\" PLUGIN totally_unknown_plugin }",
    ),
    (
        "unknown_algorithm",
        "ROUTE r { MODEL \"m\" ALGORITHM confidance }",
    ),
    (
        "unquoted_signal_name",
        "ROUTE r { WHEN domain(math) MODEL \"m\" }",
    ),
    (
        "missing_paren_after_type",
        "ROUTE r { WHEN domain MODEL \"m\" }",
    ),
    (
        "unclosed_paren",
        "ROUTE r {\n  WHEN (domain(\"a\") OR domain(\"b\")\n  MODEL \"m\"\n}",
    ),
    (
        "dangling_and",
        "ROUTE r { WHEN domain(\"a\") AND MODEL \"m\" }",
    ),
    (
        "leading_or",
        "ROUTE r { WHEN OR domain(\"a\") MODEL \"m\" }",
    ),
    (
        "unknown_signal_type_in_when",
        "ROUTE r { WHEN domian(\"math\") MODEL \"m\" }",
    ),
    (
        "undefined_signal",
        "SIGNAL domain math { }\nROUTE r { WHEN domain(\"maths\") MODEL \"m\" }",
    ),
    (
        "undefined_projection_output",
        "PROJECTION mapping band { source: \"s\", outputs: [{ name: \"balance_simple\", lt: 0.2 }] }\nROUTE r { WHEN projection(\"balance_simpel\") MODEL \"m\" }",
    ),
    (
        "signal_of_another_type",
        "SIGNAL keyword urgent { keywords: [\"now\"] }\nROUTE r { WHEN domain(\"urgent\") MODEL \"m\" }",
    ),
    ("route_without_model", "ROUTE r { PRIORITY 1 }"),
    ("negative_priority", "ROUTE r { PRIORITY -1 MODEL \"m\" }"),
    ("negative_tier", "ROUTE r { TIER -2 MODEL \"m\" }"),
    (
        "duplicate_signal",
        "SIGNAL domain math { }\nSIGNAL domain math { }",
    ),
    (
        "duplicate_route",
        "ROUTE r { MODEL \"m\" }\nROUTE r { MODEL \"m\" }",
    ),
    ("duplicate_model", "MODEL m { }\nMODEL m { }"),
    (
        "name_field_in_block",
        "SIGNAL domain math { name: \"other\" }",
    ),
    (
        "reasoning_not_bool",
        "ROUTE r { MODEL \"m\" (reasoning = \"true\") }",
    ),
    (
        "weight_not_number",
        "ROUTE r { MODEL \"m\" (weight = \"heavy\") }",
    ),
    (
        "model_option_without_eq",
        "ROUTE r { MODEL \"m\" (reasoning true) }",
    ),
    ("undeclared_model", "MODEL a { }\nROUTE r { MODEL \"b\" }"),
    (
        "tree_without_else",
        "DECISION_TREE t {\n  IF domain(\"a\") { MODEL \"m\" }\n}",
    ),
    (
        "tree_branch_without_model",
        "DECISION_TREE t {\n  IF domain(\"a\") { NAME x }\n  ELSE { MODEL \"m\" }\n}",
    ),
    (
        "tree_mixed_with_route",
        "ROUTE r { MODEL \"m\" }\nDECISION_TREE t { IF domain(\"a\") { MODEL \"m\" } ELSE { MODEL \"m\" } }",
    ),
    (
        "priority_in_tree_branch",
        "DECISION_TREE t { IF domain(\"a\") { PRIORITY 3 MODEL \"m\" } ELSE { MODEL \"m\" } }",
    ),
    (
        "test_unknown_route",
        "ROUTE math_route { MODEL \"m\" }\nTEST t { \"2+2?\" -> math_rout }",
    ),
    ("test_missing_arrow", "TEST t { \"2+2?\" math_route }"),
    (
        "test_empty_query",
        "ROUTE r { MODEL \"m\" }\nTEST t { \"  \" -> r }",
    ),
    (
        "duplicate_field",
        "SIGNAL domain math { description: \"a\" description: \"b\" }",
    ),
    (
        "repeated_priority",
        "ROUTE r { PRIORITY 1 PRIORITY 2 MODEL \"m\" }",
    ),
    (
        "missing_closing_brace_before_next_block",
        "ROUTE a {\n  MODEL \"m\"\nROUTE b {\n  MODEL \"m\"\n}",
    ),
    (
        "two_errors_recovered",
        "SIGNAL domain a { description \"x\" }\nSIGNAL domain b { }\nROUTE r { FOO }\nSIGNAL domain c { description: }",
    ),
    (
        "huge_integer",
        "ROUTE r { PRIORITY 99999999999999999999 MODEL \"m\" }",
    ),
    (
        "route_option_not_string",
        "ROUTE r (description = 3) { MODEL \"m\" }",
    ),
    (
        "stray_character",
        "SIGNAL domain math { description: \"x\" ; }",
    ),
    (
        "string_as_field_value_list_trailing_garbage",
        "SIGNAL keyword k { keywords: [\"a\",, \"b\"] }",
    ),
];

#[test]
fn malformed_inputs_have_snapshot_diagnostics() {
    assert!(CASES.len() >= 40);
    for (name, src) in CASES {
        insta::assert_snapshot!(*name, diagnose(src), src);
    }
}

#[test]
fn malformed_inputs_do_not_panic_in_fmt_or_decompile_paths() {
    for (_, src) in CASES {
        let _ = vsr_dsl::format(src);
        let _ = vsr_dsl::parse(src);
    }
}
