//! `vllm-sr dsl`: compile, decompile, fmt, check and test routing DSL files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use vsr_dsl::Diagnostic;
use vsr_engine::EvalMode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Compile DSL into a full config: the routing section merged into --base (or a built-in
    /// base with one local vLLM provider per model), validated before it is written.
    Compile {
        file: PathBuf,
        /// Config whose version, listeners, providers and global are kept.
        #[arg(long)]
        base: Option<PathBuf>,
        /// Write here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Emit only the `routing:` section, without merging or validation.
        #[arg(long)]
        routing_only: bool,
    },
    /// Write the routing section of a config (or a bare routing fragment) as DSL.
    Decompile {
        file: PathBuf,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Format DSL files in place (comments are kept).
    Fmt {
        files: Vec<PathBuf>,
        /// Do not write; exit 1 when a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Report every diagnostic: syntax, references, and the config validator's findings.
    Check {
        file: PathBuf,
        #[arg(long)]
        base: Option<PathBuf>,
    },
    /// Run the TEST blocks: route each query through the engine and compare the decision.
    Test {
        file: PathBuf,
        #[arg(long)]
        base: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Compile {
            file,
            base,
            output,
            routing_only,
        } => compile(&file, base.as_deref(), output.as_deref(), routing_only),
        Command::Decompile { file, output } => decompile(&file, output.as_deref()),
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Check { file, base } => check(&file, base.as_deref()),
        Command::Test { file, base } => test(&file, base.as_deref()),
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn write_out(output: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(p) => vsr_app::atomic_file::write_atomically(p, text.as_bytes())
            .with_context(|| format!("cannot write {}", p.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// Prints diagnostics compiler-style on stderr, then a summary line; true when any is an error.
fn report(diags: &[Diagnostic], file: &Path, src: &str) -> bool {
    let name = file.display().to_string();
    for d in diags {
        eprintln!("{}", d.render(&name, src));
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if !diags.is_empty() {
        eprintln!("{name}: {errors} error(s), {warnings} warning(s)");
    }
    errors > 0
}

fn read_base(base: Option<&Path>) -> anyhow::Result<Option<String>> {
    base.map(read).transpose()
}

fn compile(
    file: &Path,
    base: Option<&Path>,
    output: Option<&Path>,
    routing_only: bool,
) -> anyhow::Result<ExitCode> {
    let src = read(file)?;
    if routing_only {
        return match vsr_dsl::compile(&src) {
            Ok(c) => {
                report(&c.warnings, file, &src);
                write_out(output, &c.to_yaml())?;
                Ok(ExitCode::SUCCESS)
            }
            Err(d) => {
                report(&d, file, &src);
                Ok(ExitCode::from(1))
            }
        };
    }
    let base = read_base(base)?;
    match vsr_dsl::build(&src, base.as_deref()) {
        Ok(b) => {
            report(&b.warnings, file, &src);
            write_out(output, &b.yaml)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(d) => {
            report(&d, file, &src);
            Ok(ExitCode::from(1))
        }
    }
}

fn decompile(file: &Path, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let text = read(file)?;
    match vsr_dsl::decompile_yaml(&text) {
        Ok(dsl) => {
            write_out(output, &dsl)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            Ok(ExitCode::from(1))
        }
    }
}

fn fmt(files: &[PathBuf], check: bool) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for file in files {
        let src = read(file)?;
        match vsr_dsl::format(&src) {
            Ok(out) if out == src => {}
            Ok(out) => {
                if check {
                    eprintln!("{}: not formatted", file.display());
                    failed = true;
                } else {
                    vsr_app::atomic_file::write_atomically(file, out.as_bytes())
                        .with_context(|| format!("cannot write {}", file.display()))?;
                }
            }
            Err(d) => {
                report(&d, file, &src);
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn check(file: &Path, base: Option<&Path>) -> anyhow::Result<ExitCode> {
    let src = read(file)?;
    let base = read_base(base)?;
    let diags = vsr_dsl::check(&src, base.as_deref());
    if report(&diags, file, &src) {
        return Ok(ExitCode::from(1));
    }
    if diags.is_empty() {
        eprintln!("{}: no issues found", file.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn test(file: &Path, base: Option<&Path>) -> anyhow::Result<ExitCode> {
    let src = read(file)?;
    let base = read_base(base)?;
    let built = match vsr_dsl::build(&src, base.as_deref()) {
        Ok(b) => b,
        Err(d) => {
            report(&d, file, &src);
            return Ok(ExitCode::from(1));
        }
    };
    let loaded = match vsr_config::load_str(&built.yaml, &file.display().to_string()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let router = vsr_app::RouterBuild::for_cli(&loaded.config)
        .map_err(|e| anyhow::anyhow!("{}: cannot build the router: {e}", file.display()))?
        .router;
    let name = file.display().to_string();
    let (mut passed, mut failed) = (0usize, 0usize);
    for block in &built.compiled.tests {
        for case in &block.cases {
            let view = vsr_signals::RequestView::from_text(case.query.as_str());
            let r = router.default_router().route(&view, EvalMode::Routing);
            let got = r.decision.as_deref().unwrap_or("(default model)");
            if got == case.expected_route.value {
                passed += 1;
            } else {
                failed += 1;
                let d = Diagnostic::error(
                    case.span,
                    format!(
                        "TEST {}: query {:?} expected route `{}`, got `{got}` (confidence {:.3})",
                        block.name.value, case.query, case.expected_route.value, r.confidence
                    ),
                );
                eprintln!("{}", d.render(&name, &src));
            }
        }
    }
    println!("{name}: {passed} passed, {failed} failed");
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
