//! Insights: records (keyset pages, filters; bodies only for roles that may see them), one
//! record, feedback stored with the record, the aggregates behind the charts, and the
//! threshold-calibration view.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use vsr_replay::{AggQuery, ListQuery, ReplayRecord, ReplayStore};

use crate::Dash;
use crate::auth::Caller;
use crate::error::{DashError, DashResult};

fn store(dash: &Dash) -> DashResult<Arc<dyn ReplayStore>> {
    dash.sup
        .live()
        .and_then(|l| l.replay)
        .map(|r| r.store.clone())
        .ok_or_else(|| {
            DashError::Unavailable(
                "no replay store: the router is not running, or the config records nothing".into(),
            )
        })
}

fn redact(mut r: ReplayRecord, caller: &Caller) -> ReplayRecord {
    if !caller.sees_bodies() {
        r.request_body = None;
        r.response_body = None;
    }
    r
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> DashResult<T> + Send + 'static,
) -> DashResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DashError::Internal(e.to_string()))?
}

pub async fn records(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Query(pairs): Query<Vec<(String, String)>>,
) -> DashResult<Json<Value>> {
    let store = store(&dash)?;
    let mut q =
        ListQuery::from_query_pairs(&pairs).map_err(|e| DashError::BadRequest(e.to_string()))?;
    if !pairs.iter().any(|(k, _)| k == "limit") {
        q.limit = 25;
    }
    let page = blocking(move || Ok(store.list(&q)?)).await?;
    let items: Vec<ReplayRecord> = page.items.into_iter().map(|r| redact(r, &caller)).collect();
    Ok(Json(json!({
        "items": items,
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
        "total": page.total,
    })))
}

/// The longest `wait_ms` honoured by `GET /api/records/{id}`.
const MAX_RECORD_WAIT_MS: u64 = 5_000;
const RECORD_POLL_MS: u64 = 100;

#[derive(Deserialize)]
pub struct RecordQuery {
    /// Wait up to this long for a record that is not stored yet (the router writes it after the
    /// answer ends, so a client that has just read a stream asks with a short wait instead of
    /// polling into 404s).
    #[serde(default)]
    wait_ms: u64,
}

pub async fn record(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<RecordQuery>,
) -> DashResult<Json<Value>> {
    let store = store(&dash)?;
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(q.wait_ms.min(MAX_RECORD_WAIT_MS));
    loop {
        let (s, lookup) = (store.clone(), id.clone());
        if let Some(r) = blocking(move || Ok(s.get(&lookup)?)).await? {
            return Ok(Json(json!(redact(r, &caller))));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(DashError::NotFound(format!("no record {id}")));
        }
        let step = std::time::Duration::from_millis(RECORD_POLL_MS);
        tokio::time::sleep(step.min(deadline - now)).await;
    }
}

#[derive(Deserialize)]
pub struct FeedbackBody {
    rating: vsr_replay::Rating,
    #[serde(default)]
    comment: String,
}

