//! The request-path recorder: capture flags per decision, usage and cost at finish.
use std::collections::BTreeMap;
use std::sync::Arc;

use vsr_replay::{
    CaptureConfig, CostModel, FinishInfo, ModelPricing, Recorder, ReplaySettings, ReplayWriter,
    Retention, StartInfo, Usage, WriterConfig,
};

fn settings() -> ReplaySettings {
    let mut capture = BTreeMap::new();
    capture.insert(
        "simple".to_string(),
        CaptureConfig {
            capture_request_body: true,
            capture_response_body: true,
            max_body_bytes: 64,
            ..Default::default()
        },
    );
    capture.insert("quiet".to_string(), CaptureConfig::default());
    ReplaySettings {
        capture,
        retention: Retention::default(),
        store_backend: "memory".into(),
        postgres_url: None,
        postgres_schema: None,
    }
}

fn costs() -> CostModel {
    CostModel::new(vec![
        ModelPricing::new("qwen/qwen3.5-rocm", "USD", 0.0, 0.0),
        ModelPricing::new("anthropic/claude-opus-4.6", "USD", 1.8, 7.2),
    ])
}

#[test]
fn start_then_finish_writes_a_complete_record() {
    let s = crate::common::sqlite();
    let writer = Arc::new(ReplayWriter::spawn(
        s.store.clone(),
        WriterConfig::default(),
    ));
    let rec = Recorder::new(writer.clone(), settings(), costs(), 100);
    assert!(rec.enabled());
    let body =
        br#"{"model":"MoM","api_key":"topsecret","messages":[{"role":"user","content":"hi"}]}"#;
    let start = StartInfo {
        recipe: None,
        decision: "simple",
        request_id: "req-1",
        original_model: "MoM",
        selected_model: "qwen/qwen3.5-rocm",
        provider_model: "qwen/qwen3.5-rocm",
        request_body: body,
        streaming: true,
    };
    let id = rec
        .start(&start, |r| {
            r.signals.keyword.push("verification_markers".into());
            r.decision_tier = Some(1);
        })
        .unwrap();
    assert!(
        rec.start(
            &StartInfo {
                recipe: None,
                decision: "not_recorded",
                ..start.clone()
            },
            |_| {}
        )
        .is_none()
    );
    let quiet = rec
        .start(
            &StartInfo {
                recipe: None,
                decision: "quiet",
                ..start.clone()
            },
            |_| {},
        )
        .unwrap();
    assert_eq!(rec.in_flight(), 2);
    let usage = Usage {
        prompt_tokens: 100,
        completion_tokens: 200,
        cached_tokens: None,
        cache_write_tokens: None,
    };
    let answer = "ok ".repeat(40);
    let finish = FinishInfo {
        status: 200,
        streaming: true,
        usage: Some(usage),
        response_body: answer.as_bytes(),
        ttft_ms: Some(5),
        ..Default::default()
    };
    rec.finish(&id, &finish);
    rec.finish(&quiet, &finish);
    rec.finish("unknown", &finish);
    assert_eq!(rec.in_flight(), 0);
    writer.flush();

    let r = s.store.get(&id).unwrap().unwrap();
    assert_eq!(
        (
            r.request_id.as_str(),
            r.decision.as_str(),
            r.response_status
        ),
        ("req-1", "simple", Some(200))
    );
    assert_eq!(r.signals.keyword, vec!["verification_markers"]);
    assert_eq!(r.decision_tier, Some(1));
    assert!((r.cost_savings.unwrap() - 0.00162).abs() < 1e-12);
    assert_eq!(r.baseline_model, "anthropic/claude-opus-4.6");
    let req = r.request_body.unwrap();
    assert!(!req.contains("topsecret") && req.len() <= 64, "{req}");
    assert!(r.response_body_truncated && r.response_body.unwrap().len() == 64);
    assert!(r.duration_ms.is_some() && r.ttft_ms == Some(5) && r.streaming);
    // Capture flags off: no bodies at all.
    let q = s.store.get(&quiet).unwrap().unwrap();
    assert!(q.request_body.is_none() && q.response_body.is_none());
    assert!(q.actual_cost.is_some());
}

#[test]
fn unfinished_records_are_bounded_and_still_written() {
    let s = crate::common::sqlite();
    let writer = Arc::new(ReplayWriter::spawn(
        s.store.clone(),
        WriterConfig::default(),
    ));
    let rec = Recorder::new(writer.clone(), settings(), costs(), 3);
    let start = StartInfo {
        recipe: None,
        decision: "quiet",
        request_id: "r",
        original_model: "MoM",
        ..Default::default()
    };
    let ids: Vec<String> = (0..10)
        .map(|_| rec.start(&start, |_| {}).unwrap())
        .collect();
    assert_eq!(rec.in_flight(), 3);
    writer.flush();
    assert_eq!(
        s.store.count().unwrap(),
        7,
        "the 7 oldest were written unfinished"
    );
    assert!(
        s.store
            .get(&ids[0])
            .unwrap()
            .unwrap()
            .response_status
            .is_none()
    );
    // The selected model falls back to the original one.
    assert_eq!(s.store.get(&ids[0]).unwrap().unwrap().selected_model, "MoM");
}

