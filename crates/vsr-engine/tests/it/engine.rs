//! Engine behaviour over hand-built profiles: laziness, fallback, composers, the trace, and a
//! property test of selection.

use proptest::prelude::*;
use vsr_engine::{
    BandSpec, ComposerSpec, DecisionSpec, Engine, EvalMode, MappingSpec, ModelRef,
    PartitionSemantics, PartitionSpec, RuleNode, ScoreInputSpec, ScoreSpec, Strategy as Selection,
    ValueSource,
};
use vsr_signals::{
    Bounds, ContextFamily, ContextRuleSpec, Family, KeywordFamily, KeywordMatch, KeywordRuleSpec,
    RequestContext, SignalError, SignalFamily, SignalResult,
};

fn kw_rule(name: &str, kws: &[&str]) -> KeywordRuleSpec {
    KeywordRuleSpec {
        name: name.into(),
        keywords: kws.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn decision(name: &str, tier: u32, priority: i64, rules: RuleNode, model: &str) -> DecisionSpec {
    DecisionSpec {
        fast_response: None,
        algorithm: None,
        name: name.into(),
        description: None,
        priority,
        tier,
        rules,
        model_refs: vec![ModelRef {
            model: model.into(),
            use_reasoning: true,
            ..ModelRef::default()
        }],
    }
}

/// A learned-family stand-in that counts its calls, to observe laziness.
struct Counting {
    family: Family,
    names: Vec<String>,
    calls: std::sync::atomic::AtomicUsize,
}

impl SignalFamily for Counting {
    fn family(&self) -> Family {
        self.family
    }
    fn signal_names(&self) -> Vec<String> {
        self.names.clone()
    }
    fn evaluate(
        &self,
        _ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(first) = out.first_mut() {
            first.set_match(0.9);
        }
        Ok(())
    }
}

/// Always fails.
struct Broken;

impl SignalFamily for Broken {
    fn family(&self) -> Family {
        Family::Domain
    }
    fn signal_names(&self) -> Vec<String> {
        vec!["law".into(), "other".into()]
    }
    fn evaluate(
        &self,
        _ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        out[0].set_match(1.0);
        Err(SignalError::new(Family::Domain, "model not loaded"))
    }
}

fn small_engine() -> Engine {
    Engine::builder()
        .family(Box::new(
            KeywordFamily::new(&[
                kw_rule("urgent", &["urgent", "asap"]),
                kw_rule("code", &["python"]),
            ])
            .expect("valid")
            .with_match(KeywordMatch::All),
        ))
        .family(Box::new(ContextFamily::new(&[ContextRuleSpec {
            name: "short".into(),
            min_tokens: 0,
            max_tokens: Some(999),
        }])))
        .decision(decision(
            "urgent_code",
            1,
            10,
            RuleNode::And(vec![
                RuleNode::leaf("keyword", "urgent"),
                RuleNode::leaf("keyword", "code"),
            ]),
            "big",
        ))
        .decision(decision(
            "code",
            2,
            5,
            RuleNode::leaf("keyword", "code"),
            "medium",
        ))
        .default_model("small")
        .reasoning_family("big", "qwen3")
        .default_reasoning_effort(Some("high".into()))
        .build()
        .expect("builds")
}

#[test]
fn routes_and_traces_the_winner() {
    let e = small_engine();
    let r = e.route_text("urgent: fix this python script", EvalMode::Routing);
    assert_eq!(r.decision.as_deref(), Some("urgent_code"));
    assert_eq!(r.model, "big");
    assert!(!r.is_default);
    assert_eq!(r.reasoning.family.as_deref(), Some("qwen3"));
    assert_eq!(r.reasoning.effort.as_deref(), Some("high"));
    assert_eq!(r.decisions.winner, r.decision);
    assert!(
        r.decisions.reason.contains("tier 1 before tier 2"),
        "{}",
        r.decisions.reason
    );
    let w = r.winner_trace().expect("winner traced");
    let rules: Vec<&str> = w.matched_rules.iter().map(|r| &**r).collect();
    assert_eq!(rules, vec!["keyword:urgent", "keyword:code"]);
    assert_eq!(w.leaves.len(), 2);
    // Round-trips through JSON (replay and the eval API carry it).
    let json = serde_json::to_string(&r).expect("serialises");
    let back: vsr_engine::RoutingResult = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, r);
}

#[test]
fn falls_back_to_the_default_model() {
    let e = small_engine();
    let r = e.route_text("hello there", EvalMode::Routing);
    assert_eq!(r.decision, None);
    assert_eq!(r.model, "small");
    assert!(r.is_default);
    assert!(!r.reasoning.use_reasoning);
    assert!(r.decisions.reason.contains("no decision matched"));
    // Empty text evaluates nothing and falls back too.
    let r = e.route_text("   ", EvalMode::All);
    assert!(r.is_default && r.signals.matched().count() == 0);
}

#[test]
fn routing_path_is_lazy_and_eval_path_computes_all() {
    let counting = Counting {
        family: Family::Jailbreak,
        names: vec!["jb".into()],
        calls: Default::default(),
    };
    let e = Engine::builder()
        .family(Box::new(
            KeywordFamily::new(&[kw_rule("k", &["x"])]).expect("valid"),
        ))
        .family(Box::new(counting))
        .decision(decision("d", 1, 1, RuleNode::leaf("keyword", "k"), "m"))
        .build()
        .expect("builds");
    assert!(e.required_families().contains(Family::Keyword));
    assert!(!e.required_families().contains(Family::Jailbreak));
    let r = e.route_text("x marks the spot", EvalMode::Routing);
    assert!(!r.signals.family(Family::Jailbreak).evaluated);
    assert!(r.signals.family(Family::Keyword).evaluated);
    let r = e.route_text("x marks the spot", EvalMode::All);
    assert!(r.signals.is_matched(Family::Jailbreak, "jb"));
    // The full trace has the leaves of unmatched decisions too.
    assert!(r.decisions.evaluated.iter().all(|d| !d.leaves.is_empty()));
}

#[test]
fn projection_references_pull_in_score_inputs() {
    let e = Engine::builder()
        .declare(Family::Embedding, ["e"])
        .declare(Family::Domain, ["law"])
        .score(ScoreSpec {
            name: "s".into(),
            inputs: vec![ScoreInputSpec {
                kind: "embedding".into(),
                name: "e".into(),
                weight: 1.0,
                value_source: ValueSource::Confidence,
                match_value: None,
                miss_value: None,
            }],
        })
        .mapping(MappingSpec {
            name: "m".into(),
            source: "s".into(),
            slope: None,
            outputs: vec![BandSpec {
                name: "hi".into(),
                bounds: Bounds {
                    gte: Some(0.5),
                    ..Bounds::default()
                },
            }],
        })
        .decision(decision("d", 1, 1, RuleNode::leaf("projection", "hi"), "m"))
        .build()
        .expect("builds");
    let req = e.required_families();
    assert!(req.contains(Family::Embedding) && !req.contains(Family::Domain));
    assert!(e.missing_families().contains(Family::Embedding));
    // With the learned family supplied as a fixed signal set, the projection fires.
    let mut s = e.empty_signals();
    s.set_match(Family::Embedding, "e", 0.8);
    let r = e.decide(s, false);
    assert_eq!(r.decision.as_deref(), Some("d"));
    assert_eq!(r.projections.mappings[0].output.as_deref(), Some("hi"));
    assert!((r.projections.scores[0].value - 0.8).abs() < 1e-12);
}

#[test]
fn composers_filter_complexity_levels_after_partitions() {
    let e = Engine::builder()
        .declare(Family::Domain, ["math", "other"])
        .declare(
            Family::Complexity,
            ["math_task:easy", "math_task:medium", "math_task:hard"],
        )
        .partition(PartitionSpec {
            name: "p".into(),
            semantics: PartitionSemantics::SoftmaxExclusive,
            temperature: 0.1,
            members: vec!["math".into(), "other".into()],
            default: Some("other".into()),
        })
        .composer(ComposerSpec {
            rule: "math_task".into(),
            tree: RuleNode::And(vec![RuleNode::leaf("domain", "math")]),
        })
        .decision(decision(
            "hard_math",
            1,
            1,
            RuleNode::leaf("complexity", "math_task:hard"),
            "m",
        ))
        .build()
        .expect("builds");
    // Composer leaves count for laziness once complexity is needed.
    assert!(e.required_families().contains(Family::Domain));
    let mut s = e.empty_signals();
    s.set_match(Family::Complexity, "math_task:hard", 1.0);
    s.family_mut(Family::Domain).evaluated = true;
    let r = e.decide(s.clone(), false);
    assert_eq!(
        r.decision, None,
        "no math domain: the level is filtered out"
    );
    assert!(
        r.signals.is_matched(Family::Domain, "other"),
        "partition default"
    );
    s.set_match(Family::Domain, "math", 0.9);
    assert_eq!(e.decide(s, false).decision.as_deref(), Some("hard_math"));
}

#[test]
fn failing_family_contributes_nothing() {
    let e = Engine::builder()
        .family(Box::new(Broken))
        .partition(PartitionSpec {
            name: "p".into(),
            semantics: PartitionSemantics::Exclusive,
            temperature: 1.0,
            members: vec!["law".into(), "other".into()],
            default: Some("other".into()),
        })
        .decision(decision("law", 1, 1, RuleNode::leaf("domain", "law"), "m"))
        .decision(decision(
            "not_law",
            2,
            1,
            RuleNode::Not(vec![RuleNode::leaf("domain", "law")]),
            "m",
        ))
        .build()
        .expect("builds");
    let r = e.route_text("anything", EvalMode::Routing);
    let fam = r.signals.family(Family::Domain);
    assert_eq!(fam.error.as_deref(), Some("model not loaded"));
    assert!(!r.signals.is_matched(Family::Domain, "law"));
    // No default is fabricated for a family that failed.
    assert!(!r.signals.is_matched(Family::Domain, "other"));
    assert_eq!(r.decision.as_deref(), Some("not_law"));
}

#[test]
fn build_errors() {
    let dup = Engine::builder()
        .decision(decision("d", 1, 1, RuleNode::Or(vec![]), "m"))
        .decision(decision("d", 1, 1, RuleNode::Or(vec![]), "m"))
        .build();
    assert!(matches!(
        dup,
        Err(vsr_engine::BuildError::DuplicateDecision(_))
    ));
    // A later evaluator replaces an earlier one of the same family.
    let e = Engine::builder()
        .family(Box::new(ContextFamily::new(&[])))
        .family(Box::new(ContextFamily::new(&[ContextRuleSpec {
            name: "any".into(),
            min_tokens: 0,
            max_tokens: None,
        }])))
        .build()
        .expect("builds");
    assert_eq!(e.catalog().names(Family::Context).len(), 1);
    let e = Engine::builder()
        .decision(decision("d", 1, 1, RuleNode::leaf("keyword", "ghost"), "m"))
        .build()
        .expect("unknown leaves are not fatal");
    assert_eq!(e.unresolved_leaves(), vec!["d: keyword:ghost"]);
}

/// A profile of eight signals and decisions over random trees, for the property test.
fn random_engine(decisions: Vec<(u32, i64, RuleNode)>) -> Engine {
    let mut b = Engine::builder()
        .declare(Family::Keyword, (0..8).map(|i| format!("s{i}")))
        .default_model("fallback");
    for (i, (tier, prio, rule)) in decisions.into_iter().enumerate() {
        b = b.decision(decision(
            &format!("d{i}"),
            tier,
            prio,
            rule,
            &format!("m{i}"),
        ));
    }
    b.strategy(Selection::Priority).build().expect("builds")
}

fn arb_rule() -> impl Strategy<Value = RuleNode> {
    let leaf = (0..9usize).prop_map(|i| RuleNode::leaf("keyword", format!("s{i}")));
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(RuleNode::And),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(RuleNode::Or),
            proptest::collection::vec(inner, 0..3).prop_map(RuleNode::Not),
        ]
    })
}

