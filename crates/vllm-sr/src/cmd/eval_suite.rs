//! `vllm-sr eval-suite`: scores the learned families on the labelled sets under `data/eval`
//! (library: `vsr_learned::eval_suite`; layout and sources in `data/eval/README.md`).
use std::path::PathBuf;
use std::process::ExitCode;

use vsr_learned::ModelSet;
use vsr_learned::eval_suite::{EvalSet, Suite};

#[derive(clap::Args)]
pub struct Args {
    /// Directory of `<family>/<set>.tsv` sets.
    #[arg(long, default_value = "data/eval")]
    data: PathBuf,
    /// Score only this family (repeatable): domain, jailbreak, routing, pii.
    #[arg(long = "family")]
    families: Vec<String>,
    /// Encoder to score with (catalog id, directory or Hugging Face repo); default: installed usem3.
    #[arg(long)]
    model: Option<String>,
    /// Print the reports as one JSON array instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let only_pii = !args.families.is_empty() && args.families.iter().all(|f| f == "pii");
    let models = match ModelSet::for_spec(args.model.as_deref())? {
        Some(m) => m,
        // The pii family needs no encoder.
        None if only_pii => ModelSet::none(),
        None => anyhow::bail!("no encoder installed (vllm-sr models fetch)"),
    };
    let suite = Suite::learned(&models);
    // pii sets are scored twice in one run: rules alone (the baseline), then as configured.
    let rules_only = ModelSet {
        pii_rules_only: true,
        ..models.clone()
    };
    let baseline = Suite::learned(&rules_only);
    for f in &args.families {
        anyhow::ensure!(
            suite.families().contains(f),
            "unknown family `{f}` (known: {})",
            suite.families().join(", ")
        );
    }
    let sets = EvalSet::discover(&args.data, &args.families)?;
    anyhow::ensure!(!sets.is_empty(), "no sets under {}", args.data.display());
    let mut reports = Vec::new();
    for set in &sets {
        if set.family == "pii" && !models.pii_rules_only {
            let mut report = baseline.run_set(set)?;
            report.set = format!("{} [rules only]", set.name);
            if !args.json {
                println!("{}", report.render());
            }
            reports.push(report);
        }
        let mut report = suite.run_set(set)?;
        if set.family == "pii" && !models.pii_rules_only {
            let with = if vsr_learned::pii::PiiDetector::installed().has_model() {
                "rules + rampart"
            } else {
                "rampart not installed: rules only"
            };
            report.set = format!("{} [{with}]", set.name);
        }
        if !args.json {
            println!("{}", report.render());
        }
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(ExitCode::SUCCESS)
}
