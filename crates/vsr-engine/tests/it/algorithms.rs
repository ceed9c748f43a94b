//! Decision algorithms applied by the engine (`multi_factor`), from a config as written.

use vsr_engine::{Engine, EvalMode};

fn config(weights: &str, slo: &str) -> vsr_config::Config {
    let yaml = format!(
        "version: v0.3
providers:
  defaults: {{default_model: small}}
  models:
    - name: small
      backend_refs: [{{endpoint: \"h:1\"}}]
      pricing: {{prompt_per_1m: 0.02, completion_per_1m: 0.08}}
    - name: big
      backend_refs: [{{endpoint: \"h:1\"}}]
      pricing: {{prompt_per_1m: 0.35, completion_per_1m: 1.4}}
routing:
  modelCards:
    - {{name: small, quality_score: 0.6}}
    - {{name: big, quality_score: 0.94}}
  signals:
    keywords:
      - {{name: code, operator: OR, keywords: [code]}}
  decisions:
    - name: code_route
      priority: 50
      rules: {{operator: AND, conditions: [{{type: keyword, name: code}}]}}
      modelRefs: [{{model: small}}, {{model: big}}]
      algorithm:
        type: multi_factor
        multi_factor:
          weights: {weights}
{slo}          on_no_candidates: cheapest
"
    );
    vsr_config::load_str(&yaml, "multi_factor.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

#[test]
fn multi_factor_orders_the_refs_by_weighted_quality_and_cost() {
    let quality = Engine::from_config(&config("{quality: 0.8, cost: 0.2}", "")).expect("engine");
    let r = quality.route_text("review my code", EvalMode::Routing);
    assert_eq!(r.decision.as_deref(), Some("code_route"));
    assert_eq!(r.model, "big");
    // The refs keep the fallback order: the chosen one first, then the rest.
    let refs: Vec<&str> = r.model_refs.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(refs, ["big", "small"]);
    let trace = r.algorithm.as_ref().expect("algorithm trace");
    assert_eq!(trace.kind, "multi_factor");
    assert_eq!(trace.chosen.as_deref(), Some("big"));
    assert_eq!(r.selection_method(), "multi_factor");

    let cheap = Engine::from_config(&config("{quality: 0.2, cost: 0.8}", "")).expect("engine");
    let r = cheap.route_text("review my code", EvalMode::Routing);
    assert_eq!(r.model, "small");
}

#[test]
fn multi_factor_cost_slo_excludes_the_dear_model() {
    let slo = "          slo: {max_cost_per_1m: 1.0}\n";
    let e = Engine::from_config(&config("{quality: 1.0}", slo)).expect("engine");
    let r = e.route_text("review my code", EvalMode::Routing);
    assert_eq!(r.model, "small");
    let trace = r.algorithm.expect("trace");
    assert!(
        trace
            .candidates
            .iter()
            .any(|c| c.model == "big" && c.excluded.is_some())
    );
}

/// The selection preview the eval API reports (head-delta §20): a looper's configured final
/// model is `planned_final`, a looper without one is `execution_required`, one ref is
/// `selected` by `single`; the routed refs keep their order in every case.
#[test]
fn the_eval_response_previews_the_selection_of_each_algorithm() {
    let yaml = |algorithm: &str, refs: &str| {
        format!(
            "version: v0.3
providers:
  defaults: {{default_model: small}}
  models:
    - name: small
      backend_refs: [{{endpoint: \"h:1\"}}]
    - name: big
      backend_refs: [{{endpoint: \"h:1\"}}]
routing:
  signals:
    keywords:
      - {{name: code, operator: OR, keywords: [code]}}
  decisions:
    - name: code_route
      priority: 50
      rules: {{operator: AND, conditions: [{{type: keyword, name: code}}]}}
      modelRefs: {refs}
{algorithm}"
        )
    };
    let preview = |algorithm: &str, refs: &str| {
        let cfg = vsr_config::load_str(&yaml(algorithm, refs), "preview.yaml")
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        let r = Engine::from_config(&cfg)
            .expect("engine")
            .route_text("review my code", EvalMode::Routing);
        let refs: Vec<String> = r.model_refs.iter().map(|m| m.model.clone()).collect();
        assert_eq!(refs, ["small", "big"][..refs.len()]);
        let e = vsr_engine::eval_api::EvalResponse::from_result("review my code", &r, false);
        (
            e.selection_status.unwrap_or_default(),
            e.selected_model,
            e.selection_method.unwrap_or_default(),
            e.decision_result.algorithm,
        )
    };
    let two = "[{model: small}, {model: big}]";
    let fusion = "      algorithm: {type: fusion, fusion: {model: big}}\n";
    assert_eq!(
        preview(fusion, two),
        (
            "planned_final".into(),
            Some("big".into()),
            "fusion".into(),
            "fusion".into()
        )
    );
    let flow =
        "      algorithm: {type: workflows, workflows: {roles: [{name: r, models: [small]}]}}\n";
    assert_eq!(
        preview(flow, two),
        (
            "execution_required".into(),
            None,
            "workflows".into(),
            "workflows".into()
        )
    );
    assert_eq!(
        preview("", "[{model: small}]"),
        (
            "selected".into(),
            Some("small".into()),
            "single".into(),
            "static".into()
        )
    );
    assert_eq!(
        preview("", two),
        (
            "selected".into(),
            Some("small".into()),
            "static".into(),
            "static".into()
        )
    );
}
