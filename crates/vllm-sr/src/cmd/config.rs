//! `vllm-sr config import`: bring a config in from a URL or a file, with the dashboard's import
//! rules (http/https, 10 s, 1 MiB, bounded redirects, no private addresses unless allowed),
//! validate it, and write it atomically (the previous file kept as `.bak`).
//! `vllm-sr config migrate`: rewrite a March 2026 config for the August 2026 schema
//! (`vsr_config::migrate`), report each change, and check that the result validates.

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
    /// Rewrite a March 2026 (playbook) v0.3 config for the August 2026 schema and report what
    /// changed; the result must validate. Without --out the YAML goes to stdout.
    Migrate {
        /// The config to migrate.
        file: PathBuf,
        /// Write the migrated config here (atomically) instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Replace an existing --out file (it is kept as `<out>.bak`).
        #[arg(long)]
        force: bool,
        /// Only report; exit 1 when the file needs edits.
        #[arg(long)]
        check: bool,
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
        Command::Migrate {
            file,
            out,
            force,
            check,
        } => migrate(&file, out.as_deref(), force, check),
    }
}

fn migrate(file: &Path, out: Option<&Path>, force: bool, check: bool) -> anyhow::Result<ExitCode> {
    let origin = file.display().to_string();
    let src = std::fs::read_to_string(file).with_context(|| format!("reading {origin}"))?;
    let m = match vsr_config::migrate::migrate_str(&src, &origin) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    // The report goes to stderr when the YAML itself goes to stdout.
    let report = |line: &str| {
        if out.is_none() && !check {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    for c in &m.changes {
        report(&c.to_string());
    }
    let edits = m
        .changes
        .iter()
        .filter(|c| c.kind != vsr_config::migrate::ChangeKind::Review)
        .count();
    let reviews = m.changes.len() - edits;
    if check {
        report(&format!(
            "{origin}: {edits} edit(s) needed, {reviews} note(s) to review"
        ));
        return Ok(if edits > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    let target = out
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<stdout>".into());
    let (_, _, diags) = vsr_config::check_str(&m.yaml, &target);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        for d in &errors {
            eprintln!("{d}");
        }
        eprintln!(
            "{origin}: the migrated config does not validate ({} error(s)); nothing written",
            errors.len()
        );
        return Ok(ExitCode::from(2));
    }
    let header = format!(
        "# Migrated from {} by `vllm-sr config migrate` (March 2026 -> August 2026 schema).\n# Comments of the original are not carried over.\n",
        file.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let text = format!("{header}{}", m.yaml);
    match out {
        None => print!("{text}"),
        Some(path) => {
            if path.exists() && !force {
                bail!(
                    "{} exists; pass --force to replace it (the old file is kept as .bak)",
                    path.display()
                );
            }
            vsr_dashboard::write_atomically(path, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    report(&format!(
        "{origin}: {edits} edit(s), {reviews} note(s) to review; the result validates ({} warning(s)){}",
        diags.len(),
        out.map(|p| format!("; written to {}", p.display()))
            .unwrap_or_default()
    ));
    Ok(ExitCode::SUCCESS)
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
