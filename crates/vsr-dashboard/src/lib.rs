//! vsr-dashboard: the dashboard `vllm-sr serve` answers on :8700 — the single-page app built
//! from `dashboard/` (embedded, see [`assets`]) and its JSON API under `/api/`, on the
//! composition library ([`vsr_app::Supervisor`] owns the router; the dashboard reads its live
//! state and asks it to start after setup). The API is documented in `docs/dashboard.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use vsr_app::Supervisor;

mod assets;
pub mod auth;
mod config_api;
pub mod db;
pub mod error;
pub mod fetch;
mod insights;
mod playground;
mod routing;
mod secrets;
mod setup;
mod status;
pub mod sync;
mod users;

pub use config_api::write_atomically;
pub use error::{DashError, Diagnostic};

/// What `vllm-sr serve` was asked for the dashboard.
#[derive(Debug, Clone)]
pub struct DashboardOptions {
    pub listen: SocketAddr,
    /// Where `dashboard.db` and `dashboard.secret` live (the router's data dir).
    pub data_dir: PathBuf,
    /// Playground and reading only: every config change is refused.
    pub readonly: bool,
    /// Let "import from URL" reach private, loopback and link-local addresses.
    pub allow_private_import: bool,
    /// `--platform` (e.g. `amd`), shown by the dashboard.
    pub platform: Option<String>,
}

/// The dashboard's shared state.
pub struct Dash {
    pub creds: Arc<auth::Credentials>,
    pub sup: Arc<Supervisor>,
    pub opts: DashboardOptions,
    /// Set when replicas share a PostgreSQL: this replica's following of the active version.
    pub sync: Option<Arc<sync::ConfigSync>>,
    pub(crate) client: playground::Client,
}

impl std::ops::Deref for Dash {
    type Target = auth::Credentials;
    fn deref(&self) -> &auth::Credentials {
        &self.creds
    }
}

impl Dash {
    /// True while no router runs (no config yet): the setup wizard's time.
    pub fn setup_mode(&self) -> bool {
        self.sup.live().is_none()
    }

    /// Records a write in the audit log; a failure is logged, never hidden from the operator.
    pub fn audit(&self, user: &str, action: &str, detail: &str) {
        if let Err(e) = self.db.audit(user, action, detail) {
            tracing::error!(error = %e, action, "cannot write the audit log");
        }
    }

    pub fn require_writable(&self) -> Result<(), DashError> {
        if self.opts.readonly {
            Err(DashError::ReadOnly)
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("dashboard data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("dashboard database {path}: {source}")]
    Db {
        path: String,
        source: db::StoreError,
    },
    #[error("dashboard cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Password(String),
}

/// A started dashboard.
pub struct Running {
    pub addr: SocketAddr,
    pub dash: Arc<Dash>,
    /// Set when this start created the first admin (config present, no user yet): its
    /// password, shown once.
    pub initial_admin: Option<(String, String)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts serving over `creds` (opened with [`auth::Credentials::open`] on `opts.data_dir`, or
/// [`auth::Credentials::open_shared`] for replicas, and given to the router too); `sync` is the
/// replica's config sync when replicas share a PostgreSQL. Must run inside a tokio runtime.
pub async fn start(
    opts: DashboardOptions,
    sup: Arc<Supervisor>,
    creds: Arc<auth::Credentials>,
    sync: Option<Arc<sync::ConfigSync>>,
) -> Result<Running, StartError> {
    let dash = Arc::new(Dash {
        creds,
        sup,
        opts: opts.clone(),
        sync,
        client: playground::client(),
    });
    let initial_admin = first_admin(&dash)
        .await
        .map_err(|e| StartError::Password(e.to_string()))?;
    config_api::record_running_version(&dash);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: opts.listen,
        source,
    })?;
    let app = router(dash.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "dashboard server stopped");
        }
    });
    tracing::info!(%addr, "dashboard listening");
    Ok(Running {
        addr,
        dash,
        initial_admin,
        task,
    })
}

