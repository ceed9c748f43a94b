//! Replicas over one PostgreSQL follow the active config version.
//!
//! A deploy through any replica's dashboard records the version as active and notifies the
//! channel ([`PostgresDb::channel`]). Every replica listens on a connection of its own (made
//! again with backoff when it drops) and, on each notification, on each reconnect and every
//! [`POLL`] besides, reads the active version: one it does not run yet is validated, written
//! to its config file atomically and hot-reloaded (the router's one reload path, so requests
//! in flight finish on the generation they started with and none is dropped). A version that
//! does not validate or that the router refuses is not applied: the replica logs it, keeps its
//! running config and reports the refusal in its status. A replica that loses the database
//! keeps routing on its current config and catches up when it is back (the reconnect reads
//! the active version, not only the notifications it missed).

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use vsr_app::Supervisor;

use crate::db::postgres::Target;
use crate::db::{DashStore, PostgresDb, Version, now};

/// Read the active version this often even without a notification (a missed one, a
/// notification sent while this replica's listener was reconnecting).
pub const POLL: Duration = Duration::from_secs(30);
/// Wait before reading the active version again after a failed read.
const RETRY: Duration = Duration::from_secs(1);
/// How often the listener checks that its connection still reaches the server.
const PING: Duration = Duration::from_secs(5);
/// Longest wait between two connection attempts of the listener.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A version this replica would not run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Refused {
    pub version: i64,
    pub error: String,
    pub at: i64,
}

/// What a replica reports about following the shared config.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SyncState {
    /// The listener's connection to the database is up.
    pub connected: bool,
    /// The active version last read from the database.
    pub active_version: Option<i64>,
    /// The version this replica runs (its config file is that version's text).
    pub applied_version: Option<i64>,
    /// The newest version refused (invalid, or the router refused it); cleared by the next
    /// version applied.
    pub refused: Option<Refused>,
    /// The last failure reading the database (cleared by the next success).
    pub last_error: Option<String>,
    /// When the active version was last read (unix seconds).
    pub last_check: Option<i64>,
}

/// This replica's following of the active version.
pub struct ConfigSync {
    store: Arc<PostgresDb>,
    /// Set by [`start`](Self::start).
    sup: OnceLock<Arc<Supervisor>>,
    state: Mutex<SyncState>,
    wake: mpsc::UnboundedSender<()>,
    wakes: Mutex<Option<mpsc::UnboundedReceiver<()>>>,
}

impl ConfigSync {
    /// A sync over `store`, not yet following anything: mount its [`routes`](Self::routes),
    /// then [`start`](Self::start) it once the router runs.
    pub fn new(store: Arc<PostgresDb>) -> Arc<Self> {
        let (wake, rx) = mpsc::unbounded_channel();
        Arc::new(ConfigSync {
            store,
            sup: OnceLock::new(),
            state: Mutex::new(SyncState::default()),
            wake,
            wakes: Mutex::new(Some(rx)),
        })
    }

