//! The first-run wizard: connect the backend, choose routing (built-in profile, upload, paste,
//! import from a URL), review, activate. Activation writes the config atomically (the previous
//! file kept as `.bak`) and starts the router in this process.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Dash;
use crate::auth::{Caller, Role};
use crate::config_api::{diagnostics_of, write_atomically};
use crate::error::{DashError, DashResult};
use crate::fetch::{ImportPolicy, fetch_yaml};

/// Built-in profiles offered by the wizard.
const PROFILES: &[(&str, &str, &str)] = &[(
    "balance",
    "Balance: five tiers (SIMPLE … PREMIUM) on one model",
    vsr_app::DEMO_PROFILE,
)];

#[derive(Deserialize)]
pub struct BackendCheck {
    url: String,
    #[serde(default)]
    api_key: Option<String>,
}

/// `http://host:port`, with a trailing `/` or `/v1` accepted.
fn backend_base(url: &str) -> DashResult<(String, http::Uri)> {
    let trimmed = url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    let uri: http::Uri = trimmed
        .parse()
        .map_err(|e| DashError::BadRequest(format!("`{url}` is not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some() => Ok((trimmed.to_string(), uri)),
        Some("https") => Err(DashError::BadRequest(
            "HTTPS backends are not supported yet; give the backend's http:// address".into(),
        )),
        _ => Err(DashError::BadRequest(format!(
            "`{url}` is not an http:// URL with a host"
        ))),
    }
}

/// The backend's served model ids (`GET {base}/v1/models`).
async fn served_models(url: &str, api_key: Option<&str>) -> DashResult<Vec<String>> {
    let (base, _) = backend_base(url)?;
    let key = api_key.filter(|k| !k.is_empty()).map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent.get(format!("{base}/v1/models"));
        if let Some(k) = &key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let mut resp = req
            .call()
            .map_err(|e| DashError::Upstream(format!("cannot reach {base}: {e}")))?;
        if !resp.status().is_success() {
            return Err(DashError::Upstream(format!(
                "{base}/v1/models answered {}",
                resp.status()
            )));
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| DashError::Upstream(format!("{base}/v1/models: {e}")))?;
        let body: Value = serde_json::from_str(&text)
            .map_err(|e| DashError::Upstream(format!("{base}/v1/models: not a model list: {e}")))?;
        Ok(body["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    })
    .await
    .map_err(|e| DashError::Internal(e.to_string()))?
}

fn setup_caller(dash: &Dash, caller: &Caller) -> DashResult<()> {
    caller.require(Role::Write)?;
    dash.require_writable()
}

pub async fn check_backend(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Json(b): Json<BackendCheck>,
) -> DashResult<Json<Value>> {
    setup_caller(&dash, &caller)?;
    let models = served_models(&b.url, b.api_key.as_deref()).await?;
    Ok(Json(json!({"models": models})))
}

pub async fn profiles(_caller: Caller) -> Json<Value> {
    Json(json!(
        PROFILES
            .iter()
            .map(|(id, title, _)| json!({"id": id, "title": title}))
            .collect::<Vec<_>>()
    ))
}

pub async fn profile(_caller: Caller, UrlPath(id): UrlPath<String>) -> DashResult<Json<Value>> {
    PROFILES
        .iter()
        .find(|(p, _, _)| *p == id)
        .map(|(_, _, yaml)| Json(json!({"yaml": yaml})))
        .ok_or_else(|| DashError::NotFound(format!("no built-in profile `{id}`")))
}

#[derive(Deserialize)]
pub struct Import {
    url: String,
}

pub async fn import(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Json(i): Json<Import>,
) -> DashResult<Json<Value>> {
    setup_caller(&dash, &caller)?;
    let policy = ImportPolicy::new(dash.opts.allow_private_import);
    let url = i.url.clone();
    let yaml = tokio::task::spawn_blocking(move || fetch_yaml(&url, &policy))
        .await
        .map_err(|e| DashError::Internal(e.to_string()))??;
    dash.audit(&caller.username, "config.import", &i.url);
    Ok(Json(json!({"yaml": yaml})))
}

#[derive(Deserialize)]
pub struct Review {
    #[serde(default)]
    yaml: Option<String>,
    #[serde(default)]
    dsl: Option<String>,
    #[serde(default)]
    backend_url: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
}

/// The YAML a review or activation works on: given, or compiled from DSL over the default base.
fn review_yaml(r: &Review) -> DashResult<String> {
    match (&r.yaml, &r.dsl) {
        (Some(y), _) if !y.trim().is_empty() => Ok(y.clone()),
        (_, Some(d)) if !d.trim().is_empty() => match vsr_dsl::build(d, None) {
            Ok(b) => Ok(b.yaml),
            Err(diags) => Err(DashError::Invalid {
                message: "the DSL does not compile".into(),
                diagnostics: crate::config_api::dsl_diagnostics(&diags, d),
            }),
        },
        _ => Err(DashError::BadRequest("give `yaml` or `dsl`".into())),
    }
}

pub async fn review(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Json(r): Json<Review>,
) -> DashResult<Json<Value>> {
    setup_caller(&dash, &caller)?;
    let yaml = match review_yaml(&r) {
        Ok(y) => y,
        Err(DashError::Invalid { diagnostics, .. }) => {
            return Ok(Json(json!({"valid": false, "diagnostics": diagnostics,
                "aliases": [], "missing_aliases": [], "can_activate": false})));
        }
        Err(e) => return Err(e),
    };
    let (config, _, diags) = vsr_config::check_str(&yaml, "config.yaml");
    let diagnostics = diagnostics_of(&diags);
    let valid = !diags.iter().any(|d| d.is_error());
    let (aliases, served_ids): (Vec<String>, Vec<String>) = config
        .as_ref()
        .map(|c| {
            c.providers
                .models
                .iter()
                .map(|m| {
                    (
                        m.name.clone(),
                        m.provider_model_id
                            .clone()
                            .unwrap_or_else(|| m.name.clone()),
                    )
                })
                .unzip()
        })
        .unwrap_or_default();
    let decisions = config.as_ref().map_or(0, |c| c.decisions().count());
    let mut missing = Vec::new();
    let mut backend_error = None;
    if let Some(url) = r.backend_url.as_deref().filter(|u| !u.trim().is_empty()) {
        match served_models(url, r.api_key.as_deref()).await {
            Ok(served) => {
                for (alias, id) in aliases.iter().zip(&served_ids) {
                    if !served.contains(id) {
                        missing.push(alias.clone());
                    }
                }
            }
            Err(e) => backend_error = Some(e.to_string()),
        }
    }
    Ok(Json(json!({
        "valid": valid,
        "diagnostics": diagnostics,
        "yaml": yaml,
        "aliases": aliases,
        "decisions": decisions,
        "missing_aliases": missing,
        "backend_error": backend_error,
        "can_activate": valid && !aliases.is_empty() && decisions > 0,
    })))
}

#[derive(Deserialize)]
pub struct Activate {
    yaml: String,
    backend_url: String,
    #[serde(default)]
    api_key: Option<String>,
}

/// Every backend of every alias pointed at the one backend, with its key when given.
fn point_at_backend(yaml: &str, url: &str, api_key: Option<&str>) -> DashResult<String> {
    let (_, uri) = backend_base(url)?;
    let authority = uri
        .authority()
        .map(|a| {
            if a.port().is_some() {
                a.to_string()
            } else {
                format!("{a}:80")
            }
        })
        .ok_or_else(|| DashError::BadRequest(format!("`{url}` has no host")))?;
    let (out, _) = vsr_server::run::retarget_backends(yaml, &authority)
        .map_err(|e| DashError::BadRequest(format!("cannot point the config at {url}: {e}")))?;
    let Some(key) = api_key.filter(|k| !k.is_empty()) else {
        return Ok(out);
    };
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(&out).map_err(|e| DashError::Internal(e.to_string()))?;
    if let Some(models) = doc
        .get_mut("providers")
        .and_then(|p| p.get_mut("models"))
        .and_then(|m| m.as_sequence_mut())
    {
        for m in models {
            if let Some(refs) = m.get_mut("backend_refs").and_then(|r| r.as_sequence_mut()) {
                for r in refs.iter_mut().filter_map(|r| r.as_mapping_mut()) {
                    r.insert("api_key".into(), key.into());
                }
            }
        }
    }
    serde_yaml::to_string(&doc).map_err(|e| DashError::Internal(e.to_string()))
}

pub async fn activate(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Json(a): Json<Activate>,
) -> DashResult<(StatusCode, Json<Value>)> {
    setup_caller(&dash, &caller)?;
    let _guard = dash.sup.config_change().await;
    if !dash.setup_mode() {
        return Err(DashError::Conflict(
            "the router already runs; deploy changes from the config builder".into(),
        ));
    }
    let yaml = point_at_backend(&a.yaml, &a.backend_url, a.api_key.as_deref())?;
    let (_, _, diags) = vsr_config::check_str(&yaml, "config.yaml");
    if diags.iter().any(|d| d.is_error()) {
        return Err(DashError::Invalid {
            message: "the config does not validate".into(),
            diagnostics: diagnostics_of(&diags),
        });
    }
    let path = dash.sup.options().config.clone();
    write_atomically(&path, &yaml)?;
    if let Err(e) = dash.sup.start().await {
        tracing::error!(error = %e, "activation: the router did not start");
        return Err(DashError::Invalid {
            message: format!("the router did not start: {e}"),
            diagnostics: vec![],
        });
    }
    let id = dash
        .db
        .add_version(&caller.username, "activated by setup", &yaml)?;
    dash.audit(
        &caller.username,
        "setup.activate",
        &format!("{} (version {id})", path.display()),
    );
    let generation = dash
        .sup
        .live()
        .map(|l| l.shared.runtime.load().generation)
        .unwrap_or(0);
    Ok((
        StatusCode::OK,
        Json(json!({"version": id, "generation": generation, "config_path": display(&path)})),
    ))
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
