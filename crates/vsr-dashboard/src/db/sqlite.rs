//! The dashboard's state of one replica in `<data dir>/dashboard.db` (SQLite); the signing key
//! stays in `<data dir>/dashboard.secret`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use super::{AuditEntry, DashStore, StoreResult, TokenInfo, User, Version, now};
use crate::auth::Role;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  username TEXT NOT NULL,
  action TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS config_versions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at INTEGER NOT NULL,
  author TEXT NOT NULL,
  message TEXT NOT NULL,
  yaml TEXT NOT NULL
);
";

pub struct SqliteDb {
    conn: Mutex<Connection>,
    dir: PathBuf,
}

impl SqliteDb {
    /// Opens (creating) `dashboard.db` in `dir`.
    pub fn open(dir: &Path) -> Result<Self, rusqlite::Error> {
        let path = dir.join("dashboard.db");
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
            dir: dir.to_path_buf(),
        })
    }

    fn c(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl DashStore for SqliteDb {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn secret(&self, _candidate: &[u8]) -> StoreResult<Vec<u8>> {
        crate::auth::load_or_create_secret(&self.dir).map_err(|e| {
            super::StoreError::Io(format!(
                "{}: {e}",
                self.dir.join("dashboard.secret").display()
            ))
        })
    }

    // --- users

    fn user_count(&self) -> StoreResult<i64> {
        Ok(self
            .c()
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
    }

    /// False when the name is taken.
    fn create_user(&self, name: &str, hash: &str, role: Role) -> StoreResult<bool> {
        let n = self.c().execute(
            "INSERT OR IGNORE INTO users (username, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, hash, role.as_str(), now()],
        )?;
        Ok(n == 1)
    }

    /// Creates the first user only while there is none (one transaction, so two racing
    /// bootstraps cannot both win).
    fn create_first_user(&self, name: &str, hash: &str) -> StoreResult<bool> {
        let mut c = self.c();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n: i64 = tx.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
        if n > 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?1, ?2, 'admin', ?3)",
            params![name, hash, now()],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn password_hash(&self, name: &str) -> StoreResult<Option<(String, Role)>> {
        self.c()
            .query_row(
                "SELECT password_hash, role FROM users WHERE username = ?1",
                [name],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map(|o| o.map(|(h, r)| (h, Role::parse(&r).unwrap_or(Role::Read))))
            .map_err(Into::into)
    }

    fn users(&self) -> StoreResult<Vec<User>> {
        let c = self.c();
        let mut st = c.prepare("SELECT username, role, created_at FROM users ORDER BY username")?;
        st.query_map([], |r| {
            Ok(User {
                username: r.get(0)?,
                role: Role::parse(&r.get::<_, String>(1)?).unwrap_or(Role::Read),
                created_at: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()
        .map_err(Into::into)
    }

    fn set_role(&self, name: &str, role: Role) -> StoreResult<bool> {
        Ok(self.c().execute(
            "UPDATE users SET role = ?2 WHERE username = ?1",
            params![name, role.as_str()],
        )? == 1)
    }

    /// Changes the password and ends the user's sessions.
    fn set_password(&self, name: &str, hash: &str) -> StoreResult<bool> {
        let c = self.c();
        let n = c.execute(
            "UPDATE users SET password_hash = ?2 WHERE username = ?1",
            params![name, hash],
        )?;
        c.execute("DELETE FROM sessions WHERE username = ?1", [name])?;
        Ok(n == 1)
    }

    fn delete_user(&self, name: &str) -> StoreResult<bool> {
        Ok(self
            .c()
            .execute("DELETE FROM users WHERE username = ?1", [name])?
            == 1)
    }

    fn admin_count(&self) -> StoreResult<i64> {
        self.c()
            .query_row("SELECT COUNT(*) FROM users WHERE role = 'admin'", [], |r| {
                r.get(0)
            })
            .map_err(Into::into)
    }

    // --- sessions

    fn create_session(&self, id: &str, name: &str, ttl_secs: i64) -> StoreResult<()> {
        let t = now();
        let c = self.c();
        c.execute("DELETE FROM sessions WHERE expires_at < ?1", [t])?;
        c.execute(
            "INSERT INTO sessions (id, username, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, name, t, t + ttl_secs],
        )?;
        Ok(())
    }

    /// The user of a live session.
    fn session_user(&self, id: &str) -> StoreResult<Option<(String, Role)>> {
        self.c()
            .query_row(
                "SELECT u.username, u.role FROM sessions s JOIN users u ON u.username = s.username \
                 WHERE s.id = ?1 AND s.expires_at >= ?2",
                params![id, now()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map(|o| o.map(|(u, r)| (u, Role::parse(&r).unwrap_or(Role::Read))))
            .map_err(Into::into)
    }

    fn delete_session(&self, id: &str) -> StoreResult<()> {
        self.c()
            .execute("DELETE FROM sessions WHERE id = ?1", [id])?;
        Ok(())
    }

    // --- API tokens

    fn create_token(&self, id: &str, user: &str, name: &str, hash: &str) -> StoreResult<()> {
        self.c().execute(
            "INSERT INTO api_tokens (id, username, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, user, name, hash, now()],
        )?;
        Ok(())
    }

    fn token_user(&self, hash: &str) -> StoreResult<Option<(String, Role)>> {
        self.c()
            .query_row(
                "SELECT u.username, u.role FROM api_tokens t JOIN users u ON u.username = t.username \
                 WHERE t.token_hash = ?1",
                [hash],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map(|o| o.map(|(u, r)| (u, Role::parse(&r).unwrap_or(Role::Read))))
            .map_err(Into::into)
    }

    fn tokens(&self, user: &str) -> StoreResult<Vec<TokenInfo>> {
        let c = self.c();
        let mut st = c.prepare(
            "SELECT id, name, created_at FROM api_tokens WHERE username = ?1 ORDER BY created_at",
        )?;
        st.query_map([user], |r| {
            Ok(TokenInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()
        .map_err(Into::into)
    }

    /// Deletes a token of `user` (any user's when `user` is `None`).
    fn delete_token(&self, id: &str, user: Option<&str>) -> StoreResult<bool> {
        let n = match user {
            Some(u) => self.c().execute(
                "DELETE FROM api_tokens WHERE id = ?1 AND username = ?2",
                params![id, u],
            )?,
            None => self
                .c()
                .execute("DELETE FROM api_tokens WHERE id = ?1", [id])?,
        };
        Ok(n == 1)
    }

    // --- audit

    fn audit(&self, user: &str, action: &str, detail: &str) -> StoreResult<()> {
        self.c().execute(
            "INSERT INTO audit (at, username, action, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now(), user, action, detail],
        )?;
        Ok(())
    }

    fn audit_log(&self, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        let c = self.c();
        let mut st =
            c.prepare("SELECT at, username, action, detail FROM audit ORDER BY id DESC LIMIT ?1")?;
        st.query_map([limit], |r| {
            Ok(AuditEntry {
                at: r.get(0)?,
                user: r.get(1)?,
                action: r.get(2)?,
                detail: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()
        .map_err(Into::into)
    }

    // --- config versions

    fn add_version(&self, author: &str, message: &str, yaml: &str) -> StoreResult<i64> {
        let c = self.c();
        c.execute(
            "INSERT INTO config_versions (created_at, author, message, yaml) VALUES (?1, ?2, ?3, ?4)",
            params![now(), author, message, yaml],
        )?;
        Ok(c.last_insert_rowid())
    }

    fn versions(&self, limit: i64) -> StoreResult<Vec<Version>> {
        let c = self.c();
        let mut st = c.prepare(
            "SELECT id, created_at, author, message FROM config_versions ORDER BY id DESC LIMIT ?1",
        )?;
        st.query_map([limit], |r| {
            Ok(Version {
                id: r.get(0)?,
                created_at: r.get(1)?,
                author: r.get(2)?,
                message: r.get(3)?,
                yaml: None,
            })
        })?
        .collect::<Result<_, _>>()
        .map_err(Into::into)
    }

    fn version(&self, id: i64) -> StoreResult<Option<Version>> {
        self.c()
            .query_row(
                "SELECT id, created_at, author, message, yaml FROM config_versions WHERE id = ?1",
                [id],
                |r| {
                    Ok(Version {
                        id: r.get(0)?,
                        created_at: r.get(1)?,
                        author: r.get(2)?,
                        message: r.get(3)?,
                        yaml: Some(r.get(4)?),
                    })
                },
            )
            .optional()
            .map_err(Into::into)
    }

    fn active_version(&self) -> StoreResult<Option<Version>> {
        let id: Option<i64> =
            self.c()
                .query_row("SELECT MAX(id) FROM config_versions", [], |r| r.get(0))?;
        match id {
            Some(id) => self.version(id),
            None => Ok(None),
        }
    }

    fn start_version(&self, running: &str) -> StoreResult<Version> {
        if let Some(v) = self.active_version()?
            && v.yaml.as_deref() == Some(running)
        {
            return Ok(v);
        }
        let id = self.add_version("system", "running at start", running)?;
        self.version(id)?
            .ok_or_else(|| super::StoreError::Io(format!("version {id} vanished")))
    }
}
