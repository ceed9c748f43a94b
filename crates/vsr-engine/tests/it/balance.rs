//! The verbatim balance profile (`../shared/reference/upstream-amd-2026-03/balance.yaml`).
//!
//! Learned families (embedding, domain, complexity, fact_check, user_feedback, preference) have
//! no evaluator here, so each decision test supplies an explicit, fixed signal set that
//! describes a request for that decision; projections and the decision are then computed by the
//! engine from that set. Heuristic families are given explicitly too, so each test states the
//! whole picture.

use std::sync::OnceLock;

use vsr_engine::{Engine, EvalMode, RoutingResult};
use vsr_signals::{Family, FamilySet};

const BALANCE: &str = "reference/upstream-amd-2026-03/balance.yaml";

struct Profile {
    config: vsr_config::Config,
    engine: Engine,
}

fn profile() -> Option<&'static Profile> {
    static PROFILE: OnceLock<Option<Profile>> = OnceLock::new();
    PROFILE
        .get_or_init(|| {
            let path = vsr_testkit::shared_file(BALANCE)?;
            let loaded = vsr_config::load_file(&path).expect("balance.yaml loads");
            let engine = Engine::from_config(&loaded.config).expect("balance.yaml compiles");
            Some(Profile {
                config: loaded.config,
                engine,
            })
        })
        .as_ref()
}

/// Decides for a fixed signal set. Each entry is `type:name` or `type:name@confidence`; every
/// family counts as evaluated, so partition defaults apply where nothing was given.
fn decide(p: &Profile, signals: &[&str]) -> RoutingResult {
    let mut set = p.engine.empty_signals();
    for f in Family::ALL {
        set.family_mut(f).evaluated = f != Family::Projection;
    }
    for spec in signals {
        let (sig, conf) = match spec.split_once('@') {
            Some((s, c)) => (s, c.parse::<f64>().expect("confidence")),
            None => (*spec, 1.0),
        };
        let (kind, name) = sig.split_once(':').expect("type:name");
        let family = Family::parse(kind).expect("known type");
        assert!(
            set.set_match(family, name, conf),
            "balance.yaml has no signal {sig}"
        );
    }
    p.engine.decide(set, true)
}

fn expect(decision: &str, signals: &[&str]) {
    let Some(p) = profile() else { return };
    let r = decide(p, signals);
    let matched: Vec<String> = r
        .decisions
        .evaluated
        .iter()
        .filter(|d| d.matched)
        .map(|d| format!("{} (tier {}, {:.3})", d.name, d.tier, d.confidence))
        .collect();
    let bands: Vec<String> = r
        .projections
        .mappings
        .iter()
        .map(|m| format!("{}={:.3}->{:?}", m.name, m.score, m.output))
        .collect();
    assert_eq!(
        r.decision.as_deref(),
        Some(decision),
        "matched: {matched:?}; bands: {bands:?}; reason: {}",
        r.decisions.reason
    );
    let want = &p.config.decision(decision).expect("declared").model_refs[0].model;
    assert_eq!(&r.model, want);
    assert_eq!(r.decisions.winner.as_deref(), Some(decision));
}

#[test]
fn balance_compiles_with_every_leaf_resolved() {
    let Some(p) = profile() else { return };
    assert_eq!(p.engine.decision_names().count(), 23);
    assert_eq!(p.engine.unresolved_leaves(), Vec::<String>::new());
    let required = p.engine.required_families();
    for f in [
        Family::Jailbreak,
        Family::Pii,
        Family::Modality,
        Family::Authz,
    ] {
        assert!(
            !required.contains(f),
            "{f} is not used by balance decisions"
        );
    }
    for f in [
        Family::Keyword,
        Family::Embedding,
        Family::Domain,
        Family::Structure,
        Family::Complexity,
    ] {
        assert!(required.contains(f), "{f} is used");
    }
    let signals = p.engine.required_signals();
    assert!(
        signals.contains(&(Family::Keyword, "urgency_markers")),
        "read by urgency_pressure"
    );
    assert!(signals.contains(&(Family::Complexity, "math_task:hard")));
    assert!(!signals.iter().any(|(f, _)| *f == Family::Jailbreak));
    // Declared but read by no decision or referenced score: not needed for routing.
    assert!(!signals.contains(&(Family::Keyword, "jailbreak_attempt")));
    let heuristic: FamilySet = [
        Family::Keyword,
        Family::Structure,
        Family::Context,
        Family::Language,
    ]
    .into_iter()
    .collect();
    assert_eq!(p.engine.available_families(), heuristic);
}

