//! Regression guard on the August-2026 recipes' probe manifests (in-process, USE-m3): no
//! change may lose probes that pass today. The floors sit a margin below what the signal
//! families reach now (see the report in docs/compatibility.md); raise them as runtime lands.

use vsr_app::probes::{self, Manifest, ProbeTarget};
use vsr_app::{MissingModel, build_router};

/// (recipe, probes passing when written, total).
const PASSING_TODAY: [(&str, usize, usize); 8] = [
    ("accuracy", 13, 13),
    ("agent", 24, 27),
    ("balance", 53, 57),
    ("feedback", 20, 23),
    ("knowledge", 14, 15),
    ("mom-v1", 201, 222),
    ("multi-objective", 114, 120),
    ("privacy", 17, 20),
];

/// Probes a change may lose per recipe before the guard fails (encoder numerics differ
/// slightly between machines).
const MARGIN: usize = 2;

#[test]
fn august_recipe_probes_do_not_regress() {
    let local = vsr_testkit::workspace_root().join("models/usem3");
    let models = if vsr_models::catalog::is_installed(&local) {
        vsr_learned::ModelSet::load_dir(&local).ok()
    } else {
        vsr_learned::ModelSet::discover().ok().flatten()
    };
    let Some(models) = models else {
        vsr_testkit::missing("model usem3 not installed (vllm-sr models fetch)");
        return;
    };
    for (name, floor, total) in PASSING_TODAY {
        let (Some(cfg), Some(manifest)) = (
            vsr_testkit::shared_file(&format!(
                "reference/upstream-head-2026-08/{name}/config.yaml"
            )),
            vsr_testkit::shared_file(&format!(
                "reference/upstream-head-2026-08/{name}/probes.yaml"
            )),
        ) else {
            return;
        };
        let cfg = vsr_config::load_file(&cfg).expect("recipe loads").config;
        let manifest = Manifest::load(&manifest).unwrap_or_else(|e| panic!("{name}: {e}"));
        let built = build_router(&cfg, &models, MissingModel::Refuse).expect("router builds");
        let report = probes::run_with(
            &manifest,
            &ProbeTarget::Router(&built.router),
            Some(&cfg),
            |_, _, _, _| {},
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        println!("{name}: {}/{}", report.probes_passed, report.probes);
        assert_eq!(report.probes, total, "{name}: manifest changed");
        assert!(
            report.probes_passed + MARGIN >= floor,
            "{name}: {}/{} probes pass, {floor} did",
            report.probes_passed,
            report.probes
        );
    }
}
