//! Fits the similarity calibration of a model (see docs/models.md):
//! `cargo run --release -p vsr-models --example calibrate [-- OUT.json]`
//! (default OUT: crates/vsr-models/calibration/<model>.json; the model is USE-m3 or the
//! catalog model named by `VSR_MODEL`, e.g. `e5-small`).
//!
//! Raw cosines of the labelled pairs in `calibration/pairs.tsv` are summarised by
//! quantiles per class, and each quantile is pinned to where the same class sits on the
//! reference embedder's scale (the TARGETS below). Knots that would break monotonicity are
//! dropped, so the result is always a strictly increasing map.
use std::path::PathBuf;

use vsr_models::calibration::Calibration;
use vsr_models::{catalog, dot};

/// (class, quantile, calibrated value): where each pair class sits on the reference
/// (768-d mmBERT) scale that the profile thresholds (0.70-0.85) were tuned on.
const TARGETS: [(&str, f32, f32); 7] = [
    ("unrelated", 0.50, 0.35),
    ("unrelated", 0.95, 0.55),
    ("related", 0.50, 0.65),
    ("paraphrase", 0.10, 0.72),
    ("paraphrase", 0.50, 0.82),
    ("paraphrase", 0.90, 0.90),
    ("paraphrase", 1.00, 0.95),
];

fn quantile(sorted: &[f32], q: f32) -> f32 {
    let pos = q * (sorted.len() - 1) as f32;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (pos - lo as f32) * (sorted[hi] - sorted[lo])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let id = std::env::var("VSR_MODEL").unwrap_or_else(|_| catalog::DEFAULT_MODEL.to_string());
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(format!("calibration/{id}.json")));
    let text = std::fs::read_to_string(root.join("calibration/pairs.tsv"))?;
    let mut pairs: Vec<(String, String, String)> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 3 {
            return Err(format!("bad line: {line}").into());
        }
        pairs.push((f[0].into(), f[1].into(), f[2].into()));
    }
    // Unrelated pairs: first sentence of paraphrase i with second sentence of pair i+7
    // (a fixed derangement; skipped when both share the first sentence's topic).
    let para: Vec<_> = pairs
        .iter()
        .filter(|p| p.0 == "paraphrase")
        .cloned()
        .collect();
    for i in 0..para.len() {
        let j = (i + 7) % para.len();
        if para[i].1 != para[j].1 {
            pairs.push(("unrelated".into(), para[i].1.clone(), para[j].2.clone()));
        }
    }
    let dir = catalog::find_model(&id)
        .ok_or_else(|| format!("{id} not installed: vllm-sr models fetch {id}"))?;
    let model = vsr_models::load_dir(&dir, &id)?;
    let mut by_class: std::collections::BTreeMap<String, Vec<f32>> = Default::default();
    for (class, a, b) in &pairs {
        let v = model.embed(&[a, b])?;
        by_class
            .entry(class.clone())
            .or_default()
            .push(dot(&v[0], &v[1]));
    }
    for v in by_class.values_mut() {
        v.sort_by(f32::total_cmp);
    }
    for (c, v) in &by_class {
        println!(
            "{c:<10} n={:<3} min {:.3} p10 {:.3} p50 {:.3} p90 {:.3} max {:.3}",
            v.len(),
            v[0],
            quantile(v, 0.1),
            quantile(v, 0.5),
            quantile(v, 0.9),
            v[v.len() - 1]
        );
    }
    let mut knots: Vec<[f32; 2]> = vec![[-1.0, -1.0]];
    let mut targets: Vec<[f32; 2]> = TARGETS
        .iter()
        .map(|(c, q, y)| [quantile(&by_class[*c], *q), *y])
        .collect();
    targets.sort_by(|a, b| a[1].total_cmp(&b[1]));
    for t in targets {
        let last = knots[knots.len() - 1];
        if t[0] > last[0] + 1e-3 && t[1] > last[1] && t[0] < 1.0 {
            knots.push([(t[0] * 1e4).round() / 1e4, t[1]]);
        } else {
            println!("dropped knot {t:?} (would not be increasing)");
        }
    }
    knots.push([1.0, 1.0]);
    let cal = Calibration {
        model: model.model_id().to_string(),
        points: knots,
        method: "quantile anchors on calibration/pairs.tsv (examples/calibrate.rs): \
                 unrelated p50->0.35 p95->0.55, related p50->0.65, paraphrase p10->0.72 \
                 p50->0.82 p90->0.90 max->0.95"
            .into(),
    };
    cal.validate()?;
    for (c, v) in &by_class {
        let above = v.iter().filter(|&&x| cal.apply(x) >= 0.70).count();
        println!("{c:<10} calibrated >= 0.70: {above}/{}", v.len());
    }
    std::fs::write(&out, serde_json::to_string_pretty(&cal)? + "\n")?;
    println!("wrote {}", out.display());
    Ok(())
}
