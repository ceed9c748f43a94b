//! The shipped heads on real USE-m3 embeddings, scored on held-out sets written for this
//! project (`tests/data/`, never used in training; docs/models.md has the full figures).
use std::path::Path;

use vsr_models::{Encoder, Head};

use crate::usem3;

fn held_out(name: &str) -> Vec<(String, String)> {
    vsr_testkit::labelled_rows(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
}

#[test]
fn domain_head_classifies_the_held_out_chinese_set() {
    let Some(m) = usem3() else { return };
    let head = Head::shipped(m.model_id(), "domain").expect("domain head ships");
    assert_eq!(head.labels.len(), 14);
    assert_eq!(head.dim(), m.dim());
    let rows = held_out("domain_zh.tsv");
    let texts: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let emb = m.embed(&texts).unwrap();
    let mut correct = 0;
    for ((label, text), e) in rows.iter().zip(&emb) {
        let got = &head.labels[head.predict(e).unwrap().best];
        if got == label {
            correct += 1;
        } else {
            println!("miss: {label} → {got}: {text}");
        }
    }
    println!(
        "domain top-1 on the Chinese held-out set: {correct}/{}",
        rows.len()
    );
    assert!(correct * 100 >= rows.len() * 80, "{correct}/{}", rows.len());
}

#[test]
fn jailbreak_head_flags_held_out_injections_and_passes_benign_requests() {
    let Some(m) = usem3() else { return };
    let head = Head::shipped(m.model_id(), "jailbreak").expect("jailbreak head ships");
    let mut rows = held_out("jailbreak_heldout.tsv");
    // Benign Chinese questions must not trip it either.
    rows.extend(
        held_out("domain_zh.tsv")
            .into_iter()
            .map(|(_, t)| ("benign".to_string(), t)),
    );
    let (mut tp, mut pos, mut fp, mut neg) = (0, 0, 0, 0);
    for (label, text) in &rows {
        let p = head.probability(&m.embed(&[text.as_str()]).unwrap()[0], "jailbreak");
        let flagged = p >= 0.5;
        if label == "jailbreak" {
            pos += 1;
            tp += usize::from(flagged);
        } else {
            neg += 1;
            fp += usize::from(flagged);
        }
        if flagged != (label == "jailbreak") {
            println!("wrong {p:.2} ({label}): {text}");
        }
    }
    println!("jailbreak held-out: detected {tp}/{pos}, false positives {fp}/{neg}");
    assert!(tp * 100 >= pos * 95, "recall {tp}/{pos}");
    assert!(fp * 100 <= neg * 5, "false positives {fp}/{neg}");
}
