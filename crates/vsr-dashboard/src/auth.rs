//! Who is calling: Argon2id password hashes, sessions in a signed HttpOnly cookie (the key is
//! persisted in the data dir, the session rows in the database, so both survive restarts),
//! bearer API tokens (stored as SHA-256), roles, and CSRF protection for cookie-authenticated
//! writes (the token is an HMAC of the session id, handed out by `/api/auth/state`).

use std::path::Path;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use hmac::{KeyInit, Mac};
use http::request::Parts;
use http::{HeaderMap, Method, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Dash;
use crate::error::{DashError, DashResult};

pub const SESSION_COOKIE: &str = "vsr_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions last 12 hours.
pub const SESSION_TTL_SECS: i64 = 12 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, Serialize)]
pub struct Caller {
    pub username: String,
    pub role: Role,
    /// Set when the caller came with the session cookie (then writes need the CSRF header).
    #[serde(skip)]
    pub session: Option<String>,
}

impl Caller {
    pub fn require(&self, role: Role) -> DashResult<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(DashError::Forbidden(format!(
                "this needs the {} role; {} has {}",
                role.as_str(),
                self.username,
                self.role.as_str()
            )))
        }
    }

    /// Whether this caller may see request and response bodies.
    pub fn sees_bodies(&self) -> bool {
        self.role >= Role::Write
    }
}

