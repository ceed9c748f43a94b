//! Cost and savings golden tests, on the pricing of the AMD balance profile.
use std::path::Path;

use vsr_replay::{AggQuery, CostModel, ModelPricing, ReplayRecord};

fn balance_pricing() -> Option<Vec<ModelPricing>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/upstream-amd-2026-03/balance.yaml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        vsr_testkit::missing(format!("{} not found", path.display()));
        return None;
    };
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let models = doc["providers"]["models"].as_sequence().unwrap();
    Some(
        models
            .iter()
            .filter(|m| m.get("pricing").is_some())
            .map(|m| {
                let p = &m["pricing"];
                ModelPricing::new(
                    m["name"].as_str().unwrap(),
                    p["currency"].as_str().unwrap_or(""),
                    p["prompt_per_1m"].as_f64().unwrap_or(0.0),
                    p["completion_per_1m"].as_f64().unwrap_or(0.0),
                )
            })
            .collect(),
    )
}

fn assert_close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-12, "{got} != {want}");
}

#[test]
fn spec_worked_example_qwen_saves_against_opus() {
    let Some(pricing) = balance_pricing() else {
        return;
    };
    let m = CostModel::new(pricing);
    assert_eq!(m.baseline().unwrap().name, "anthropic/claude-opus-4.6");
    let c = m
        .cost("qwen/qwen3.5-rocm", &vsr_config::Usage::new(100, 200))
        .unwrap();
    assert_close(c.actual, 0.0);
    assert_close(c.baseline, 0.00162);
    assert_close(c.savings, 0.00162);
    assert_eq!(
        (c.currency.as_str(), c.baseline_model.as_str()),
        ("USD", "anthropic/claude-opus-4.6")
    );
}

#[test]
fn balance_golden_table() {
    let Some(pricing) = balance_pricing() else {
        return;
    };
    let m = CostModel::new(pricing);
    // (alias, prompt, completion, actual, baseline)
    let cases = [
        ("google/gemini-2.5-flash-lite", 1000, 500, 0.00003, 0.0054),
        ("google/gemini-3.1-pro", 1000, 500, 0.00144, 0.0054),
        ("openai/gpt5.4", 1000, 500, 0.0036, 0.0054),
        ("anthropic/claude-opus-4.6", 1000, 500, 0.0054, 0.0054),
        ("openai/gpt5.4", 1_000_000, 0, 1.2, 1.8),
    ];
    for (alias, p, c, actual, baseline) in cases {
        let got = m.cost(alias, &vsr_config::Usage::new(p, c)).unwrap();
        assert_close(got.actual, actual);
        assert_close(got.baseline, baseline);
        assert_close(got.savings, baseline - actual);
    }
    assert!(
        m.cost("MoM", &vsr_config::Usage::new(100, 200)).is_none(),
        "an unknown alias is unpriced"
    );
}

#[test]
fn worked_example_through_a_store_and_aggregate() {
    let Some(pricing) = balance_pricing() else {
        return;
    };
    let m = CostModel::new(pricing);
    let mut r = ReplayRecord::new();
    r.decision = "simple".into();
    r.original_model = "MoM".into();
    r.selected_model = "qwen/qwen3.5-rocm".into();
    r.set_usage(&m, 100, 200, None);
    assert_eq!(r.total_tokens, Some(300));
    assert_eq!(r.baseline_model, "anthropic/claude-opus-4.6");
    let mut unpriced = ReplayRecord::new();
    unpriced.selected_model = "nobody/priced".into();
    unpriced.set_usage(&m, 10, 10, None);
    assert!(unpriced.actual_cost.is_none() && unpriced.total_tokens == Some(20));
    let mut empty = ReplayRecord::new();
    empty.selected_model = "qwen/qwen3.5-rocm".into();
    empty.set_usage(&m, 0, 0, None);
    assert!(empty.prompt_tokens.is_none() && empty.actual_cost.is_none());

    let s = crate::common::sqlite();
    s.store.insert_batch(&[r, unpriced, empty]).unwrap();
    let a = s.store.aggregate(&AggQuery::default()).unwrap();
    assert_close(a.summary.total_saved, 0.00162);
    assert_close(a.summary.baseline_spend, 0.00162);
    assert_close(a.summary.actual_spend, 0.0);
    assert_eq!(a.summary.saved_percent, Some(100.0));
    assert_eq!(
        (a.summary.cost_record_count, a.summary.excluded_record_count),
        (1, 2)
    );
    assert_eq!(a.token_volume.total_tokens, 320);
    assert_eq!(a.token_volume.excluded_record_count, 1);
}

