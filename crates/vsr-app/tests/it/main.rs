//! vsr-app: the router-build policy and the probe runner over the real HTTP server.

mod head_recipes;

use std::sync::Arc;

use vsr_app::probes::{self, Manifest, ProbeTarget};
use vsr_app::{LearnedClassifier, MissingModel, Models, build_router};

/// Keyword routing plus one embedding rule (which needs the encoder).
const CONFIG: &str = r#"version: v0.3
listeners:
  - {name: http, address: 127.0.0.1, port: 8899}
providers:
  defaults: {default_model: a}
  models:
    - name: a
      backend_refs: [{name: be0, endpoint: "127.0.0.1:9"}]
    - name: b
      backend_refs: [{name: be0, endpoint: "127.0.0.1:9"}]
routing:
  modelCards: [{name: a}, {name: b}]
  signals:
    keywords:
      - {name: math_kw, operator: OR, keywords: [math, algebra]}
    embeddings:
      - name: greeting
        threshold: 0.7
        candidates: [hello there, good morning]
  decisions:
    - name: math_route
      priority: 100
      rules: {operator: AND, conditions: [{type: keyword, name: math_kw}]}
      modelRefs: [{model: b}]
    - name: greet
      priority: 50
      rules: {operator: AND, conditions: [{type: embedding, name: greeting}]}
      modelRefs: [{model: a}]
"#;

const MANIFEST: &str = r#"name: t
acceptance: {min_probe_pass_rate: 50, min_decision_pass_rate: 50}
decisions:
  - id: math
    expected_decision: math_route
    expected_alias: b
    variants:
      - {id: m1, query: "solve this algebra problem"}
      - {id: m2, query: "a math question"}
  - id: greet
    expected_decision: greet
    variants:
      - {id: g1, query: "hello there"}
"#;

fn config() -> vsr_config::Config {
    vsr_config::load_str(CONFIG, "CONFIG")
        .expect("config loads")
        .config
}

#[test]
fn a_missing_encoder_is_refused_for_serving_and_degrades_for_tools() {
    let cfg = config();
    let none = vsr_learned::ModelSet::none();
    let refused = build_router(&cfg, &none, MissingModel::Refuse);
    assert!(
        matches!(refused, Err(vsr_learned::BuildError::ModelRequired { .. })),
        "the server must not start a router whose rules can never match"
    );
    let built = build_router(&cfg, &none, MissingModel::HeuristicsOnly).expect("degrades");
    let why = built.degraded.expect("says why");
    assert!(why.contains("greet"), "{why}");
    // The heuristic half still routes.
    let r = built.router.default_router().route(
        &vsr_signals::RequestView::from_text("an algebra question"),
        vsr_engine::EvalMode::Routing,
    );
    assert_eq!(r.decision.as_deref(), Some("math_route"));
    // And the proxy's classifier refuses it with the rule named.
    let err = match LearnedClassifier::new(&cfg, &Models::none()) {
        Ok(_) => panic!("accepted a config whose embedding rule cannot match"),
        Err(e) => e,
    };
    assert!(err.contains("greet"), "{err}");
}

