//! The dashboard's state in a PostgreSQL database shared by router replicas: the tables of
//! the SQLite store (prefixed `dashboard_`, beside the replay tables), the signing key, and
//! `config_active`, the version every replica runs. Deploying a version notifies the channel
//! of [`PostgresDb::channel`]; each replica listens there ([`crate::sync`]).

use std::time::Duration;

use postgres::{Client, NoTls, Row};
use vsr_pg::{self as pg, Worker, WorkerError};

use super::{AuditEntry, DashStore, StoreError, StoreResult, TokenInfo, User, Version, now};
use crate::auth::Role;

/// Serialises migrations and the first-of-its-kind inserts of replicas starting together. The
/// replay store's lock too: both create the schema under it.
const LOCK_KEY: i64 = 7_426_115_001;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dashboard_users (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS dashboard_sessions (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL REFERENCES dashboard_users(username) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS dashboard_api_tokens (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL REFERENCES dashboard_users(username) ON DELETE CASCADE,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS dashboard_audit (
  id BIGSERIAL PRIMARY KEY,
  at BIGINT NOT NULL,
  username TEXT NOT NULL,
  action TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dashboard_secret (
  one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
  secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS config_versions (
  id BIGSERIAL PRIMARY KEY,
  created_at BIGINT NOT NULL,
  author TEXT NOT NULL,
  message TEXT NOT NULL,
  yaml TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS config_active (
  one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
  version_id BIGINT NOT NULL REFERENCES config_versions(id),
  updated_at BIGINT NOT NULL
);
";

fn err(e: postgres::Error) -> StoreError {
    StoreError::Postgres(pg::error_text(&e))
}

/// Where the shared database is: its URL and, optionally, a schema of its own (created when
/// missing) for the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub schema: Option<String>,
}

impl Target {
    /// A connection with `search_path` set to the schema (created under the migration lock),
    /// and the tables brought up to date. Safe when several replicas connect at once.
    pub fn connect(&self, timeout: Duration) -> StoreResult<Client> {
        let mut config = pg::config(&self.url, timeout).map_err(StoreError::Postgres)?;
        // A server that vanished without closing the socket is noticed in seconds.
        config
            .tcp_user_timeout(Duration::from_secs(10))
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3);
        let mut client = config.connect(NoTls).map_err(err)?;
        let mut tx = client.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .map_err(err)?;
        if let Some(s) = &self.schema {
            let q = pg::quote_ident(s);
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {q}; SET LOCAL search_path TO {q}"
            ))
            .map_err(err)?;
        }
        tx.batch_execute(SCHEMA).map_err(err)?;
        tx.commit().map_err(err)?;
        if let Some(s) = &self.schema {
            client
                .batch_execute(&format!("SET search_path TO {}", pg::quote_ident(s)))
                .map_err(err)?;
        }
        Ok(client)
    }

    /// The notification channel of this database and schema (channels are database-wide).
    pub fn channel(&self) -> String {
        match &self.schema {
            Some(s) => format!("vsr_config_active:{s}"),
            None => "vsr_config_active".into(),
        }
    }
}

/// The dashboard store over a shared PostgreSQL. The connection is made lazily and again after
/// a failure, so a replica starts and keeps routing while the database is away.
pub struct PostgresDb {
    target: Target,
    worker: Worker<Client>,
}

impl PostgresDb {
    /// Checks the URL now (a malformed one will not fix itself); connects on first use.
    pub fn open(target: Target) -> StoreResult<Self> {
        pg::config(&target.url, Duration::from_secs(3)).map_err(StoreError::Postgres)?;
        let t = target.clone();
        let worker = Worker::spawn(
            "vsr-dash-pg",
            "dashboard store",
            None,
            move || t.connect(Duration::from_secs(3)).map_err(|e| e.to_string()),
            Client::is_closed,
        )
        .map_err(|e| StoreError::Postgres(format!("cannot start a connection thread: {e}")))?;
        Ok(Self { target, worker })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn channel(&self) -> String {
        self.target.channel()
    }

    /// Runs `f` on the connection. A connection the server closed while idle (a restart, a
    /// network cut now healed) fails the first call made on it; that call is made once more
    /// on a fresh connection, so a caller does not see an outage that is already over.
    fn call<R: Send + 'static>(
        &self,
        f: impl Fn(&mut Client) -> Result<R, postgres::Error> + Send + Sync + 'static,
    ) -> StoreResult<R> {
        let f = std::sync::Arc::new(f);
        let again = f.clone();
        let first = self.worker.call(move |c| f(c));
        let first = match first {
            Ok(Err(e)) if e.is_closed() => self.worker.call(move |c| again(c)),
            other => other,
        };
        match first {
            Ok(r) => r.map_err(err),
            Err(WorkerError::NotConnected(e)) => {
                Err(StoreError::Postgres(format!("not connected: {e}")))
            }
            Err(e) => Err(StoreError::Postgres(e.to_string())),
        }
    }
}

fn role_of(s: &str) -> Role {
    Role::parse(s).unwrap_or(Role::Read)
}

fn user_role(row: &Row) -> (String, Role) {
    (row.get(0), role_of(&row.get::<_, String>(1)))
}

fn version_of(row: &Row, with_yaml: bool) -> Version {
    Version {
        id: row.get(0),
        created_at: row.get(1),
        author: row.get(2),
        message: row.get(3),
        yaml: with_yaml.then(|| row.get(4)),
    }
}

/// Inserts a version, makes it active and notifies the replicas (delivered at commit).
fn insert_active(
    tx: &mut postgres::Transaction<'_>,
    channel: &str,
    author: &str,
    message: &str,
    yaml: &str,
) -> Result<i64, postgres::Error> {
    let t = now();
    let id: i64 = tx
        .query_one(
            "INSERT INTO config_versions (created_at, author, message, yaml) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&t, &author, &message, &yaml],
        )?
        .get(0);
    tx.execute(
        "INSERT INTO config_active (one, version_id, updated_at) VALUES (TRUE, $1, $2) \
         ON CONFLICT (one) DO UPDATE SET version_id = EXCLUDED.version_id, updated_at = EXCLUDED.updated_at",
        &[&id, &t],
    )?;
    tx.execute("SELECT pg_notify($1, $2)", &[&channel, &id.to_string()])?;
    Ok(id)
}

const ACTIVE: &str = "SELECT v.id, v.created_at, v.author, v.message, v.yaml FROM config_active a \
                      JOIN config_versions v ON v.id = a.version_id";

impl DashStore for PostgresDb {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn secret(&self, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        let hex = crate::auth::hex(candidate);
        let stored: String = self.call(move |c| {
            c.execute(
                "INSERT INTO dashboard_secret (one, secret) VALUES (TRUE, $1) ON CONFLICT (one) DO NOTHING",
                &[&hex],
            )?;
            Ok(c.query_one("SELECT secret FROM dashboard_secret", &[])?.get(0))
        })?;
        crate::auth::unhex(&stored)
            .ok_or_else(|| StoreError::Postgres("dashboard_secret holds no hex key".into()))
    }

    fn user_count(&self) -> StoreResult<i64> {
        self.call(|c| {
            Ok(c.query_one("SELECT COUNT(*) FROM dashboard_users", &[])?
                .get(0))
        })
    }

    fn create_user(&self, name: &str, hash: &str, role: Role) -> StoreResult<bool> {
        let (name, hash) = (name.to_string(), hash.to_string());
        self.call(move |c| {
            Ok(c.execute(
                "INSERT INTO dashboard_users (username, password_hash, role, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING",
                &[&name, &hash, &role.as_str(), &now()],
            )? == 1)
        })
    }

    fn create_first_user(&self, name: &str, hash: &str) -> StoreResult<bool> {
        let (name, hash) = (name.to_string(), hash.to_string());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
            let n: i64 = tx
                .query_one("SELECT COUNT(*) FROM dashboard_users", &[])?
                .get(0);
            if n > 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO dashboard_users (username, password_hash, role, created_at) VALUES ($1, $2, 'admin', $3)",
                &[&name, &hash, &now()],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn password_hash(&self, name: &str) -> StoreResult<Option<(String, Role)>> {
        let name = name.to_string();
        self.call(move |c| {
            Ok(c.query_opt(
                "SELECT password_hash, role FROM dashboard_users WHERE username = $1",
                &[&name],
            )?
            .map(|r| user_role(&r)))
        })
    }

    fn users(&self) -> StoreResult<Vec<User>> {
        self.call(|c| {
            Ok(c.query(
                "SELECT username, role, created_at FROM dashboard_users ORDER BY username",
                &[],
            )?
            .iter()
            .map(|r| User {
                username: r.get(0),
                role: role_of(&r.get::<_, String>(1)),
                created_at: r.get(2),
            })
            .collect())
        })
    }

    fn set_role(&self, name: &str, role: Role) -> StoreResult<bool> {
        let name = name.to_string();
        self.call(move |c| {
            Ok(c.execute(
                "UPDATE dashboard_users SET role = $2 WHERE username = $1",
                &[&name, &role.as_str()],
            )? == 1)
        })
    }

    fn set_password(&self, name: &str, hash: &str) -> StoreResult<bool> {
        let (name, hash) = (name.to_string(), hash.to_string());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE dashboard_users SET password_hash = $2 WHERE username = $1",
                &[&name, &hash],
            )?;
            tx.execute(
                "DELETE FROM dashboard_sessions WHERE username = $1",
                &[&name],
            )?;
            tx.commit()?;
            Ok(n == 1)
        })
    }

    fn delete_user(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_string();
        self.call(move |c| {
            Ok(c.execute("DELETE FROM dashboard_users WHERE username = $1", &[&name])? == 1)
        })
    }

    fn admin_count(&self) -> StoreResult<i64> {
        self.call(|c| {
            Ok(c.query_one(
                "SELECT COUNT(*) FROM dashboard_users WHERE role = 'admin'",
                &[],
            )?
            .get(0))
        })
    }

    fn create_session(&self, id: &str, name: &str, ttl_secs: i64) -> StoreResult<()> {
        let (id, name) = (id.to_string(), name.to_string());
        self.call(move |c| {
            let t = now();
            c.execute("DELETE FROM dashboard_sessions WHERE expires_at < $1", &[&t])?;
            c.execute(
                "INSERT INTO dashboard_sessions (id, username, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&id, &name, &t, &(t + ttl_secs)],
            )?;
            Ok(())
        })
    }

    fn session_user(&self, id: &str) -> StoreResult<Option<(String, Role)>> {
        let id = id.to_string();
        self.call(move |c| {
            Ok(c.query_opt(
                "SELECT u.username, u.role FROM dashboard_sessions s \
                 JOIN dashboard_users u ON u.username = s.username \
                 WHERE s.id = $1 AND s.expires_at >= $2",
                &[&id, &now()],
            )?
            .map(|r| user_role(&r)))
        })
    }

    fn delete_session(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.call(move |c| {
            c.execute("DELETE FROM dashboard_sessions WHERE id = $1", &[&id])?;
            Ok(())
        })
    }

    fn create_token(&self, id: &str, user: &str, name: &str, hash: &str) -> StoreResult<()> {
        let (id, user, name, hash) = (
            id.to_string(),
            user.to_string(),
            name.to_string(),
            hash.to_string(),
        );
        self.call(move |c| {
            c.execute(
                "INSERT INTO dashboard_api_tokens (id, username, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &user, &name, &hash, &now()],
            )?;
            Ok(())
        })
    }

    fn token_user(&self, hash: &str) -> StoreResult<Option<(String, Role)>> {
        let hash = hash.to_string();
        self.call(move |c| {
            Ok(c.query_opt(
                "SELECT u.username, u.role FROM dashboard_api_tokens t \
                 JOIN dashboard_users u ON u.username = t.username WHERE t.token_hash = $1",
                &[&hash],
            )?
            .map(|r| user_role(&r)))
        })
    }

    fn tokens(&self, user: &str) -> StoreResult<Vec<TokenInfo>> {
        let user = user.to_string();
        self.call(move |c| {
            Ok(c.query(
                "SELECT id, name, created_at FROM dashboard_api_tokens WHERE username = $1 ORDER BY created_at",
                &[&user],
            )?
            .iter()
            .map(|r| TokenInfo {
                id: r.get(0),
                name: r.get(1),
                created_at: r.get(2),
            })
            .collect())
        })
    }

    fn delete_token(&self, id: &str, user: Option<&str>) -> StoreResult<bool> {
        let (id, user) = (id.to_string(), user.map(str::to_string));
        self.call(move |c| {
            let n = match &user {
                Some(u) => c.execute(
                    "DELETE FROM dashboard_api_tokens WHERE id = $1 AND username = $2",
                    &[&id, u],
                )?,
                None => c.execute("DELETE FROM dashboard_api_tokens WHERE id = $1", &[&id])?,
            };
            Ok(n == 1)
        })
    }

    fn audit(&self, user: &str, action: &str, detail: &str) -> StoreResult<()> {
        let (user, action, detail) = (user.to_string(), action.to_string(), detail.to_string());
        self.call(move |c| {
            c.execute(
                "INSERT INTO dashboard_audit (at, username, action, detail) VALUES ($1, $2, $3, $4)",
                &[&now(), &user, &action, &detail],
            )?;
            Ok(())
        })
    }

    fn audit_log(&self, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        self.call(move |c| {
            Ok(c.query(
                "SELECT at, username, action, detail FROM dashboard_audit ORDER BY id DESC LIMIT $1",
                &[&limit],
            )?
            .iter()
            .map(|r| AuditEntry {
                at: r.get(0),
                user: r.get(1),
                action: r.get(2),
                detail: r.get(3),
            })
            .collect())
        })
    }

    fn add_version(&self, author: &str, message: &str, yaml: &str) -> StoreResult<i64> {
        let (author, message, yaml) = (author.to_string(), message.to_string(), yaml.to_string());
        let channel = self.channel();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            let id = insert_active(&mut tx, &channel, &author, &message, &yaml)?;
            tx.commit()?;
            Ok(id)
        })
    }

    fn versions(&self, limit: i64) -> StoreResult<Vec<Version>> {
        self.call(move |c| {
            Ok(c.query(
                "SELECT id, created_at, author, message FROM config_versions ORDER BY id DESC LIMIT $1",
                &[&limit],
            )?
            .iter()
            .map(|r| version_of(r, false))
            .collect())
        })
    }

    fn version(&self, id: i64) -> StoreResult<Option<Version>> {
        self.call(move |c| {
            Ok(c.query_opt(
                "SELECT id, created_at, author, message, yaml FROM config_versions WHERE id = $1",
                &[&id],
            )?
            .map(|r| version_of(&r, true)))
        })
    }

    fn active_version(&self) -> StoreResult<Option<Version>> {
        self.call(|c| Ok(c.query_opt(ACTIVE, &[])?.map(|r| version_of(&r, true))))
    }

    fn start_version(&self, running: &str) -> StoreResult<Version> {
        let running = running.to_string();
        let channel = self.channel();
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
            if let Some(r) = tx.query_opt(ACTIVE, &[])? {
                return Ok(version_of(&r, true));
            }
            let id = insert_active(&mut tx, &channel, "system", "running at start", &running)?;
            let v = tx
                .query_one(
                    "SELECT id, created_at, author, message, yaml FROM config_versions WHERE id = $1",
                    &[&id],
                )
                .map(|r| version_of(&r, true))?;
            tx.commit()?;
            Ok(v)
        })
    }
}
