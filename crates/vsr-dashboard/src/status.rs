//! Status (backends and their health, encoder, config generation, replay store) and the recent
//! log lines from the process's subscriber.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Dash;
use crate::auth::Caller;
use crate::error::{DashError, DashResult};

pub async fn status(State(dash): State<Arc<Dash>>, _caller: Caller) -> DashResult<Json<Value>> {
    let Some(live) = dash.sup.live() else {
        return Ok(Json(json!({
            "setup_mode": true,
            "config_path": dash.sup.config_path().display().to_string(),
            "backends": [],
        })));
    };
    let rt = live.shared.runtime.load();
    let mut backends = Vec::new();
    let mut aliases: Vec<&String> = rt.pools.keys().collect();
    aliases.sort();
    for alias in aliases {
        let pool = &rt.pools[alias];
        for (i, e) in pool.endpoints.iter().enumerate() {
            backends.push(json!({
                "alias": alias,
                "name": e.settings.name,
                "endpoint": format!("{}://{}", if e.settings.https { "https" } else { "http" }, e.settings.authority),
                "healthy": pool.is_healthy(i),
                "ejected": pool.is_ejected(i),
            }));
        }
    }
    let replay = match &live.replay {
        Some(r) => {
            let store = r.store.clone();
            let count = tokio::task::spawn_blocking(move || store.count())
                .await
                .map_err(|e| DashError::Internal(e.to_string()))?;
            json!({"backend": r.store.backend(), "records": count.ok()})
        }
        None => Value::Null,
    };
    Ok(Json(json!({
        "setup_mode": false,
        "generation": rt.generation,
        "config_path": live.config_path.display().to_string(),
        "data_plane": live.data_plane.to_string(),
        "backends": backends,
        "encoder": {
            "model": live.models.set.model_id(),
            "load_error": live.models.load_error,
            "loaded": live.models.handle.is_some(),
        },
        "classifier_queue": {
            "free_slots": live.shared.classify_queue.available_permits(),
        },
        "replay": replay,
        "readonly": dash.opts.readonly,
        "config_sync": dash.sync.as_ref().map(|s| s.status()),
    })))
}

#[derive(Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

pub async fn logs(_caller: Caller, Query(q): Query<LogQuery>) -> DashResult<Json<Value>> {
    let level = match q.level.as_deref().map(str::trim) {
        None | Some("") => tracing::Level::TRACE,
        Some(l) => l.parse::<tracing::Level>().map_err(|_| {
            DashError::BadRequest(format!(
                "level `{l}` is not one of error, warn, info, debug, trace"
            ))
        })?,
    };
    let lines = vsr_telemetry::recent_logs().tail(level, q.limit.unwrap_or(200).clamp(1, 2000));
    Ok(Json(json!(lines)))
}
