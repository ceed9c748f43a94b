//! Integration tests of vsr-signals: every heuristic family on arbitrary input.

use proptest::prelude::*;
use vsr_signals::{
    Bounds, ContextFamily, ContextRuleSpec, FeatureKind, KeywordFamily, KeywordMatch,
    KeywordMethod, KeywordOperator, KeywordRuleSpec, LanguageFamily, RequestContext, RequestView,
    SignalFamily, SignalResult, SourceSpec, StructureFamily, StructureRuleSpec,
};

fn families() -> Vec<Box<dyn SignalFamily>> {
    let kw = |name: &str, method: KeywordMethod, operator: KeywordOperator, fuzzy: bool| {
        KeywordRuleSpec {
            name: name.into(),
            operator,
            method,
            fuzzy_match: fuzzy,
            keywords: vec![
                "urgent".into(),
                "stack trace".into(),
                "合同条款".into(),
                "ça".into(),
                "tl;dr".into(),
            ],
            ..Default::default()
        }
    };
    let keywords = KeywordFamily::new(&[
        kw("phrase", KeywordMethod::Phrase, KeywordOperator::Or, false),
        kw("fuzzy", KeywordMethod::Phrase, KeywordOperator::And, true),
        kw("bm25", KeywordMethod::Bm25, KeywordOperator::Or, false),
        kw("ngram", KeywordMethod::Ngram, KeywordOperator::Nor, false),
    ])
    .expect("valid keyword rules")
    .with_match(KeywordMatch::All);
    let st = |name: &str, feature, source| StructureRuleSpec {
        name: name.into(),
        feature,
        source,
        case_sensitive: false,
        predicate: if feature == FeatureKind::Density {
            Bounds {
                lt: Some(0.05),
                ..Bounds::default()
            }
        } else {
            Bounds::default()
        },
    };
    let structure = StructureFamily::new(&[
        st(
            "q",
            FeatureKind::Count,
            SourceSpec::Regex {
                pattern: "[?？]".into(),
            },
        ),
        st(
            "d",
            FeatureKind::Density,
            SourceSpec::KeywordSet {
                keywords: vec!["json".into(), "表格".into()],
            },
        ),
        st(
            "s",
            FeatureKind::Sequence,
            SourceSpec::Sequence {
                sequences: vec![
                    vec!["first".into(), "then".into()],
                    vec!["先".into(), "再".into()],
                ],
            },
        ),
    ])
    .expect("valid structure rules");
    let context = ContextFamily::new(&[ContextRuleSpec {
        name: "short".into(),
        min_tokens: 0,
        max_tokens: Some(999),
    }]);
    let language = LanguageFamily::new(["en", "zh", "es", "fr", "de", "ja", "ko", "ru"]);
    vec![
        Box::new(keywords),
        Box::new(structure),
        Box::new(context),
        Box::new(language),
    ]
}

fn evaluate(families: &[Box<dyn SignalFamily>], view: &RequestView) -> Vec<SignalResult> {
    let ctx = RequestContext::new(view);
    let mut all = Vec::new();
    for f in families {
        let mut out: Vec<SignalResult> = f
            .signal_names()
            .into_iter()
            .map(|n| SignalResult::unmatched(n.into()))
            .collect();
        f.evaluate(&ctx, &mut out)
            .expect("heuristic families do not fail");
        all.extend(out);
    }
    all
}

#[test]
fn mixed_language_prompt() {
    let fams = families();
    let view = RequestView::from_text("先看 stack trace，再判断：这是 urgent 的合同条款问题吗？");
    let r = evaluate(&fams, &view);
    let matched: Vec<&str> = r.iter().filter(|s| s.matched).map(|s| &*s.name).collect();
    for name in ["phrase", "bm25", "q", "s", "short", "zh"] {
        assert!(matched.contains(&name), "{name} should match: {matched:?}");
    }
}

proptest! {
    #[test]
    fn any_text_is_safe_and_confidences_are_bounded(text in "\\PC{0,200}") {
        let fams = families();
        let view = RequestView::from_text(text);
        for s in evaluate(&fams, &view) {
            prop_assert!((0.0..=1.0).contains(&s.confidence), "{} {}", s.name, s.confidence);
            prop_assert!(s.matched || s.confidence == 0.0);
            prop_assert!(s.value.is_finite());
        }
    }

    #[test]
    fn any_chat_body_is_viewed_or_rejected_without_panic(
        roles in proptest::collection::vec(prop_oneof!["user", "system", "assistant", "tool", ""], 0..6),
        texts in proptest::collection::vec("\\PC{0,40}", 0..6),
        as_parts in any::<bool>(),
    ) {
        let messages: Vec<serde_json::Value> = roles
            .iter()
            .zip(texts.iter())
            .map(|(r, t)| {
                let content = if as_parts {
                    serde_json::json!([{"type": "text", "text": t}, {"type": "image_url", "image_url": {"url": "x"}}])
                } else {
                    serde_json::json!(t)
                };
                serde_json::json!({"role": r, "content": content})
            })
            .collect();
        let parsed: Vec<vsr_signals::ChatMessage> =
            serde_json::from_value(serde_json::Value::Array(messages)).expect("messages parse");
        let view = RequestView::from_messages(&parsed);
        let total: u64 = texts.iter().take(roles.len()).map(|t| vsr_signals::text::estimate_tokens(t)).sum();
        prop_assert_eq!(view.token_count, total);
    }
}
