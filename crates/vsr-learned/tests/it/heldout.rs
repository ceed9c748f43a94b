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
