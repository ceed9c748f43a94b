//! PostgreSQL store, for several router replicas sharing one database.
//!
//! Each connection (a writer and a reader) lives on a thread of its own ([`vsr_pg::Worker`]),
//! so the store can be used from any thread, async or not.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Statement};

use super::core::{self, Conn, Dialect, Val};
use super::{Appended, ReplayStore, Retention, StoreError};
use crate::query::{AggQuery, Aggregates, Filter, ListQuery, Page};
use crate::record::{Feedback, OutcomeRecord, ReplayRecord};
use crate::time::Timestamp;
use vsr_pg as pg;

fn err(e: postgres::Error) -> StoreError {
    StoreError::Postgres(pg::error_text(&e))
}

struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

fn boxed(v: &Val) -> Box<dyn ToSql + Sync> {
    match v {
        Val::Int(i) => Box::new(*i),
        Val::Text(t) => Box::new(t.clone()),
        Val::Null => Box::new(Option::<String>::None),
    }
}

impl PgConn {
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(err)?;
        if self.statements.len() > 256 {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, StoreError> {
        let stmt = self.statement(sql)?;
        let owned: Vec<Box<dyn ToSql + Sync>> = params.iter().map(boxed).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(|b| b.as_ref()).collect();
        let rows = self.client.query(&stmt, &refs).map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let t = col.type_();
                let v = if *t == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i).map_err(err)?.map(Val::Int)
                } else if *t == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)
                        .map_err(err)?
                        .map(|v| Val::Int(v.into()))
                } else if *t == Type::INT2 {
                    row.try_get::<_, Option<i16>>(i)
                        .map_err(err)?
                        .map(|v| Val::Int(v.into()))
                } else if *t == Type::VOID {
                    None
                } else {
                    row.try_get::<_, Option<String>>(i)
                        .map_err(err)?
                        .map(Val::Text)
                };
                cells.push(v.unwrap_or(Val::Null));
            }
            out.push(cells);
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql)?;
        let owned: Vec<Box<dyn ToSql + Sync>> = params.iter().map(boxed).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(|b| b.as_ref()).collect();
        self.client.execute(&stmt, &refs).map_err(err)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).map_err(err)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN")
    }
}

type Worker = pg::Worker<PgConn>;

fn worker_error(e: pg::WorkerError) -> StoreError {
    match e {
        pg::WorkerError::Closed => StoreError::Closed,
        e => StoreError::Postgres(e.to_string()),
    }
}

fn connect(url: &str, schema: Option<&str>) -> Result<PgConn, StoreError> {
    let config = pg::config(url, Duration::from_secs(5)).map_err(StoreError::Postgres)?;
    let mut client = config.connect(NoTls).map_err(err)?;
    if let Some(s) = schema {
        // Under the migration lock: replicas creating one schema at once would collide.
        let q = pg::quote_ident(s);
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(7426115001); \
                 CREATE SCHEMA IF NOT EXISTS {q}; COMMIT; SET search_path TO {q}"
            ))
            .map_err(err)?;
    }
    Ok(PgConn {
        client,
        statements: HashMap::new(),
    })
}

/// A connection thread; reconnects (and, for the writer, migrates) on the next call after the
/// connection drops.
fn spawn_worker(
    name: &str,
    url: String,
    schema: Option<String>,
    first: Option<PgConn>,
    migrate_on_connect: bool,
) -> Result<Worker, StoreError> {
    let connect = move || {
        connect(&url, schema.as_deref())
            .and_then(|mut c| {
                if migrate_on_connect {
                    core::migrate(&mut c)?;
                }
                Ok(c)
            })
            .map_err(|e| e.to_string())
    };
    pg::Worker::spawn(name, "replay store", first, connect, |c: &PgConn| {
        c.client.is_closed()
    })
    .map_err(|e| StoreError::Postgres(format!("cannot start a connection thread: {e}")))
}

trait Call {
    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut PgConn) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError>;
}

