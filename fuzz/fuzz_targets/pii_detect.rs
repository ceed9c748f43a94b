//! The PII recognisers and redaction on arbitrary text: spans must lie on character boundaries
//! inside the text, and redaction must leave no detected value behind.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let found = vsr_pii::detect(text, &vsr_pii::DetectOptions::default());
    for m in &found {
        assert!(m.start <= m.end && m.end <= text.len(), "span out of range");
        assert!(text.is_char_boundary(m.start) && text.is_char_boundary(m.end), "span splits a character");
    }
    let _ = vsr_pii::redact(text, &found, vsr_pii::RedactStyle::default());
});