#[test]
fn probes_run_the_same_in_process_and_over_http() {
    let cfg = config();
    let manifest = Manifest::parse(MANIFEST, "MANIFEST").expect("manifest parses");
    let built = build_router(
        &cfg,
        &vsr_learned::ModelSet::none(),
        MissingModel::HeuristicsOnly,
    )
    .expect("router");
    let local = probes::run(
        &manifest,
        &ProbeTarget::Router(&built.router),
        |_, _, _, _| {},
    )
    .expect("runs");
    assert_eq!((local.probes, local.probes_passed), (3, 2));
    assert_eq!((local.decisions, local.decisions_passed), (2, 1));
    assert!(local.accepted);
    let greet = local
        .outcomes
        .iter()
        .find(|o| o.group == "greet")
        .expect("greet");
    assert!(!greet.passed && greet.error.is_none());

    // The same router behind the real server's eval API.
    let dir = std::env::temp_dir().join(format!("vsr-app-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("config.yaml");
    std::fs::write(&path, CONFIG).expect("write config");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let loader = Arc::new(vsr_server::ValidatingLoader::with_classifier(|cfg, _| {
        let built = build_router(
            cfg,
            &vsr_learned::ModelSet::none(),
            MissingModel::HeuristicsOnly,
        )
        .map_err(|e| e.to_string())?;
        Ok(Arc::new(RouterClassifier(built.router)) as Arc<dyn vsr_server::Classifier>)
    }));
    let server = rt
        .block_on(async {
            let mut o = vsr_server::ServeOptions::new(&path, loader);
            o.listen_override = Some(([127, 0, 0, 1], 0).into());
            o.watch_interval = None;
            vsr_server::serve(o).await
        })
        .expect("server starts");
    let base = format!("http://{}", server.addrs[0]);
    let remote = probes::run(
        &manifest,
        &ProbeTarget::Http { base: &base },
        |_, _, _, _| {},
    )
    .expect("runs");
    let pairs = |r: &probes::ProbeReport| {
        r.outcomes
            .iter()
            .map(|o| {
                (
                    o.variant.clone(),
                    o.decision.clone(),
                    o.alias.clone(),
                    o.passed,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(&remote), pairs(&local));
    drop(server);

    // A router that is gone: every probe fails with an error, nothing panics.
    let gone = probes::run(
        &manifest,
        &ProbeTarget::Http { base: &base },
        |_, _, _, _| {},
    )
    .expect("runs");
    assert_eq!(gone.probes_passed, 0);
    assert!(gone.outcomes.iter().all(|o| o.error.is_some()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A heuristic-only router as the server's classifier.
struct RouterClassifier(vsr_learned::Routers);

impl vsr_server::Classifier for RouterClassifier {
    fn route(
        &self,
        recipe: Option<&str>,
        view: &vsr_signals::RequestView,
    ) -> Result<vsr_engine::RoutingResult, vsr_server::ClassifyError> {
        let router = self.0.get(recipe).expect("known recipe");
        Ok(router.route(view, vsr_engine::EvalMode::Routing))
    }
    fn eval(
        &self,
        recipe: Option<&str>,
        view: &vsr_signals::RequestView,
    ) -> Result<vsr_engine::RoutingResult, vsr_server::ClassifyError> {
        let router = self.0.get(recipe).expect("known recipe");
        Ok(router.route(view, vsr_engine::EvalMode::All))
    }
}

#[test]
fn a_replay_record_is_filled_from_the_typed_result() {
    let built = build_router(
        &config(),
        &vsr_learned::ModelSet::none(),
        MissingModel::HeuristicsOnly,
    )
    .expect("router");
    let r = built.router.default_router().route(
        &vsr_signals::RequestView::from_text("an algebra question"),
        vsr_engine::EvalMode::Routing,
    );
    let mut rec = vsr_replay::ReplayRecord::new();
    vsr_app::fill_routing(&mut rec, &r);
    assert_eq!(rec.signals.keyword, vec!["math_kw".to_string()]);
    assert_eq!(rec.decision_priority, Some(100));
    assert_eq!(rec.decision_tier, Some(0));
    assert_eq!(rec.confidence_score, Some(r.confidence));
    assert_eq!(rec.selection_method, "static");
    assert_eq!(rec.reasoning_mode, "off");
    assert_eq!(
        rec.signal_confidences.get("keyword:math_kw").copied(),
        r.matched_signals()
            .find(|(_, n, _)| *n == "math_kw")
            .map(|(_, _, c)| c)
    );
    assert!(!rec.jailbreak_detected && !rec.pii_detected);
    assert_eq!(rec.recipe, "");
}

#[test]
fn each_recipe_has_its_own_router_and_its_results_name_it() {
    let cfg = vsr_config::load_str(V1_CONFIG, "V1_CONFIG")
        .expect("config loads")
        .config;
    let built =
        build_router(&cfg, &vsr_learned::ModelSet::none(), MissingModel::Refuse).expect("router");
    let routers = &built.router;
    assert_eq!(routers.iter().count(), 2);
    assert_eq!(routers.entrypoint_recipe(" vllm-sr/fast "), Some("fast"));
    assert_eq!(routers.entrypoint_recipe("MoM"), None);
    assert!(routers.get(Some("nope")).is_none());
    let view = vsr_signals::RequestView::from_text("a quick math question");
    let fast = routers
        .get(Some("fast"))
        .expect("fast")
        .route(&view, vsr_engine::EvalMode::Routing);
    assert_eq!(fast.recipe.as_deref(), Some("fast"));
    assert_eq!(fast.decision.as_deref(), Some("quick_route"));
    let default = routers
        .get(Some("default"))
        .expect("default")
        .route(&view, vsr_engine::EvalMode::Routing);
    assert_eq!(default.recipe, None);
    assert_eq!(default.decision.as_deref(), Some("math_route"));
    let mut rec = vsr_replay::ReplayRecord::new();
    vsr_app::fill_routing(&mut rec, &fast);
    assert_eq!(rec.recipe, "fast");
    assert!(
        serde_json::to_string(&rec)
            .unwrap()
            .contains("\"recipe\":\"fast\"")
    );
}

/// A keyword-only config with a recipe and an entrypoint, for the v1 field checks.
const V1_CONFIG: &str = r#"version: v0.3
listeners:
  - {name: http, address: 127.0.0.1, port: 8899}
providers:
  defaults: {default_model: a}
  models:
    - name: a
      backend_refs: [{name: be0, endpoint: "127.0.0.1:9"}]
    - name: b
      backend_refs: [{name: be0, endpoint: "127.0.0.1:9"}]
routing:
  modelCards: [{name: a}, {name: b}]
  signals:
    keywords:
      - {name: math_kw, operator: OR, keywords: [math, algebra]}
      - {name: hi_kw, operator: OR, keywords: [hello]}
    context:
      - {name: short_ctx, min_tokens: "0", max_tokens: 1K}
  decisions:
    - name: math_route
      priority: 100
      rules: {operator: AND, conditions: [{type: keyword, name: math_kw}]}
      modelRefs: [{model: b}]
      algorithm: {type: confidence}
      plugins: [{type: system_prompt, configuration: {enabled: true, system_prompt: "x"}}]
    - name: greet
      priority: 5
      rules: {operator: OR, conditions: [{type: keyword, name: hi_kw}, {type: context, name: short_ctx}]}
      modelRefs: [{model: a}]
entrypoints:
  - {model_names: [vllm-sr/fast], recipe: fast}
recipes:
  - name: fast
    routing:
      signals:
        keywords:
          - {name: quick_kw, operator: OR, keywords: [quick]}
      decisions:
        - name: quick_route
          priority: 10
          rules: {operator: AND, conditions: [{type: keyword, name: quick_kw}]}
          modelRefs: [{model: a}]
"#;

const V1_MANIFEST: &str = r#"schema_version: v1
name: t
coverage:
  min_signal_assertion_percent: 100
  min_projection_assertion_percent: 0
  min_algorithm_assertion_percent: 0
  min_plugin_assertion_percent: 0
  required_request_shapes: [text, messages]
  min_tag_counts: {}
  min_tag_pass_rate: {}
decisions:
  - id: math
    expected_decision: math_route
    expected_algorithm: confidence
    expected_plugins: [system_prompt]
    expected_alias: b
    expected_signals: {keywords: [math_kw]}
    forbidden_signals: {context: [short_ctx]}
    variants:
      - {id: ok, query: "an algebra question", padding: {text: "pad pad pad pad pad pad pad pad pad pad pad pad pad pad pad pad pad pad pad pad", repeat: 200}}
      - {id: wrong, query: "math", expected_signals: {keywords: [math_kw], classifier: [again]}}
      - id: turns
        messages:
          - {role: user, content: "hello"}
          - {role: assistant, content: "hi"}
          - {role: user, content: [{type: text, text: "a math question"}]}
        expected_signals: {keywords: [math_kw]}
      - id: long
        messages:
          - {role: user, content: [{type: text, text: "math "}]}
        generated_text: {message_index: 0, content_index: 1, target_text_bytes: 20000}
  - id: quick
    model: vllm-sr/fast
    expected_recipe: fast
    expected_decision: quick_route
    variants:
      - {id: q, query: "a quick one"}
  - id: greet
    expected_decision: greet
    variants:
      - {id: g, query: "hello"}
  - id: bad_model
    model: gpt-4
    expected_decision: math_route
    expected_algorithm: static
    variants:
      - {id: b, query: "math"}
"#;

#[test]
fn v1_probes_report_each_failed_field_with_its_reason() {
    let cfg = vsr_config::load_str(V1_CONFIG, "V1_CONFIG")
        .expect("config loads")
        .config;
    let manifest = Manifest::parse(V1_MANIFEST, "V1_MANIFEST").expect("manifest parses");
    let built = build_router(
        &cfg,
        &vsr_learned::ModelSet::none(),
        MissingModel::HeuristicsOnly,
    )
    .expect("router");
    let report = probes::run_with(
        &manifest,
        &ProbeTarget::Router(&built.router),
        Some(&cfg),
        |_, _, _, _| {},
    )
    .expect("runs");
    let by = |id: &str| {
        report
            .outcomes
            .iter()
            .find(|o| format!("{}:{}", o.group, o.variant) == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let fields = |id: &str| -> Vec<(&str, Option<String>)> {
        by(id)
            .failures
            .iter()
            .map(|f| (f.field, f.reason.clone()))
            .collect()
    };
    // Every field holds: decision, algorithm, plugins, signals, alias.
    assert!(by("math:ok").passed, "{:?}", by("math:ok").failures);
    // The last user turn of a conversation is what routes; the short-context signal the
    // decision forbids fires for it (the history is short).
    assert!(
        by("math:turns")
            .failures
            .iter()
            .all(|f| f.reason.as_deref() == Some("forbidden signal")),
        "{:?}",
        by("math:turns").failures
    );
    // Generated text makes a long request.
    assert!(by("math:long").passed, "{:?}", by("math:long").failures);
    // A forbidden signal, and an expected signal that did not match.
    let wrong = fields("math:wrong");
    assert!(
        wrong
            .iter()
            .any(|(f, r)| *f == "signals" && r.as_deref() == Some("forbidden signal")),
        "{wrong:?}"
    );
    // The expected classifier signal is not configured: an ordinary "not matched" failure.
    assert!(
        wrong.iter().any(|(f, r)| *f == "signals" && r.is_none()),
        "{wrong:?}"
    );
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    // An entrypoint name routes with its recipe: the recipe's decision, reported as such.
    assert!(by("quick:q").passed, "{:?}", by("quick:q").failures);
    let quick = by("quick:q").response.as_ref().expect("response");
    assert_eq!(quick.recipe, "fast");
    assert_eq!(quick.requested_model.as_deref(), Some("vllm-sr/fast"));
    // The default profile does not know the recipe's signals.
    assert_eq!(
        by("greet:g").response.as_ref().expect("response").recipe,
        "default"
    );
    // A model that selects no recipe; a wrong algorithm.
    let bad = fields("bad_model:b");
    assert!(bad.iter().any(|(f, _)| *f == "model"), "{bad:?}");
    let alg = &by("bad_model:b").failures;
    assert!(
        alg.iter()
            .any(|f| f.field == "algorithm" && f.expected == "static" && f.actual == "confidence"),
        "{alg:?}"
    );
    // Scoring per decision and the coverage policy.
    assert_eq!(report.per_decision.len(), 4);
    assert!(!report.per_decision[0].ok && !report.accepted);
    let cov = report.coverage.as_ref().expect("coverage with a config");
    assert_eq!(cov.request_shapes, vec!["messages", "text"]);
    // hi_kw and quick_kw (in the recipe) are not asserted: 2 of 4 signals.
    assert!(
        (cov.signal_assertion_percent - 50.0).abs() < 0.01,
        "{cov:?}"
    );
    assert!(
        cov.failures.iter().any(|f| f.contains("signal assertions")),
        "{cov:?}"
    );
    // Without the config the config-backed fields fail, saying why.
    let bare = probes::run(
        &manifest,
        &ProbeTarget::Router(&built.router),
        |_, _, _, _| {},
    )
    .expect("runs");
    assert!(bare.coverage.is_none());
    // Without the config the entrypoints still select the recipe.
    let quick = bare
        .outcomes
        .iter()
        .find(|o| o.group == "quick")
        .expect("quick");
    assert!(quick.passed, "{:?}", quick.failures);
    assert!(
        bare.outcomes[0]
            .failures
            .iter()
            .any(|f| f.field == "plugins"
                && f.reason.as_deref().is_some_and(|r| r.contains("no config"))),
        "{:?}",
        bare.outcomes[0].failures
    );
}

#[test]
fn a_kept_model_and_an_adaptation_are_recorded_and_outcomes_bind_to_the_answer() {
    use vsr_server::{RecordFinish, RecordSink, RecordStart};
    let yaml = "version: v0.3\nproviders:\n  models:\n    - name: a\n      backend_refs: [{endpoint: \"h:1\"}]\n    - name: b\n      backend_refs: [{endpoint: \"h:1\"}]\nrouting:\n  modelCards: [{name: a}, {name: b}]\n  decisions:\n    - {name: d, priority: 1, rules: {operator: AND}, modelRefs: [{model: b}], plugins: [{type: router_replay, configuration: {enabled: true}}]}\n";
    let cfg = vsr_config::load_str(yaml, "t.yaml").expect("loads").config;
    let dir = vsr_testkit::TempDir::new("session_record");
    let replay = vsr_app::Replay::open(&cfg, dir.path(), None)
        .expect("opens")
        .expect("records");
    let mut result = vsr_engine::RoutingResult::fallback("b", "test");
    result.decision = Some("d".into());
    let outcome = vsr_session::Outcome {
        session_id: "0123456789abcdef".into(),
        action: vsr_session::Action::Kept,
        model: "a".into(),
        own_model: "b".into(),
        reason: Some("margin"),
        turns: 4,
    };
    let adaptation = vsr_session::Adaptation {
        mode: vsr_config::AdaptationMode::Apply,
        action: "propose_switch",
        reason: "posterior_win",
        candidate_set: vsr_config::CandidateSet::Decision,
        base_model: "b".into(),
        proposal: "a".into(),
        sampled: false,
        scores: vec![("a".into(), 0.7), ("b".into(), 0.5)],
        switch_to: None,
        key: vsr_session::ExperienceKey::new(None, "d", 0),
    };
    let id = replay
        .start(&RecordStart {
            request_id: "r1",
            original_model: "MoM",
            selected_model: "a",
            routed: true,
            result: Some(&result),
            request_body: b"{}",
            streaming: false,
            fast_response: false,
            session: Some(&outcome),
            adaptation: Some(&adaptation),
        })
        .expect("recorded");
    replay.finish(
        &id,
        RecordFinish {
            status: 200,
            streaming: false,
            usage: None,
            response_body: bytes::Bytes::new(),
            completed: true,
            ttft: None,
            served_model: None,
            attempts: Vec::new(),
            usage_by_model: Vec::new(),
        },
    );
    replay.drain();
    let rec = replay.store.get(&id).expect("reads").expect("stored");
    assert_eq!(rec.selected_model, "a");
    assert_eq!(rec.decision, "d");
    let s = rec.session.expect("session part");
    assert_eq!(
        (
            s.id.as_str(),
            s.action.as_str(),
            s.own_model.as_str(),
            s.reason.as_str(),
            s.turns
        ),
        ("0123456789abcdef", "kept", "b", "margin", 4)
    );
    let l = rec.learning.expect("learning part");
    assert_eq!(
        (
            l.action.as_str(),
            l.reason.as_str(),
            l.candidate_set.as_str()
        ),
        ("propose_switch", "posterior_win", "decision")
    );
    assert_eq!((l.base_model.as_str(), l.proposal.as_str()), ("b", "a"));
    assert_eq!(l.scores.len(), 2);

    // Outcomes posted about the answer are stored with it, bound to the model that answered.
    use vsr_server::{OutcomeStored, PostedOutcome};
    let posted = |key: &str, target_ref: &str| PostedOutcome {
        target: "model".into(),
        target_ref: target_ref.into(),
        verdict: vsr_session::Verdict::Underpowered,
        score: 0.5,
        reason: "too shallow".into(),
        metadata: Default::default(),
        key: key.into(),
    };
    assert_eq!(
        replay.add_outcome(&id, &posted("k1", "")),
        Ok(OutcomeStored::Added {
            recipe: None,
            decision: "d".into(),
            tier: 0,
            model: "a".into()
        })
    );
    assert_eq!(
        replay.add_outcome(&id, &posted("k1", "a")),
        Ok(OutcomeStored::Duplicate)
    );
    assert!(matches!(
        replay.add_outcome(&id, &posted("k2", "b")),
        Ok(OutcomeStored::Mismatch(m)) if m.contains("\"a\"")
    ));
    assert_eq!(
        replay.add_outcome("nope", &posted("k3", "")),
        Ok(OutcomeStored::Missing)
    );
    let rec = replay.store.get(&id).expect("reads").expect("stored");
    assert_eq!(rec.outcomes.len(), 1);
    assert_eq!(
        (
            rec.outcomes[0].target_ref.as_str(),
            rec.outcomes[0].verdict.as_str(),
            rec.outcomes[0].key.as_str()
        ),
        ("a", "underpowered", "k1")
    );
}