#[test]
fn a_fallback_records_its_path_and_is_priced_as_the_answering_model() {
    let s = crate::common::sqlite();
    let writer = Arc::new(ReplayWriter::spawn(
        s.store.clone(),
        WriterConfig::default(),
    ));
    let rec = Recorder::new(writer.clone(), settings(), costs(), 10);
    let id = rec
        .start(
            &StartInfo {
                recipe: None,
                decision: "quiet",
                request_id: "req-f",
                original_model: "MoM",
                selected_model: "anthropic/claude-opus-4.6",
                provider_model: "opus",
                request_body: b"{}",
                streaming: false,
            },
            |_| {},
        )
        .unwrap();
    let attempt = |model: &str, endpoint: &str, outcome: &str| vsr_replay::UpstreamAttempt {
        model: model.into(),
        endpoint: endpoint.into(),
        outcome: outcome.into(),
    };
    rec.finish(
        &id,
        &FinishInfo {
            status: 200,
            usage: Some(Usage {
                prompt_tokens: 1000,
                completion_tokens: 1000,
                cached_tokens: None,
                cache_write_tokens: None,
            }),
            served_model: Some(("qwen/qwen3.5-rocm", "qwen-up")),
            attempts: vec![
                attempt("anthropic/claude-opus-4.6", "api", "connect_failure"),
                attempt("anthropic/claude-opus-4.6", "", "circuit_open"),
                attempt("qwen/qwen3.5-rocm", "local", "200"),
            ],
            ..Default::default()
        },
    );
    writer.flush();
    let r = s.store.get(&id).unwrap().unwrap();
    assert_eq!(r.selected_model, "qwen/qwen3.5-rocm");
    assert_eq!(r.provider_model, "qwen-up");
    assert_eq!(
        r.fallback_path,
        ["anthropic/claude-opus-4.6", "qwen/qwen3.5-rocm"]
    );
    assert_eq!(r.upstream_attempts.len(), 3);
    assert_eq!(r.upstream_attempts[1].endpoint, "");
    assert_eq!(r.upstream_attempts[2].outcome, "200");
    // Priced as qwen (free), not opus.
    assert_eq!(r.actual_cost, Some(0.0));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["upstream_attempts"][0]["outcome"], "connect_failure");
    assert!(json["upstream_attempts"][1].get("endpoint").is_none());
}

/// A looper answer (several model calls) costs each call at its own model's price; the
/// baseline is the summed tokens at the baseline model's price.
#[test]
fn an_answer_of_several_calls_is_priced_per_model() {
    let s = crate::common::sqlite();
    let writer = Arc::new(ReplayWriter::spawn(
        s.store.clone(),
        WriterConfig::default(),
    ));
    let rec = Recorder::new(writer.clone(), settings(), costs(), 100);
    let start = StartInfo {
        recipe: None,
        decision: "quiet",
        request_id: "req-loop",
        original_model: "MoM",
        selected_model: "qwen/qwen3.5-rocm",
        provider_model: "qwen/qwen3.5-rocm",
        request_body: b"{}",
        streaming: false,
    };
    let id = rec.start(&start, |_| {}).unwrap();
    let u = |p, c| Usage {
        prompt_tokens: p,
        completion_tokens: c,
        cached_tokens: None,
        cache_write_tokens: None,
    };
    // A free panel model, then the dear judge twice.
    let parts = vec![
        ("qwen/qwen3.5-rocm".to_string(), u(1000, 1000)),
        ("anthropic/claude-opus-4.6".to_string(), u(1000, 0)),
        ("anthropic/claude-opus-4.6".to_string(), u(0, 1000)),
    ];
    rec.finish(
        &id,
        &FinishInfo {
            status: 200,
            usage: Some(u(2000, 2000)),
            usage_by_model: &parts,
            ..Default::default()
        },
    );
    writer.flush();
    let r = s.store.get(&id).unwrap().unwrap();
    // Opus: 1000 prompt at 1.8/1M + 1000 completion at 7.2/1M = 0.009; qwen free.
    assert!(
        (r.actual_cost.unwrap() - 0.009).abs() < 1e-12,
        "{:?}",
        r.actual_cost
    );
    // Baseline: all 2000 + 2000 tokens at Opus prices.
    assert!((r.baseline_cost.unwrap() - 0.018).abs() < 1e-12);
    assert!((r.cost_savings.unwrap() - 0.009).abs() < 1e-12);
    assert_eq!(r.total_tokens, Some(4000));
}
