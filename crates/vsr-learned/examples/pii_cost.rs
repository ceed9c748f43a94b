//! Cost per prompt of the pii recognisers, rules alone and rules + the Rampart classifier:
//! `cargo run --release -p vsr-learned --example pii_cost` (needs `vllm-sr models fetch
//! rampart`). Prompts: the rows of `data/eval/pii`, and ~2k-character prompts made of
//! consecutive benign rows. Prints p50/p99 in microseconds.
use std::time::Instant;

use vsr_learned::eval_suite::EvalSet;
use vsr_learned::pii::PiiDetector;

fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn time(detector: &PiiDetector, texts: &[String], rounds: usize) -> Vec<f64> {
    let mut us = Vec::with_capacity(texts.len() * rounds);
    for _ in 0..rounds {
        for t in texts {
            let start = Instant::now();
            std::hint::black_box(detector.detect(t));
            us.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    us
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/eval");
    let sets = EvalSet::discover(&dir, &["pii".to_string()])?;
    let short: Vec<String> = sets
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.1.clone()))
        .collect();
    let benign: Vec<&str> = sets
        .iter()
        .filter(|s| s.name == "benign")
        .flat_map(|s| s.rows.iter().map(|r| r.1.as_str()))
        .collect();
    let mut long = Vec::new();
    let mut cur = String::new();
    for t in benign.iter().cycle().take(benign.len() * 3) {
        cur.push_str(t);
        cur.push(' ');
        if cur.chars().count() >= 2000 {
            long.push(std::mem::take(&mut cur));
        }
    }
    let with = PiiDetector::installed();
    if !with.has_model() {
        return Err("rampart not installed (vllm-sr models fetch rampart)".into());
    }
    let rules = PiiDetector::rules_only();
    let mean_chars = short.iter().map(|t| t.chars().count()).sum::<usize>() / short.len();
    for (name, texts, rounds) in [
        (
            format!("eval rows (n={}, mean {mean_chars} chars)", short.len()),
            &short,
            3,
        ),
        (format!("~2k-char prompts (n={})", long.len()), &long, 3),
    ] {
        time(&with, &texts[..texts.len().min(8)], 1); // warm-up
        for (label, d) in [("rules", &rules), ("rules + rampart", &with)] {
            let (p50, p99) = percentiles(time(d, texts, rounds));
            println!("{name:40} {label:16} p50 {p50:9.0} µs  p99 {p99:9.0} µs");
        }
    }
    Ok(())
}