#[test]
fn no_signals_means_simple_general_or_default() {
    let Some(p) = profile() else { return };
    // Nothing at all (not even a context band): no decision, the default model.
    let r = decide(p, &[]);
    assert_eq!(r.decision, None);
    assert_eq!(r.model, "qwen/qwen3.5-rocm");
    assert!(r.is_default);
}

#[test]
fn picks_premium_legal() {
    expect(
        "premium_legal",
        &[
            "domain:law@0.9",
            "complexity:legal_risk:hard",
            "complexity:general_reasoning:hard",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_reasoning_math() {
    expect(
        "reasoning_math",
        &[
            "domain:math@0.95",
            "complexity:math_task:hard",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_reasoning_philosophy() {
    expect(
        "reasoning_philosophy",
        &[
            "domain:philosophy@0.9",
            "keyword:reasoning_request_markers",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_complex_agentic() {
    expect(
        "complex_agentic",
        &[
            "embedding:agentic_workflows@0.85",
            "keyword:agentic_request_markers",
            "keyword:multi_step_markers",
            "structure:numbered_steps",
            "complexity:agentic_delivery:hard",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_complex_architecture() {
    expect(
        "complex_architecture",
        &[
            "domain:computer science@0.9",
            "embedding:architecture_design@0.9",
            "keyword:architecture_markers",
            "complexity:code_task:hard",
            "complexity:general_reasoning:hard",
            "structure:low_question_density",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_complex_stem() {
    expect(
        "complex_stem",
        &[
            "domain:physics@0.9",
            "embedding:complex_stem@0.85",
            "complexity:general_reasoning:hard",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_feedback_wrong_answer_verified() {
    expect(
        "feedback_wrong_answer_verified",
        &[
            "user_feedback:wrong_answer@0.9",
            "keyword:correction_feedback_markers",
            "fact_check:needs_fact_check@0.8",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_medium_code_general() {
    expect(
        "medium_code_general",
        &[
            "domain:computer science@0.9",
            "embedding:code_general@0.85",
            "keyword:code_request_markers",
            "complexity:code_task:medium",
            "complexity:general_reasoning:hard",
            "structure:low_question_density",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_verified_business() {
    expect(
        "verified_business",
        &[
            "domain:business@0.9",
            "embedding:business_analysis@0.85",
            "keyword:verification_markers",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_medium_business() {
    expect(
        "medium_business",
        &[
            "domain:business@0.9",
            "embedding:business_analysis@0.85",
            "complexity:general_reasoning:hard",
            "complexity:evidence_synthesis:medium",
            "complexity:agentic_delivery:medium",
            "structure:low_question_density",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_verified_health() {
    expect(
        "verified_health",
        &[
            "domain:health@0.9",
            "embedding:health_guidance@0.85",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_verified_history() {
    expect(
        "verified_history",
        &[
            "domain:history@0.9",
            "embedding:history_explainer@0.85",
            "keyword:verification_markers",
            "keyword:reference_heavy_markers",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_medium_history() {
    expect(
        "medium_history",
        &[
            "domain:history@0.9",
            "embedding:history_explainer@0.85",
            "keyword:history_topic_markers",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_medium_psychology() {
    expect(
        "medium_psychology",
        &[
            "domain:psychology@0.9",
            "embedding:psychology_support@0.85",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_engaged_general() {
    // No domain and no embedding: the partitions synthesize `other` and `general_chat_fallback`.
    expect(
        "engaged_general",
        &[
            "keyword:emotion_negative_markers",
            "structure:exclamation_emphasis@0.5",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_medium_creative() {
    expect(
        "medium_creative",
        &[
            "keyword:creative_request_markers",
            "embedding:creative_tasks@0.85",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_reasoning_general() {
    expect(
        "reasoning_general",
        &[
            "embedding:reasoning_general_en@0.9",
            "keyword:reasoning_request_markers",
            "complexity:general_reasoning:hard",
            "structure:low_question_density",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn tier_16_tie_goes_to_confidence() {
    let Some(p) = profile() else { return };
    // Both tier-16 decisions match; the more confident one wins although its priority is lower.
    let r = decide(
        p,
        &[
            "keyword:creative_request_markers",
            "keyword:reasoning_request_markers",
            "embedding:reasoning_general_en@0.95",
            "language:en",
            "context:short_context",
        ],
    );
    let matched: Vec<&str> = r
        .decisions
        .evaluated
        .iter()
        .filter(|d| d.matched)
        .map(|d| &*d.name)
        .collect();
    assert!(
        matched.contains(&"medium_creative") && matched.contains(&"reasoning_general"),
        "{matched:?}"
    );
    let conf = |n: &str| {
        r.decisions
            .evaluated
            .iter()
            .find(|d| &*d.name == n)
            .map_or(0.0, |d| d.confidence)
    };
    let expected = if conf("reasoning_general") > conf("medium_creative") {
        "reasoning_general"
    } else {
        "medium_creative"
    };
    assert_eq!(r.decision.as_deref(), Some(expected));
    assert!(
        r.decisions.reason.contains("same tier 16"),
        "{}",
        r.decisions.reason
    );
}

#[test]
fn picks_feedback_need_clarification() {
    expect(
        "feedback_need_clarification",
        &[
            "keyword:clarification_feedback_markers",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_verified_fast_qa_zh() {
    expect(
        "verified_fast_qa_zh",
        &[
            "embedding:fast_qa_zh@0.9",
            "keyword:verification_markers",
            "language:zh",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_simple_fast_qa_zh() {
    expect(
        "simple_fast_qa_zh",
        &[
            "embedding:fast_qa_zh@0.9",
            "keyword:simple_request_markers",
            "language:zh",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_verified_fast_qa_en() {
    expect(
        "verified_fast_qa_en",
        &[
            "embedding:fast_qa_en@0.9",
            "fact_check:needs_fact_check@0.8",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_simple_fast_qa_en() {
    expect(
        "simple_fast_qa_en",
        &[
            "embedding:fast_qa_en@0.9",
            "keyword:simple_request_markers",
            "language:en",
            "context:short_context",
        ],
    );
}

#[test]
fn picks_simple_general() {
    expect(
        "simple_general",
        &[
            "structure:low_question_density",
            "language:en",
            "context:short_context",
        ],
    );
}

/// The heuristic families on real probe texts (no learned stubs involved).
#[test]
fn heuristic_signals_on_probe_texts() {
    let Some(p) = profile() else { return };
    let r = p
        .engine
        .route_text("Who are you? Answer briefly.", EvalMode::All);
    let s = &r.signals;
    assert!(s.is_matched(Family::Keyword, "simple_request_markers"));
    assert!(s.is_matched(Family::Context, "short_context"));
    assert!(s.is_matched(Family::Language, "en"));
    assert!(!s.is_matched(Family::Structure, "low_question_density"));
    assert!(!s.is_matched(Family::Structure, "many_questions"));

    // v0.3 keyword semantics (the profile sets no `keyword_match`): only the first matching
    // rule in declaration order fires, so `urgency_markers` (declared after
    // `emotion_negative_markers`) stays unmatched although "right now" is one of its keywords.
    let r = p.engine.route_text(
        "I am overwhelmed right now!! Help me write a calm message to my landlord.",
        EvalMode::All,
    );
    let s = &r.signals;
    assert!(s.is_matched(Family::Keyword, "emotion_negative_markers"));
    assert!(!s.is_matched(Family::Keyword, "urgency_markers"));
    assert!(s.is_matched(Family::Structure, "exclamation_emphasis"));
    // "write" alone is not "write the implementation".
    assert!(!s.is_matched(Family::Keyword, "implementation_markers"));

    // Chinese is matched as Chinese: no pinyin overlap with unrelated rules.
    let r = p
        .engine
        .route_text("水的化学式是什么？请简短回答。", EvalMode::All);
    let s = &r.signals;
    assert!(s.is_matched(Family::Keyword, "simple_request_markers"));
    assert!(s.is_matched(Family::Language, "zh"));
    for rule in [
        "history_topic_markers",
        "implementation_markers",
        "legal_risk_markers",
    ] {
        assert!(
            !s.is_matched(Family::Keyword, rule),
            "{rule} must not match"
        );
    }
}