proptest! {
    #[test]
    fn exactly_one_decision_or_the_default(
        decisions in proptest::collection::vec((0u32..4, -5i64..5, arb_rule()), 1..8),
        signals in proptest::collection::vec(proptest::option::of(0.0f64..=1.0), 8),
    ) {
        let e = random_engine(decisions);
        let mut set = e.empty_signals();
        for (i, conf) in signals.iter().enumerate() {
            if let Some(c) = conf {
                set.set_match(Family::Keyword, &format!("s{i}"), *c);
            }
        }
        let r = e.decide(set, true);
        let matched: Vec<_> = r.decisions.evaluated.iter().filter(|d| d.matched).collect();
        prop_assert_eq!(&r.decisions.winner, &r.decision);
        match &r.decision {
            None => {
                prop_assert!(matched.is_empty());
                prop_assert_eq!(r.model.as_str(), "fallback");
                prop_assert!(r.is_default);
            }
            Some(w) => {
                prop_assert!(matched.iter().any(|d| &*d.name == w.as_str()));
                let idx: usize = w[1..].parse().unwrap_or(usize::MAX);
                prop_assert_eq!(r.model.clone(), format!("m{idx}"));
                // No other matched decision sorts before the winner.
                let win = matched.iter().find(|d| &*d.name == w.as_str()).copied();
                prop_assert!(win.is_some());
                if let Some(win) = win {
                    let tiered = matched.iter().any(|d| d.tier > 0);
                    for d in &matched {
                        let better = if tiered {
                            (d.tier, -d.confidence, -d.priority) < (win.tier, -win.confidence, -win.priority)
                        } else {
                            (-d.priority, -d.confidence) < (-win.priority, -win.confidence)
                        };
                        prop_assert!(!better, "{} should have won over {}", d.name, w);
                    }
                    prop_assert!(win.confidence > 0.0 && win.confidence <= 1.0);
                }
            }
        }
    }
}

