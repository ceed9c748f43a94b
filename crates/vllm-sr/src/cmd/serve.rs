//! `vllm-sr serve`: run the router on the config's listeners (vsr-app builds and starts it)
//! and the dashboard beside it (vsr-dashboard). Without a config file the dashboard starts
//! alone, in setup mode, and its wizard starts the router.
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use vsr_app::{AppOptions, Supervisor};

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
    /// Port of the dashboard (0 picks a free port).
    #[arg(long, default_value_t = 8700)]
    dashboard_port: u16,
    /// Do not serve the dashboard.
    #[arg(long)]
    no_dashboard: bool,
    /// Write the dashboard's bound port to this file once listening.
    #[arg(long)]
    dashboard_port_file: Option<PathBuf>,
    /// Dashboard: playground and reading only; every config change is refused.
    #[arg(long)]
    readonly: bool,
    /// Dashboard: let "import from URL" fetch from private, loopback and link-local addresses.
    #[arg(long)]
    allow_private_import: bool,
    /// No dashboard (the original's name for --no-dashboard).
    #[arg(long)]
    minimal: bool,
    /// Hardware platform of the deployment (the playbook uses `amd`). This build runs the
    /// encoder on the CPU on every platform; the choice is shown in the dashboard.
    #[arg(long, value_enum)]
    platform: Option<Platform>,
    /// Where the router runs: in this process (`native`), or as the container image run by
    /// the local container engine, docker or podman (`docker`; `$VSR_CONTAINER_ENGINE`).
    #[arg(long, value_enum, default_value = "native")]
    target: Target,
    /// Container image for `--target docker` (default: localhost/vllm-sr:latest, built from
    /// the repository's Dockerfile). Accepted and unused by the native run.
    #[arg(long)]
    image: Option<String>,
    /// Pull policy for --image with `--target docker` (always, ifnotpresent, never).
    #[arg(long, value_enum)]
    image_pull_policy: Option<PullPolicy>,
    /// PostgreSQL shared by router replicas, e.g. postgres://router@db:5432/vsr: dashboard
    /// users, sessions, tokens, audit and config versions live there (replay records too,
    /// unless the config names a PostgreSQL of its own), and a config deployed through any
    /// replica's dashboard reaches every replica. [env: VSR_SHARED_DB]
    #[arg(long)]
    shared_db: Option<String>,
    /// Schema for --shared-db's tables (created when missing; default: the connection's,
    /// `public`). [env: VSR_SHARED_DB_SCHEMA]
    #[arg(long)]
    shared_db_schema: Option<String>,
    /// Run in the background: output goes to `<data dir>/vllm-sr.log`; see `vllm-sr status`,
    /// `logs`, `stop`.
    #[arg(long, short = 'd')]
    detach: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    Amd,
    Nvidia,
    Cpu,
}

