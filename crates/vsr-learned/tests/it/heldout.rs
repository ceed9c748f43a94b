//! The shipped heads (vsr-models) against the router's own traffic: the probe prompts, and
//! the request-style held-out sets of vsr-models (`crates/vsr-models/tests/data/`, never
//! trained on). Held-out accuracy on MMLU and Chinese is tested in vsr-models
//! (`tests/it/heads.rs`).
use vsr_learned::{ModelSet, Space};
use vsr_models::{Head, VoteParams};

/// `label<TAB>text` rows of a vsr-models held-out file.
fn held_out(name: &str) -> Vec<(String, String)> {
    vsr_testkit::labelled_rows(
        &vsr_testkit::workspace_root()
            .join("crates/vsr-models/tests/data")
            .join(name),
    )
}

/// What the domain rule emits for a request-style prompt: the top-1 label of the head (raised
/// by its examples' vote when it has one) when its probability is at least 0.5, else the
/// partition default `other`.
#[test]
fn domain_head_routes_held_out_requests() {
    let Some(models) = crate::models() else {
        return;
    };
    let (routed, n) = domain_routed(&models);
    // Today 117/140; this guards against regressions below 75%.
    assert!(routed * 4 >= n * 3, "routed {routed}/{n}");
}

/// The examples' vote, wired as the router reads it (examples embedded through the space,
/// the head's probabilities raised), with the parameters `VSR_DOMAIN_VOTE=1
/// scripts/train_heads.sh` fits for USE-m3 on this held-out set and the Chinese one: it routes
/// more of the request-style held-out set right than the head alone (121 vs 117 of 140).
#[test]
fn the_domain_vote_routes_more_held_out_requests_right() {
    let Some(models) = crate::models() else {
        return;
    };
    let space = models.space.as_ref().expect("space");
    let alone = models.domain_head.clone().expect("head");
    let voting = Head {
        vote: Some(VoteParams {
            k: 3,
            weight: 0.5,
            temperature: 0.03,
        }),
        ..alone.clone()
    };
    let examples = space
        .exemplars(&voting)
        .expect("examples embed")
        .expect("shipped");
    assert!(examples.len() > 500, "{} examples", examples.len());
    let (with, n) = routed_by(space, &voting);
    let (without, _) = routed_by(space, &alone);
    assert!(with > without, "vote {with}/{n}, head alone {without}/{n}");
}

/// (routed right by the domain rule at 0.5, n) on the request-style held-out set.
pub fn domain_routed(models: &ModelSet) -> (usize, usize) {
    let space = models.space.as_ref().expect("space");
    routed_by(space, models.domain_head.as_ref().expect("head"))
}

fn routed_by(space: &Space, head: &Head) -> (usize, usize) {
    let examples = space.exemplars(head).expect("examples embed");
    let rows = held_out("domain_requests_heldout.tsv");
    let (mut top1, mut routed) = (0, 0);
    for (label, text) in &rows {
        let probs = head.probabilities_with(
            &space.embed_query(text).expect("embeds"),
            examples.as_deref(),
        );
        let (best, p) = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .expect("labels");
        let best = &head.labels[best];
        let emitted = if *p >= 0.5 { best.as_str() } else { "other" };
        top1 += usize::from(best == label);
        routed += usize::from(emitted == label);
    }
    let n = rows.len();
    println!("request held-out: top-1 {top1}/{n}, routed right at 0.5 {routed}/{n}");
    (routed, n)
}

/// Benign request-style held-out texts, including ones that look like attack surface
/// (role-play, "ignore my typo", translation, security education), must not trip the
/// jailbreak head at the reference threshold 0.65.
#[test]
fn benign_held_out_requests_do_not_trip_the_jailbreak_head() {
    let Some(models) = crate::models() else {
        return;
    };
    let (flagged, n) = benign_flagged(&models);
    // Today 6/170; this guards against regressions above 5%.
    assert!(flagged * 20 <= n, "{flagged}/{n} flagged");
}

/// (flagged at 0.65, n) over the benign request-style held-out sets.
pub fn benign_flagged(models: &ModelSet) -> (usize, usize) {
    let space = models.space.as_ref().expect("space");
    let head: &Head = models.jailbreak_head.as_ref().expect("head");
    let mut rows = held_out("domain_requests_heldout.tsv");
    rows.extend(held_out("jailbreak_benign_heldout.tsv"));
    let flagged = rows
        .iter()
        .filter(|(_, q)| {
            head.probability(&space.embed_query(q).expect("embeds"), "jailbreak") >= 0.65
        })
        .count();
    println!(
        "benign held-out requests flagged as jailbreak: {flagged}/{}",
        rows.len()
    );
    (flagged, rows.len())
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
    let head: Head = models.jailbreak_head.expect("head");
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
                let pj = head.probability(&space.embed_query(q).expect("embeds"), "jailbreak");
                n += 1;
                if pj >= 0.65 {
                    flagged += 1;
                    println!("flagged {pj:.2}: {q}");
                }
            }
        }
    }
    println!("benign probe prompts flagged as jailbreak: {flagged}/{n}");
    // Target: at most 5%. Today 4/104 (3.8%); this guards against regressions above 5%.
    assert!(flagged * 20 <= n, "{flagged}/{n} benign prompts flagged");
}