#[test]
fn eval_api_body_has_the_original_shape() {
    let e = small_engine();
    let r = e.route_text("urgent python fix", EvalMode::All);
    let body = vsr_engine::eval_api::EvalResponse::from_result("urgent python fix", &r, false);
    let json = serde_json::to_value(&body).expect("serialises");
    assert_eq!(json["routing_decision"], "urgent_code");
    assert_eq!(json["decision_result"]["decision_name"], "urgent_code");
    assert_eq!(json["recommended_models"], serde_json::json!(["big"]));
    assert_eq!(
        json["decision_result"]["used_signals"]["keywords"],
        serde_json::json!(["urgent", "code"])
    );
    assert_eq!(
        json["decision_result"]["matched_signals"]["context"],
        serde_json::json!(["short"])
    );
    assert_eq!(json["signal_confidences"]["keyword:urgent"], 1.0);
    assert!(json["metrics"]["keyword"]["execution_time_ms"].is_number());
    assert!(json.get("trace").is_none());
    // Read back as the probe runner does.
    let back: vsr_engine::eval_api::EvalResponse = serde_json::from_value(json).expect("parses");
    assert_eq!(
        (back.decision(), back.alias()),
        (Some("urgent_code"), Some("big"))
    );

    // No decision: `routing_decision` and `recommended_models` are omitted.
    let r = e.route_text("hello", EvalMode::All);
    let json = serde_json::to_value(vsr_engine::eval_api::EvalResponse::from_result(
        "hello", &r, true,
    ))
    .expect("serialises");
    assert!(json.get("routing_decision").is_none() && json.get("recommended_models").is_none());
    assert_eq!(json["decision_result"]["decision_name"], "");
    assert!(
        json["decision_result"]["unmatched_signals"]["keywords"]
            .as_array()
            .is_some_and(|a| a.len() == 2)
    );
    assert!(json["trace"]["decisions"]["reason"].is_string());
}

