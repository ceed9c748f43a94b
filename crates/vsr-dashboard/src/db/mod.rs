//! The dashboard's own state: users, sessions, API tokens, the audit log, config versions and
//! the key that signs cookies. One replica keeps it in SQLite (`<data dir>/dashboard.db`);
//! replicas over a shared PostgreSQL (`vllm-sr serve --shared-db`) keep it there, so a user,
//! a session or a deployed version made through one replica is seen by all of them.
//! Calls are short transactions that block: the SQLite file is local, and PostgreSQL calls run
//! on a connection thread ([`vsr_pg::Worker`]) that fails fast while the server is away.

use serde::Serialize;

use crate::auth::Role;

pub mod postgres;
mod sqlite;

pub use self::postgres::PostgresDb;
pub use self::sqlite::SqliteDb;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(String),
    #[error("{0}")]
    Io(String),
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub username: String,
    pub role: Role,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub user: String,
    pub action: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub id: i64,
    pub created_at: i64,
    pub author: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yaml: Option<String>,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Where the dashboard keeps its state. Every call blocks briefly.
pub trait DashStore: Send + Sync {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// The key that signs session cookies and CSRF tokens. With PostgreSQL one key for all
    /// replicas (the first to ask stores `candidate`), so a cookie from one replica is
    /// accepted by every other.
    fn secret(&self, candidate: &[u8]) -> StoreResult<Vec<u8>>;

    // --- users
    fn user_count(&self) -> StoreResult<i64>;
    /// False when the name is taken.
    fn create_user(&self, name: &str, hash: &str, role: Role) -> StoreResult<bool>;
    /// Creates the first user only while there is none (one transaction, so two racing
    /// bootstraps, on one replica or on several, cannot both win).
    fn create_first_user(&self, name: &str, hash: &str) -> StoreResult<bool>;
    fn password_hash(&self, name: &str) -> StoreResult<Option<(String, Role)>>;
    fn users(&self) -> StoreResult<Vec<User>>;
    fn set_role(&self, name: &str, role: Role) -> StoreResult<bool>;
    /// Changes the password and ends the user's sessions.
    fn set_password(&self, name: &str, hash: &str) -> StoreResult<bool>;
    fn delete_user(&self, name: &str) -> StoreResult<bool>;
    fn admin_count(&self) -> StoreResult<i64>;

    // --- sessions
    fn create_session(&self, id: &str, name: &str, ttl_secs: i64) -> StoreResult<()>;
    /// The user of a live session.
    fn session_user(&self, id: &str) -> StoreResult<Option<(String, Role)>>;
    fn delete_session(&self, id: &str) -> StoreResult<()>;

    // --- API tokens
    fn create_token(&self, id: &str, user: &str, name: &str, hash: &str) -> StoreResult<()>;
    fn token_user(&self, hash: &str) -> StoreResult<Option<(String, Role)>>;
    fn tokens(&self, user: &str) -> StoreResult<Vec<TokenInfo>>;
    /// Deletes a token of `user` (any user's when `user` is `None`).
    fn delete_token(&self, id: &str, user: Option<&str>) -> StoreResult<bool>;

    // --- audit
    fn audit(&self, user: &str, action: &str, detail: &str) -> StoreResult<()>;
    fn audit_log(&self, limit: i64) -> StoreResult<Vec<AuditEntry>>;

    // --- config versions
    /// Records a deployed config and makes it the active version (with PostgreSQL, every
    /// replica is told and follows it).
    fn add_version(&self, author: &str, message: &str, yaml: &str) -> StoreResult<i64>;
    fn versions(&self, limit: i64) -> StoreResult<Vec<Version>>;
    fn version(&self, id: i64) -> StoreResult<Option<Version>>;
    /// The version the router should run: the newest deployed one.
    fn active_version(&self) -> StoreResult<Option<Version>>;
    /// At start, with `running` the config file this process serves: the version it should
    /// run. One replica: the running file, recorded as a version when it is not the newest
    /// (so the first deploy can be rolled back). Replicas: the fleet's active version; the
    /// running file is recorded only when there is none yet (the first replica to start).
    fn start_version(&self, running: &str) -> StoreResult<Version>;
}
