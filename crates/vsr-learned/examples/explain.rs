//! Prints every learned signal's raw value for prompts (a tuning aid):
//! `cargo run -p vsr-learned --example explain -- CONFIG "prompt" ...`
use std::path::PathBuf;

use vsr_engine::EvalMode;
use vsr_learned::{ModelSet, build_router};
use vsr_signals::{Family, RequestView};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/usem3");
    let models = ModelSet::load_dir(&root)?;
    let cfg = vsr_config::load_file(std::path::Path::new(&args[0]))?.config;
    let router = build_router(&cfg, &models)?;
    for q in &args[1..] {
        let r = router.route(&RequestView::from_text(q), EvalMode::All);
        println!("== {q}\n-> {:?} ({})", r.decision, r.model);
        for f in r.signals.families() {
            if !f.evaluated {
                continue;
            }
            let learned = matches!(
                f.family,
                Family::Embedding
                    | Family::Complexity
                    | Family::FactCheck
                    | Family::Preference
                    | Family::Domain
                    | Family::Jailbreak
                    | Family::UserFeedback
            );
            let items: Vec<String> = f
                .signals
                .iter()
                .filter(|s| s.matched || (learned && s.value != 0.0))
                .map(|s| {
                    format!(
                        "{}{}={:.3}",
                        if s.matched { "*" } else { "" },
                        s.name,
                        if s.matched { s.confidence } else { s.value }
                    )
                })
                .collect();
            println!("  {:<13} {}", f.family.as_str(), items.join(" "));
        }
        for s in &r.projections.scores {
            println!("  score {:<24} {:+.3}", s.name, s.value);
        }
        for d in r.decisions.evaluated.iter().filter(|d| d.matched) {
            println!(
                "  matched {} tier {} conf {:.3}",
                d.name, d.tier, d.confidence
            );
        }
    }
    Ok(())
}