/// The key that signs cookies and CSRF tokens: 32 random bytes in `<dir>/dashboard.secret`,
/// created on first use (mode 0600).
pub fn load_or_create_secret(dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = dir.join("dashboard.secret");
    match std::fs::read(&path) {
        Ok(k) if k.len() >= 32 => return Ok(k),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is shorter than 32 bytes; delete it to create a new key (this signs everyone out)",
                path.display()
            )));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let key = random_bytes(32);
    let tmp = dir.join("dashboard.secret.tmp");
    {
        use std::io::Write as _;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(&key)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(key)
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    // The OS generator failing is not recoverable: no key can be made without it.
    getrandom::fill(&mut b).unwrap_or_else(|e| panic!("the OS random generator failed: {e}"));
    b
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn random_token(n: usize) -> String {
    hex(&random_bytes(n))
}

/// Argon2id with the crate's default (OWASP) parameters. Slow on purpose: call it off the
/// async workers.
pub fn hash_password(password: &str) -> DashResult<String> {
    let salt = SaltString::encode_b64(&random_bytes(16))
        .map_err(|e| DashError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DashError::Internal(format!("hashing the password: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

pub fn check_password_rules(password: &str) -> DashResult<()> {
    if password.chars().count() < 8 {
        return Err(DashError::BadRequest(
            "the password needs at least 8 characters".into(),
        ));
    }
    Ok(())
}

pub fn check_username(name: &str) -> DashResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(DashError::BadRequest(
            "a username has 1 to 64 characters: letters, digits, _ - . @".into(),
        ))
    }
}

pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

type HmacSha256 = hmac::Hmac<Sha256>;

fn mac(secret: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| panic!("HMAC takes keys of any length"));
    for p in parts {
        m.update(p);
    }
    m
}

/// `id.signature` for the session cookie.
pub fn sign_session(secret: &[u8], id: &str) -> String {
    let sig = mac(secret, &[b"session:", id.as_bytes()])
        .finalize()
        .into_bytes();
    format!("{id}.{}", hex(&sig))
}

/// The session id of a correctly signed cookie value.
pub fn verify_session(secret: &[u8], value: &str) -> Option<String> {
    let (id, sig) = value.rsplit_once('.')?;
    let sig = unhex(sig)?;
    mac(secret, &[b"session:", id.as_bytes()])
        .verify_slice(&sig)
        .ok()
        .map(|_| id.to_string())
}

pub fn csrf_token(secret: &[u8], session: &str) -> String {
    hex(&mac(secret, &[b"csrf:", session.as_bytes()])
        .finalize()
        .into_bytes())
}

fn csrf_ok(secret: &[u8], session: &str, given: &str) -> bool {
    unhex(given).is_some_and(|g| {
        mac(secret, &[b"csrf:", session.as_bytes()])
            .verify_slice(&g)
            .is_ok()
    })
}

/// The bytes of a hex string (`None` when it is not one).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn session_cookie(value: &str, max_age: i64) -> String {
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}

/// Users, sessions and tokens with the key that signs cookies: what checks a caller, shared by
/// the dashboard and the router's management plane.
pub struct Credentials {
    pub db: Arc<dyn crate::db::DashStore>,
    /// Read once from the store (with PostgreSQL, on first use after the database is reachable).
    secret: std::sync::OnceLock<Vec<u8>>,
}

impl Credentials {
    /// Opens (creating) `dashboard.db` and `dashboard.secret` in `dir`: one replica's state.
    pub fn open(dir: &Path) -> Result<Arc<Credentials>, crate::StartError> {
        std::fs::create_dir_all(dir).map_err(|source| crate::StartError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let db = crate::db::SqliteDb::open(dir).map_err(|source| crate::StartError::Db {
            path: dir.join("dashboard.db").display().to_string(),
            source: source.into(),
        })?;
        let creds = Credentials {
            db: Arc::new(db),
            secret: std::sync::OnceLock::new(),
        };
        creds.secret().map_err(|e| crate::StartError::DataDir {
            path: dir.join("dashboard.secret"),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Arc::new(creds))
    }

    /// The state of replicas in a shared PostgreSQL. Never fails on an unreachable server: the
    /// store connects on first use, so the router starts and serves while the database is down.
    pub fn open_shared(store: Arc<crate::db::PostgresDb>) -> Arc<Credentials> {
        let creds = Credentials {
            db: store,
            secret: std::sync::OnceLock::new(),
        };
        if let Err(e) = creds.secret() {
            tracing::warn!(error = %e, "dashboard store unreachable; sign-in waits for it");
        }
        Arc::new(creds)
    }

    /// The key that signs cookies and CSRF tokens.
    pub fn secret(&self) -> DashResult<&[u8]> {
        if let Some(k) = self.secret.get() {
            return Ok(k);
        }
        let k = self.db.secret(&random_bytes(32))?;
        Ok(self.secret.get_or_init(|| k))
    }

    /// The caller of a request, checking the CSRF header when it came with the cookie and
    /// does more than read.
    pub fn caller(&self, headers: &HeaderMap, writes: bool) -> DashResult<Option<Caller>> {
        let caller = resolve(self, headers)?;
        if writes
            && let Some(Caller {
                session: Some(session),
                ..
            }) = &caller
        {
            let given = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !csrf_ok(self.secret()?, session, given) {
                return Err(DashError::Csrf);
            }
        }
        Ok(caller)
    }
}

/// The router's protected management requests (`POST /config/reload`, cache invalidation,
/// the replay API with its bodies) take the dashboard's credentials with the `write` role;
/// with no user yet the router answers them for loopback clients only
/// ([`vsr_server::management::open_without_users`]).
impl vsr_server::ManagementAuth for Credentials {
    fn has_users(&self) -> Result<bool, String> {
        self.db
            .user_count()
            .map(|n| n > 0)
            .map_err(|e| format!("dashboard user store: {e}"))
    }

    fn check(
        &self,
        access: vsr_server::Access,
        headers: &HeaderMap,
    ) -> Result<(), (http::StatusCode, String)> {
        let writes = access == vsr_server::Access::Write;
        match self.caller(headers, writes) {
            Ok(Some(c)) => c
                .require(Role::Write)
                .map_err(|e| (e.status(), e.to_string())),
            Ok(None) => Err((
                http::StatusCode::UNAUTHORIZED,
                "this endpoint needs the dashboard's credentials (Authorization: Bearer <token>)"
                    .into(),
            )),
            Err(e) => Err((e.status(), e.to_string())),
        }
    }
}

/// Resolves the caller from a bearer token or the session cookie.
pub fn resolve(dash: &Credentials, headers: &HeaderMap) -> DashResult<Option<Caller>> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let token = v
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(DashError::Unauthenticated)?;
        return match dash.db.token_user(&token_hash(token.trim()))? {
            Some((username, role)) => Ok(Some(Caller {
                username,
                role,
                session: None,
            })),
            None => Err(DashError::Unauthenticated),
        };
    }
    let Some(cookie) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = verify_session(dash.secret()?, cookie) else {
        return Ok(None);
    };
    Ok(dash
        .db
        .session_user(&session)?
        .map(|(username, role)| Caller {
            username,
            role,
            session: Some(session),
        }))
}

/// Middleware on every `/api` route: puts the caller (if any) in the request's extensions and
/// refuses cookie-authenticated writes without the CSRF header.
pub async fn authenticate(
    State(dash): State<Arc<Dash>>,
    mut req: Request,
    next: Next,
) -> Result<Response, DashError> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let caller = dash.creds.caller(req.headers(), !safe)?;
    if let Some(c) = caller {
        req.extensions_mut().insert(c);
    }
    Ok(next.run(req).await)
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = DashError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(DashError::Unauthenticated)
    }
}

/// The caller when there is one (public routes).
pub struct MaybeCaller(pub Option<Caller>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeCaller {
    type Rejection = DashError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeCaller(parts.extensions.get::<Caller>().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_verify_only_with_their_key() {
        let k = random_bytes(32);
        let v = sign_session(&k, "abc");
        assert_eq!(verify_session(&k, &v).as_deref(), Some("abc"));
        assert_eq!(verify_session(&random_bytes(32), &v), None);
        assert_eq!(verify_session(&k, "abc.00"), None);
        assert_eq!(verify_session(&k, "abd"), None);
        let t = csrf_token(&k, "abc");
        assert!(csrf_ok(&k, "abc", &t));
        assert!(!csrf_ok(&k, "abd", &t));
        assert!(!csrf_ok(&k, "abc", "zz"));
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
