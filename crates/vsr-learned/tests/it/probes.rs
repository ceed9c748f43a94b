//! Probe manifests: the reference profile (loaded verbatim from ../shared) and our own.
use std::path::Path;

use vsr_engine::EvalMode;
use vsr_learned::build_router;
use vsr_signals::RequestView;

/// Runs every probe of `probes` against `config` with the default encoder; see [`run_with`].
fn run(config: &Path, probes: &Path) -> Option<(usize, usize)> {
    Some(run_with(&crate::models()?, config, probes))
}

/// Runs every probe of `probes` against `config` on `models`; prints the per-decision table
/// and the signals of each failure; returns (passed, total).
pub fn run_with(models: &vsr_learned::ModelSet, config: &Path, probes: &Path) -> (usize, usize) {
    let loaded = vsr_config::load_file(config).expect("profile loads");
    let router = build_router(&loaded.config, models).expect("router builds");
    let manifest = vsr_config::probes::Manifest::load(probes).unwrap_or_else(|e| panic!("{e}"));
    let (mut passed, mut total) = (0, 0);
    println!("{:<30} {:>6}  failures", "decision", "pass");
    for g in &manifest.decisions {
        let mut ok = 0;
        let mut failures = Vec::new();
        for v in &g.variants {
            let r = router.route(&RequestView::from_text(&v.query), EvalMode::All);
            let alias = r.model.clone();
            let good = r.decision.as_deref() == Some(g.expected_decision.as_str())
                && g.expected_alias.as_ref().is_none_or(|a| *a == alias);
            if good {
                ok += 1;
            } else {
                let signals: Vec<String> = r
                    .matched_signals()
                    .map(|(f, n, c)| format!("{f}:{n}={c:.2}"))
                    .collect();
                failures.push(format!(
                    "    {} -> {:?} ({alias})\n      {}",
                    v.id,
                    r.decision,
                    signals.join(" ")
                ));
            }
        }
        println!("{:<30} {:>3}/{:<2}", g.id, ok, g.variants.len());
        for f in failures {
            println!("{f}");
        }
        passed += ok;
        total += g.variants.len();
    }
    println!("probes: {passed}/{total}");
    (passed, total)
}

fn reference() -> Option<(usize, usize)> {
    let (Some(cfg), Some(probes)) = (
        vsr_testkit::shared_file("reference/upstream-amd-2026-03/balance.yaml"),
        vsr_testkit::shared_file("reference/upstream-amd-2026-03/balance.probes.yaml"),
    ) else {
        return None;
    };
    run(&cfg, &probes)
}

/// The acceptance target: every reference probe. Not reached yet with USE-m3 (see the table
/// this prints and docs/learned-signals.md); run with `--ignored`.
#[test]
#[ignore = "acceptance target 58/58 not reached yet; see the printed table"]
fn reference_balance_probes_all_pass() {
    let Some((passed, total)) = reference() else {
        return;
    };
    assert_eq!(total, 58);
    assert_eq!(passed, total, "reference probes: {passed}/{total}");
}

/// Regression guard on the reference probes: no change may lose a probe that passes today.
#[test]
fn reference_balance_probes_do_not_regress() {
    let Some((passed, total)) = reference() else {
        return;
    };
    assert_eq!(total, 58);
    assert!(
        passed >= PASSING_TODAY,
        "reference probes: {passed}/{total}"
    );
}

/// Reference probes passing with the shipped encoder, calibration and heads.
const PASSING_TODAY: usize = 54;

#[test]
fn project_balance_probes_all_pass() {
    let root = vsr_testkit::workspace_root().join("profiles/balance");
    let probes = root.join("balance.probes.yaml");
    if !probes.is_file() {
        vsr_testkit::missing(format!("{} absent", probes.display()));
        return;
    }
    let Some((passed, total)) = run(&root.join("balance.yaml"), &probes) else {
        return;
    };
    assert!(total >= 46);
    assert_eq!(passed, total, "project probes: {passed}/{total}");
}