impl Call for Worker {
    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut PgConn) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.call(f).map_err(worker_error)?
    }
}

/// PostgreSQL replay store with a writer and a reader connection.
pub struct PostgresStore {
    writer: Arc<Worker>,
    reader: Arc<Worker>,
}

impl PostgresStore {
    /// Connects (URL `postgres://user:pass@host:port/db`, no TLS), optionally into `schema`
    /// (created when missing), and brings the schema up to date.
    pub fn connect(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let mut w = connect(url, schema)?;
        core::migrate(&mut w)?;
        let r = connect(url, schema)?;
        let schema = schema.map(str::to_string);
        Ok(PostgresStore {
            writer: Arc::new(spawn_worker(
                "vsr-replay-pg-w",
                url.into(),
                schema.clone(),
                Some(w),
                true,
            )?),
            reader: Arc::new(spawn_worker(
                "vsr-replay-pg-r",
                url.into(),
                schema,
                Some(r),
                false,
            )?),
        })
    }

    /// Like [`connect`](Self::connect) but never fails on an unreachable server: connections
    /// (and migrations) are made on first use and retried on every call after a failure, so a
    /// router can start, and keep serving, while its database is down.
    pub fn open_lazy(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        // Reject a malformed URL now; that will not fix itself.
        url.parse::<postgres::Config>()
            .map_err(|e| StoreError::Postgres(format!("invalid URL: {e}")))?;
        let schema = schema.map(str::to_string);
        Ok(PostgresStore {
            writer: Arc::new(spawn_worker(
                "vsr-replay-pg-w",
                url.into(),
                schema.clone(),
                None,
                true,
            )?),
            reader: Arc::new(spawn_worker(
                "vsr-replay-pg-r",
                url.into(),
                schema,
                None,
                false,
            )?),
        })
    }

    /// Drops the schema (tests use one schema each).
    pub fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        let mut client = Client::connect(url, NoTls).map_err(err)?;
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                pg::quote_ident(schema)
            ))
            .map_err(err)
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.writer.close();
        self.reader.close();
    }
}

impl ReplayStore for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn insert_batch(&self, records: &[ReplayRecord]) -> Result<usize, StoreError> {
        let records = records.to_vec();
        self.writer.run(move |c| core::insert_batch(c, &records))
    }

    fn get(&self, id: &str) -> Result<Option<ReplayRecord>, StoreError> {
        let id = id.to_string();
        self.reader.run(move |c| core::get(c, &id))
    }

    fn set_feedback(&self, id: &str, feedback: &Feedback) -> Result<bool, StoreError> {
        let (id, feedback) = (id.to_string(), feedback.clone());
        self.writer
            .run(move |c| core::set_feedback(c, &id, &feedback))
    }

    fn add_outcome(&self, id: &str, outcome: &OutcomeRecord) -> Result<Appended, StoreError> {
        let (id, outcome) = (id.to_string(), outcome.clone());
        self.writer
            .run(move |c| core::add_outcome(c, &id, &outcome))
    }

    fn list(&self, q: &ListQuery) -> Result<Page, StoreError> {
        let q = q.clone();
        self.reader.run(move |c| {
            // One snapshot for the page and its total.
            c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let r = core::list(c, &q);
            let _ = c.batch("COMMIT");
            r
        })
    }

    fn aggregate(&self, q: &AggQuery) -> Result<Aggregates, StoreError> {
        let q = q.clone();
        self.reader.run(move |c| {
            c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let r = core::aggregate(c, &q);
            let _ = c.batch("COMMIT");
            r
        })
    }

    fn count(&self) -> Result<u64, StoreError> {
        self.reader.run(|c| core::count(c, &Filter::default()))
    }

    fn enforce_retention(&self, retention: &Retention, now: Timestamp) -> Result<u64, StoreError> {
        let retention = retention.clone();
        self.writer
            .run(move |c| core::enforce_retention(c, &retention, now))
    }
}
