//! vsr-replay: durable routing records with cost and savings, and the Insights aggregates.
//!
//! - [`ReplayRecord`]: the versioned record schema, with body capture ([`CaptureConfig`]) that
//!   redacts secrets and truncates on a UTF-8 boundary.
//! - [`CostModel`]: actual, baseline and savings from `providers.models[].pricing`.
//! - [`ReplayStore`]: SQLite (embedded, WAL) and PostgreSQL backends with versioned migrations,
//!   retention, filtered cursor-paged listing and aggregates.
//! - [`ReplayWriter`]: the bounded, batched writer the request path submits to without blocking.
//! - [`Recorder`]: start a record at the decision, finish it with the response (the server hook).
//! - [`http`]: the replay API as pure functions, for any HTTP framework to mount.
//! - [`ReplaySettings`]: capture, retention and store from a loaded `vsr-config` config.
//! - [`Usage`]: token counts, the workspace's one type (`vsr_config::Usage`).
pub mod cost;
pub mod http;
pub mod journal;
pub mod query;
pub mod record;
pub mod recorder;
pub mod settings;
pub mod store;
pub mod time;
pub mod writer;

pub use cost::{CostBreakdown, CostModel, ModelPricing};
pub use query::{
    AggQuery, Aggregates, Bucket, Cursor, Filter, ListQuery, Page, QueryError, StatusFilter,
};
pub use record::{
    CaptureConfig, Feedback, LearningRecord, MatchedSignals, OutcomeRecord, RECORD_SCHEMA_VERSION,
    Rating, ReplayRecord, SessionRecord, UpstreamAttempt, truncate_utf8,
};
pub use recorder::{FinishInfo, Recorder, StartInfo};
pub use settings::{ReplaySettings, capture_key};
pub use store::{
    Appended, PostgresStore, ReplayStore, Retention, SCHEMA_VERSION, SqliteStore, StoreConfig,
    StoreError, open_store,
};
pub use time::Timestamp;
pub use vsr_config::Usage;
pub use writer::{ReplayWriter, WriterConfig, WriterStats};
