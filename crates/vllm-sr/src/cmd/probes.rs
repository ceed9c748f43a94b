//! `vllm-sr probes`: run a probe manifest (the March `balance.probes.yaml` format or
//! `schema_version: v1`) in-process or against a running router's `POST /api/v1/eval` (format
//! and runner: `vsr_app::probes`), print per-decision pass rates, every failed field with its
//! reason and the trace of every failure, the v1 coverage policy, and exit non-zero below the
//! manifest's `acceptance`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use vsr_app::probes::{self, Manifest, ProbeOutcome, ProbeTarget};

#[derive(clap::Args)]
pub struct Args {
    /// Routing config; required in-process, optional with --url.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Probe manifest (YAML).
    #[arg(long)]
    pub probes: PathBuf,
    /// Base URL of a running router's management API (e.g. http://127.0.0.1:8080); probes
    /// are then POSTed to the manifest's `router_eval_endpoint`.
    #[arg(long)]
    pub url: Option<String>,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&args.probes)?;
    // The config also feeds the algorithm, plugin, recipe and coverage checks (with --url too).
    let config = match &args.config {
        Some(path) => match vsr_config::load_file(path) {
            Ok(l) => Some(l.config),
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    let router = match (&args.url, &args.config) {
        (None, None) => bail!("give --config for in-process probes, or --url of a running router"),
        (None, Some(path)) => match super::eval::load_router(path) {
            Ok(r) => Some(r),
            Err(code) => return Ok(code),
        },
        _ => None,
    };
    let target = match (&router, &args.url) {
        (Some(r), _) => ProbeTarget::Router(r),
        (None, Some(base)) => ProbeTarget::Http { base },
        (None, None) => bail!("give --config or --url"),
    };
    let progress = std::io::stdout().is_terminal() && !args.json;
    let report = probes::run_with(
        &manifest,
        &target,
        config.as_ref(),
        |done, total, group, variant| {
            if progress {
                eprint!("\r\x1b[2K[{}/{total}] {group}/{variant}", done + 1);
                let _ = std::io::stderr().flush();
            }
        },
    )?;
    if progress {
        eprint!("\r\x1b[2K");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
        if let Some(c) = &report.coverage {
            println!(
                "\ncoverage  signals {:.1}%  projections {:.1}%  algorithms {:.1}%  plugins {:.1}%  shapes {}",
                c.signal_assertion_percent,
                c.projection_assertion_percent,
                c.algorithm_assertion_percent,
                c.plugin_assertion_percent,
                c.request_shapes.join(",")
            );
            for f in &c.failures {
                println!("  coverage: {f}");
            }
        }
        println!(
            "\nprobes    {}/{} passed ({:.1}%, need {:.1}%)",
            report.probes_passed,
            report.probes,
            report.probe_pass_rate,
            manifest.acceptance.min_probe_pass_rate
        );
        println!(
            "decisions {}/{} passed ({:.1}%, need {:.1}%)",
            report.decisions_passed,
            report.decisions,
            report.decision_pass_rate,
            manifest.acceptance.min_decision_pass_rate
        );
        println!(
            "{}",
            if report.accepted {
                "ACCEPTED"
            } else {
                "BELOW ACCEPTANCE"
            }
        );
    }
    Ok(if report.accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_report(report: &probes::ProbeReport) {
    let outcomes = &report.outcomes;
    println!("{:<32} {:>7}  result", "decision", "passed");
    for d in &report.per_decision {
        let mark = if d.ok { "ok" } else { "FAIL" };
        println!("{:<32} {:>3}/{:<3}  {mark}", d.id, d.passed, d.probes);
    }
    let failures: Vec<&ProbeOutcome> = outcomes.iter().filter(|o| !o.passed).collect();
    if failures.is_empty() {
        return;
    }
    println!("\nfailures");
    for o in failures {
        println!("\n- {}/{}: {}", o.group, o.variant, o.query);
        println!(
            "  expected {} ({}), got {} ({})",
            o.expected_decision,
            o.expected_alias.as_deref().unwrap_or("-"),
            o.decision.as_deref().unwrap_or("no decision"),
            o.alias.as_deref().unwrap_or("-")
        );
        if let Some(e) = &o.error {
            println!("  error: {e}");
        }
        for f in &o.failures {
            println!("  failed {f}");
        }
        let Some(r) = &o.response else { continue };
        if let Some(t) = &r.trace {
            println!("  why: {}", t.decisions.reason);
            let matched: Vec<String> = t
                .decisions
                .evaluated
                .iter()
                .filter(|d| d.matched)
                .map(|d| format!("{} (tier {}, {:.3})", d.name, d.tier, d.confidence))
                .collect();
            println!(
                "  matched decisions: {}",
                if matched.is_empty() {
                    "-".into()
                } else {
                    matched.join(", ")
                }
            );
            if let Some(exp) = t
                .decisions
                .evaluated
                .iter()
                .find(|d| *d.name == o.expected_decision)
                && !exp.matched
            {
                let failing: Vec<String> = exp
                    .leaves
                    .iter()
                    .map(|l| format!("{}{}", if l.matched { "+" } else { "-" }, l.signal))
                    .collect();
                println!("  {} leaves: {}", exp.name, failing.join(" "));
            }
            let bands: Vec<String> = t
                .projections
                .mappings
                .iter()
                .map(|m| {
                    format!(
                        "{}={:+.3}→{}",
                        m.source,
                        m.score,
                        m.output.as_deref().unwrap_or("-")
                    )
                })
                .collect();
            println!("  projections: {}", bands.join(", "));
        }
        let signals: Vec<String> = r
            .decision_result
            .matched_signals
            .iter()
            .map(|(fam, names)| format!("{fam}: {}", names.join(", ")))
            .collect();
        println!("  signals: {}", signals.join("; "));
    }
}