/// With a running router and no user, nobody could ever sign in (the first-admin form is a
/// setup-mode step): create `admin` with a random password, shown once and written to
/// `<data dir>/initial-admin-password` (0600).
async fn first_admin(dash: &Arc<Dash>) -> Result<Option<(String, String)>, DashError> {
    if dash.setup_mode() {
        return Ok(None);
    }
    match dash.db.user_count() {
        Ok(0) => {}
        Ok(_) => return Ok(None),
        // Replicas start and route while the shared database is away; the first replica
        // that reaches it with no user there creates the admin at its next start.
        Err(e) if dash.sync.is_some() => {
            tracing::warn!(error = %e, "shared database unreachable: no initial admin made now");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    }
    let password = auth::random_token(12);
    let p = password.clone();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&p))
        .await
        .map_err(|e| DashError::Internal(e.to_string()))??;
    if !dash.db.create_first_user("admin", &hash)? {
        return Ok(None);
    }
    let path = dash.opts.data_dir.join("initial-admin-password");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    if let Err(e) = std::fs::create_dir_all(&dash.opts.data_dir)
        .and_then(|()| opts.open(&path))
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{password}\n").as_bytes()))
    {
        tracing::warn!(error = %e, path = %path.display(), "cannot write the initial admin password");
    }
    dash.audit("system", "user.create", "admin (initial, random password)");
    Ok(Some(("admin".into(), password)))
}

/// The dashboard's routes: the JSON API under `/api/` (behind [`auth::authenticate`]) and the
/// single-page app for every other GET.
pub fn router(dash: Arc<Dash>) -> Router {
    let api = Router::new()
        .route("/auth/state", get(users::state))
        .route("/auth/bootstrap", post(users::bootstrap))
        .route("/auth/login", post(users::login))
        .route("/auth/logout", post(users::logout))
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{name}",
            axum::routing::patch(users::update).delete(users::delete),
        )
        .route("/tokens", get(users::tokens).post(users::create_token))
        .route("/tokens/{id}", axum::routing::delete(users::delete_token))
        .route("/audit", get(users::audit))
        .route("/setup/backend", post(setup::check_backend))
        .route("/setup/review", post(setup::review))
        .route("/setup/activate", post(setup::activate))
        .route("/profiles", get(setup::profiles))
        .route("/profiles/{id}", get(setup::profile))
        .route("/import", post(setup::import))
        .route("/config", get(config_api::current))
        .route("/config/validate", post(config_api::validate))
        .route("/config/preview", post(config_api::preview))
        .route("/config/deploy", post(config_api::deploy))
        .route("/config/versions", get(config_api::versions))
        .route("/config/versions/{id}", get(config_api::version))
        .route("/config/diff", get(config_api::diff))
        .route("/config/rollback", post(config_api::rollback))
        .route("/dsl/compile", post(config_api::dsl_compile))
        .route("/dsl/format", post(config_api::dsl_format))
        .route("/dsl/decompile", post(config_api::dsl_decompile))
        .route("/eval", post(routing::eval))
        .route("/topology", get(routing::topology))
        .route("/probes/run", post(routing::run_probes))
        .route("/playground/chat", post(playground::chat))
        .route("/records", get(insights::records))
        .route("/records/{id}", get(insights::record))
        .route("/records/{id}/feedback", post(insights::feedback))
        .route("/insights", get(insights::insights))
        .route("/calibration", get(insights::calibration))
        .route("/status", get(status::status))
        .route("/logs", get(status::logs))
        .fallback(|| async { DashError::NotFound("no such API endpoint".into()) })
        .layer(axum::extract::DefaultBodyLimit::max(4 << 20))
        .route_layer(axum::middleware::from_fn_with_state(
            dash.clone(),
            auth::authenticate,
        ));
    Router::new()
        .nest("/api", api)
        .fallback(assets::serve)
        .with_state(dash)
}
