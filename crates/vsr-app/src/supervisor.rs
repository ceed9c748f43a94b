//! The router's lifecycle inside one process: absent while the dashboard's setup wizard runs
//! (no config yet), started once a config exists, stopped at shutdown. The dashboard reads the
//! live parts (server state, replay, models) through [`Live`] snapshots.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use vsr_server::Shared;

use crate::app::{App, AppError, AppOptions};
use crate::models::Models;
use crate::replay::Replay;

/// What the dashboard needs of a running router.
#[derive(Clone)]
pub struct Live {
    pub shared: Arc<Shared>,
    pub replay: Option<Arc<Replay>>,
    pub models: Models,
    /// The file the router serves (for `--demo`, the generated copy).
    pub config_path: PathBuf,
    /// Where the OpenAI data plane answers (loopback when bound to every interface).
    pub data_plane: SocketAddr,
}

/// Owns the router of this process, if one runs.
pub struct Supervisor {
    opts: AppOptions,
    models: Mutex<Option<Models>>,
    app: tokio::sync::Mutex<Option<App>>,
    live: Mutex<Option<Live>>,
    /// One config change at a time (dashboard deploy, rollback, activation, replica sync).
    config_change: tokio::sync::Mutex<()>,
}

impl Supervisor {
    /// `models`: already loaded (start-up with a config), or `None` to load them on first
    /// start (after setup).
    pub fn new(opts: AppOptions, models: Option<Models>) -> Arc<Self> {
        Arc::new(Self {
            opts,
            models: Mutex::new(models),
            app: tokio::sync::Mutex::new(None),
            live: Mutex::new(None),
            config_change: tokio::sync::Mutex::new(()),
        })
    }

    pub fn options(&self) -> &AppOptions {
        &self.opts
    }

    /// The running router, or `None` in setup mode.
    pub fn live(&self) -> Option<Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Held while the served config changes, so that changes from the dashboard and from the
    /// replicas' shared database never interleave.
    pub async fn config_change(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.config_change.lock().await
    }

    /// The config file the router serves or will serve.
    pub fn config_path(&self) -> PathBuf {
        self.live()
            .map(|l| l.config_path)
            .unwrap_or_else(|| self.opts.config.clone())
    }

    /// Starts the router on the configured file (loading the encoder first if needed). A
    /// second call while it runs does nothing.
    pub async fn start(&self) -> Result<(), AppError> {
        let mut slot = self.app.lock().await;
        if slot.is_some() {
            return Ok(());
        }
        let loaded = self
            .models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let models = match loaded {
            Some(m) => m,
            None => {
                // First start after setup: the encoder the new config names, installing the
                // default one when missing (as `--demo` does), so activation does not fail on
                // a machine that never fetched it.
                let opts = self.opts.clone();
                let m = tokio::task::spawn_blocking(move || {
                    Models::discover(
                        crate::models::encoder_spec(&opts.config).as_deref(),
                        true,
                        opts.encoder,
                    )
                })
                .await
                .map_err(|e| AppError::Config(format!("loading the encoder: {e}")))??;
                *self.models.lock().unwrap_or_else(|p| p.into_inner()) = Some(m.clone());
                m
            }
        };
        let app = App::start(self.opts.clone(), models.clone()).await?;
        let config_path = app
            .demo
            .as_ref()
            .map(|d| d.config.clone())
            .unwrap_or_else(|| self.opts.config.clone());
        let mut data_plane = app
            .server
            .addrs
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        if data_plane.ip().is_unspecified() {
            data_plane.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        *self.live.lock().unwrap_or_else(|p| p.into_inner()) = Some(Live {
            shared: app.server.shared.clone(),
            replay: app.replay.clone(),
            models,
            config_path,
            data_plane,
        });
        *slot = Some(app);
        Ok(())
    }

    /// The running app's listen addresses and demo backend, for printing.
    pub async fn with_app<T>(&self, f: impl FnOnce(Option<&App>) -> T) -> T {
        f(self.app.lock().await.as_ref())
    }

    /// Stops the router (if any) and returns its replay recorder for draining.
    pub async fn shutdown(&self) -> Option<Arc<Replay>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.app.lock().await.take().and_then(App::shutdown)
    }
}
