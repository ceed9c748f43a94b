//! `vllm-sr config import`: bring a config in from a URL or a file, with the dashboard's import
//! rules (http/https, 10 s, 1 MiB, bounded redirects, no private addresses unless allowed),
//! validate it, and write it atomically (the previous file kept as `.bak`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use vsr_dashboard::fetch::{ImportPolicy, check_yaml, fetch_yaml};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Import a config from an http(s) URL or a file, validate it, write it to --target.
    Import {
        /// URL or file path.
        source: String,
        /// Where to write it.
        #[arg(long, default_value = "config.yaml")]
        target: PathBuf,
        /// Replace an existing target (it is kept as `<target>.bak`).
        #[arg(long)]
        force: bool,
        /// Allow URLs on private, loopback and link-local addresses.
        #[arg(long)]
        allow_private_import: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Import {
            source,
            target,
            force,
            allow_private_import,
        } => import(&source, &target, force, allow_private_import),
    }
}

fn import(
    source: &str,
    target: &Path,
    force: bool,
    allow_private: bool,
) -> anyhow::Result<ExitCode> {
    if target.exists() && !force {
        bail!(
            "{} exists; pass --force to replace it (the old file is kept as .bak)",
            target.display()
        );
    }
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        fetch_yaml(source, &ImportPolicy::new(allow_private))
            .map_err(|e| anyhow::anyhow!("{source}: {e}"))?
    } else {
        let t = std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?;
        check_yaml(&t, source).map_err(|e| anyhow::anyhow!("{e}"))?
    };
    let (_, _, diags) = vsr_config::check_str(&text, source);
    for d in &diags {
        eprintln!("{d}");
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        eprintln!("{source}: {errors} error(s); nothing written");
        return Ok(ExitCode::from(2));
    }
    vsr_dashboard::write_atomically(target, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "vllm-sr: imported {source} into {} ({} warning(s))",
        target.display(),
        diags.len()
    );
    Ok(ExitCode::SUCCESS)
}
