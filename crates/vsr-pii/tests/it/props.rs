//! Property tests: arbitrary input never panics and always yields well-formed, non-overlapping
//! spans; redaction removes every detected value.

use proptest::prelude::*;
use vsr_pii::{DetectOptions, RedactStyle, detect, redact};

/// Text built from fragments that look like PII, separators and CJK, so the recognisers'
/// validation paths are exercised, not only their fast rejections.
fn pii_like() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        "[0-9]{1,19}",
        "[0-9 .\\-+()]{1,24}",
        "[A-Z]{2}[0-9]{2}[ A-Z0-9]{0,30}",
        "[a-z0-9._+]{1,10}@[a-z0-9.\\-]{1,12}",
        "[0-9a-f:]{1,30}",
        "(sk-|ghp_|AKIA|xoxb-|eyJ|api_key=|password: )[A-Za-z0-9_\\-.!]{0,50}",
        "(我叫|姓名：|I live in |my name is |Dr\\. )\\PC{0,8}",
        "\\PC{0,12}",
        // Unicode spaces, look-alike letters (KELVIN SIGN, long s) and non-ASCII digits next to
        // URL credentials and numbers.
        "[\u{3000}\u{a0} ][a-z]{0,4}:(//)?[a-z0-9]{0,6}@[a-z]{1,5}\\.com",
        "[\u{212a}\u{17f}\u{ff10}-\u{ff19}\u{660}-\u{669}kKsS0-9 ]{1,30}",
        "[我住在北京市朝阳区建国路号 0-9]{0,16}",
    ];
    prop::collection::vec(fragment, 0..8).prop_map(|v| v.concat())
}

fn check(text: &str) {
    let found = detect(text, &DetectOptions::default());
    let mut last_end = 0;
    for m in &found {
        assert!(m.start < m.end && m.end <= text.len());
        assert!(text.is_char_boundary(m.start) && text.is_char_boundary(m.end));
        assert!(m.start >= last_end, "overlap or unsorted: {found:?}");
        assert!((0.0..=1.0).contains(&m.confidence));
        last_end = m.end;
    }
    let placeholder = redact(text, &found, RedactStyle::TypePlaceholder);
    let masked = redact(text, &found, RedactStyle::Mask);
    assert_eq!(masked.chars().count(), text.chars().count());
    for m in &found {
        let value = m.as_str(text);
        if value.chars().count() >= 6 {
            assert!(!masked.contains(value), "{value:?} survived masking");
            assert!(!placeholder.contains(value) || text.matches(value).count() > 1);
        }
    }
    // Deterministic.
    assert_eq!(found, detect(text, &DetectOptions::default()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_unicode_is_safe(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn arbitrary_bytes_as_lossy_utf8_are_safe(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn pii_like_text_is_safe(text in pii_like()) {
        check(&text);
    }
}

/// Found by `pii_like_text_is_safe`: a cued password whose 10-byte preview prefix ended inside
/// a 4-byte character panicked in the redaction preview.
#[test]
fn a_preview_prefix_never_splits_a_character() {
    let text = "password: 姓名：𑊀sk-!A_A-A--_-aA_a";
    let found = detect(text, &DetectOptions::default());
    assert!(!found.is_empty());
    assert_eq!(
        redact(text, &found, RedactStyle::Mask).chars().count(),
        text.chars().count()
    );
}
