//! Live state: the current config snapshot (swapped atomically on reload) and the
//! process-lifetime parts (HTTP client, metrics, record sink, classifier queue).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use crate::classify::{Classifier, FallbackClassifier};
use crate::metrics::Metrics;
use crate::pool::{Pool, spawn_health_checks};
use crate::record::RecordSink;
use crate::settings::ProxySettings;
use crate::upstream::client::Clients;

/// A validated config, ready to be swapped in.
pub struct LoadedConfig {
    pub settings: ProxySettings,
    pub classifier: Arc<dyn Classifier>,
    /// The loaded config as JSON (`GET /config/router`).
    pub source: serde_json::Value,
    pub warnings: Vec<String>,
}

/// Builds a [`LoadedConfig`] from a file. The binary plugs the engine in here; an `Err` keeps
/// the previous config running.
pub trait ConfigLoader: Send + Sync {
    fn load(&self, path: &Path) -> Result<LoadedConfig, String>;
}

/// Validates the file with `vsr-config` (the full schema, errors with file:line:column), then
/// builds the data-plane settings from the typed config. Auto requests go to the default
/// model: the engine adapter replaces [`FallbackClassifier`] with real routing.
pub struct ValidatingLoader {
    factory: Option<Box<ClassifierFactory>>,
}

/// Builds the classifier for a validated config (the engine adapter).
pub type ClassifierFactory = dyn Fn(&vsr_config::Config, &ProxySettings) -> Result<Arc<dyn Classifier>, String>
    + Send
    + Sync;

impl Default for ValidatingLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl ValidatingLoader {
    /// Routes every auto request to the default model.
    pub fn new() -> Self {
        Self { factory: None }
    }

    /// Routes with the classifier `factory` builds for each (re)loaded config; a factory error
    /// refuses the config like a validation error.
    pub fn with_classifier(
        factory: impl Fn(&vsr_config::Config, &ProxySettings) -> Result<Arc<dyn Classifier>, String>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            factory: Some(Box::new(factory)),
        }
    }
}

impl ConfigLoader for ValidatingLoader {
    fn load(&self, path: &Path) -> Result<LoadedConfig, String> {
        let origin = path.display().to_string();
        let loaded = vsr_config::load_file(path).map_err(|e| e.to_string())?;
        let settings =
            ProxySettings::from_config(&loaded.config, &origin).map_err(|e| e.to_string())?;
        let source = crate::settings::source_json(&loaded.config);
        let classifier = match &self.factory {
            Some(f) => f(&loaded.config, &settings).map_err(|e| format!("{origin}: {e}"))?,
            None => Arc::new(FallbackClassifier::new(&settings)),
        };
        Ok(LoadedConfig {
            classifier,
            settings,
            source,
            warnings: loaded.warnings.iter().map(|w| w.to_string()).collect(),
        })
    }
}

/// One config generation. Requests hold an `Arc` to it, so in-flight work finishes on the
/// generation it started with.
pub struct Runtime {
    pub settings: ProxySettings,
    pub pools: HashMap<String, Arc<Pool>>,
    pub classifier: Arc<dyn Classifier>,
    pub source: serde_json::Value,
    pub generation: u64,
}

impl Runtime {
    pub fn build(
        loaded: LoadedConfig,
        clients: &Clients,
        generation: u64,
        max_body_override: Option<usize>,
    ) -> Self {
        let mut settings = loaded.settings;
        if let Some(m) = max_body_override {
            settings.max_body_bytes = m;
        }
        let pools = settings
            .models
            .values()
            .map(|m| {
                let pool = Arc::new(Pool::new(m, clients));
                spawn_health_checks(&pool);
                (m.name.clone(), pool)
            })
            .collect();
        Self {
            settings,
            pools,
            classifier: loaded.classifier,
            source: loaded.source,
            generation,
        }
    }
}

pub struct Shared {
    pub runtime: ArcSwap<Runtime>,
    /// Upstream HTTP(S) clients, kept across reloads (their keep-alive pools too).
    pub clients: Clients,
    pub metrics: Metrics,
    pub sink: Option<Arc<dyn RecordSink>>,
    pub loader: Arc<dyn ConfigLoader>,
    pub config_path: PathBuf,
    /// Bounds classification work waiting for a blocking thread; full means 429.
    pub classify_queue: Arc<Semaphore>,
    /// The permits `classify_queue` started with (its depth is this minus the free ones).
    pub classify_capacity: usize,
    pub max_body_override: Option<usize>,
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Credentials for protected management requests (none: all open).
    pub auth: Option<Arc<dyn crate::management::ManagementAuth>>,
    /// Conversation state for session-stable routing (kept across reloads).
    pub sessions: vsr_session::Stores,
    /// What router learning learned about models (adaptation; kept across reloads).
    pub experience: Arc<vsr_session::Experience>,
    /// Recent latencies per model, read by live selection (kept across reloads).
    pub latency: crate::live::LatencyBook,
    /// Bytes per token learned from providers' usage (August `context` counts).
    pub tokens: crate::live::TokenCalibrator,
    /// Workflows waiting for the client's tool results (kept across reloads).
    pub flows: crate::looper::FlowStore,
    /// The response cache (process lifetime; each generation sets its bounds).
    pub cache: Arc<vsr_cache::ResponseCache>,
    /// Header, JSON depth, messages and stream-duration limits of the data plane.
    pub limits: crate::limits::Limits,
}

impl Shared {
    /// Validates the file, then swaps it in atomically. On error the old config stays.
    pub async fn reload(&self) -> Result<u64, String> {
        let _guard = self.reload_lock.lock().await;
        let loader = Arc::clone(&self.loader);
        let path = self.config_path.clone();
        let loaded = tokio::task::spawn_blocking(move || loader.load(&path))
            .await
            .map_err(|e| format!("config loader panicked: {e}"))?;
        match loaded {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!(target: "vsr_server::reload", "{w}");
                }
                let old = self.runtime.load();
                if listeners_changed(&old.settings, &loaded.settings) {
                    tracing::warn!("listener changes take effect on restart only");
                }
                let generation = old.generation + 1;
                let rt = Runtime::build(loaded, &self.clients, generation, self.max_body_override);
                self.cache.configure(&rt.settings.cache.store);
                self.runtime.store(Arc::new(rt));
                self.metrics.reload(true);
                tracing::info!(generation, "config reloaded");
                Ok(generation)
            }
            Err(e) => {
                self.metrics.reload(false);
                tracing::error!(error = %e, "config reload refused; keeping the running config");
                Err(e)
            }
        }
    }
}

fn listeners_changed(a: &ProxySettings, b: &ProxySettings) -> bool {
    a.listeners.len() != b.listeners.len()
        || a.listeners
            .iter()
            .zip(&b.listeners)
            .any(|(x, y)| x.port != y.port || x.address != y.address)
}
