//! The live router of `vllm-sr serve`: models, the config loader that builds the learned
//! router for each config generation, the replay recorder and API, and (for `--demo`) an
//! in-process simulated backend.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vsr_models::HandleOptions;
use vsr_server::sim::{SimOptions, SimServer};
use vsr_server::{ConfigLoader, RunningServer, ServeOptions};

use crate::classifier::LearnedClassifier;
use crate::models::{Models, encoder_spec};
use crate::replay::Replay;

/// The built-in profile (`profiles/balance`), used by `--demo` when no config file exists.
pub const DEMO_PROFILE: &str = include_str!("../../../profiles/balance/balance.yaml");

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Model(#[from] vsr_models::ModelError),
    #[error(transparent)]
    Server(#[from] vsr_server::ServerError),
    #[error("replay store ({0})")]
    Replay(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("demo config: {0}")]
    Demo(String),
}

/// What `vllm-sr serve` was asked for.
#[derive(Clone)]
pub struct AppOptions {
    /// The config file (watched and reloaded on change unless `watch` is off).
    pub config: PathBuf,
    /// Run against an in-process simulated backend (the built-in profile when `config` does
    /// not exist).
    pub demo: bool,
    /// Listen here instead of the config's listeners.
    pub listen_override: Option<SocketAddr>,
    pub max_body_bytes: Option<usize>,
    /// Requests allowed to wait for classification before the router answers 429.
    pub classifier_queue: usize,
    pub watch: bool,
    /// The encoder's queue and worker threads.
    pub encoder: HandleOptions,
    /// Where the embedded replay database lives ([`crate::data_dir`] for `vllm-sr serve`).
    pub data_dir: PathBuf,
    /// Credentials for the router's protected management endpoints (the dashboard's users).
    pub management_auth: Option<Arc<dyn vsr_server::ManagementAuth>>,
    /// The PostgreSQL that replicas share (`vllm-sr serve --shared-db`): replay records go
    /// there unless the config names a PostgreSQL of its own.
    pub shared_db: Option<SharedDb>,
    /// More management endpoints to mount beside the router's own (e.g. `/config/sync`).
    pub routes: vsr_server::axum::Router,
}

/// A PostgreSQL database shared by router replicas, and the schema of this deployment in it
/// (`None`: the connection's default, `public`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedDb {
    pub url: String,
    pub schema: Option<String>,
}

/// The demo's simulated backend and the generated config that points at it (deleted on drop).
pub struct DemoBackend {
    pub sim: SimServer,
    pub config: PathBuf,
}

impl Drop for DemoBackend {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
    }
}

/// A started router.
pub struct App {
    pub server: RunningServer,
    pub replay: Option<Arc<Replay>>,
    pub demo: Option<DemoBackend>,
}

impl AppOptions {
    /// Loads the encoder the config names (installing the default one first for `--demo`).
    /// Blocking: call it before starting the async runtime.
    pub fn load_models(&self) -> Result<Models, AppError> {
        Models::discover(
            encoder_spec(&self.config).as_deref(),
            self.demo,
            self.encoder,
        )
    }
}

/// The loader that turns a config file into proxy settings plus the full router. Each
/// (re)load validates with vsr-config and builds a fresh router on a blocking thread; the
/// server swaps it in atomically. A successful build also reloads the replay recorder
/// (capture flags, prices).
fn config_loader(models: Models, replay: Option<Arc<Replay>>) -> Arc<dyn ConfigLoader> {
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

impl App {
    /// Starts the router (and the demo backend). Must run inside a tokio runtime.
    pub async fn start(opts: AppOptions, models: Models) -> Result<App, AppError> {
        let mut config = opts.config.clone();
        let mut demo = None;
        if opts.demo {
            let backend = start_demo(&opts.config).await?;
            config = backend.config.clone();
            demo = Some(backend);
        } else if !config.exists() {
            return Err(AppError::Config(format!(
                "config file {} not found (pass --config FILE, or --demo to try the built-in profile)",
                config.display()
            )));
        }
        let loaded = crate::load_config(&config)?;
        let replay = Replay::open(&loaded.config, &opts.data_dir, opts.shared_db.as_ref())?;
        let mut serve = ServeOptions::new(&config, config_loader(models, replay.clone()));
        if let Some(r) = &replay {
            serve.record_sink = Some(r.clone() as Arc<dyn vsr_server::RecordSink>);
            serve.routes = crate::replay::replay_api(r.store.clone());
        }
        serve.routes = serve.routes.merge(opts.routes.clone());
        serve.listen_override = opts.listen_override;
        serve.max_body_bytes = opts.max_body_bytes;
        serve.classifier_queue = opts.classifier_queue;
        serve.management_auth = opts.management_auth.clone();
        serve.shared_db = opts
            .shared_db
            .as_ref()
            .map(|d| (d.url.clone(), d.schema.clone()));
        serve.watch_interval = opts.watch.then_some(Duration::from_millis(500));
        let server = vsr_server::serve(serve).await?;
        Ok(App {
            server,
            replay,
            demo,
        })
    }

    /// Stops the listeners and lets requests in flight finish their records (up to 5 s).
    /// Returns the replay recorder, whose queue the caller drains outside the runtime.
    pub fn shutdown(self) -> Option<Arc<Replay>> {
        self.server.shutdown();
        if let Some(r) = &self.replay {
            r.wait_in_flight(Duration::from_secs(5));
        }
        self.replay.clone()
    }
}

/// The demo: a simulated backend serving the profile's aliases, and a copy of the profile whose
/// backends point at it.
async fn start_demo(config: &std::path::Path) -> Result<DemoBackend, AppError> {
    let source = if config.exists() {
        std::fs::read_to_string(config).map_err(|source| AppError::Io {
            context: format!("reading {}", config.display()),
            source,
        })?
    } else {
        DEMO_PROFILE.to_string()
    };
    let (_, aliases) = vsr_server::run::retarget_backends(&source, "127.0.0.1:0")
        .map_err(|e| AppError::Demo(e.to_string()))?;
    let sim = vsr_server::sim::start(
        ([127, 0, 0, 1], 0).into(),
        SimOptions {
            models: aliases,
            ..Default::default()
        },
    )
    .await
    .map_err(|source| AppError::Io {
        context: "starting the demo sim backend".into(),
        source,
    })?;
    let (yaml, _) = vsr_server::run::retarget_backends(&source, &sim.addr.to_string())
        .map_err(|e| AppError::Demo(e.to_string()))?;
    let path = std::env::temp_dir().join(format!("vllm-sr-demo-{}.yaml", std::process::id()));
    std::fs::write(&path, yaml).map_err(|source| AppError::Io {
        context: format!("writing {}", path.display()),
        source,
    })?;
    Ok(DemoBackend { sim, config: path })
}
