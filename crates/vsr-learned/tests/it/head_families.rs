//! The August-2026 signal families on the real encoder: reask on a real re-ask and not on a
//! topic change (the feedback recipe's rules), conversation facts of a tool loop (the agent
//! recipe), kb labels of texts and the quality of our built-in banks on the original's
//! exemplars (a different source than ours).

use vsr_engine::EvalMode;
use vsr_learned::build_router;
use vsr_learned::kb::KbClassifier;
use vsr_signals::{ChatMessage, Family, RequestView};

fn recipe(name: &str) -> Option<vsr_config::Config> {
    let path = vsr_testkit::shared_file(&format!(
        "reference/upstream-head-2026-08/{name}/config.yaml"
    ))?;
    Some(vsr_config::load_file(&path).expect("recipe loads").config)
}

fn messages(v: serde_json::Value) -> RequestView {
    let ms: Vec<ChatMessage> = serde_json::from_value(v).expect("messages");
    RequestView::from_messages(&ms)
}

const RECIPES: [&str; 8] = [
    "accuracy",
    "agent",
    "balance",
    "feedback",
    "knowledge",
    "mom-v1",
    "multi-objective",
    "privacy",
];

#[test]
fn every_august_recipe_builds_a_router_for_each_profile() {
    let Some(models) = crate::models() else {
        return;
    };
    for name in RECIPES {
        let Some(cfg) = recipe(name) else {
            return;
        };
        assert!(cfg.uses_head_schema(), "{name}");
        let mut profiles: Vec<Option<&str>> = vec![None];
        profiles.extend(cfg.recipes.iter().map(|r| Some(r.name.as_str())));
        for p in profiles {
            let router = vsr_learned::build_recipe_router(&cfg, p, &models)
                .unwrap_or_else(|e| panic!("{name}/{p:?}: {e}"));
            assert!(
                router
                    .engine()
                    .missing_families()
                    .iter()
                    .all(|f| f == Family::Classifier),
                "{name}/{p:?}: families without runtime: {:?}",
                router
                    .engine()
                    .missing_families()
                    .iter()
                    .collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn feedback_recipe_reask_fires_on_a_re_ask_and_not_on_a_topic_change() {
    let (Some(models), Some(cfg)) = (crate::models(), recipe("feedback")) else {
        return;
    };
    let router = build_router(&cfg, &models).expect("router");
    let reask = |v: &RequestView, name: &str| {
        router
            .route(v, EvalMode::All)
            .signals
            .is_matched(Family::Reask, name)
    };
    let repeated = messages(serde_json::json!([
        {"role": "user", "content": "How do I reset my router to factory settings?"},
        {"role": "assistant", "content": "Unplug it and plug it back in."},
        {"role": "user", "content": "How can I reset my router back to its factory settings?"}
    ]));
    assert!(reask(&repeated, "likely_dissatisfied"));
    assert!(!reask(&repeated, "persistently_dissatisfied"));
    let twice = messages(serde_json::json!([
        {"role": "user", "content": "How do I reset my router to factory settings?"},
        {"role": "assistant", "content": "Unplug it."},
        {"role": "user", "content": "How do I reset the router to factory settings?"},
        {"role": "assistant", "content": "Hold the button."},
        {"role": "user", "content": "How can I reset my router back to its factory settings?"}
    ]));
    // The two-turn rule wins and the one-turn rule is dropped.
    assert!(reask(&twice, "persistently_dissatisfied"));
    assert!(!reask(&twice, "likely_dissatisfied"));
    let topic_change = messages(serde_json::json!([
        {"role": "user", "content": "How do I reset my router to factory settings?"},
        {"role": "assistant", "content": "Hold the reset button for ten seconds."},
        {"role": "user", "content": "Thanks. What is a good recipe for banana bread?"}
    ]));
    assert!(!reask(&topic_change, "likely_dissatisfied"));
    // A single text has no earlier turn.
    assert!(!reask(
        &RequestView::from_text("How do I reset my router?"),
        "likely_dissatisfied"
    ));
}

#[test]
fn agent_recipe_conversation_facts_of_a_tool_loop() {
    let (Some(models), Some(cfg)) = (crate::models(), recipe("agent")) else {
        return;
    };
    let router = build_router(&cfg, &models).expect("router");
    let view = messages(serde_json::json!([
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": "Run the tests and fix what fails."},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "run_tests", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "2 failed"}
    ]))
    .with_tools(2);
    let r = router.route(&view, EvalMode::All);
    let conv = r.signals.family(Family::Conversation);
    assert!(conv.evaluated);
    let matched: Vec<&str> = conv
        .signals
        .iter()
        .filter(|s| s.matched)
        .map(|s| &*s.name)
        .collect();
    assert!(
        !matched.is_empty(),
        "no conversation rule matched a tool loop"
    );
    let plain = router.route(&RequestView::from_text("hello"), EvalMode::All);
    let plain_matched = plain
        .signals
        .family(Family::Conversation)
        .signals
        .iter()
        .filter(|s| s.matched)
        .count();
    assert!(plain_matched < matched.len(), "{matched:?}");
}

#[test]
fn knowledge_recipe_kb_labels_and_metric() {
    let (Some(models), Some(cfg)) = (crate::models(), recipe("knowledge")) else {
        return;
    };
    let router = build_router(&cfg, &models).expect("router");
    let r = router.route(
        &RequestView::from_text(
            "What does the Krebs cycle produce in a cell, and where does it happen?",
        ),
        EvalMode::All,
    );
    assert!(
        r.signals.is_matched(Family::Kb, "best_biology"),
        "{:?}",
        r.signals.family(Family::Kb)
    );
    let metric = r
        .signals
        .get(Family::KbMetric, "mmlu_kb:escalate_vs_keep")
        .expect("metric declared");
    assert!(metric.value > 0.0, "biology escalates: {}", metric.value);
    let r = router.route(
        &RequestView::from_text("Is a verbal agreement to sell a house an enforceable contract?"),
        EvalMode::All,
    );
    assert!(
        r.signals.is_matched(Family::Kb, "best_law"),
        "{:?}",
        r.signals.family(Family::Kb)
    );
    let metric = r
        .signals
        .get(Family::KbMetric, "mmlu_kb:escalate_vs_keep")
        .expect("metric");
    assert!(metric.value < 0.0, "law keeps: {}", metric.value);
}

/// Our banks classify the original project's exemplars (written by others) to the same
/// label: top-1 accuracy over every exemplar of theirs (measured 0.562 for MMLU and 0.602 for privacy with USE-m3;
/// the floors sit below what we measure, as a regression guard).
#[test]
fn built_in_banks_classify_the_originals_exemplars() {
    let Some(models) = crate::models() else {
        return;
    };
    let space = models.space.clone().expect("space");
    for (kb, dir, floor) in [("mmlu_kb", "mmlu", 0.5), ("privacy_kb", "privacy", 0.5)] {
        let Some(path) = vsr_testkit::shared_file(&format!(
            "reference/upstream-head-2026-08/knowledge_bases/{dir}/labels.json"
        )) else {
            return;
        };
        let theirs = vsr_config::KbManifest::parse(&std::fs::read_to_string(path).expect("read"))
            .expect("their manifest");
        let catalog = vsr_config::kb::builtin_kbs();
        let def = catalog.iter().find(|k| k.name == kb).expect("built-in");
        let ours = KbClassifier::build(&space, def).expect("bank");
        let our_labels: Vec<&str> = ours.label_names().collect();
        let mut their_labels: Vec<&str> = theirs.labels.keys().map(String::as_str).collect();
        their_labels.sort();
        let mut sorted = our_labels.clone();
        sorted.sort();
        assert_eq!(sorted, their_labels, "{kb}: label names differ");
        let (mut right, mut total) = (0usize, 0usize);
        for (label, l) in &theirs.labels {
            for e in &l.exemplars {
                let q = space.embed_query(e).expect("embed");
                let s = ours.classify(&space, &q);
                total += 1;
                if s.best_label.map(|i| s.labels[i].0.as_str()) == Some(label.as_str()) {
                    right += 1;
                }
            }
        }
        let acc = right as f64 / total as f64;
        println!("{kb}: {right}/{total} = {acc:.3} top-1 on the original's exemplars");
        assert!(acc >= floor, "{kb}: accuracy {acc:.3} below {floor}");
    }
}

#[test]
fn feedback_recipe_reask_on_identical_chinese_turns() {
    let (Some(models), Some(cfg)) = (crate::models(), recipe("feedback")) else {
        return;
    };
    let router = build_router(&cfg, &models).expect("router");
    let v = messages(serde_json::json!([
        {"role": "user", "content": "请问如何证明勾股定理？"},
        {"role": "assistant", "content": "可以用直角三角形面积法来解释。"},
        {"role": "user", "content": "请问如何证明勾股定理？"},
        {"role": "assistant", "content": "也可以从相似三角形出发。"},
        {"role": "user", "content": "请问如何证明勾股定理？"}
    ]));
    let r = router.route(&v, EvalMode::All);
    let fam = r.signals.family(Family::Reask);
    assert!(
        r.signals
            .is_matched(Family::Reask, "persistently_dissatisfied"),
        "{fam:?}"
    );
}