/// A decision without `rules` (HEAD): matches every request with confidence 0, so it wins
/// only when nothing else does (or by priority under the priority strategy); its trace has
/// no leaves.
#[test]
fn a_decision_without_rules_is_a_fallback_with_confidence_zero() {
    let yaml = |strategy: &str, fallback_priority: i64| {
        format!(
            "version: v0.3
providers:
  defaults: {{default_model: a}}
  models:
    - {{name: a, backend_refs: [{{endpoint: \"h:1\"}}]}}
    - {{name: b, backend_refs: [{{endpoint: \"h:1\"}}]}}
routing:
  modelCards: [{{name: a}}, {{name: b}}]
  strategy: {strategy}
  signals:
    keywords:
      - {{name: code, operator: OR, keywords: [code]}}
  decisions:
    - name: code_route
      priority: 50
      rules: {{operator: AND, conditions: [{{type: keyword, name: code}}]}}
      modelRefs: [{{model: b}}]
    - name: simple_general
      priority: {fallback_priority}
      modelRefs: [{{model: a}}]
"
        )
    };
    let engine = |strategy: &str, prio: i64| {
        let cfg = vsr_config::load_str(&yaml(strategy, prio), "fallback.yaml")
            .unwrap_or_else(|e| panic!("{e}"))
            .config;
        Engine::from_config(&cfg).expect("engine")
    };
    let e = engine("priority", 1);
    let r = e.route_text("hello there", EvalMode::All);
    assert_eq!(r.decision.as_deref(), Some("simple_general"));
    assert_eq!(r.model, "a");
    assert!(!r.is_default);
    assert_eq!(r.confidence, 0.0);
    let t = r.winner_trace().expect("trace");
    assert!(t.matched && t.leaves.is_empty() && t.matched_rules.is_empty());
    let r = e.route_text("review my code", EvalMode::Routing);
    assert_eq!(r.decision.as_deref(), Some("code_route"));
    // Under the priority strategy a higher-priority fallback wins; under confidence it loses.
    let r = engine("priority", 100).route_text("review my code", EvalMode::Routing);
    assert_eq!(r.decision.as_deref(), Some("simple_general"));
    let r = engine("confidence", 100).route_text("review my code", EvalMode::Routing);
    assert_eq!(r.decision.as_deref(), Some("code_route"));
}
