//! `vllm-sr serve`: run the router on the config's listeners (vsr-app builds and starts it).
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use vsr_app::{App, AppOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Config file (canonical v0.3 YAML). Watched and reloaded on change.
    #[arg(long, short, default_value = "config.yaml")]
    config: PathBuf,
    /// Run the built-in profile (or --config if given) against an in-process simulated
    /// backend: routing end to end with no GPU and no vLLM. Answers are simulated.
    #[arg(long)]
    demo: bool,
    /// Listen on this port instead of the config's listeners (0 picks a free port).
    #[arg(long)]
    port: Option<u16>,
    /// Address for --port.
    #[arg(long, default_value = "0.0.0.0")]
    host: String,
    /// Write the first bound port to this file once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
    /// Largest accepted request body in bytes (default: config, else 10 MiB).
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Requests allowed to wait for classification before the router answers 429.
    #[arg(long, default_value_t = 1024)]
    classifier_queue: usize,
    /// Do not watch the config file for changes (POST /config/reload still works).
    #[arg(long)]
    no_watch: bool,
    /// Prompts allowed to wait for the sentence encoder; one more answers 429.
    #[arg(long, default_value_t = 64)]
    encoder_queue: usize,
    /// Threads running the sentence encoder.
    #[arg(long, default_value_t = 1)]
    encoder_workers: usize,
    /// Async worker threads serving HTTP (default: half the cores, at least 1).
    #[arg(long)]
    workers: Option<usize>,
}

/// The served config's span-export settings, read before the subscriber is installed. A file
/// that does not load yields `None` here: `run` reports it.
pub fn tracing_config(args: &Args) -> anyhow::Result<Option<vsr_telemetry::TracingConfig>> {
    if !args.config.exists() {
        return Ok(None);
    }
    match vsr_app::load_config(&args.config) {
        Ok(loaded) => Ok(vsr_app::tracing_settings(&loaded.config)?),
        Err(_) => Ok(None),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let listen_override = match args.port {
        Some(p) => Some(
            format!("{}:{p}", args.host)
                .parse::<SocketAddr>()
                .with_context(|| format!("invalid --host `{}`", args.host))?,
        ),
        None => None,
    };
    let started = std::time::Instant::now();
    let opts = AppOptions {
        config: args.config,
        demo: args.demo,
        listen_override,
        max_body_bytes: args.max_body_bytes,
        classifier_queue: args.classifier_queue,
        watch: !args.no_watch,
        encoder: vsr_models::HandleOptions {
            queue_capacity: args.encoder_queue,
            workers: args.encoder_workers,
        },
    };
    let models = opts.load_models()?;
    match models.set.model_id() {
        Some(id) => println!("vllm-sr: sentence encoder `{id}` loaded"),
        None => println!("vllm-sr: no sentence encoder installed"),
    }
    let workers = args
        .workers
        .unwrap_or_else(vsr_server::run::default_io_workers);
    let port_file = args.port_file;
    let replay = vsr_server::run::block_on_with(workers, async move {
        let app = App::start(opts, models).await?;
        if let Some(demo) = &app.demo {
            println!("==================================================================");
            println!(
                " vllm-sr DEMO: answers come from a SIMULATED backend at {}",
                demo.sim.addr
            );
            println!(" (no model is called; routing, headers and metrics are real)");
            println!("==================================================================");
        }
        println!(
            "vllm-sr: router ready in {} ms",
            started.elapsed().as_millis()
        );
        if let (Some(p), Some(a)) = (&port_file, app.server.addrs.first()) {
            std::fs::write(p, a.port().to_string())
                .with_context(|| format!("writing {}", p.display()))?;
        }
        for a in &app.server.addrs {
            println!("vllm-sr listening on http://{a}");
        }
        let _ = std::io::stdout().flush();
        vsr_server::run::shutdown_signal().await;
        anyhow::Ok(app.shutdown())
    })??;
    if let Some(r) = replay {
        // Every queued record is written before the process exits.
        let stats = r.drain();
        tracing::info!(
            written = stats.written,
            dropped = stats.dropped,
            "replay writer drained"
        );
        println!(
            "vllm-sr: replay drained ({} written, {} dropped)",
            stats.written, stats.dropped
        );
    }
    Ok(ExitCode::SUCCESS)
}
