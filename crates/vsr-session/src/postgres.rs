//! Conversation state in PostgreSQL (the replay database, in its schema when one is
//! configured), so replicas over one database keep a conversation on one model. One table,
//! `router_sessions`, keyed by the hashed conversation key; writes are version-checked
//! (`INSERT … ON CONFLICT DO NOTHING` to create, `UPDATE … WHERE version = $n` to change).
//!
//! One connection per process, opened on first use and reopened after a failure; calls block
//! (the proxy runs them on a blocking thread).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use postgres::Client;
use vsr_pg::{LazyClient, PgError, TableSpec};

use crate::store::{SessionState, SessionStore, StoreError, Versioned};

/// Expired rows are deleted after this many writes by one process.
const CLEANUP_EVERY: u64 = 1_000;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS router_sessions (
  key TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  turns BIGINT NOT NULL,
  switches BIGINT NOT NULL,
  last_seen_ms BIGINT NOT NULL,
  last_decision TEXT NOT NULL,
  version BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS router_sessions_last_seen ON router_sessions (last_seen_ms)";

fn err(e: PgError) -> StoreError {
    StoreError::Postgres(e.0)
}

pub struct PostgresSessionStore {
    db: LazyClient,
    ttl_ms: i64,
    writes: AtomicU64,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PostgresSessionStore {
    /// A store that connects on first use (the router serves while the database is down).
    pub fn new(url: &str, schema: Option<&str>, ttl_ms: i64) -> Self {
        Self {
            db: LazyClient::new(TableSpec {
                url: url.to_string(),
                schema: schema.map(str::to_string),
                create: CREATE,
                lock_key: 7426115002,
                connect_timeout: Duration::from_secs(5),
                // A conversation's next turn tries again at once (a refused connect is quick).
                retry_after: Duration::ZERO,
            }),
            ttl_ms,
            writes: AtomicU64::new(0),
        }
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, postgres::Error>,
    ) -> Result<R, StoreError> {
        self.db.with(f).map_err(err)
    }

    /// Drops the schema (tests use one schema each).
    pub fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        vsr_pg::drop_schema(url, schema).map_err(err)
    }
}

impl SessionStore for PostgresSessionStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn blocking(&self) -> bool {
        true
    }

    fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let row = self.with(|c| {
            c.query_opt(
                "SELECT model, turns, switches, last_seen_ms, last_decision, version \
                 FROM router_sessions WHERE key = $1",
                &[&key],
            )
        })?;
        Ok(row.map(|r| Versioned {
            state: SessionState {
                model: r.get(0),
                turns: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
                switches: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                last_seen_ms: r.get(3),
                last_decision: r.get(4),
            },
            version: r.get(5),
        }))
    }

    fn put_if(
        &self,
        key: &str,
        expected: Option<i64>,
        s: &SessionState,
    ) -> Result<bool, StoreError> {
        let (turns, switches) = (to_i64(s.turns), to_i64(s.switches));
        let written = self.with(|c| match expected {
            None => c.execute(
                "INSERT INTO router_sessions \
                 (key, model, turns, switches, last_seen_ms, last_decision, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, 1) ON CONFLICT (key) DO NOTHING",
                &[
                    &key,
                    &s.model,
                    &turns,
                    &switches,
                    &s.last_seen_ms,
                    &s.last_decision,
                ],
            ),
            Some(v) => c.execute(
                "UPDATE router_sessions SET model = $2, turns = $3, switches = $4, \
                 last_seen_ms = $5, last_decision = $6, version = version + 1 \
                 WHERE key = $1 AND version = $7",
                &[
                    &key,
                    &s.model,
                    &turns,
                    &switches,
                    &s.last_seen_ms,
                    &s.last_decision,
                    &v,
                ],
            ),
        })? == 1;
        if written
            && self.writes.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY == CLEANUP_EVERY - 1
        {
            let cutoff = s.last_seen_ms - self.ttl_ms;
            if let Err(e) = self.with(|c| {
                c.execute(
                    "DELETE FROM router_sessions WHERE last_seen_ms <= $1",
                    &[&cutoff],
                )
            }) {
                tracing::warn!(error = %e, "session store: expired rows not deleted");
            }
        }
        Ok(written)
    }
}
