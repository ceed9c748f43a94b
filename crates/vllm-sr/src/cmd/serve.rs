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
}

/// INTEGRATION POINT: the loader that turns a config file into proxy settings plus the
/// classifier. Replace `ValidatingLoader` (vsr-config validation + default-model routing) with the engine adapter (vsr-engine) so auto
/// requests are routed by decisions instead of going to the default model.
fn config_loader() -> Arc<dyn ConfigLoader> {
    Arc::new(vsr_server::ValidatingLoader)
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
    vsr_server::run::block_on(async move {
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
        let mut opts = ServeOptions::new(&config, config_loader());
        opts.listen_override = listen_override;
        opts.max_body_bytes = args.max_body_bytes;
        opts.classifier_queue = args.classifier_queue;
        opts.watch_interval = (!args.no_watch).then_some(Duration::from_millis(500));
        let server = vsr_server::serve(opts).await?;
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
        Ok(ExitCode::SUCCESS)
    })?
}
