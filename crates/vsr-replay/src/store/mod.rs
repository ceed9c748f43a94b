//! Replay stores: the trait, the backends, and how to open one.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::query::{AggQuery, Aggregates, ListQuery, Page};
use crate::record::{Feedback, OutcomeRecord, ReplayRecord};
use crate::time::Timestamp;

pub(crate) mod core;
mod postgres;
mod sqlite;

pub use self::core::SCHEMA_VERSION;
pub use self::postgres::PostgresStore;
pub use self::sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(String),
    #[error("postgres: {0}")]
    Postgres(String),
    #[error("cannot open the replay store at {path}: {message}")]
    Open { path: String, message: String },
    #[error("replay schema: {0}")]
    Schema(String),
    #[error("cannot encode a replay record: {0}")]
    Encode(String),
    #[error("cannot decode a stored replay record: {0}")]
    Decode(String),
    #[error("replay store is closed")]
    Closed,
}

/// How long and how many records to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many records overall (the newest).
    pub max_records: Option<u64>,
    /// Keep at most this many records per decision (the plugin's `max_records`).
    pub per_decision_max_records: BTreeMap<String, u64>,
    /// Drop records older than this (the original's `ttl_seconds`).
    pub max_age: Option<Duration>,
}

impl Retention {
    pub fn is_unbounded(&self) -> bool {
        self.max_records.is_none()
            && self.per_decision_max_records.is_empty()
            && self.max_age.is_none()
    }
}

/// A durable store of replay records. Calls block (they do I/O): call them from a thread of
/// their own or `spawn_blocking`, never on an async worker. Implementations are shareable across
/// threads; PostgreSQL is safe for several router replicas writing to one database.
pub trait ReplayStore: Send + Sync {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Stores records in one transaction; ids already present are skipped. Returns how many
    /// were new.
    fn insert_batch(&self, records: &[ReplayRecord]) -> Result<usize, StoreError>;
    fn get(&self, id: &str) -> Result<Option<ReplayRecord>, StoreError>;
    /// Stores a user's feedback with record `id`; false when there is no such record.
    fn set_feedback(&self, id: &str, feedback: &Feedback) -> Result<bool, StoreError>;
    /// Appends a client's outcome to record `id`, once per idempotency key.
    fn add_outcome(&self, id: &str, outcome: &OutcomeRecord) -> Result<Appended, StoreError>;
    /// Newest first (timestamp, then id, descending).
    fn list(&self, q: &ListQuery) -> Result<Page, StoreError>;
    fn aggregate(&self, q: &AggQuery) -> Result<Aggregates, StoreError>;
    /// Number of stored records.
    fn count(&self) -> Result<u64, StoreError>;
    /// Deletes what `retention` no longer allows; returns how many records went.
    fn enforce_retention(&self, retention: &Retention, now: Timestamp) -> Result<u64, StoreError>;
}

/// What [`ReplayStore::add_outcome`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Added,
    /// The record already holds an outcome with this idempotency key: nothing changed.
    Duplicate,
    /// No record has this id.
    Missing,
}

/// Where records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// An embedded SQLite database file (WAL); parent directories are created.
    Sqlite { path: PathBuf },
    /// A PostgreSQL database (`postgres://user@host:port/db`), optionally in a schema of its own.
    Postgres { url: String, schema: Option<String> },
}

impl StoreConfig {
    /// The default embedded store: `<data_dir>/replay.db`.
    pub fn sqlite_in(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig::Sqlite {
            path: data_dir.into().join("replay.db"),
        }
    }
}

/// Opens (creating and migrating when needed) the store described by `config`.
pub fn open_store(config: &StoreConfig) -> Result<Arc<dyn ReplayStore>, StoreError> {
    Ok(match config {
        StoreConfig::Sqlite { path } => Arc::new(SqliteStore::open(path)?),
        StoreConfig::Postgres { url, schema } => {
            Arc::new(PostgresStore::connect(url, schema.as_deref())?)
        }
    })
}