#[test]
fn cost_model_and_capture_from_the_loaded_balance_config() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/upstream-amd-2026-03/balance.yaml");
    if !path.exists() {
        vsr_testkit::missing(format!("{} not found", path.display()));
        return;
    }
    let loaded = vsr_config::load_file(&path).unwrap();
    let m = CostModel::from_config(&loaded.config.providers);
    assert_eq!(m.models().len(), 5);
    assert_eq!(m.baseline().unwrap().name, "anthropic/claude-opus-4.6");
    assert_close(
        m.cost("qwen/qwen3.5-rocm", &vsr_config::Usage::new(100, 200))
            .unwrap()
            .savings,
        0.00162,
    );
    let decisions = &loaded.config.routing.decisions;
    let with_replay: Vec<_> = decisions
        .iter()
        .filter_map(|d| d.plugin("router_replay"))
        .collect();
    assert_eq!(
        with_replay.len(),
        decisions.len(),
        "balance enables replay on every decision"
    );
    for p in with_replay {
        let c = vsr_replay::CaptureConfig::from_plugin(p);
        assert_eq!(
            (
                c.enabled,
                c.max_records,
                c.capture_request_body,
                c.capture_response_body,
                c.max_body_bytes
            ),
            (true, 100_000, true, true, 4096)
        );
    }
}

#[test]
fn replay_settings_from_the_balance_config() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/upstream-amd-2026-03/balance.yaml");
    if !path.exists() {
        vsr_testkit::missing(format!("{} not found", path.display()));
        return;
    }
    let loaded = vsr_config::load_file(&path).unwrap();
    let s = vsr_replay::ReplaySettings::from_config(&loaded.config);
    assert!(s.enabled());
    assert_eq!(s.capture.len(), loaded.config.routing.decisions.len());
    assert!(
        s.retention
            .per_decision_max_records
            .values()
            .all(|m| *m == 100_000)
    );
    // Default ttl_seconds (30 days) becomes the age limit; the default backend is embedded.
    assert_eq!(
        s.retention.max_age,
        Some(std::time::Duration::from_secs(2_592_000))
    );
    assert_eq!(s.postgres_url, None);
    assert_eq!(
        s.store_config(Path::new("/var/lib/vsr")),
        vsr_replay::StoreConfig::Sqlite {
            path: "/var/lib/vsr/replay.db".into()
        }
    );
}

/// Cached prompt tokens reach the record's cost and savings through `set_usage`.
#[test]
fn a_record_prices_cached_prompt_tokens_at_the_cached_rate() {
    let cached = |name: &str, prompt: f64, cached: f64, completion: f64| ModelPricing {
        name: name.into(),
        pricing: vsr_config::Pricing {
            cached_input_per_1m: Some(cached),
            ..vsr_config::Pricing::new("USD", prompt, completion)
        },
    };
    let m = CostModel::new(vec![
        cached("premium", 10.0, 1.0, 30.0),
        cached("cheap", 2.0, 0.5, 4.0),
    ]);
    let mut r = ReplayRecord::new();
    r.selected_model = "cheap".into();
    r.set_usage(&m, 1_000_000, 100_000, Some(400_000));
    assert_eq!(r.cached_tokens, Some(400_000));
    assert_close(r.actual_cost.unwrap(), 1.8);
    assert_close(r.baseline_cost.unwrap(), 9.4);
    assert_close(r.cost_savings.unwrap(), 7.6);
    let mut plain = ReplayRecord::new();
    plain.selected_model = "cheap".into();
    plain.set_usage(&m, 1_000_000, 100_000, None);
    assert_close(plain.actual_cost.unwrap(), 2.4);
}
