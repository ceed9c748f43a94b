//! Rampart (PII token classifier) on the package's own 4-bit ONNX file, dequantised at load.
//! The expected labels are what onnxruntime 1.32 gives on the same file (argmax per token;
//! `scripts/verify_rampart.py` compares the logits on more texts);
//! the test needs the model (`vllm-sr models fetch rampart`) and skips with a notice without.
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use vsr_models::rampart::RAMPART_FILE;
use vsr_models::{RAMPART_ID, Rampart, catalog};

fn rampart() -> Option<Arc<Rampart>> {
    static MODEL: OnceLock<Option<Arc<Rampart>>> = OnceLock::new();
    let m = MODEL.get_or_init(|| {
        let dir = catalog::find_model(RAMPART_ID).or_else(|| {
            let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/rampart");
            catalog::is_installed(&d).then_some(d)
        })?;
        Some(Arc::new(
            Rampart::load(&dir).expect("installed model loads"),
        ))
    });
    if m.is_none() {
        vsr_testkit::missing("rampart not installed (run `vllm-sr models fetch rampart`)");
    }
    m.clone()
}

fn found(text: &str) -> Vec<(&'static str, String)> {
    let Some(m) = rampart() else {
        return Vec::new();
    };
    m.spans(text, 0.5)
        .expect("runs")
        .into_iter()
        .map(|s| (s.label, text[s.start..s.end].to_string()))
        .collect()
}

#[test]
fn agrees_with_onnxruntime_on_names_addresses_and_phones() {
    if rampart().is_none() {
        return;
    }
    let text = "Can you draft a thank-you note to Norma Fisher for hosting the workshop?";
    assert_eq!(
        found(text),
        [("GIVEN_NAME", "Norma".into()), ("SURNAME", "Fisher".into())]
    );
    let text = "The venue is at 221 Baker Street, London. Call +44 20 7946 0958.";
    assert_eq!(
        found(text),
        [
            ("BUILDING_NUMBER", "221".into()),
            ("STREET_NAME", "Baker Street".into()),
            ("CITY", "London".into()),
            ("PHONE", "+44 20 7946 0958".into()),
        ]
    );
    assert!(found("如何用Python读取一个CSV文件？").is_empty());
}

#[test]
fn long_inputs_are_windowed_and_spans_stay_in_range() {
    let Some(m) = rampart() else { return };
    let text = format!(
        "{} Please forward this to Norma Fisher.",
        "The quarterly numbers look fine overall. ".repeat(120)
    );
    let spans = m.spans(&text, 0.5).expect("runs");
    assert!(
        spans
            .iter()
            .all(|s| text.is_char_boundary(s.start) && s.end <= text.len())
    );
    assert!(
        spans.iter().any(|s| &text[s.start..s.end] == "Fisher"),
        "{spans:?}"
    );
}

#[test]
fn a_truncated_model_file_is_a_format_error() {
    let dir = vsr_testkit::TempDir::new("rampart-bad");
    std::fs::write(dir.path().join(RAMPART_FILE), b"\x3a\xff\xff not onnx").unwrap();
    std::fs::write(dir.path().join("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n").unwrap();
    let err = Rampart::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains(RAMPART_FILE), "{err}");
}
