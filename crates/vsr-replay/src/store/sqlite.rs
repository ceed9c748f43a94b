//! Embedded SQLite store (WAL): one writer connection, one reader connection.
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags, params_from_iter};

use super::core::{self, Conn, Dialect, Val};
use super::{Appended, ReplayStore, Retention, StoreError};
use crate::query::{AggQuery, Aggregates, Filter, ListQuery, Page};
use crate::record::{Feedback, OutcomeRecord, ReplayRecord};
use crate::time::Timestamp;

fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Sqlite(e.to_string())
}

struct SqliteConn(Connection);

fn to_sql(v: &Val) -> SqlValue {
    match v {
        Val::Int(i) => SqlValue::Integer(*i),
        Val::Text(t) => SqlValue::Text(t.clone()),
        Val::Null => SqlValue::Null,
    }
}

impl Conn for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, StoreError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(err)?;
        let n = stmt.column_count();
        let mut rows = stmt
            .query(params_from_iter(params.iter().map(to_sql)))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut cells = Vec::with_capacity(n);
            for i in 0..n {
                cells.push(match row.get_ref(i).map_err(err)? {
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Real(v) => Val::Int(v as i64),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Val::Text(String::from_utf8_lossy(t).into_owned())
                    }
                    ValueRef::Null => Val::Null,
                });
            }
            out.push(cells);
        }
        Ok(out)
    }

    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(err)?;
        stmt.execute(params_from_iter(params.iter().map(to_sql)))
            .map(|n| n as u64)
            .map_err(err)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.0.execute_batch(sql).map_err(err)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN IMMEDIATE")
    }
}

/// SQLite replay store. Writes are serialised on one connection; reads use another, which WAL
/// lets run while a write is in progress.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<SqliteConn>,
    reader: Mutex<SqliteConn>,
}

fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    // WAL + NORMAL: a committed batch survives a killed process; readers never block the writer.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32000;",
    )
    .map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens or creates the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let mut writer = SqliteConn(open_conn(&path)?);
        core::migrate(&mut writer)?;
        let reader = SqliteConn(open_conn(&path)?);
        Ok(SqliteStore {
            path,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> MutexGuard<'_, SqliteConn> {
        // A panic while holding the lock leaves the connection usable (transactions roll back).
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reader(&self) -> MutexGuard<'_, SqliteConn> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `PRAGMA integrity_check` result (`"ok"` when healthy).
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let rows = self.reader().query("PRAGMA integrity_check", &[])?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .map(|v| match v {
                Val::Text(t) => t.clone(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default())
    }
}

impl ReplayStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn insert_batch(&self, records: &[ReplayRecord]) -> Result<usize, StoreError> {
        core::insert_batch(&mut *self.writer(), records)
    }

    fn get(&self, id: &str) -> Result<Option<ReplayRecord>, StoreError> {
        core::get(&mut *self.reader(), id)
    }

    fn set_feedback(&self, id: &str, feedback: &Feedback) -> Result<bool, StoreError> {
        core::set_feedback(&mut *self.writer(), id, feedback)
    }

    fn add_outcome(&self, id: &str, outcome: &OutcomeRecord) -> Result<Appended, StoreError> {
        core::add_outcome(&mut *self.writer(), id, outcome)
    }

    fn list(&self, q: &ListQuery) -> Result<Page, StoreError> {
        let mut c = self.reader();
        // One read transaction so the page and its total see the same snapshot.
        c.batch("BEGIN")?;
        let r = core::list(&mut *c, q);
        let _ = c.batch("COMMIT");
        r
    }

    fn aggregate(&self, q: &AggQuery) -> Result<Aggregates, StoreError> {
        let mut c = self.reader();
        c.batch("BEGIN")?;
        let r = core::aggregate(&mut *c, q);
        let _ = c.batch("COMMIT");
        r
    }

    fn count(&self) -> Result<u64, StoreError> {
        core::count(&mut *self.reader(), &Filter::default())
    }

    fn enforce_retention(&self, retention: &Retention, now: Timestamp) -> Result<u64, StoreError> {
        core::enforce_retention(&mut *self.writer(), retention, now)
    }
}
