//! `vllm-sr validate FILE…`: load each config with the canonical loader and report every
//! problem as `file:line:col: path: message`. Exit 0 when all files are valid, 2 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use vsr_config::{Diagnostic, Severity};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Config files (canonical v0.3 YAML) to validate.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format: human-readable lines, or one JSON document for tools.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

struct Report {
    file: String,
    diagnostics: Vec<Diagnostic>,
}

impl Report {
    fn count(&self, s: Severity) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == s).count()
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reports: Vec<Report> = args
        .files
        .iter()
        .map(|path| {
            let diagnostics = match vsr_config::load_file(path) {
                Ok(loaded) => loaded.warnings,
                Err(e) => e.diagnostics(),
            };
            Report {
                file: path.display().to_string(),
                diagnostics,
            }
        })
        .collect();
    let invalid = reports
        .iter()
        .filter(|r| r.count(Severity::Error) > 0)
        .count();
    let errors: usize = reports.iter().map(|r| r.count(Severity::Error)).sum();
    let warnings: usize = reports.iter().map(|r| r.count(Severity::Warning)).sum();
    match args.format {
        Format::Text => {
            for r in &reports {
                for d in &r.diagnostics {
                    match d.severity {
                        Severity::Error => println!("{d}"),
                        Severity::Warning => {
                            let marked = Diagnostic {
                                message: format!("warning: {}", d.message),
                                ..d.clone()
                            };
                            println!("{marked}");
                        }
                    }
                }
            }
            println!(
                "{} file(s) checked: {} valid, {invalid} invalid; {errors} error(s), {warnings} warning(s)",
                reports.len(),
                reports.len() - invalid,
            );
        }
        Format::Json => {
            let files: Vec<serde_json::Value> = reports
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "file": r.file,
                        "valid": r.count(Severity::Error) == 0,
                        "diagnostics": r.diagnostics,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "files": files,
                "summary": {
                    "files": reports.len(),
                    "valid": reports.len() - invalid,
                    "invalid": invalid,
                    "errors": errors,
                    "warnings": warnings,
                },
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    Ok(if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