    /// Before the router starts (blocking; call it outside the async runtime): when the
    /// database is reachable and has an active version, write it to `config` unless the file
    /// holds it already, so a replica starts on the fleet's config (or, with no file of its
    /// own, on any config at all). A version that does not validate is left out (logged).
    pub fn prepare(&self, config: &std::path::Path) {
        let active = match self.store.active_version() {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "config sync: database unreachable at start; serving {}", config.display());
                return;
            }
        };
        let yaml = active.yaml.unwrap_or_default();
        if std::fs::read_to_string(config).ok().as_deref() == Some(yaml.as_str()) {
            return;
        }
        if crate::config_api::validated(&yaml).is_err() {
            tracing::error!(
                version = active.id,
                "config sync: the active version does not validate; not written at start"
            );
            return;
        }
        match crate::write_atomically(config, &yaml) {
            Ok(()) => {
                tracing::info!(version = active.id, path = %config.display(), "config sync: wrote the active version before start")
            }
            Err(e) => tracing::error!(error = %e, "config sync: cannot write the active version"),
        }
    }

    /// Starts the listener thread and the task that applies versions (inside a tokio
    /// runtime). Both stop when the sync is dropped. A second call does nothing.
    pub fn start(self: &Arc<Self>, sup: Arc<Supervisor>) {
        let Some(mut rx) = self.wakes.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let _ = self.sup.set(sup);
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // Several wake-ups in a row need one read.
                while rx.try_recv().is_ok() {}
                let Some(sync) = weak.upgrade() else { return };
                sync.check().await;
            }
        });
        let target = self.store.target().clone();
        let (weak, wake) = (Arc::downgrade(self), self.wake.clone());
        let spawned = std::thread::Builder::new()
            .name("vsr-config-listen".into())
            .spawn(move || listen(target, weak, wake));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "config sync: cannot start the listener thread");
        }
    }

    pub fn state(&self) -> SyncState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut SyncState)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Reads the active version now (next to the notifications and the poll).
    pub fn wake(&self) {
        let _ = self.wake.send(());
    }

    /// The dashboard deployed version `id` on this replica (file written, router reloaded).
    pub fn deployed_here(&self, id: i64) {
        self.update(|s| {
            s.applied_version = Some(id);
            s.active_version = Some(id);
            s.refused = None;
        });
    }

    /// The status as JSON, with the router's running generation.
    pub fn status(&self) -> Value {
        let generation = self
            .sup
            .get()
            .and_then(|s| s.live())
            .map(|l| l.shared.runtime.load().generation);
        json!({
            "backend": "postgres",
            "generation": generation,
            "sync": self.state(),
        })
    }

    /// `GET /config/sync` on the router's management plane: the same status, for load
    /// balancers and scripts that do not sign in to the dashboard.
    pub fn routes(self: &Arc<Self>) -> axum::Router {
        let weak = Arc::downgrade(self);
        axum::Router::new().route(
            "/config/sync",
            axum::routing::get(move || {
                let sync = weak.upgrade();
                async move {
                    match sync {
                        Some(s) => axum::Json(s.status()),
                        None => axum::Json(json!({"sync": null})),
                    }
                }
            }),
        )
    }

    /// Reads the active version and runs it if this replica does not yet.
    async fn check(&self) {
        let Some(sup) = self.sup.get() else { return };
        let _guard = sup.config_change().await;
        let Some(live) = sup.live() else {
            // Setup mode (no config file, and no database at start): once the fleet has an
            // active version, run it instead of waiting for the wizard.
            self.start_router(sup).await;
            return;
        };
        let running = match tokio::fs::read_to_string(&live.config_path).await {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("cannot read {}: {e}", live.config_path.display());
                tracing::error!("config sync: {msg}");
                self.update(|s| s.last_error = Some(msg));
                return;
            }
        };
        let store = self.store.clone();
        let text = running.clone();
        // The first replica to start records its file as the first version.
        let active = tokio::task::spawn_blocking(move || store.start_version(&text)).await;
        let version = match active {
            Ok(Ok(v)) => v,
            failed => {
                let e = match failed {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                tracing::warn!(error = %e, "config sync: cannot read the active version");
                self.update(|s| s.last_error = Some(e));
                // The first call after the database came back may meet the connection it
                // dropped (the store connects again on the next call): while the listener
                // reaches the database, try again soon. (Otherwise its reconnect wakes us.)
                if self.state().connected {
                    let wake = self.wake.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(RETRY).await;
                        let _ = wake.send(());
                    });
                }
                return;
            }
        };
        self.update(|s| {
            s.active_version = Some(version.id);
            s.last_error = None;
            s.last_check = Some(now());
        });
        self.apply(&live, &running, version).await;
    }

    /// Setup mode: writes the active version (when there is a valid one) to the config file
    /// and starts the router on it.
    async fn start_router(&self, sup: &Arc<Supervisor>) {
        let store = self.store.clone();
        let active = match tokio::task::spawn_blocking(move || store.active_version()).await {
            Ok(Ok(Some(v))) => v,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                self.update(|s| s.last_error = Some(e.to_string()));
                return;
            }
            Err(e) => {
                self.update(|s| s.last_error = Some(e.to_string()));
                return;
            }
        };
        self.update(|s| {
            s.active_version = Some(active.id);
            s.last_error = None;
            s.last_check = Some(now());
        });
        let yaml = active.yaml.unwrap_or_default();
        if crate::config_api::validated(&yaml).is_err() {
            return;
        }
        if let Err(e) = crate::write_atomically(&sup.config_path(), &yaml) {
            tracing::error!(error = %e, "config sync: cannot write the active version");
            return;
        }
        match sup.start().await {
            Ok(()) => {
                tracing::info!(
                    version = active.id,
                    "config sync: router started on the active version"
                );
                self.update(|s| s.applied_version = Some(active.id));
            }
            Err(e) => {
                tracing::error!(error = %e, "config sync: the router did not start on the active version")
            }
        }
    }

    async fn apply(&self, live: &vsr_app::Live, running: &str, version: Version) {
        let state = self.state();
        let yaml = version.yaml.unwrap_or_default();
        if yaml == running {
            if state.applied_version != Some(version.id) {
                tracing::info!(
                    version = version.id,
                    "config sync: running the active version"
                );
            }
            self.update(|s| s.applied_version = Some(version.id));
            return;
        }
        if state
            .refused
            .as_ref()
            .is_some_and(|r| r.version == version.id)
        {
            return;
        }
        let refuse = |error: String| {
            tracing::error!(
                version = version.id,
                error = %error,
                "config sync: refused the active version; keeping the running config"
            );
            self.update(|s| {
                s.refused = Some(Refused {
                    version: version.id,
                    error,
                    at: now(),
                })
            });
        };
        if let Err(e) = crate::config_api::validated(&yaml) {
            let detail = match &e {
                crate::DashError::Invalid { diagnostics, .. } => diagnostics
                    .iter()
                    .filter(|d| d.severity == "error")
                    .take(3)
                    .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            refuse(format!("the version does not validate: {detail}"));
            return;
        }
        if let Err(e) = crate::write_atomically(&live.config_path, &yaml) {
            refuse(e.to_string());
            return;
        }
        match live.shared.reload().await {
            Ok(generation) => {
                tracing::info!(
                    version = version.id,
                    generation,
                    author = %version.author,
                    "config sync: applied the active version"
                );
                self.update(|s| {
                    s.applied_version = Some(version.id);
                    s.refused = None;
                });
            }
            Err(e) => {
                if let Err(w) = crate::write_atomically(&live.config_path, running) {
                    tracing::error!(error = %w, "config sync: cannot put the running config file back");
                }
                refuse(format!("the router refused it: {e}"));
            }
        }
    }
}

