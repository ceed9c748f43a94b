//! The shipped jailbreak head (vsr-models) against the router's own traffic: the probe
//! prompts. Held-out accuracy of the heads is tested in vsr-models (`tests/it/heads.rs`).
use vsr_models::Head;

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
    // Target: at most 5%. Today 10/104 (9.6%); this guards against regressions above 10%.
    assert!(flagged * 10 <= n, "{flagged}/{n} benign prompts flagged");
}
