//! The config builder's API: view the active config as YAML and DSL, validate and compile as
//! the user types (the server's own validator and compiler, so diagnostics match `vllm-sr
//! validate`), preview a draft (diff, impact on recorded traffic, probe score), deploy with a
//! hot reload, versions, diff and rollback.

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use vsr_app::Live;

use crate::Dash;
use crate::auth::{Caller, Role};
use crate::error::{DashError, DashResult, Diagnostic};

/// The validator's findings in the API's shape.
pub fn diagnostics_of(diags: &[vsr_config::Diagnostic]) -> Vec<Diagnostic> {
    diags
        .iter()
        .map(|d| Diagnostic {
            severity: if d.is_error() { "error" } else { "warning" },
            message: d.message.clone(),
            path: Some(d.path.clone()).filter(|p| !p.is_empty()),
            line: d.line.max(1),
            column: d.column.max(1),
            end_line: None,
            end_column: None,
        })
        .collect()
}

/// 1-based line and column (in characters) of byte offset `at` in `src`.
fn line_col(src: &str, at: usize) -> (usize, usize) {
    let at = at.min(src.len());
    let before = src.get(..at).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The DSL compiler's findings, with the end of each span.
pub fn dsl_diagnostics(diags: &[vsr_dsl::Diagnostic], src: &str) -> Vec<Diagnostic> {
    diags
        .iter()
        .map(|d| {
            let (end_line, end_column) = line_col(src, d.span.end);
            let message = match &d.suggestion {
                Some(s) => format!("{} ({s})", d.message),
                None => d.message.clone(),
            };
            Diagnostic {
                severity: if d.is_error() { "error" } else { "warning" },
                message,
                path: d.path.clone(),
                line: (d.span.line as usize).max(1),
                column: (d.span.col as usize).max(1),
                end_line: Some(end_line),
                end_column: Some(end_column),
            }
        })
        .collect()
}

/// Writes `text` to `path` through a temporary file and a rename, so a reader (the router's
/// watcher) never sees half a file; the previous file is kept as `<path>.bak`.
pub fn write_atomically(path: &Path, text: &str) -> DashResult<()> {
    let io = |what: &str, e: std::io::Error| {
        DashError::Internal(format!("{what} {}: {e}", path.display()))
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.yaml".into());
    // The backup is written atomically too: a kill mid-copy must not leave half a `.bak`.
    match std::fs::read(path) {
        Ok(old) => vsr_app::atomic_file::write_atomically(
            &path.with_file_name(format!("{name}.bak")),
            &old,
        )
        .map_err(|e| io("backing up", e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("backing up", e)),
    }
    vsr_app::atomic_file::write_atomically(path, text.as_bytes()).map_err(|e| io("writing", e))
}

fn live(dash: &Dash) -> DashResult<Live> {
    dash.sup.live().ok_or_else(|| {
        DashError::Conflict("no config is active yet: finish the setup wizard first".into())
    })
}

fn read_config(live: &Live) -> DashResult<String> {
    std::fs::read_to_string(&live.config_path).map_err(|e| {
        DashError::Unavailable(format!("cannot read {}: {e}", live.config_path.display()))
    })
}

/// At start, one replica: if the running file is not the newest version, record it, so the
/// first deploy can be rolled back. (Replicas over PostgreSQL: the config sync does this.)
pub fn record_running_version(dash: &Dash) {
    if dash.sync.is_some() {
        return;
    }
    let Some(live) = dash.sup.live() else { return };
    let Ok(text) = read_config(&live) else { return };
    if let Err(e) = dash.db.start_version(&text) {
        tracing::warn!(error = %e, "cannot record the running config as a version");
    }
}

pub async fn current(State(dash): State<Arc<Dash>>, _caller: Caller) -> DashResult<Json<Value>> {
    let live = live(&dash)?;
    let yaml = read_config(&live)?;
    let (dsl, dsl_error) = match vsr_dsl::decompile_yaml(&yaml) {
        Ok(d) => (Some(d), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let version = dash
        .db
        .active_version()?
        .filter(|v| v.yaml.as_deref() == Some(yaml.as_str()))
        .map(|v| v.id);
    Ok(Json(json!({
        "yaml": crate::secrets::redact(&yaml),
        "dsl": dsl,
        "dsl_error": dsl_error,
        "version": version,
        "generation": live.shared.runtime.load().generation,
        "config_path": live.config_path.display().to_string(),
    })))
}

#[derive(Deserialize)]
pub struct YamlBody {
    yaml: String,
}

pub async fn validate(_caller: Caller, Json(b): Json<YamlBody>) -> Json<Value> {
    let (_, _, diags) = vsr_config::check_str(&b.yaml, "config.yaml");
    Json(json!({
        "valid": !diags.iter().any(|d| d.is_error()),
        "diagnostics": diagnostics_of(&diags),
    }))
}

#[derive(Deserialize)]
pub struct DslBody {
    dsl: String,
    #[serde(default)]
    base_yaml: Option<String>,
}

pub async fn dsl_compile(
    State(dash): State<Arc<Dash>>,
    _caller: Caller,
    Json(b): Json<DslBody>,
) -> DashResult<Json<Value>> {
    let base = match b.base_yaml {
        Some(y) => Some(y),
        None => dash.sup.live().and_then(|l| read_config(&l).ok()),
    };
    Ok(Json(match vsr_dsl::build(&b.dsl, base.as_deref()) {
        Ok(built) => json!({
            "valid": true,
            "diagnostics": dsl_diagnostics(&built.warnings, &b.dsl),
            "yaml": built.yaml,
        }),
        Err(diags) => json!({
            "valid": false,
            "diagnostics": dsl_diagnostics(&diags, &b.dsl),
        }),
    }))
}

pub async fn dsl_format(_caller: Caller, Json(b): Json<DslBody>) -> DashResult<Json<Value>> {
    vsr_dsl::format(&b.dsl)
        .map(|dsl| Json(json!({"dsl": dsl})))
        .map_err(|diags| DashError::Invalid {
            message: "the DSL has errors; fix them before formatting".into(),
            diagnostics: dsl_diagnostics(&diags, &b.dsl),
        })
}

pub async fn dsl_decompile(_caller: Caller, Json(b): Json<YamlBody>) -> DashResult<Json<Value>> {
    vsr_dsl::decompile_yaml(&b.yaml)
        .map(|dsl| Json(json!({"dsl": dsl})))
        .map_err(|e| DashError::Invalid {
            message: format!("cannot write this config as DSL: {e}"),
            diagnostics: vec![],
        })
}

pub fn unified_diff(before: &str, after: &str, from: &str, to: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(from, to)
        .to_string()
}

/// The draft, validated: its typed config, else 422 with every diagnostic.
pub fn validated(yaml: &str) -> DashResult<vsr_config::Config> {
    let (config, _, diags) = vsr_config::check_str(yaml, "draft.yaml");
    match config {
        Some(c) if !diags.iter().any(|d| d.is_error()) => Ok(c),
        _ => Err(DashError::Invalid {
            message: "the draft does not validate".into(),
            diagnostics: diagnostics_of(&diags),
        }),
    }
}

#[derive(Deserialize)]
pub struct PreviewBody {
    yaml: String,
    #[serde(default)]
    limit: Option<usize>,
}

pub async fn preview(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Json(b): Json<PreviewBody>,
) -> DashResult<Json<Value>> {
    caller.require(Role::Write)?;
    let live = live(&dash)?;
    let current = read_config(&live)?;
    let text_diff = unified_diff(
        &crate::secrets::redact(&current),
        &b.yaml,
        "active",
        "draft",
    );
    let restored = crate::secrets::restore(&b.yaml, &current)?;
    let draft = validated(&restored)?;
    // What changes in meaning: both sides as the typed config serialises them (fields in one
    // fixed order), so key order, quoting and comments (e.g. a DSL compile re-serialising the
    // file) do not show up as changes.
    let canonical = |t: &str| {
        vsr_config::load_str(t, "config.yaml")
            .ok()
            .and_then(|l| serde_yaml::to_string(&l.config).ok())
            .map(|y| crate::secrets::redact(&y))
    };
    let diff = match (canonical(&current), canonical(&restored)) {
        (Some(a), Some(b)) => unified_diff(&a, &b, "active", "draft"),
        _ => text_diff.clone(),
    };
    let limit = b.limit.unwrap_or(200).clamp(1, 2000);
    let (impact, probes) = tokio::task::spawn_blocking(move || {
        let draft_router = crate::routing::draft_classifier(&draft, &live)?;
        let impact = crate::routing::impact(&live, &draft, &draft_router, limit)?;
        let probes = crate::routing::probe_run(&live, None, Some(&draft_router)).ok();
        DashResult::Ok((impact, probes))
    })
    .await
    .map_err(|e| DashError::Internal(e.to_string()))??;
    Ok(Json(
        json!({"diff": diff, "text_diff": text_diff, "impact": impact, "probes": probes}),
    ))
}

#[derive(Deserialize)]
pub struct DeployBody {
    yaml: String,
    #[serde(default)]
    message: String,
}

/// Validates, writes atomically, hot-reloads, and records the version (with replicas, the
/// shared database tells the others); a reload the router refuses, or a version the store
/// cannot record, puts the previous file back.
async fn deploy_yaml(dash: &Dash, user: &str, yaml: &str, message: &str) -> DashResult<Value> {
    dash.require_writable()?;
    let _guard = dash.sup.config_change().await;
    let live = live(dash)?;
    validated(yaml)?;
    let before = read_config(&live)?;
    write_atomically(&live.config_path, yaml)?;
    match live.shared.reload().await {
        Ok(generation) => match dash.db.add_version(user, message, yaml) {
            Ok(id) => {
                dash.audit(user, "config.deploy", &format!("version {id}: {message}"));
                if let Some(sync) = &dash.sync {
                    sync.deployed_here(id);
                }
                Ok(json!({"version": id, "generation": generation}))
            }
            Err(e) => {
                // Unrecorded, it would not reach the other replicas: run the previous one.
                write_atomically(&live.config_path, &before)?;
                let _ = live.shared.reload().await;
                Err(e.into())
            }
        },
        Err(e) => {
            write_atomically(&live.config_path, &before)?;
            Err(DashError::Invalid {
                message: format!("the router refused the config and keeps the running one: {e}"),
                diagnostics: vec![],
            })
        }
    }
}

pub async fn deploy(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Json(b): Json<DeployBody>,
) -> DashResult<Json<Value>> {
    caller.require(Role::Write)?;
    let message = if b.message.trim().is_empty() {
        "deployed from the builder".to_string()
    } else {
        b.message.trim().to_string()
    };
    dash.require_writable()?;
    let live_text = read_config(&live(&dash)?)?;
    let yaml = crate::secrets::restore(&b.yaml, &live_text)?;
    deploy_yaml(&dash, &caller.username, &yaml, &message)
        .await
        .map(Json)
}

#[derive(Deserialize)]
pub struct Rollback {
    version: i64,
}

pub async fn rollback(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Json(r): Json<Rollback>,
) -> DashResult<Json<Value>> {
    caller.require(Role::Write)?;
    dash.require_writable()?;
    let v = dash
        .db
        .version(r.version)?
        .ok_or_else(|| DashError::NotFound(format!("no version {}", r.version)))?;
    let yaml = v.yaml.unwrap_or_default();
    deploy_yaml(
        &dash,
        &caller.username,
        &yaml,
        &format!("rollback to version {}", r.version),
    )
    .await
    .map(Json)
}

pub async fn versions(State(dash): State<Arc<Dash>>, _caller: Caller) -> DashResult<Json<Value>> {
    Ok(Json(json!(dash.db.versions(200)?)))
}

pub async fn version(
    State(dash): State<Arc<Dash>>,
    _caller: Caller,
    UrlPath(id): UrlPath<i64>,
) -> DashResult<Json<Value>> {
    dash.db
        .version(id)?
        .map(|mut v| {
            v.yaml = v.yaml.map(|y| crate::secrets::redact(&y));
            Json(json!(v))
        })
        .ok_or_else(|| DashError::NotFound(format!("no version {id}")))
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: i64,
    to: i64,
}

pub async fn diff(
    State(dash): State<Arc<Dash>>,
    _caller: Caller,
    Query(q): Query<DiffQuery>,
) -> DashResult<Json<Value>> {
    let get = |id: i64| -> DashResult<String> {
        dash.db
            .version(id)?
            .and_then(|v| v.yaml)
            .map(|y| crate::secrets::redact(&y))
            .ok_or_else(|| DashError::NotFound(format!("no version {id}")))
    };
    let (a, b) = (get(q.from)?, get(q.to)?);
    Ok(Json(json!({
        "diff": unified_diff(&a, &b, &format!("version {}", q.from), &format!("version {}", q.to)),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines_and_columns() {
        let s = "ab\ncdé\nf";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 3), (2, 1));
        assert_eq!(line_col(s, 7), (2, 4));
        assert_eq!(line_col(s, 100), (3, 2));
    }
}
