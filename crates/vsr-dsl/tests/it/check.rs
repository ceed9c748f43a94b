//! Config validation mapped back to DSL positions.

fn render(src: &str) -> String {
    vsr_dsl::render_all(&vsr_dsl::check(src, None), "input.dsl", src)
}

const VALIDATOR_CASES: &[(&str, &str)] = &[
    (
        "bad_partition_semantics",
        "SIGNAL domain math { description: \"m\" }\nSIGNAL domain law { description: \"l\" }\nPROJECTION partition p {\n  semantics: \"bogus\"\n  members: [\"math\", \"law\"]\n  default: \"math\"\n}\nROUTE r {\n  WHEN domain(\"math\")\n  MODEL \"m\"\n}\n",
    ),
    (
        "threshold_type",
        "SIGNAL embedding e {\n  threshold: \"high\"\n  candidates: [\"x\"]\n}\nROUTE r { WHEN embedding(\"e\") MODEL \"m\" }\n",
    ),
    (
        "mmlu_category_suggestion",
        "SIGNAL domain cs {\n  description: \"x\"\n  mmlu_categories: [\"computer_science\"]\n}\nROUTE r { WHEN domain(\"cs\") MODEL \"m\" }\n",
    ),
    (
        "structure_marker_pair",
        "SIGNAL structure s {\n  feature: { type: \"count\", source: { type: \"marker_pair\", pattern: \"x\" } }\n  predicate: { gte: 1 }\n}\nROUTE r { WHEN structure(\"s\") MODEL \"m\" }\n",
    ),
    (
        "threshold_range",
        "SIGNAL embedding e { threshold: 1.5, candidates: [\"a\"] }\nROUTE r { WHEN embedding(\"e\") MODEL \"m\" }\n",
    ),
    (
        "unknown_lora",
        "MODEL m { loras: [{ name: \"a\" }] }\nROUTE r {\n  MODEL \"m\" (lora = \"b\")\n}\n",
    ),
];

#[test]
fn validator_findings_point_into_the_dsl() {
    for (name, src) in VALIDATOR_CASES {
        let diags = vsr_dsl::check(src, None);
        assert!(
            diags.iter().any(|d| d.is_error() && d.path.is_some()),
            "{name}: {}",
            render(src)
        );
        // Every mapped error has a DSL position.
        for d in diags.iter().filter(|d| d.is_error()) {
            assert!(d.span.line > 0, "{name}: {d:?}");
        }
        insta::assert_snapshot!(*name, render(src), src);
    }
}

#[test]
fn base_config_keeps_its_providers_and_other_routing_keys() {
    let base = "version: v0.3\nproviders:\n  defaults:\n    default_model: m\n  models:\n    - name: m\n      backend_refs:\n        - endpoint: vllm:8000\nrouting:\n  decisions: []\n";
    let built = vsr_dsl::build("MODEL m { }\nROUTE r { MODEL \"m\" }", Some(base))
        .unwrap_or_else(|d| panic!("{d:?}"));
    let v: serde_json::Value = serde_yaml::from_str(&built.yaml).unwrap_or_default();
    assert_eq!(
        v["providers"]["models"][0]["backend_refs"][0]["endpoint"],
        "vllm:8000"
    );
    assert_eq!(v["routing"]["decisions"][0]["name"], "r");
}

#[test]
fn a_bad_base_is_reported() {
    let d = vsr_dsl::check("ROUTE r { MODEL \"m\" }", Some("- not\n- a mapping\n"));
    assert!(
        d.iter()
            .any(|d| d.is_error() && d.message.contains("base config"))
    );
}