pub async fn feedback(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(b): Json<FeedbackBody>,
) -> DashResult<StatusCode> {
    let store = store(&dash)?;
    if b.comment.len() > 2000 {
        return Err(DashError::BadRequest(
            "the comment is longer than 2000 bytes".into(),
        ));
    }
    let fb = vsr_replay::Feedback {
        rating: b.rating,
        comment: b.comment,
        by: caller.username.clone(),
        at: vsr_replay::Timestamp::now(),
    };
    let rid = id.clone();
    if !blocking(move || Ok(store.set_feedback(&rid, &fb)?)).await? {
        return Err(DashError::NotFound(format!("no record {id}")));
    }
    dash.audit(&caller.username, "record.feedback", &id);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn insights(
    State(dash): State<Arc<Dash>>,
    _caller: Caller,
    Query(pairs): Query<Vec<(String, String)>>,
) -> DashResult<Json<Value>> {
    let store = store(&dash)?;
    let q = AggQuery::from_query_pairs(&pairs).map_err(|e| DashError::BadRequest(e.to_string()))?;
    let agg = blocking(move || Ok(store.aggregate(&q)?)).await?;
    Ok(Json(json!({"aggregates": agg})))
}

const BINS: usize = 20;

fn histogram(values: &[f64], lo: f64, hi: f64) -> Vec<u64> {
    let mut h = vec![0u64; BINS];
    let width = (hi - lo).max(f64::EPSILON);
    for v in values {
        let i = (((v - lo) / width) * BINS as f64).floor();
        h[(i.max(0.0) as usize).min(BINS - 1)] += 1;
    }
    h
}

/// Within this distance of a threshold or band bound, a record is a near miss.
const NEAR: f64 = 0.05;

pub async fn calibration(
    State(dash): State<Arc<Dash>>,
    _caller: Caller,
) -> DashResult<Json<Value>> {
    let live = dash
        .sup
        .live()
        .ok_or_else(|| DashError::Conflict("no config is active yet".into()))?;
    let store = store(&dash)?;
    let text = std::fs::read_to_string(&live.config_path).unwrap_or_default();
    let cfg = vsr_config::load_str(&text, "config.yaml")
        .map_err(|e| DashError::Unavailable(e.to_string()))?
        .config;
    let records = blocking(move || {
        let mut out = Vec::new();
        let mut cursor = None;
        while out.len() < 1000 {
            let q = ListQuery {
                limit: vsr_replay::query::MAX_LIMIT,
                cursor: cursor.clone(),
                ..Default::default()
            };
            let page = store.list(&q)?;
            cursor = page.items.last().map(vsr_replay::Cursor::of);
            let more = page.has_more;
            out.extend(page.items);
            if !more {
                break;
            }
        }
        Ok(out)
    })
    .await?;
    let limits = crate::routing::signal_thresholds(&cfg);
    let mut conf: BTreeMap<String, Vec<(f64, &str)>> = BTreeMap::new();
    let mut scores: BTreeMap<String, Vec<(f64, &str)>> = BTreeMap::new();
    for r in &records {
        for (k, v) in &r.signal_confidences {
            conf.entry(k.clone()).or_default().push((*v, &r.id));
        }
        for (k, v) in &r.projection_scores {
            scores.entry(k.clone()).or_default().push((*v, &r.id));
        }
    }
    let mut near_misses = Vec::new();
    let signals: Vec<Value> = conf
        .iter()
        .map(|(name, vals)| {
            let threshold = limits.get(name).copied();
            if let Some(t) = threshold {
                for (v, id) in vals {
                    if *v < t && t - v <= NEAR {
                        near_misses
                            .push(json!({"record": id, "what": name, "value": v, "threshold": t}));
                    }
                }
            }
            let xs: Vec<f64> = vals.iter().map(|(v, _)| *v).collect();
            json!({"name": name, "count": xs.len(), "min": 0.0, "max": 1.0,
                   "histogram": histogram(&xs, 0.0, 1.0), "threshold": threshold})
        })
        .collect();
    let score_views: Vec<Value> = scores
        .iter()
        .map(|(name, vals)| {
            let xs: Vec<f64> = vals.iter().map(|(v, _)| *v).collect();
            let lo = xs.iter().copied().fold(0.0f64, f64::min);
            let hi = xs.iter().copied().fold(1.0f64, f64::max);
            let bands: Vec<Value> = cfg
                .routing
                .projections
                .mappings
                .iter()
                .filter(|m| m.source == *name)
                .flat_map(|m| m.outputs.iter())
                .map(|o| {
                    let b = &o.bounds;
                    let min = b.gte.or(b.gt);
                    let max = b.lt.or(b.lte);
                    for (v, id) in vals {
                        let close = [min, max]
                            .into_iter()
                            .flatten()
                            .any(|bound| (v - bound).abs() <= NEAR);
                        if close {
                            near_misses.push(
                                json!({"record": id, "what": name, "value": v, "band": o.name}),
                            );
                        }
                    }
                    json!({"name": o.name, "min": min, "max": max})
                })
                .collect();
            json!({"name": name, "count": xs.len(), "min": lo, "max": hi,
                   "histogram": histogram(&xs, lo, hi), "bands": bands})
        })
        .collect();
    near_misses.truncate(200);
    Ok(Json(json!({
        "records": records.len(),
        "bins": BINS,
        "signals": signals,
        "scores": score_views,
        "near_misses": near_misses,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_puts_edges_in_the_end_bins() {
        let h = histogram(&[0.0, 0.04, 0.5, 1.0, 1.5, -1.0], 0.0, 1.0);
        assert_eq!(h.len(), BINS);
        assert_eq!(h[0], 3);
        assert_eq!(h[10], 1);
        assert_eq!(h[BINS - 1], 2);
    }
}
