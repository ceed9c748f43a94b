//! `vllm-sr`: a thin CLI over the library crates. Each subcommand family lives in its own
//! module under `cmd/` and only parses arguments, calls a library and prints.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(
    name = "vllm-sr",
    version,
    about = "vLLM Semantic Router: one binary in front of your LLM backend"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the router (OpenAI-compatible proxy, eval and replay APIs).
    Serve(cmd::serve::Args),
    /// Validate one or more config files; exit 2 when any is invalid.
    Validate(cmd::validate::Args),
    /// Route one prompt in-process and show the decision with its trace.
    Eval(cmd::eval::Args),
    /// Run a probe manifest against a profile (in-process or over HTTP).
    Probes(cmd::probes::Args),
    /// Routing DSL: compile, decompile, fmt, check, test.
    Dsl(cmd::dsl::Args),
    /// Model catalog: fetch, list.
    Models(cmd::models::Args),
    /// An OpenAI-compatible stand-in for vLLM (demos, tests, benchmarks).
    SimBackend(cmd::sim_backend::Args),
    /// Replay records: list, show, stats.
    Replay(cmd::replay::Args),
    /// Benchmarks of the routing path and the proxy.
    Bench(cmd::bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => cmd::serve::run(a),
        Command::Validate(a) => cmd::validate::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Probes(a) => cmd::probes::run(a),
        Command::Dsl(a) => cmd::dsl::run(a),
        Command::Models(a) => cmd::models::run(a),
        Command::SimBackend(a) => cmd::sim_backend::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
