//! Detection and false-positive rates on our own held-out set (tests/data/heldout.jsonl).
//!
//! The set was written before the recognisers: EN and ZH sentences with positives of every
//! detected type and hard negatives (dates, versions, order numbers, phone-like arithmetic,
//! 16-digit non-Luhn numbers, invalid checksums, benign code). Run with `--nocapture` to see the
//! per-type table.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use vsr_pii::{DetectOptions, PiiType, detect};

#[derive(Deserialize)]
struct Row {
    id: String,
    lang: String,
    text: String,
    pii: Vec<Label>,
}

#[derive(Deserialize)]
struct Label {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

#[derive(Default)]
struct Tally {
    labelled: usize,
    detected: usize,
    /// Sentences without a label of this type.
    negative_sentences: usize,
    /// Of those, sentences where this type was reported anyway.
    false_positive_sentences: usize,
    /// Matches of this type overlapping no label of this type (in any sentence).
    spurious_matches: usize,
}

fn load() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/heldout.jsonl");
    let body = std::fs::read_to_string(&path).expect("read heldout.jsonl");
    body.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}", i + 1)))
        .collect()
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[test]
fn heldout_detection_and_false_positive_rates() {
    let rows = load();
    assert!(
        rows.len() >= 150,
        "held-out set has {} sentences",
        rows.len()
    );
    let opts = DetectOptions::default();
    let mut tallies: BTreeMap<PiiType, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut sentences_with_fp, mut negatives, mut negatives_with_fp) = (0, 0, 0);
    let mut langs: BTreeMap<String, usize> = BTreeMap::new();

    for row in &rows {
        *langs.entry(row.lang.clone()).or_default() += 1;
        let found = detect(&row.text, &opts);
        let labels: Vec<(PiiType, (usize, usize))> = row
            .pii
            .iter()
            .map(|l| {
                let kind = PiiType::from_config_name(&l.kind)
                    .unwrap_or_else(|| panic!("{}: unknown type {}", row.id, l.kind));
                let start = row
                    .text
                    .find(&l.value)
                    .unwrap_or_else(|| panic!("{}: value not in text", row.id));
                (kind, (start, start + l.value.len()))
            })
            .collect();

        for (kind, span) in &labels {
            let t = tallies.entry(*kind).or_default();
            t.labelled += 1;
            if found
                .iter()
                .any(|m| m.kind == *kind && overlaps((m.start, m.end), *span))
            {
                t.detected += 1;
            } else {
                failures.push(format!(
                    "MISS {} {kind}: {:?}",
                    row.id,
                    &row.text[span.0..span.1]
                ));
            }
        }
        let mut any_fp = false;
        for kind in PiiType::DETECTED {
            let labelled_here = labels.iter().any(|(k, _)| *k == kind);
            let spurious = found
                .iter()
                .filter(|m| m.kind == kind)
                .filter(|m| {
                    !labels
                        .iter()
                        .any(|(k, s)| *k == kind && overlaps((m.start, m.end), *s))
                })
                .count();
            let t = tallies.entry(kind).or_default();
            t.spurious_matches += spurious;
            if !labelled_here {
                t.negative_sentences += 1;
                if spurious > 0 {
                    t.false_positive_sentences += 1;
                }
            }
            if spurious > 0 {
                any_fp = true;
                for m in found.iter().filter(|m| m.kind == kind) {
                    failures.push(format!("FP   {} {kind}: {:?}", row.id, m.as_str(&row.text)));
                }
            }
        }
        if any_fp {
            sentences_with_fp += 1;
        }
        if row.pii.is_empty() {
            negatives += 1;
            if any_fp {
                negatives_with_fp += 1;
            }
        }
    }

    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    println!(
        "\nvsr-pii held-out set: {} sentences {:?}, {} without PII",
        rows.len(),
        langs,
        negatives
    );
    println!(
        "{:<16} {:>8} {:>9} {:>10} {:>12} {:>10}",
        "type", "labelled", "detected", "detect %", "FP sent.", "FP rate %"
    );
    let (mut all_labelled, mut all_detected) = (0, 0);
    for (kind, t) in &tallies {
        all_labelled += t.labelled;
        all_detected += t.detected;
        println!(
            "{:<16} {:>8} {:>9} {:>9.1}% {:>6}/{:<5} {:>9.1}%",
            kind.as_config_name(),
            t.labelled,
            t.detected,
            pct(t.detected, t.labelled),
            t.false_positive_sentences,
            t.negative_sentences,
            pct(t.false_positive_sentences, t.negative_sentences),
        );
    }
    let detection = pct(all_detected, all_labelled);
    let fp_rate = pct(sentences_with_fp, rows.len());
    let neg_fp_rate = pct(negatives_with_fp, negatives);
    println!(
        "overall: detection {all_detected}/{all_labelled} = {detection:.1}%; sentences with any false positive {sentences_with_fp}/{} = {fp_rate:.1}%; PII-free sentences flagged {negatives_with_fp}/{negatives} = {neg_fp_rate:.1}%",
        rows.len()
    );
    for f in &failures {
        println!("  {f}");
    }
    assert!(detection >= 95.0, "overall detection {detection:.1}% < 95%");
    assert!(
        fp_rate <= 5.0,
        "overall false-positive rate {fp_rate:.1}% > 5%"
    );
    assert!(
        neg_fp_rate <= 5.0,
        "false positives on PII-free sentences {neg_fp_rate:.1}% > 5%"
    );
}
