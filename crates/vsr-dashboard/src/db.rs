//! The dashboard's own state in `<data dir>/dashboard.db` (SQLite): users, sessions, API
//! tokens, the audit log and config versions. Calls are short local transactions.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

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

pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn c(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    // --- users

    pub fn user_count(&self) -> Result<i64, rusqlite::Error> {
        self.c()
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
    }

    /// False when the name is taken.
    pub fn create_user(&self, name: &str, hash: &str, role: Role) -> Result<bool, rusqlite::Error> {
        let n = self.c().execute(
            "INSERT OR IGNORE INTO users (username, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, hash, role.as_str(), now()],
        )?;
        Ok(n == 1)
    }

    /// Creates the first user only while there is none (one transaction, so two racing
    /// bootstraps cannot both win).
    pub fn create_first_user(&self, name: &str, hash: &str) -> Result<bool, rusqlite::Error> {
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

    pub fn password_hash(&self, name: &str) -> Result<Option<(String, Role)>, rusqlite::Error> {
        self.c()
            .query_row(
                "SELECT password_hash, role FROM users WHERE username = ?1",
                [name],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map(|o| o.map(|(h, r)| (h, Role::parse(&r).unwrap_or(Role::Read))))
    }

    pub fn users(&self) -> Result<Vec<User>, rusqlite::Error> {
        let c = self.c();
        let mut st = c.prepare("SELECT username, role, created_at FROM users ORDER BY username")?;
        st.query_map([], |r| {
            Ok(User {
                username: r.get(0)?,
                role: Role::parse(&r.get::<_, String>(1)?).unwrap_or(Role::Read),
                created_at: r.get(2)?,
            })
        })?
        .collect()
    }

    pub fn set_role(&self, name: &str, role: Role) -> Result<bool, rusqlite::Error> {
        Ok(self.c().execute(
            "UPDATE users SET role = ?2 WHERE username = ?1",
            params![name, role.as_str()],
        )? == 1)
    }

    /// Changes the password and ends the user's sessions.
    pub fn set_password(&self, name: &str, hash: &str) -> Result<bool, rusqlite::Error> {
        let c = self.c();
        let n = c.execute(
            "UPDATE users SET password_hash = ?2 WHERE username = ?1",
            params![name, hash],
        )?;
        c.execute("DELETE FROM sessions WHERE username = ?1", [name])?;
        Ok(n == 1)
    }

    pub fn delete_user(&self, name: &str) -> Result<bool, rusqlite::Error> {
        Ok(self
            .c()
            .execute("DELETE FROM users WHERE username = ?1", [name])?
            == 1)
    }

    pub fn admin_count(&self) -> Result<i64, rusqlite::Error> {
        self.c()
            .query_row("SELECT COUNT(*) FROM users WHERE role = 'admin'", [], |r| {
                r.get(0)
            })
    }

    // --- sessions

    pub fn create_session(
        &self,
        id: &str,
        name: &str,
        ttl_secs: i64,
    ) -> Result<(), rusqlite::Error> {
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
    pub fn session_user(&self, id: &str) -> Result<Option<(String, Role)>, rusqlite::Error> {
        self.c()
            .query_row(
                "SELECT u.username, u.role FROM sessions s JOIN users u ON u.username = s.username \
                 WHERE s.id = ?1 AND s.expires_at >= ?2",
                params![id, now()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map(|o| o.map(|(u, r)| (u, Role::parse(&r).unwrap_or(Role::Read))))
    }

    pub fn delete_session(&self, id: &str) -> Result<(), rusqlite::Error> {
        self.c()
            .execute("DELETE FROM sessions WHERE id = ?1", [id])?;
        Ok(())
    }

    // --- API tokens

    pub fn create_token(
        &self,
        id: &str,
        user: &str,
        name: &str,
        hash: &str,
    ) -> Result<(), rusqlite::Error> {
        self.c().execute(
            "INSERT INTO api_tokens (id, username, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, user, name, hash, now()],
        )?;
        Ok(())
    }

    pub fn token_user(&self, hash: &str) -> Result<Option<(String, Role)>, rusqlite::Error> {
        self.c()
            .query_row(
                "SELECT u.username, u.role FROM api_tokens t JOIN users u ON u.username = t.username \
                 WHERE t.token_hash = ?1",
                [hash],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map(|o| o.map(|(u, r)| (u, Role::parse(&r).unwrap_or(Role::Read))))
    }

    pub fn tokens(&self, user: &str) -> Result<Vec<TokenInfo>, rusqlite::Error> {
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
        .collect()
    }

    /// Deletes a token of `user` (any user's when `user` is `None`).
    pub fn delete_token(&self, id: &str, user: Option<&str>) -> Result<bool, rusqlite::Error> {
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

    pub fn audit(&self, user: &str, action: &str, detail: &str) -> Result<(), rusqlite::Error> {
        self.c().execute(
            "INSERT INTO audit (at, username, action, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now(), user, action, detail],
        )?;
        Ok(())
    }

    pub fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, rusqlite::Error> {
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
        .collect()
    }

    // --- config versions

    pub fn add_version(
        &self,
        author: &str,
        message: &str,
        yaml: &str,
    ) -> Result<i64, rusqlite::Error> {
        let c = self.c();
        c.execute(
            "INSERT INTO config_versions (created_at, author, message, yaml) VALUES (?1, ?2, ?3, ?4)",
            params![now(), author, message, yaml],
        )?;
        Ok(c.last_insert_rowid())
    }

    pub fn versions(&self, limit: i64) -> Result<Vec<Version>, rusqlite::Error> {
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
        .collect()
    }

    pub fn version(&self, id: i64) -> Result<Option<Version>, rusqlite::Error> {
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
    }

    pub fn latest_version(&self) -> Result<Option<Version>, rusqlite::Error> {
        let id: Option<i64> =
            self.c()
                .query_row("SELECT MAX(id) FROM config_versions", [], |r| r.get(0))?;
        match id {
            Some(id) => self.version(id),
            None => Ok(None),
        }
    }
}
