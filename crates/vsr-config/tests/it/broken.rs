//! Broken configs: each one gives exactly the expected messages at the expected places.
//! Every case edits one spot of a small valid base (`base.yaml`); the snapshot is the rendered
//! diagnostics (`origin:line:col: path: message`).

use vsr_config::{Severity, load_str};

const BASE: &str = include_str!("base.yaml");

/// Replaces `from` (which must occur exactly once) with `to` and renders what loading says.
fn check(from: &str, to: &str) -> String {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "{from:?} must occur once in base.yaml"
    );
    render(&BASE.replacen(from, to, 1))
}

fn render(src: &str) -> String {
    match load_str(src, "broken.yaml") {
        Ok(l) if l.warnings.is_empty() => "ok".to_string(),
        Ok(l) => {
            let lines: Vec<String> = l.warnings.iter().map(|d| format!("warning: {d}")).collect();
            format!("ok with warnings\n{}", lines.join("\n"))
        }
        Err(e) => e
            .diagnostics()
            .iter()
            .map(|d| match d.severity {
                Severity::Error => format!("error: {d}"),
                Severity::Warning => format!("warning: {d}"),
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

macro_rules! broken {
    ($($name:ident: $from:expr => $to:expr;)*) => {$(
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), check($from, $to));
        }
    )*};
}

#[test]
fn the_base_is_valid() {
    assert_eq!(render(BASE), "ok");
}

broken! {
    unknown_field_with_suggestion: "      tier: 1\n" => "      tier: 1\n      teir: 2\n";
    integer_field_given_a_string: "priority: 100" => "priority: high";
    boolean_field_given_a_string: "use_reasoning: true" => "use_reasoning: maybe";
    number_field_not_finite: "            weight: 0.5" => "            weight: .nan";
    duplicate_signal_name: "    embeddings:\n" => "      - name: urgent\n        operator: OR\n        keywords: [now]\n    embeddings:\n";
    duplicate_decision_name: "- name: default_route" => "- name: math_route";
    duplicate_yaml_key: "      priority: 100\n" => "      priority: 100\n      priority: 5\n";
    decision_references_undeclared_signal: "            name: math\n" => "            name: maths\n";
    decision_references_undeclared_projection: "                name: hard\n" => "                name: harder\n";
    model_ref_not_in_providers: "        - model: small\n" => "        - model: tiny\n";
    default_model_not_in_providers: "default_model: small" => "default_model: medium";
    lora_not_in_model_card: "lora_name: code-expert" => "lora_name: math-expert";
    score_input_not_declared: "            name: urgent\n" => "            name: urgnt\n";
    mapping_source_not_a_score: "source: difficulty" => "source: difficulty_score";
    partition_member_not_declared: "members: [support, chat]" => "members: [support, chit]";
    partition_mixes_domain_and_embedding: "members: [support, chat]" => "members: [support, chat, math]";
    partition_default_not_a_member: "default: chat" => "default: other";
    softmax_partition_without_temperature: "        temperature: 0.1\n" => "";
    overlapping_bands: "lt: 0.3" => "lt: 0.4";
    unordered_bands: "          - name: easy\n            lt: 0.3\n          - name: hard\n            gte: 0.3\n" => "          - name: hard\n            gte: 0.3\n          - name: easy\n            lt: 0.3\n";
    band_without_bounds: "            lt: 0.3\n" => "";
    bad_regex: "pattern: '[?]'" => "pattern: '[?'";
    threshold_above_one: "threshold: 0.7" => "threshold: 1.5";
    plugin_threshold_above_one: "similarity_threshold: 0.9" => "similarity_threshold: 9";
    port_out_of_range: "port: 8899" => "port: 70000";
    bad_token_count: "max_tokens: 1K" => "max_tokens: 1G";
    context_range_reversed: "min_tokens: \"0\"" => "min_tokens: 2K";
    bad_duration: "timeout: 300s" => "timeout: 300";
    unknown_rule_operator: "operator: NOT" => "operator: NAND";
    not_with_two_conditions: "              - type: projection\n                name: hard\n" => "              - type: projection\n                name: hard\n              - type: domain\n                name: other\n";
    unknown_signal_type_in_rule: "          - type: domain\n" => "          - type: domian\n";
    unknown_plugin_type: "type: semantic-cache" => "type: semantic_cash";
    algorithm_block_does_not_match_type: "      modelRefs:\n        - model: small\n" => "      modelRefs:\n        - model: small\n      algorithm:\n        type: elo\n        confidence:\n          threshold: 0.5\n";
    latency_aware_percentile_out_of_range: "      modelRefs:\n        - model: small\n" => "      modelRefs:\n        - model: small\n      algorithm:\n        type: latency_aware\n        latency_aware:\n          tpot_percentile: 150\n";
    keyword_operator_invalid: "operator: OR" => "operator: ANY";
    unsupported_mmlu_category: "mmlu_categories: [math]" => "mmlu_categories: [computer_science]";
    structure_predicate_with_gt_and_gte: "          gte: 3\n" => "          gte: 3\n          gt: 2\n";
    unknown_reasoning_family: "      reasoning_family: qwen3" => "      reasoning_family: qwen4";
    negative_tier: "tier: 1" => "tier: -1";
    missing_required_field: "    port: 8899\n" => "";
    legacy_top_level_key: "version: v0.3\n" => "version: v0.3\ndefault_model: small\n";
    yaml_syntax_error: "members: [support, chat]" => "members: [support, chat";
    list_given_a_scalar: "keywords: [urgent, asap]" => "keywords: urgent";
    decision_without_model_refs_is_a_warning: "      modelRefs:\n        - model: small\n" => "";
    unquoted_comma_in_flow_mapping: "      - name: other\n" => "      - {name: other, description: General, misc topics}\n";
    version_other_than_v03_is_a_warning: "version: v0.3" => "version: v0.4";
    complexity_reference_with_unknown_level: "            name: math\n" => "            name: math\n          - type: complexity\n            name: hardness:extreme\n";
    removed_normalize_by: "          type: count\n" => "          type: count\n          normalize_by: words\n";
    unknown_partition_semantics: "semantics: softmax_exclusive" => "semantics: softmax_exclusiv";
    unknown_aggregation_method: "        threshold: 0.6\n" => "        threshold: 0.6\n        aggregation_method: median\n";
    unknown_lb_policy: "        - endpoint: vllm:8001\n" => "        - endpoint: vllm:8001\n      reliability: {lb_policy: least_requests}\n";
    unknown_structure_feature_type: "          type: count\n" => "          type: cnt\n";
    unknown_jailbreak_method: "    context:\n" => "    jailbreak:\n      - {name: jb, method: clasifier}\n    context:\n";
    legacy_model_selection_algorithm: "      tier: 1\n" => "      tier: 1\n      modelSelectionAlgorithm: elo\n";
    legacy_provider_endpoints: "      reasoning_family: qwen3\n" => "      reasoning_family: qwen3\n      endpoints: [vllm:8000]\n";
    backend_ref_without_endpoint: "        - endpoint: vllm:8001\n" => "        - name: nowhere\n";
    backend_endpoint_with_empty_host: "endpoint: vllm:8001" => "endpoint: ':8001'";
    exists_feature_with_predicate: "          type: count\n" => "          type: exists\n";
    sequence_with_one_marker: "            type: regex\n            pattern: '[?]'\n" => "            type: sequence\n            sequences: [[first]]\n";
    score_input_reads_a_projection: "          - type: context\n            name: short\n" => "          - type: projection\n            name: easy\n";
    modality_signal_with_unknown_name: "    context:\n" => "    modality:\n      - name: VIDEO\n    context:\n";
    many_errors_are_all_reported: "priority: 100" => "priority: high\n      colour: blue";
    unknown_reasoning_family_type: "type: chat_template_kwargs" => "type: chat_template_kwarg";
    unknown_api_format: "      reasoning_family: qwen3\n" => "      reasoning_family: qwen3\n      api_format: open_ai\n";
    unknown_backend_protocol: "endpoint: vllm:8001" => "{endpoint: vllm:8001, protocol: htps}";
    unknown_score_method: "method: weighted_sum" => "method: weighted_mean";
    unknown_mapping_method: "method: threshold_bands" => "method: threshold_band";
    unknown_calibration_method: "        method: threshold_bands\n" => "        method: threshold_bands\n        calibration: {method: sigmoid, slope: 10}\n";
    unknown_store_backend: "version: v0.3\n" => "version: v0.3\nglobal:\n  services:\n    router_replay: {store_backend: postgre}\n";
}

/// A record decoded by `record!`: an unknown key gets its did-you-mean at the key, and missing
/// required fields are reported with every other error of the same load.
#[test]
fn record_fields_report_unknown_and_missing_keys_together() {
    let out = check(
        "  - name: http\n    address: 0.0.0.0\n",
        "  - adress: 0.0.0.0\n",
    );
    let got: Vec<&str> = out.lines().collect();
    let want = [
        "error: broken.yaml:3:5: listeners[0].adress: unknown field `adress`; did you mean `address`?",
        "error: broken.yaml:3:5: listeners[0].name: missing required field `name`",
        "error: broken.yaml:3:5: listeners[0].address: missing required field `address`",
    ];
    assert_eq!(got, want, "{out}");
    // An error further down the same file is reported with them.
    let both = render(
        &BASE
            .replacen(
                "  - name: http\n    address: 0.0.0.0\n",
                "  - adress: 0.0.0.0\n",
                1,
            )
            .replacen(
                "          use_reasoning: true",
                "          use_reasonng: true",
                1,
            ),
    );
    assert!(
        both.contains(
            "broken.yaml:97:11: routing.decisions[0].modelRefs[0].use_reasonng: unknown field `use_reasonng`; did you mean `use_reasoning`?"
        ),
        "{both}"
    );
    assert!(
        both.contains("listeners[0].address: missing required field `address`"),
        "{both}"
    );
    assert_eq!(both.lines().count(), 4, "{both}");
}

#[test]
fn global_knobs_are_type_checked_and_model_refs_resolved() {
    let src = format!(
        "{BASE}global:\n  router:\n    strategy: fastest\n  model_catalog:\n    embeddings:\n      semantic:\n        embedding_config:\n          top_k: many\n    modules:\n      classifier:\n        domain:\n          model_ref: no_such_model\n"
    );
    insta::assert_snapshot!("global_knobs", render(&src));
}

#[test]
fn legacy_global_modules_are_rejected() {
    let src = format!("{BASE}global:\n  modules:\n    prompt_guard: {{enabled: true}}\n");
    insta::assert_snapshot!("legacy_global_modules", render(&src));
}

#[test]
fn global_settings_apply_defaults_under_overrides() {
    let src = format!(
        "{BASE}global:\n  model_catalog:\n    embeddings:\n      semantic:\n        embedding_config:\n          top_k: 3\n"
    );
    let cfg = load_str(&src, "g.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
    let s = cfg.global_settings();
    assert_eq!(s.embedding_top_k, 3);
    assert_eq!(s.embedding_min_score_threshold, 0.5);
    assert_eq!(s.strategy, vsr_config::vocab::Strategy::Priority);
    assert_eq!(s.keyword_match, vsr_config::vocab::KeywordMatch::First);
}

#[test]
fn keyword_match_is_first_or_all() {
    let with = |v: &str| format!("{BASE}global:\n  router:\n    keyword_match: {v}\n");
    let cfg = load_str(&with("all"), "g.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
    assert_eq!(
        cfg.global_settings().keyword_match,
        vsr_config::vocab::KeywordMatch::All
    );
    let err = render(&with("every"));
    assert!(err.starts_with("error: broken.yaml:"), "{err}");
    assert!(
        err.contains("keyword_match") && err.contains("first"),
        "{err}"
    );
}

#[test]
fn empty_file_is_an_error() {
    assert_eq!(render(""), "error: broken.yaml:1:1: the file is empty");
}

#[test]
fn a_file_without_routing_or_global_is_rejected() {
    insta::assert_snapshot!(
        "no_routing_or_global",
        render("version: v0.3\nlisteners: []\n")
    );
}

#[test]
fn garbage_never_panics() {
    for src in [
        "[",
        "{",
        ":",
        "- - -",
        "a: *b",
        "\t",
        "routing: [",
        "routing:\n  decisions: 5",
        "routing:\n  decisions:\n    - rules: {operator: NOT}\n",
        "routing: {signals: {keywords: [{}]}}",
        "global: 3",
        "---\nrouting: {}\n---\nrouting: {}\n",
        "routing:\n  projections:\n    mappings:\n      - outputs: [1, 2]\n",
    ] {
        let _ = render(src);
    }
}

#[test]
fn every_single_line_edit_of_the_base_loads_or_fails_cleanly() {
    let lines: Vec<&str> = BASE.lines().collect();
    let mut failures = 0;
    for i in 0..lines.len() {
        let mut deleted = lines.clone();
        deleted.remove(i);
        let mut doubled = lines.clone();
        doubled.insert(i, lines[i]);
        let truncated = &lines[..i];
        for variant in [deleted, doubled, truncated.to_vec()] {
            let src = variant.join("\n");
            if let Err(e) = load_str(&src, "edit.yaml") {
                failures += 1;
                // Every error carries a position inside the file.
                for d in e.diagnostics() {
                    assert!(d.line >= 1 && d.line <= variant.len().max(1), "{d}");
                }
            }
        }
    }
    // Most edits break something; the check above is that none panics or points nowhere.
    assert!(failures > lines.len());
}
