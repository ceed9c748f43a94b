//! The shared store: entries in PostgreSQL, for replicas started with `serve --shared-db`.
//! Every replica reads and writes the one table, so an answer cached through one replica hits
//! on all, and an invalidation or flush through one empties all (there is no per-replica copy
//! to go stale). Lookups are by exact key, then the unexpired entries of the request's context
//! key are compared in process (cosine, then the same lexical guard).
//!
//! One connection per process, opened on first use and reopened after a failure; calls block.
//! Any database error is a miss (logged): the cache never answers wrongly, it only answers less.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postgres::Client;
use vsr_pg::{LazyClient, PgError, TableSpec};

use crate::guard::Features;
use crate::key::Key;
use crate::store::{Answer, Entry};

/// Expired rows are deleted, and the table trimmed to its bound, after this many writes.
const CLEANUP_EVERY: u64 = 100;
/// After a failed connection, calls fail at once for this long (a down database must not add
/// a connect timeout to every request).
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Most same-context entries compared per semantic lookup.
const MAX_CANDIDATES: i64 = 256;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS response_cache (
  exact BYTEA PRIMARY KEY,
  context BYTEA NOT NULL,
  decision TEXT NOT NULL,
  query TEXT,
  embedding BYTEA,
  completion BYTEA NOT NULL,
  expires_ms BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS response_cache_context ON response_cache (context, expires_ms)";

#[derive(Debug, thiserror::Error)]
#[error("response cache database: {0}")]
pub struct SharedStoreError(String);

impl From<PgError> for SharedStoreError {
    fn from(e: PgError) -> Self {
        SharedStoreError(e.0)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn embedding_bytes(e: &[f32]) -> Vec<u8> {
    e.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn embedding_of(b: &[u8]) -> Option<std::sync::Arc<[f32]>> {
    b.len().is_multiple_of(4).then(|| {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    })
}

fn key_of(b: &[u8]) -> Option<Key> {
    <[u8; 32]>::try_from(b).ok().map(Key)
}

pub struct SharedStore {
    db: LazyClient,
    writes: AtomicU64,
}

impl SharedStore {
    /// A store that connects on first use (the router serves while the database is down).
    pub fn new(url: &str, schema: Option<&str>) -> Self {
        Self {
            db: LazyClient::new(TableSpec {
                url: url.to_string(),
                schema: schema.map(str::to_string),
                create: CREATE,
                lock_key: 7426115003,
                connect_timeout: Duration::from_secs(2),
                retry_after: RETRY_AFTER,
            }),
            writes: AtomicU64::new(0),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, SharedStoreError> {
        Ok(self.db.with(f)?)
    }

    fn entry(row: &postgres::Row, now: i64) -> Option<Entry> {
        let exact = key_of(row.get::<_, &[u8]>(0))?;
        let context = key_of(row.get::<_, &[u8]>(1))?;
        let query: Option<String> = row.get(3);
        let embedding = row.get::<_, Option<&[u8]>>(4).and_then(embedding_of);
        let left = u64::try_from(row.get::<_, i64>(6) - now).unwrap_or(0);
        Some(Entry {
            exact,
            context,
            decision: row.get(2),
            features: query.as_deref().map(Features::of),
            query,
            embedding,
            answer: Answer {
                completion: row.get::<_, &[u8]>(5).into(),
            },
            expires: Instant::now() + Duration::from_millis(left),
        })
    }

    const COLUMNS: &str = "exact, context, decision, query, embedding, completion, expires_ms";

    pub fn get(&self, key: &Key) -> Result<Option<Entry>, SharedStoreError> {
        let now = now_ms();
        let row = self.with(|c| {
            c.query_opt(
                &format!(
                    "SELECT {} FROM response_cache WHERE exact = $1 AND expires_ms > $2",
                    Self::COLUMNS
                ),
                &[&&key.0[..], &now],
            )
        })?;
        Ok(row.and_then(|r| Self::entry(&r, now)))
    }

    /// The unexpired semantic entries of one context, newest first.
    pub fn candidates(&self, context: &Key) -> Result<Vec<Entry>, SharedStoreError> {
        let now = now_ms();
        let rows = self.with(|c| {
            c.query(
                &format!(
                    "SELECT {} FROM response_cache WHERE context = $1 AND expires_ms > $2 \
                     AND embedding IS NOT NULL ORDER BY created_ms DESC LIMIT $3",
                    Self::COLUMNS
                ),
                &[&&context.0[..], &now, &MAX_CANDIDATES],
            )
        })?;
        Ok(rows.iter().filter_map(|r| Self::entry(r, now)).collect())
    }

    /// Stores (or replaces) an entry; every [`CLEANUP_EVERY`] writes, expired rows go and the
    /// table is trimmed to `max_entries`, oldest first.
    pub fn insert(
        &self,
        e: &Entry,
        ttl: Duration,
        max_entries: usize,
    ) -> Result<u64, SharedStoreError> {
        let now = now_ms();
        let expires = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let embedding = e.embedding.as_deref().map(embedding_bytes);
        let completion: &[u8] = &e.answer.completion;
        self.with(|c| {
            c.execute(
                "INSERT INTO response_cache \
                 (exact, context, decision, query, embedding, completion, expires_ms, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (exact) DO UPDATE SET \
                 context = EXCLUDED.context, decision = EXCLUDED.decision, query = EXCLUDED.query, \
                 embedding = EXCLUDED.embedding, completion = EXCLUDED.completion, \
                 expires_ms = EXCLUDED.expires_ms, created_ms = EXCLUDED.created_ms",
                &[
                    &&e.exact.0[..],
                    &&e.context.0[..],
                    &e.decision,
                    &e.query,
                    &embedding,
                    &completion,
                    &expires,
                    &now,
                ],
            )
        })?;
        if self.writes.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY != CLEANUP_EVERY - 1 {
            return Ok(0);
        }
        let keep = i64::try_from(max_entries).unwrap_or(i64::MAX);
        self.with(|c| {
            let expired =
                c.execute("DELETE FROM response_cache WHERE expires_ms <= $1", &[&now])?;
            let trimmed = c.execute(
                "DELETE FROM response_cache WHERE exact IN (SELECT exact FROM response_cache \
                 ORDER BY created_ms DESC OFFSET $1)",
                &[&keep],
            )?;
            Ok(expired + trimmed)
        })
    }

    pub fn remove(&self, key: &Key) -> Result<bool, SharedStoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM response_cache WHERE exact = $1",
                &[&&key.0[..]],
            )
        })
        .map(|n| n > 0)
    }

    /// Removes a decision's entries (`recipe/decision`, or a bare name in any profile).
    pub fn remove_decision(&self, decision: &str) -> Result<u64, SharedStoreError> {
        let suffix = format!(
            "%/{}",
            decision
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        self.with(|c| {
            c.execute(
                "DELETE FROM response_cache WHERE decision = $1 OR decision LIKE $2",
                &[&decision, &suffix],
            )
        })
    }

    pub fn flush(&self) -> Result<u64, SharedStoreError> {
        self.with(|c| c.execute("DELETE FROM response_cache", &[]))
    }

    /// Entries not yet expired (for the status endpoint).
    pub fn unexpired(&self) -> Result<u64, SharedStoreError> {
        let now = now_ms();
        self.with(|c| {
            c.query_one(
                "SELECT count(*) FROM response_cache WHERE expires_ms > $1",
                &[&now],
            )
        })
        .map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0))
    }
}
