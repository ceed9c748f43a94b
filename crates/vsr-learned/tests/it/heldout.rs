//! Held-out quality of the shipped heads and example sets (sets written for this project,
//! never used in training).
use vsr_learned::LinearHead;
use vsr_learned::domain::MMLU_PRO_LABELS;
use vsr_learned::prototypes::parse_examples;

fn data(name: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    parse_examples(&std::fs::read_to_string(path).expect("data file")).expect("tsv")
}

#[test]
fn domain_head_on_chinese_heldout() {
    let Some(models) = crate::models() else {
        return;
    };
    let (space, head) = (
        models.space.expect("space"),
        models.domain_head.expect("head"),
    );
    let set = data("domain_zh.tsv");
    let mut ok = 0;
    for (label, text) in &set {
        let x = space.embed_query(text).expect("embeds");
        let p = head.probabilities(&x);
        let best = p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        if best.map(|i| head.labels[i].as_str()) == Some(label.as_str()) {
            ok += 1;
        } else {
            println!("miss: {label}: {text}");
        }
    }
    let acc = ok as f64 / set.len() as f64;
    println!(
        "domain top-1 on Chinese held-out: {ok}/{} = {acc:.3}",
        set.len()
    );
    assert_eq!(head.labels.len(), MMLU_PRO_LABELS.len());
    assert!(acc >= 0.8, "domain zh accuracy {acc}");
}

#[test]
fn jailbreak_head_on_heldout() {
    let Some(models) = crate::models() else {
        return;
    };
    let space = models.space.expect("space");
    let head: LinearHead = models.jailbreak_head.expect("head");
    let j = head.label_index("jailbreak").expect("label");
    let set = data("jailbreak_heldout.tsv");
    let (mut tp, mut pos, mut fp, mut neg) = (0, 0, 0, 0);
    for (label, text) in &set {
        let p = head.probabilities(&space.embed_query(text).expect("embeds"))[j];
        if label == "jailbreak" {
            pos += 1;
            tp += usize::from(p >= 0.5);
        } else {
            neg += 1;
            fp += usize::from(p >= 0.5);
            if p >= 0.5 {
                println!("false positive {p:.2}: {text}");
            }
        }
    }
    println!("jailbreak held-out: detected {tp}/{pos}, false positives {fp}/{neg}");
    assert!(tp as f64 / pos as f64 >= 0.95);
    assert!(fp as f64 / neg as f64 <= 0.05);
}

/// Every probe prompt (ours, and the reference ones when ../shared is present) is a benign
/// request: the jailbreak head must not flag them at the reference profile's standard
/// threshold (0.65).
#[test]
fn benign_probe_prompts_do_not_trip_the_jailbreak_head() {
    let Some(models) = crate::models() else {
        return;
    };
    let space = models.space.expect("space");
    let head: LinearHead = models.jailbreak_head.expect("head");
    let j = head.label_index("jailbreak").expect("label");
    let mut files =
        vec![vsr_testkit::workspace_root().join("profiles/balance/balance.probes.yaml")];
    files.extend(vsr_testkit::shared_file(
        "reference/upstream-amd-2026-03/balance.probes.yaml",
    ));
    let (mut n, mut flagged) = (0, 0);
    for f in files {
        let v: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(f).expect("manifest")).expect("yaml");
        for g in v["decisions"].as_sequence().into_iter().flatten() {
            for p in g["variants"].as_sequence().into_iter().flatten() {
                let q = p["query"].as_str().expect("query");
                let pj = head.probabilities(&space.embed_query(q).expect("embeds"))[j];
                n += 1;
                if pj >= 0.65 {
                    flagged += 1;
                    println!("flagged {pj:.2}: {q}");
                }
            }
        }
    }
    println!("benign probe prompts flagged as jailbreak: {flagged}/{n}");
    // Target: at most 5%. Today 10/104 (9.6%); this guards against regressions above 10%.
    assert!(flagged * 10 <= n, "{flagged}/{n} benign prompts flagged");
}
