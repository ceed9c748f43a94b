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
    /// Most verbose level logged to stderr (RUST_LOG, when set, wins).
    #[arg(long, global = true, value_enum, default_value_t = LogLevel::Info)]
    log_level: LogLevel,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn log_options(cli: &Cli) -> vsr_telemetry::LogOptions {
    use vsr_telemetry::{LogFormat as F, LogLevel as L};
    let level = match cli.log_level {
        LogLevel::Error => L::Error,
        LogLevel::Warn => L::Warn,
        LogLevel::Info => L::Info,
        LogLevel::Debug => L::Debug,
        LogLevel::Trace => L::Trace,
    };
    let format = match cli.log_format {
        LogFormat::Text => F::Text,
        LogFormat::Json => F::Json,
    };
    vsr_telemetry::LogOptions::from_env(level, format)
}

#[derive(Subcommand)]
enum Command {
    /// Run the router (OpenAI-compatible proxy, eval and replay APIs) and the dashboard.
    Serve(cmd::serve::Args),
    /// Whether a router runs from this data dir, where, and its health (exit 3: not running).
    Status(cmd::daemon::StatusArgs),
    /// Print the log of a router started with `serve --detach`.
    Logs(cmd::daemon::LogsArgs),
    /// Stop the router running from this data dir (SIGTERM; replay is drained first).
    Stop(cmd::daemon::StopArgs),
    /// Print (and try to open) the running router's dashboard URL.
    Dashboard(cmd::daemon::DashboardArgs),
    /// Config files: import from a URL or a file (validated, written atomically); migrate a
    /// March 2026 config to the August 2026 schema.
    Config(cmd::config::Args),
    /// Validate one or more config files; exit 2 when any is invalid.
    Validate(cmd::validate::Args),
    /// Route one prompt in-process (--config) or on a running router (--endpoint) and show
    /// the decision.
    Eval(cmd::eval::Args),
    /// Score the learned families on labelled sets (data/eval): accuracy, recall,
    /// false-positive rate, confusion tables.
    EvalSuite(cmd::eval_suite::Args),
    /// Chat with a running router: one prompt, or a conversation read from stdin; streams.
    Chat(cmd::chat::Args),
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

/// A file-size limit (`RLIMIT_FSIZE`, e.g. a quota'd data dir) must fail the write with
/// `EFBIG`, like a full disk, so that the replay writer keeps the batch and retries; the default
/// action of SIGXFSZ would kill the router instead.
fn ignore_file_size_signal() {
    // SAFETY: setting a signal to SIG_IGN installs no handler code and is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

fn main() -> ExitCode {
    ignore_file_size_signal();
    let cli = Cli::parse();
    // Span export is configured by the served config file; other subcommands only log.
    let tracing = match &cli.command {
        Command::Serve(a) => cmd::serve::tracing_config(a),
        _ => Ok(None),
    };
    let telemetry = tracing.and_then(|t| Ok(vsr_telemetry::init(&log_options(&cli), t.as_ref())?));
    let _telemetry = match telemetry {
        Ok(t) => t,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Serve(a) => cmd::serve::run(a),
        Command::Status(a) => cmd::daemon::status(a),
        Command::Logs(a) => cmd::daemon::logs(a),
        Command::Stop(a) => cmd::daemon::stop(a),
        Command::Dashboard(a) => cmd::daemon::dashboard(a),
        Command::Config(a) => cmd::config::run(a),
        Command::Validate(a) => cmd::validate::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::EvalSuite(a) => cmd::eval_suite::run(a),
        Command::Chat(a) => cmd::chat::run(a),
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
