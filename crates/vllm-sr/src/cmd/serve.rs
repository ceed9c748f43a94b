//! `vllm-sr serve`: run the router on the config's listeners.
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vsr_server::{ConfigLoader, ServeOptions};

/// The built-in profile used by `--demo` when no `--config` is given.
const BUILTIN_PROFILE: &str = include_str!("../../../../profiles/balance/balance.yaml");

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

mod learned;
mod replay;

pub use learned::{LearnedClassifier, Models};

/// The loader that turns a config file into proxy settings plus the full router. Each
/// (re)load validates with vsr-config and builds a fresh router (heuristic + learned
/// families) on the server's blocking pool, off the request path; the server swaps it in
/// atomically. The encoder and its queue are shared by every generation, and exemplar
/// embeddings come from the disk cache, so a reload is cheap. A successful build also
/// reloads the replay recorder (capture flags, prices).
fn config_loader(models: Models, replay: Option<Arc<replay::Replay>>) -> Arc<dyn ConfigLoader> {
    Arc::new(vsr_server::ValidatingLoader::with_classifier(
        move |cfg, _| {
            let c = LearnedClassifier::new(cfg, &models)?;
            if let Some(r) = &replay {
                r.reload(cfg);
            }
            Ok(Arc::new(c) as Arc<dyn vsr_server::Classifier>)
        },
    ))
}

/// Loads and validates `path` (for the parts built once per process: the replay store).
pub fn load_config(path: &std::path::Path) -> anyhow::Result<vsr_config::Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let loaded = vsr_config::load_str(&text, &path.display().to_string())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(loaded.config)
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
    // The encoder is chosen once per process, from the config file when it names one.
    let encoder = learned::encoder_spec(&args.config);
    let models = Models::discover(
        encoder.as_deref(),
        args.demo,
        vsr_models::HandleOptions {
            queue_capacity: args.encoder_queue,
            workers: args.encoder_workers,
        },
    )?;
    match models.set.model_id() {
        Some(id) => println!("vllm-sr: sentence encoder `{id}` loaded"),
        None => println!("vllm-sr: no sentence encoder installed"),
    }
    let workers = args
        .workers
        .unwrap_or_else(vsr_server::run::default_io_workers);
    let (replay, demo_config) = vsr_server::run::block_on_with(workers, async move {
        let mut config = args.config.clone();
        let mut _sim = None;
        if args.demo {
            let source = if args.config.exists() {
                std::fs::read_to_string(&args.config)
                    .with_context(|| format!("reading {}", args.config.display()))?
            } else {
                BUILTIN_PROFILE.to_string()
            };
            let sim_addr: SocketAddr = ([127, 0, 0, 1], 0).into();
            let (_, aliases) = vsr_server::run::retarget_backends(&source, "127.0.0.1:0")
                .map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
            let sim = vsr_server::sim::start(
                sim_addr,
                vsr_server::sim::SimOptions {
                    models: aliases,
                    ..Default::default()
                },
            )
            .await
            .context("starting the demo sim backend")?;
            let (yaml, _) = vsr_server::run::retarget_backends(&source, &sim.addr.to_string())
                .map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
            config = std::env::temp_dir().join(format!("vllm-sr-demo-{}.yaml", std::process::id()));
            std::fs::write(&config, yaml)
                .with_context(|| format!("writing {}", config.display()))?;
            println!("==================================================================");
            println!(
                " vllm-sr DEMO: answers come from a SIMULATED backend at {}",
                sim.addr
            );
            println!(" (no model is called; routing, headers and metrics are real)");
            println!("==================================================================");
            _sim = Some(sim);
        } else if !config.exists() {
            anyhow::bail!(
                "config file {} not found (pass --config FILE, or --demo to try the built-in profile)",
                config.display()
            );
        }
        let cfg = load_config(&config)?;
        let replay = replay::Replay::open(&cfg)?;
        let mut opts = ServeOptions::new(&config, config_loader(models, replay.clone()));
        if let Some(r) = &replay {
            opts.record_sink = Some(r.clone() as Arc<dyn vsr_server::RecordSink>);
            opts.routes.push(
                Arc::new(replay::ReplayApi(r.store.clone())) as Arc<dyn vsr_server::JsonRoute>
            );
        }
        opts.listen_override = listen_override;
        opts.max_body_bytes = args.max_body_bytes;
        opts.classifier_queue = args.classifier_queue;
        opts.watch_interval = (!args.no_watch).then_some(Duration::from_millis(500));
        let server = vsr_server::serve(opts).await?;
        println!(
            "vllm-sr: router ready in {} ms",
            started.elapsed().as_millis()
        );
        if let (Some(p), Some(a)) = (&args.port_file, server.addrs.first()) {
            std::fs::write(p, a.port().to_string())
                .with_context(|| format!("writing {}", p.display()))?;
        }
        for a in &server.addrs {
            println!("vllm-sr listening on http://{a}");
        }
        let _ = std::io::stdout().flush();
        vsr_server::run::shutdown_signal().await;
        server.shutdown();
        if let Some(r) = &replay {
            // Requests in flight (on other runtime threads) finish their records.
            r.wait_in_flight(Duration::from_secs(5));
        }
        anyhow::Ok((replay, args.demo.then_some(config)))
    })??;
    if let Some(r) = replay {
        // Requests in flight finish their records; then every queued record is written.
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
    if let Some(c) = demo_config {
        let _ = std::fs::remove_file(c);
    }
    Ok(ExitCode::SUCCESS)
}
