//! Sign-in, the first admin, users, API tokens and the audit log.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Dash;
use crate::auth::{self, Caller, MaybeCaller, Role};
use crate::error::{DashError, DashResult};

async fn hash(password: String) -> DashResult<String> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| DashError::Internal(e.to_string()))?
}

pub async fn state(
    State(dash): State<Arc<Dash>>,
    MaybeCaller(caller): MaybeCaller,
) -> DashResult<Json<Value>> {
    let csrf = match caller.as_ref().and_then(|c| c.session.as_deref()) {
        Some(s) => Some(auth::csrf_token(dash.secret()?, s)),
        None => None,
    };
    Ok(Json(json!({
        "setup_mode": dash.setup_mode(),
        "has_users": dash.db.user_count()? > 0,
        "readonly": dash.opts.readonly,
        "platform": dash.opts.platform,
        "user": caller,
        "csrf": csrf,
    })))
}

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

/// Signs `username` in: a new session row and its signed cookie.
fn signed_in(dash: &Dash, username: &str, role: Role) -> DashResult<Response> {
    let id = auth::random_token(24);
    dash.db
        .create_session(&id, username, auth::SESSION_TTL_SECS)?;
    let cookie = auth::session_cookie(
        &auth::sign_session(dash.secret()?, &id),
        auth::SESSION_TTL_SECS,
    );
    let body = json!({
        "user": {"username": username, "role": role},
        "csrf": auth::csrf_token(dash.secret()?, &id),
    });
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

pub async fn bootstrap(
    State(dash): State<Arc<Dash>>,
    Json(c): Json<Credentials>,
) -> DashResult<Response> {
    if !dash.setup_mode() {
        return Err(DashError::Forbidden(
            "the first admin is created during setup only; sign in instead".into(),
        ));
    }
    auth::check_username(&c.username)?;
    auth::check_password_rules(&c.password)?;
    let h = hash(c.password).await?;
    if !dash.db.create_first_user(&c.username, &h)? {
        return Err(DashError::Conflict(
            "an admin already exists; sign in instead".into(),
        ));
    }
    dash.audit(&c.username, "user.bootstrap", &c.username);
    signed_in(&dash, &c.username, Role::Admin)
}

pub async fn login(
    State(dash): State<Arc<Dash>>,
    Json(c): Json<Credentials>,
) -> DashResult<Response> {
    let found = dash.db.password_hash(&c.username)?;
    // Verify against a dummy hash when the user is unknown, so timing does not tell.
    let (stored, role) = found.clone().unwrap_or_else(|| (dummy_hash(), Role::Read));
    let password = c.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &stored))
        .await
        .map_err(|e| DashError::Internal(e.to_string()))?;
    if !ok || found.is_none() {
        tracing::warn!(user = %c.username, "dashboard sign-in refused");
        return Err(DashError::BadCredentials);
    }
    dash.audit(&c.username, "auth.login", "");
    signed_in(&dash, &c.username, role)
}

/// An Argon2id hash of a random password nobody knows, made once.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| auth::hash_password(&auth::random_token(16)).unwrap_or_default())
        .clone()
}

pub async fn logout(State(dash): State<Arc<Dash>>, caller: Caller) -> DashResult<Response> {
    if let Some(s) = &caller.session {
        dash.db.delete_session(s)?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, auth::session_cookie("", 0))],
    )
        .into_response())
}

pub async fn list(State(dash): State<Arc<Dash>>, caller: Caller) -> DashResult<Json<Value>> {
    caller.require(Role::Admin)?;
    Ok(Json(json!(dash.db.users()?)))
}

#[derive(Deserialize)]
pub struct NewUser {
    username: String,
    password: String,
    role: Role,
}

pub async fn create(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Json(u): Json<NewUser>,
) -> DashResult<Response> {
    caller.require(Role::Admin)?;
    auth::check_username(&u.username)?;
    auth::check_password_rules(&u.password)?;
    let h = hash(u.password).await?;
    if !dash.db.create_user(&u.username, &h, u.role)? {
        return Err(DashError::Conflict(format!("user {} exists", u.username)));
    }
    dash.audit(
        &caller.username,
        "user.create",
        &format!("{} ({})", u.username, u.role.as_str()),
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({"username": u.username, "role": u.role})),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct UserUpdate {
    role: Option<Role>,
    password: Option<String>,
}

pub async fn update(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Path(name): Path<String>,
    Json(u): Json<UserUpdate>,
) -> DashResult<StatusCode> {
    // Anyone may change their own password; the rest is for admins.
    if name != caller.username || u.role.is_some() {
        caller.require(Role::Admin)?;
    }
    let exists = dash.db.users()?.into_iter().find(|x| x.username == name);
    let Some(existing) = exists else {
        return Err(DashError::NotFound(format!("no user {name}")));
    };
    if let Some(role) = u.role {
        if existing.role == Role::Admin && role != Role::Admin && dash.db.admin_count()? <= 1 {
            return Err(DashError::Conflict(
                "the last admin cannot be demoted".into(),
            ));
        }
        dash.db.set_role(&name, role)?;
        dash.audit(
            &caller.username,
            "user.role",
            &format!("{name} → {}", role.as_str()),
        );
    }
    if let Some(p) = u.password {
        auth::check_password_rules(&p)?;
        let h = hash(p).await?;
        dash.db.set_password(&name, &h)?;
        dash.audit(&caller.username, "user.password", &name);
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Path(name): Path<String>,
) -> DashResult<StatusCode> {
    caller.require(Role::Admin)?;
    let users = dash.db.users()?;
    let Some(u) = users.iter().find(|x| x.username == name) else {
        return Err(DashError::NotFound(format!("no user {name}")));
    };
    if u.role == Role::Admin && dash.db.admin_count()? <= 1 {
        return Err(DashError::Conflict(
            "the last admin cannot be deleted".into(),
        ));
    }
    dash.db.delete_user(&name)?;
    dash.audit(&caller.username, "user.delete", &name);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tokens(State(dash): State<Arc<Dash>>, caller: Caller) -> DashResult<Json<Value>> {
    Ok(Json(json!(dash.db.tokens(&caller.username)?)))
}

#[derive(Deserialize)]
pub struct NewToken {
    name: String,
}

pub async fn create_token(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Json(t): Json<NewToken>,
) -> DashResult<Response> {
    let name = t.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(DashError::BadRequest(
            "a token needs a name (1 to 100 characters)".into(),
        ));
    }
    let id = auth::random_token(8);
    let token = format!("vsr_{}", auth::random_token(24));
    dash.db
        .create_token(&id, &caller.username, name, &auth::token_hash(&token))?;
    dash.audit(&caller.username, "token.create", name);
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "name": name, "token": token})),
    )
        .into_response())
}

pub async fn delete_token(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Path(id): Path<String>,
) -> DashResult<StatusCode> {
    let owner = (caller.role < Role::Admin).then_some(caller.username.as_str());
    if !dash.db.delete_token(&id, owner)? {
        return Err(DashError::NotFound(format!("no token {id}")));
    }
    dash.audit(&caller.username, "token.delete", &id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Limit {
    limit: Option<i64>,
}

pub async fn audit(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Query(q): Query<Limit>,
) -> DashResult<Json<Value>> {
    caller.require(Role::Admin)?;
    Ok(Json(json!(
        dash.db.audit_log(q.limit.unwrap_or(200).clamp(1, 1000))?
    )))
}