impl Platform {
    fn as_str(self) -> &'static str {
        match self {
            Platform::Amd => "amd",
            Platform::Nvidia => "nvidia",
            Platform::Cpu => "cpu",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Native,
    Docker,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    Always,
    Ifnotpresent,
    Never,
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
    if args.target == Target::Docker {
        return run_container(&args);
    }
    if args.detach {
        return crate::cmd::daemon::detach();
    }
    if let Some(p) = args.platform
        && p != Platform::Cpu
    {
        println!(
            "vllm-sr: platform {}: this build has no {} runtime; the sentence encoder runs on the CPU \
             (the backend's GPU serves the model as before)",
            p.as_str(),
            if p == Platform::Amd { "ROCm" } else { "CUDA" }
        );
    }
    if args.image.is_some() || args.image_pull_policy.is_some() {
        println!(
            "vllm-sr: --image/--image-pull-policy choose the image of `--target docker`; this \
             is the native run, so no image is pulled or run"
        );
    }
    let listen_override = match args.port {
        Some(p) => Some(
            format!("{}:{p}", args.host)
                .parse::<SocketAddr>()
                .with_context(|| format!("invalid --host `{}`", args.host))?,
        ),
        None => None,
    };
    let dashboard = (!args.no_dashboard && !args.minimal)
        .then(|| {
            format!("{}:{}", args.host, args.dashboard_port)
                .parse::<SocketAddr>()
                .with_context(|| format!("invalid --host `{}`", args.host))
        })
        .transpose()?;
    let started = std::time::Instant::now();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let shared_db = args
        .shared_db
        .clone()
        .or_else(|| env("VSR_SHARED_DB"))
        .map(|url| vsr_app::SharedDb {
            url,
            schema: args
                .shared_db_schema
                .clone()
                .or_else(|| env("VSR_SHARED_DB_SCHEMA")),
        });
    // Replicas: the dashboard's state and the config versions live in the shared database.
    let shared_store = match &shared_db {
        Some(db) => Some(std::sync::Arc::new(
            vsr_dashboard::db::PostgresDb::open(vsr_dashboard::db::postgres::Target {
                url: db.url.clone(),
                schema: db.schema.clone(),
            })
            .context("--shared-db")?,
        )),
        None => None,
    };
    let sync = shared_store
        .clone()
        .map(vsr_dashboard::sync::ConfigSync::new);
    if let Some(sync) = &sync
        && !args.demo
    {
        sync.prepare(&args.config);
    }
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
        data_dir: vsr_app::data_dir(),
        management_auth: None,
        shared_db,
        routes: sync.as_ref().map(|s| s.routes()).unwrap_or_default(),
    };
    // Without a config the dashboard's setup wizard writes one; without the dashboard there
    // is nothing to serve.
    let setup_mode = !opts.demo && !opts.config.exists();
    if setup_mode && dashboard.is_none() {
        anyhow::bail!(
            "config file {} not found (pass --config FILE, --demo to try the built-in profile, \
             or drop --no-dashboard to create one in the setup wizard)",
            opts.config.display()
        );
    }
    let models = if setup_mode {
        None
    } else {
        let m = opts.load_models()?;
        match m.set.model_id() {
            Some(id) => println!("vllm-sr: sentence encoder `{id}` loaded"),
            None => println!("vllm-sr: no sentence encoder installed"),
        }
        Some(m)
    };
    let workers = args
        .workers
        .unwrap_or_else(vsr_server::run::default_io_workers);
    let port_file = args.port_file;
    let dashboard_port_file = args.dashboard_port_file;
    let dash_flags = (args.readonly, args.allow_private_import);
    let platform = args.platform.map(|p| p.as_str().to_string());
    let data_dir = opts.data_dir.clone();
    let run_dir = data_dir.clone();
    // The dashboard's users also guard the router's reload, cache and replay endpoints, with
    // the dashboard off too when its store exists; with no user they answer loopback only.
    let creds = match (&shared_store, dashboard) {
        (Some(store), _) => Some(vsr_dashboard::auth::Credentials::open_shared(store.clone())),
        (None, Some(_)) => Some(vsr_dashboard::auth::Credentials::open(&data_dir)?),
        (None, None) if data_dir.join("dashboard.db").is_file() => {
            Some(vsr_dashboard::auth::Credentials::open(&data_dir)?)
        }
        (None, None) => None,
    };
    let mut opts = opts;
    opts.management_auth = creds
        .clone()
        .map(|c| c as std::sync::Arc<dyn vsr_server::ManagementAuth>);
    let sup = Supervisor::new(opts, models);
    let replay = vsr_server::run::block_on_with(workers, async move {
        if !setup_mode {
            sup.start().await?;
            print_router(&sup, started, port_file.as_deref()).await?;
        }
        if let Some(sync) = &sync {
            sync.start(sup.clone());
            println!("vllm-sr: replicas: following the config versions of the shared database");
        }
        let _dashboard = match (dashboard, creds) {
            (Some(listen), Some(creds)) => {
                let d = vsr_dashboard::start(
                    vsr_dashboard::DashboardOptions {
                        listen,
                        data_dir: data_dir.clone(),
                        readonly: dash_flags.0,
                        allow_private_import: dash_flags.1,
                        platform: platform.clone(),
                    },
                    sup.clone(),
                    creds,
                    sync.clone(),
                )
                .await?;
                print_dashboard(&d, setup_mode, dashboard_port_file.as_deref())?;
                Some(d)
            }
            _ => None,
        };
        let info = vsr_app::run_file::RunInfo {
            pid: std::process::id(),
            router: sup
                .with_app(|a| a.map(|a| a.server.addrs.clone()))
                .await
                .unwrap_or_default(),
            dashboard: _dashboard.as_ref().map(|d| d.addr),
            config: sup.config_path(),
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        if let Err(e) = info.write(&data_dir) {
            tracing::warn!(error = %e, "cannot write the run file; `vllm-sr status` will not see this router");
        }
        let _ = std::io::stdout().flush();
        vsr_server::run::shutdown_signal().await;
        anyhow::Ok(sup.shutdown().await)
    })??;
    vsr_app::run_file::RunInfo::remove_if_mine(&run_dir);
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

async fn print_router(
    sup: &Supervisor,
    started: std::time::Instant,
    port_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    sup.with_app(|app| {
        let Some(app) = app else { return Ok(()) };
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
        if let (Some(p), Some(a)) = (port_file, app.server.addrs.first()) {
            vsr_app::atomic_file::write_atomically(p, a.port().to_string().as_bytes())
                .with_context(|| format!("writing {}", p.display()))?;
        }
        for a in &app.server.addrs {
            println!("vllm-sr listening on http://{a}");
        }
        anyhow::Ok(())
    })
    .await
}

fn print_dashboard(
    d: &vsr_dashboard::Running,
    setup_mode: bool,
    port_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mut shown = d.addr;
    if shown.ip().is_unspecified() {
        shown.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    println!("vllm-sr: dashboard on http://{shown}");
    if setup_mode {
        println!(
            "vllm-sr: no config yet: open the dashboard to create the first admin and run setup"
        );
    } else if let Some((user, password)) = &d.initial_admin {
        println!(
            "vllm-sr: dashboard login: user `{user}`, password `{password}` (shown once; also in {})",
            d.dash
                .opts
                .data_dir
                .join("initial-admin-password")
                .display()
        );
    } else if d.dash.sync.is_some() {
        println!(
            "vllm-sr: dashboard login: an existing dashboard user (users live in the shared database)"
        );
    } else {
        println!(
            "vllm-sr: dashboard login: an existing dashboard user (users live in {})",
            d.dash.opts.data_dir.join("dashboard.db").display()
        );
    }
    if let Some(p) = port_file {
        vsr_app::atomic_file::write_atomically(p, d.addr.port().to_string().as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// `--target docker`: the same flags, handed to `vllm-sr serve` inside the image.
fn run_container(args: &Args) -> anyhow::Result<ExitCode> {
    if args.demo {
        anyhow::bail!("--demo runs in this process; use it without --target docker");
    }
    // The container publishes the config's first listener port (or --port) as the same port.
    let router_port = args.port.filter(|p| *p != 0).unwrap_or_else(|| {
        vsr_app::load_config(&args.config)
            .ok()
            .and_then(|l| l.config.listeners.first().map(|l| l.port))
            .unwrap_or(8899)
    });
    let dashboard = !args.no_dashboard && !args.minimal;
    let mut serve_args = Vec::new();
    if args.port.is_some() {
        serve_args.extend(["--port".into(), router_port.to_string()]);
    }
    if dashboard {
        serve_args.extend(["--dashboard-port".into(), args.dashboard_port.to_string()]);
    } else {
        serve_args.push("--minimal".into());
    }
    if args.readonly {
        serve_args.push("--readonly".into());
    }
    if let Some(p) = args.platform {
        serve_args.extend(["--platform".into(), p.as_str().into()]);
    }
    crate::cmd::container::ContainerRun {
        config: &args.config,
        image: args.image.as_deref(),
        pull: args.image_pull_policy.map(|p| match p {
            PullPolicy::Always => "always",
            PullPolicy::Ifnotpresent => "missing",
            PullPolicy::Never => "never",
        }),
        router_port,
        dashboard_port: dashboard.then_some(args.dashboard_port),
        detach: args.detach,
        serve_args,
    }
    .run()
}
