//! PostgreSQL connection helpers shared by every store that can live in the shared database
//! (replay, dashboard, sessions, response cache): a URL config with a connect timeout, quoted
//! identifiers, readable error text, and [`LazyClient`], the one connection per process that
//! the small stores open on first use and reopen after a failure; [`Worker`], a connection on
//! a thread of its own for the stores called from async code.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

mod worker;
pub use worker::{Worker, WorkerError};

/// Why a call on the shared database failed (its text is the server's message when it sent one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PgError(pub String);

impl From<postgres::Error> for PgError {
    fn from(e: postgres::Error) -> Self {
        PgError(error_text(&e))
    }
}

/// The server's message of a `postgres` error (`Display` alone is terse: "db error").
pub fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// A `postgres` config from `url`, with a connect timeout (`default_timeout` unless the URL
/// sets one) so an unreachable host cannot stall a caller for minutes.
pub fn config(url: &str, default_timeout: Duration) -> Result<postgres::Config, String> {
    let mut config: postgres::Config = url.parse().map_err(|e| format!("invalid URL: {e}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(default_timeout);
    }
    Ok(config)
}

/// `"name"`, quoted as an SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Drops `schema` and everything in it (tests give each run a schema of its own).
pub fn drop_schema(url: &str, schema: &str) -> Result<(), PgError> {
    let mut c = Client::connect(url, NoTls)?;
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        quote_ident(schema)
    ))?;
    Ok(())
}

/// Where a store's table lives and how it is made.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub url: String,
    /// Created when missing and put first on the search path.
    pub schema: Option<String>,
    /// `CREATE … IF NOT EXISTS` statements, run once per connection.
    pub create: &'static str,
    /// An advisory lock held while `create` runs, so replicas starting together do not race.
    pub lock_key: i64,
    pub connect_timeout: Duration,
    /// After a failed connect, calls fail at once for this long (a down database must not add
    /// a connect timeout to every request); zero retries on every call.
    pub retry_after: Duration,
}

/// One connection per process, opened on first use (the router serves while the database is
/// down) and dropped after a failed call so the next one reconnects. Calls block.
pub struct LazyClient {
    spec: TableSpec,
    conn: Mutex<Option<Client>>,
    failed_at: Mutex<Option<Instant>>,
}

impl LazyClient {
    pub fn new(spec: TableSpec) -> Self {
        Self {
            spec,
            conn: Mutex::new(None),
            failed_at: Mutex::new(None),
        }
    }

    fn connect(&self) -> Result<Client, PgError> {
        let s = &self.spec;
        let mut client = config(&s.url, s.connect_timeout)
            .map_err(PgError)?
            .connect(NoTls)?;
        if let Some(schema) = &s.schema {
            let q = quote_ident(schema);
            client.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {q}; SET search_path TO {q}"
            ))?;
        }
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&s.lock_key])?;
        tx.batch_execute(s.create)?;
        tx.commit()?;
        Ok(client)
    }

    /// Runs `f` on the connection, connecting first when there is none.
    pub fn with<R>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, postgres::Error>,
    ) -> Result<R, PgError> {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(Client::is_closed) {
            let mut failed = self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
            if failed.is_some_and(|t| t.elapsed() < self.spec.retry_after) {
                return Err(PgError("unavailable (retrying shortly)".into()));
            }
            match self.connect() {
                Ok(c) => {
                    *failed = None;
                    *slot = Some(c);
                }
                Err(e) => {
                    *failed = Some(Instant::now());
                    return Err(e);
                }
            }
        }
        let Some(client) = slot.as_mut() else {
            return Err(PgError("not connected".into()));
        };
        f(client).map_err(|e| {
            *slot = None;
            PgError::from(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_urls_get_a_timeout() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        let c = config("postgres://u@127.0.0.1:1/db", Duration::from_millis(300)).unwrap();
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_millis(300)));
        let c = config(
            "postgres://u@h/db?connect_timeout=7",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(7)));
        assert!(config("postgres://u@h:notaport/db", Duration::ZERO).is_err());
    }

    #[test]
    fn a_down_database_fails_fast_after_the_first_try() {
        // Port 1 on loopback refuses at once; the second call must not even try.
        let lazy = LazyClient::new(TableSpec {
            url: "postgres://u@127.0.0.1:1/db".into(),
            schema: None,
            create: "SELECT 1",
            lock_key: 1,
            connect_timeout: Duration::from_secs(2),
            retry_after: Duration::from_secs(60),
        });
        let first = lazy.with(|c| c.execute("SELECT 1", &[])).unwrap_err();
        assert!(!first.0.contains("retrying"), "{first}");
        let second = lazy.with(|c| c.execute("SELECT 1", &[])).unwrap_err();
        assert!(second.0.contains("retrying shortly"), "{second}");
    }
}