/// The listener: one connection doing `LISTEN`, made again with backoff when it drops. Wakes
/// the applier on each notification, after each (re)connect and every [`POLL`].
fn listen(target: Target, sync: Weak<ConfigSync>, wake: mpsc::UnboundedSender<()>) {
    let channel = target.channel();
    let mut backoff = Duration::from_millis(200);
    let set_connected = |up: bool, error: Option<String>| match sync.upgrade() {
        Some(s) => {
            s.update(|st| {
                st.connected = up;
                if error.is_some() {
                    st.last_error = error;
                }
            });
            true
        }
        None => false,
    };
    loop {
        if sync.strong_count() == 0 {
            return;
        }
        let mut client = match target.connect(Duration::from_secs(3)).and_then(|mut c| {
            c.batch_execute(&format!("LISTEN {}", vsr_pg::quote_ident(&channel)))
                .map_err(|e| crate::db::StoreError::Postgres(vsr_pg::error_text(&e)))?;
            Ok(c)
        }) {
            Ok(c) => c,
            Err(e) => {
                if !set_connected(false, Some(e.to_string())) {
                    return;
                }
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "config sync: database unreachable; routing on the running config");
                // A timer poll also covers a database that is back while the listener waits.
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        if !set_connected(true, None) {
            return;
        }
        tracing::info!(channel = %channel, "config sync: listening for deployed versions");
        // Catch up on what happened while this replica was away.
        if wake.send(()).is_err() {
            return;
        }
        let mut last_poll = Instant::now();
        let mut last_ping = Instant::now();
        loop {
            if sync.strong_count() == 0 {
                return;
            }
            let mut notes = client.notifications();
            let mut it = notes.timeout_iter(Duration::from_secs(1));
            let woke = match it.next() {
                Ok(Some(_)) => {
                    // Drain what else arrived; one read covers them all.
                    while let Ok(Some(_)) = it.next() {}
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(error = %vsr_pg::error_text(&e), "config sync: lost the database connection");
                    break;
                }
            };
            drop(it);
            drop(notes);
            if client.is_closed() {
                tracing::warn!("config sync: lost the database connection");
                break;
            }
            if woke || last_poll.elapsed() >= POLL {
                last_poll = Instant::now();
                if wake.send(()).is_err() {
                    return;
                }
            }
            // A cheap round trip notices a server that went away without closing the socket.
            if last_ping.elapsed() >= PING {
                last_ping = Instant::now();
                if let Err(e) = client.simple_query("SELECT 1") {
                    tracing::warn!(error = %vsr_pg::error_text(&e), "config sync: lost the database connection");
                    break;
                }
            }
        }
        if !set_connected(false, None) {
            return;
        }
    }
}
