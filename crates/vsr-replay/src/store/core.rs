//! Store logic written once against a minimal SQL connection, shared by SQLite and PostgreSQL.
//!
//! Layout: `replay_records` holds one row per record (the full JSON in `doc` plus the columns
//! filters and aggregates need); `replay_rollup_hour` and `replay_rollup_day` hold per-hour and
//! per-day sums keyed by every filterable dimension, maintained in the same transaction as
//! inserts and deletes. Aggregates read whole days from the daily rollup, whole hours from the
//! hourly one, and the records table only for partial hours at the edges of a time range or for
//! text search, so they stay fast at millions of records.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::cost::{from_nanos, to_nanos};
use crate::query::{
    AggQuery, Aggregates, Bucket, CostSummary, Filter, ListQuery, NameValue, Page, TimePoint,
    TimeSeries, TokenBreakdown, TokenEntry, TokenVolume,
};
use crate::record::{DISTRIBUTION_FAMILIES, ReplayRecord};
use crate::store::{Retention, StoreError};
use crate::time::Timestamp;

const HOUR_MS: i64 = 3_600_000;
/// Records deleted per retention transaction.
const DELETE_CHUNK: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn ph(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }
}

/// A bound parameter or a result cell. Every stored column is an integer or text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Int(i64),
    Text(String),
    Null,
}

impl Val {
    fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            Val::Text(t) => t.parse().unwrap_or(0),
            Val::Null => 0,
        }
    }

    fn text(&self) -> String {
        match self {
            Val::Text(t) => t.clone(),
            Val::Int(i) => i.to_string(),
            Val::Null => String::new(),
        }
    }
}

/// What a backend provides: run statements with numbered parameters.
pub(crate) trait Conn {
    fn dialect(&self) -> Dialect;
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, StoreError>;
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError>;
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Starts a write transaction (SQLite: `BEGIN IMMEDIATE`).
    fn begin(&mut self) -> Result<(), StoreError>;
}

/// Runs `f` in a transaction, rolling back on error.
pub(crate) fn in_tx<C: Conn + ?Sized, R>(
    c: &mut C,
    f: impl FnOnce(&mut C) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    c.begin()?;
    match f(c) {
        Ok(r) => {
            c.batch("COMMIT")?;
            Ok(r)
        }
        Err(e) => {
            let _ = c.batch("ROLLBACK");
            Err(e)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schema

const SIG_COLS: [&str; 9] = [
    "sig_keyword",
    "sig_embedding",
    "sig_domain",
    "sig_fact_check",
    "sig_user_feedback",
    "sig_preference",
    "sig_language",
    "sig_context",
    "sig_complexity",
];

/// Dimensions of the rollups, in key order. `slot` is hours (or days) since the epoch.
const DIMS: [&str; 8] = [
    "slot",
    "decision",
    "selected_model",
    "original_model",
    "streaming",
    "from_cache",
    "status",
    "currency",
];

/// Measures of the rollup (after the dimensions), named as in `replay_rollup`.
const MEASURES: [&str; 17] = [
    "cnt",
    "usage_cnt",
    "prompt_tokens",
    "completion_tokens",
    "cost_cnt",
    "actual_nanos",
    "baseline_nanos",
    "savings_nanos",
    "sig_keyword",
    "sig_embedding",
    "sig_domain",
    "sig_fact_check",
    "sig_user_feedback",
    "sig_preference",
    "sig_language",
    "sig_context",
    "sig_complexity",
];

/// Versioned migrations; a version, once shipped, never changes.
fn migrations() -> Vec<(i64, String)> {
    let sigs = SIG_COLS
        .map(|c| format!("{c} BIGINT NOT NULL DEFAULT 0"))
        .join(",\n  ");
    let v1 = format!(
        "CREATE TABLE replay_records (
  id TEXT PRIMARY KEY,
  ts BIGINT NOT NULL,
  request_id TEXT NOT NULL,
  decision TEXT NOT NULL,
  selected_model TEXT NOT NULL,
  original_model TEXT NOT NULL,
  streaming BIGINT NOT NULL,
  from_cache BIGINT NOT NULL,
  status BIGINT NOT NULL,
  currency TEXT NOT NULL,
  has_usage BIGINT NOT NULL,
  prompt_tokens BIGINT NOT NULL,
  completion_tokens BIGINT NOT NULL,
  has_cost BIGINT NOT NULL,
  actual_nanos BIGINT NOT NULL,
  baseline_nanos BIGINT NOT NULL,
  savings_nanos BIGINT NOT NULL,
  {sigs},
  schema_version BIGINT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX replay_records_ts ON replay_records (ts, id);
CREATE INDEX replay_records_decision ON replay_records (decision, ts, id);
CREATE INDEX replay_records_selected ON replay_records (selected_model, ts, id);
CREATE INDEX replay_records_original ON replay_records (original_model, ts, id);
CREATE TABLE replay_rollup_hour (
  slot BIGINT NOT NULL,
  decision TEXT NOT NULL,
  selected_model TEXT NOT NULL,
  original_model TEXT NOT NULL,
  streaming BIGINT NOT NULL,
  from_cache BIGINT NOT NULL,
  status BIGINT NOT NULL,
  currency TEXT NOT NULL,
  cnt BIGINT NOT NULL DEFAULT 0,
  usage_cnt BIGINT NOT NULL DEFAULT 0,
  prompt_tokens BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  cost_cnt BIGINT NOT NULL DEFAULT 0,
  actual_nanos BIGINT NOT NULL DEFAULT 0,
  baseline_nanos BIGINT NOT NULL DEFAULT 0,
  savings_nanos BIGINT NOT NULL DEFAULT 0,
  {sigs},
  PRIMARY KEY (slot, decision, selected_model, original_model, streaming, from_cache, status, currency)
);
CREATE TABLE replay_rollup_day (
  slot BIGINT NOT NULL,
  decision TEXT NOT NULL,
  selected_model TEXT NOT NULL,
  original_model TEXT NOT NULL,
  streaming BIGINT NOT NULL,
  from_cache BIGINT NOT NULL,
  status BIGINT NOT NULL,
  currency TEXT NOT NULL,
  cnt BIGINT NOT NULL DEFAULT 0,
  usage_cnt BIGINT NOT NULL DEFAULT 0,
  prompt_tokens BIGINT NOT NULL DEFAULT 0,
  completion_tokens BIGINT NOT NULL DEFAULT 0,
  cost_cnt BIGINT NOT NULL DEFAULT 0,
  actual_nanos BIGINT NOT NULL DEFAULT 0,
  baseline_nanos BIGINT NOT NULL DEFAULT 0,
  savings_nanos BIGINT NOT NULL DEFAULT 0,
  {sigs},
  PRIMARY KEY (slot, decision, selected_model, original_model, streaming, from_cache, status, currency)
);"
    );
    vec![(1, v1)]
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 1;

pub(crate) fn migrate<C: Conn + ?Sized>(c: &mut C) -> Result<i64, StoreError> {
    c.batch("CREATE TABLE IF NOT EXISTS replay_schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")?;
    in_tx(c, |c| {
        if c.dialect() == Dialect::Postgres {
            // Replicas starting together must not both migrate.
            c.query("SELECT pg_advisory_xact_lock(7426115001)", &[])?;
        }
        let current = c
            .query(
                "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM replay_schema_migrations",
                &[],
            )?
            .first()
            .and_then(|r| r.first())
            .map(Val::int)
            .unwrap_or(0);
        if current > SCHEMA_VERSION {
            return Err(StoreError::Schema(format!(
                "database schema version {current} is newer than this build's {SCHEMA_VERSION}"
            )));
        }
        for (version, sql) in migrations() {
            if version > current {
                c.batch(&sql)?;
                let (p1, p2) = (c.dialect().ph(1), c.dialect().ph(2));
                c.execute(
                    &format!("INSERT INTO replay_schema_migrations (version, applied_at) VALUES ({p1}, {p2})"),
                    &[Val::Int(version), Val::Int(Timestamp::now().0)],
                )?;
            }
        }
        Ok(SCHEMA_VERSION)
    })
}

// ---------------------------------------------------------------------------------------------
// Writes

type Key = (i64, String, String, String, i64, i64, i64, String);

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Measures([i64; 17]);

impl Measures {
    fn add(&mut self, o: &Measures, sign: i64) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a += sign * b;
        }
    }
}

struct Row {
    key: Key,
    m: Measures,
}

fn row_of(r: &ReplayRecord) -> Row {
    let has_cost = r.has_cost();
    let nanos = |v: Option<f64>| {
        if has_cost {
            v.map(to_nanos).unwrap_or(0)
        } else {
            0
        }
    };
    let sig = r.signals.distribution_counts();
    let mut m = [0i64; 17];
    m[0] = 1;
    m[1] = i64::from(r.has_usage());
    m[2] = r.prompt_tokens.unwrap_or(0) as i64;
    m[3] = r.completion_tokens.unwrap_or(0) as i64;
    m[4] = i64::from(has_cost);
    m[5] = nanos(r.actual_cost);
    m[6] = nanos(r.baseline_cost);
    m[7] = nanos(r.cost_savings);
    m[8..].copy_from_slice(&sig);
    Row {
        key: (
            r.timestamp.0.div_euclid(HOUR_MS),
            r.decision.clone(),
            r.selected_model.clone(),
            r.original_model.clone(),
            i64::from(r.streaming),
            i64::from(r.from_cache),
            i64::from(r.response_status.unwrap_or(0)),
            if has_cost {
                r.currency.clone()
            } else {
                String::new()
            },
        ),
        m: Measures(m),
    }
}

/// The replay_records columns in insert order.
fn record_columns() -> Vec<&'static str> {
    [
        "id",
        "ts",
        "request_id",
        "decision",
        "selected_model",
        "original_model",
        "streaming",
        "from_cache",
        "status",
        "currency",
        "has_usage",
        "prompt_tokens",
        "completion_tokens",
        "has_cost",
        "actual_nanos",
        "baseline_nanos",
        "savings_nanos",
    ]
    .iter()
    .chain(SIG_COLS.iter())
    .chain(["schema_version", "doc"].iter())
    .copied()
    .collect()
}

/// Records per PostgreSQL `INSERT` (30 parameters each, well under the 65,535 limit).
const PG_INSERT_ROWS: usize = 64;

/// `INSERT` of `rows` records (ids already stored are skipped), optionally returning the ids it
/// inserted. PostgreSQL gets one statement per chunk: a round trip per record kept its writer
/// below the router's request rate, so records queued past a `kill -9` were lost.
fn insert_sql(d: Dialect, rows: usize, returning: bool) -> String {
    let cols = record_columns();
    let n = cols.len();
    let values = (0..rows)
        .map(|r| {
            let phs = (1..=n)
                .map(|i| d.ph(r * n + i))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({phs})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let returning = if returning { " RETURNING id" } else { "" };
    format!(
        "INSERT INTO replay_records ({}) VALUES {values} ON CONFLICT (id) DO NOTHING{returning}",
        cols.join(", ")
    )
}

fn upsert_rollup_sql(d: Dialect, table: &str) -> String {
    let cols: Vec<&str> = DIMS.iter().chain(MEASURES.iter()).copied().collect();
    let phs = (1..=cols.len())
        .map(|i| d.ph(i))
        .collect::<Vec<_>>()
        .join(", ");
    let sets = MEASURES
        .iter()
        .map(|m| format!("{m} = {table}.{m} + excluded.{m}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} ({}) VALUES ({phs}) ON CONFLICT ({}) DO UPDATE SET {sets}",
        cols.join(", "),
        DIMS.join(", ")
    )
}

fn apply_rollup<C: Conn + ?Sized>(
    c: &mut C,
    hourly: BTreeMap<Key, Measures>,
    removing: bool,
) -> Result<(), StoreError> {
    let mut daily: BTreeMap<Key, Measures> = BTreeMap::new();
    for (k, m) in &hourly {
        let mut dk = k.clone();
        dk.0 = k.0.div_euclid(24);
        daily.entry(dk).or_default().add(m, 1);
    }
    let d = c.dialect();
    for (table, deltas) in [("replay_rollup_hour", hourly), ("replay_rollup_day", daily)] {
        // Keys in sorted order so concurrent writers (PostgreSQL replicas) lock rows in one order.
        let sql = upsert_rollup_sql(d, table);
        let prune = format!(
            "DELETE FROM {table} WHERE {} AND cnt <= 0",
            DIMS.iter()
                .enumerate()
                .map(|(i, col)| format!("{col} = {}", d.ph(i + 1)))
                .collect::<Vec<_>>()
                .join(" AND ")
        );
        for (k, m) in deltas {
            let mut p = vec![
                Val::Int(k.0),
                Val::Text(k.1),
                Val::Text(k.2),
                Val::Text(k.3),
                Val::Int(k.4),
                Val::Int(k.5),
                Val::Int(k.6),
                Val::Text(k.7),
            ];
            let key_len = p.len();
            p.extend(m.0.iter().map(|v| Val::Int(*v)));
            c.execute(&sql, &p)?;
            if removing {
                c.execute(&prune, &p[..key_len])?;
            }
        }
    }
    Ok(())
}

/// Inserts records (ids already stored are skipped); returns how many were new.
pub(crate) fn insert_batch<C: Conn + ?Sized>(
    c: &mut C,
    records: &[ReplayRecord],
) -> Result<usize, StoreError> {
    if records.is_empty() {
        return Ok(0);
    }
    let dialect = c.dialect();
    in_tx(c, |c| {
        let mut deltas: BTreeMap<Key, Measures> = BTreeMap::new();
        let mut inserted = 0;
        let mut rows = Vec::with_capacity(records.len());
        let mut seen = std::collections::HashSet::new();
        for r in records {
            let doc = serde_json::to_string(r).map_err(|e| StoreError::Encode(e.to_string()))?;
            let row = row_of(r);
            let mut p = vec![
                Val::Text(r.id.clone()),
                Val::Int(r.timestamp.0),
                Val::Text(r.request_id.clone()),
                Val::Text(row.key.1.clone()),
                Val::Text(row.key.2.clone()),
                Val::Text(row.key.3.clone()),
                Val::Int(row.key.4),
                Val::Int(row.key.5),
                Val::Int(row.key.6),
                Val::Text(row.key.7.clone()),
            ];
            p.extend(row.m.0[1..].iter().map(|v| Val::Int(*v)));
            p.push(Val::Int(i64::from(r.schema_version)));
            p.push(Val::Text(doc));
            rows.push((r.id.as_str(), row, p));
        }
        match dialect {
            // In-process: a statement per record costs no round trip.
            Dialect::Sqlite => {
                let sql = insert_sql(dialect, 1, false);
                for (_, row, p) in rows {
                    if c.execute(&sql, &p)? == 1 {
                        inserted += 1;
                        deltas.entry(row.key).or_default().add(&row.m, 1);
                    }
                }
            }
            Dialect::Postgres => {
                for chunk in rows.chunks(PG_INSERT_ROWS) {
                    let params: Vec<Val> = chunk
                        .iter()
                        .flat_map(|(_, _, p)| p.iter().cloned())
                        .collect();
                    let sql = insert_sql(dialect, chunk.len(), true);
                    let new: std::collections::HashSet<String> = c
                        .query(&sql, &params)?
                        .into_iter()
                        .filter_map(|cells| match cells.into_iter().next() {
                            Some(Val::Text(id)) => Some(id),
                            _ => None,
                        })
                        .collect();
                    for (id, row, _) in chunk {
                        // An id twice in one batch is inserted (and counted) once.
                        if new.contains(*id) && !seen.contains(*id) {
                            seen.insert(id.to_string());
                            inserted += 1;
                            deltas.entry(row.key.clone()).or_default().add(&row.m, 1);
                        }
                    }
                }
            }
        }
        apply_rollup(c, deltas, false)?;
        Ok(inserted)
    })
}

/// Deletes the records matching `cond` and takes them out of the rollup, atomically.
fn delete_where<C: Conn + ?Sized>(
    c: &mut C,
    cond: &str,
    params: &[Val],
) -> Result<u64, StoreError> {
    let returning = DIMS[1..]
        .iter()
        .copied()
        .chain([
            "ts",
            "has_usage",
            "prompt_tokens",
            "completion_tokens",
            "has_cost",
        ])
        .chain(["actual_nanos", "baseline_nanos", "savings_nanos"])
        .chain(SIG_COLS)
        .collect::<Vec<_>>()
        .join(", ");
    // In chunks, each its own transaction, so a large purge never holds everything in memory
    // or one long lock. RETURNING lists only rows this call deleted, so concurrent purges by
    // several replicas never subtract a row twice.
    let sql = format!(
        "DELETE FROM replay_records WHERE id IN \
         (SELECT id FROM replay_records WHERE {cond} ORDER BY ts, id LIMIT {DELETE_CHUNK}) \
         RETURNING {returning}"
    );
    let mut total = 0u64;
    loop {
        let n = in_tx(c, |c| {
            let rows = c.query(&sql, params)?;
            let mut deltas: BTreeMap<Key, Measures> = BTreeMap::new();
            for r in &rows {
                let key: Key = (
                    r[7].int().div_euclid(HOUR_MS),
                    r[0].text(),
                    r[1].text(),
                    r[2].text(),
                    r[3].int(),
                    r[4].int(),
                    r[5].int(),
                    r[6].text(),
                );
                let mut m = [0i64; 17];
                m[0] = 1;
                for (i, v) in r[8..].iter().enumerate() {
                    m[i + 1] = v.int();
                }
                deltas.entry(key).or_default().add(&Measures(m), -1);
            }
            apply_rollup(c, deltas, true)?;
            Ok(rows.len() as u64)
        })?;
        total += n;
        if n < DELETE_CHUNK {
            return Ok(total);
        }
    }
}

/// Applies retention: age first, then the per-decision caps, then the global cap.
pub(crate) fn enforce_retention<C: Conn + ?Sized>(
    c: &mut C,
    retention: &Retention,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let d = c.dialect();
    let mut deleted = 0;
    if let Some(age) = retention.max_age {
        let cutoff = now.0 - age.as_millis() as i64;
        deleted += delete_where(c, &format!("ts < {}", d.ph(1)), &[Val::Int(cutoff)])?;
    }
    let mut caps: Vec<(Option<&str>, u64)> = retention
        .per_decision_max_records
        .iter()
        .map(|(k, v)| (Some(k.as_str()), *v))
        .collect();
    if let Some(max) = retention.max_records {
        caps.push((None, max));
    }
    for (decision, max) in caps {
        let (scope, mut params) = match decision {
            Some(dec) => (
                format!("decision = {} AND ", d.ph(1)),
                vec![Val::Text(dec.to_string())],
            ),
            None => (String::new(), vec![]),
        };
        let n = params.len();
        // The newest record beyond the cap; it and everything older goes.
        let edge = c.query(
            &format!(
                "SELECT ts, id FROM replay_records WHERE {scope}1 = 1 ORDER BY ts DESC, id DESC LIMIT 1 OFFSET {}",
                d.ph(n + 1)
            ),
            &[params.clone(), vec![Val::Int(max as i64)]].concat(),
        )?;
        let Some(edge) = edge.first() else { continue };
        params.extend([edge[0].clone(), edge[0].clone(), edge[1].clone()]);
        let cond = format!(
            "{scope}(ts < {} OR (ts = {} AND id <= {}))",
            d.ph(n + 1),
            d.ph(n + 2),
            d.ph(n + 3)
        );
        deleted += delete_where(c, &cond, &params)?;
    }
    Ok(deleted)
}

// ---------------------------------------------------------------------------------------------
// Reads

fn decode(doc: &str) -> Result<ReplayRecord, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(crate) fn get<C: Conn + ?Sized>(
    c: &mut C,
    id: &str,
) -> Result<Option<ReplayRecord>, StoreError> {
    let sql = format!(
        "SELECT doc FROM replay_records WHERE id = {}",
        c.dialect().ph(1)
    );
    c.query(&sql, &[Val::Text(id.to_string())])?
        .first()
        .map(|r| decode(&r[0].text()))
        .transpose()
}

/// Replaces the feedback of record `id` (in its document); false when there is no such record.
pub(crate) fn set_feedback<C: Conn + ?Sized>(
    c: &mut C,
    id: &str,
    feedback: &crate::record::Feedback,
) -> Result<bool, StoreError> {
    in_tx(c, |c| {
        let Some(mut record) = get(c, id)? else {
            return Ok(false);
        };
        record.feedback = Some(feedback.clone());
        write_doc(c, &record)?;
        Ok(true)
    })
}

/// Replaces the stored document of `record` (same id) with its current content.
fn write_doc<C: Conn + ?Sized>(c: &mut C, record: &ReplayRecord) -> Result<(), StoreError> {
    let id = &record.id;
    let doc = serde_json::to_string(record)
        .map_err(|e| StoreError::Schema(format!("cannot encode record {id}: {e}")))?;
    let (p1, p2) = (c.dialect().ph(1), c.dialect().ph(2));
    c.execute(
        &format!("UPDATE replay_records SET doc = {p1} WHERE id = {p2}"),
        &[Val::Text(doc), Val::Text(id.to_string())],
    )?;
    Ok(())
}

/// Appends `outcome` to record `id` (in its document) unless it already holds one with the
/// same idempotency key.
pub(crate) fn add_outcome<C: Conn + ?Sized>(
    c: &mut C,
    id: &str,
    outcome: &crate::record::OutcomeRecord,
) -> Result<super::Appended, StoreError> {
    in_tx(c, |c| {
        let Some(mut record) = get(c, id)? else {
            return Ok(super::Appended::Missing);
        };
        if record.outcomes.iter().any(|o| o.key == outcome.key) {
            return Ok(super::Appended::Duplicate);
        }
        record.outcomes.push(outcome.clone());
        write_doc(c, &record)?;
        Ok(super::Appended::Added)
    })
}

/// A half-open time range; `None` is unbounded.
type Range = (Option<i64>, Option<i64>);

#[derive(Clone, Copy, PartialEq, Debug)]
enum Source {
    Records,
    Hourly,
    Daily,
}

impl Source {
    fn table(self) -> &'static str {
        match self {
            Source::Records => "replay_records",
            Source::Hourly => "replay_rollup_hour",
            Source::Daily => "replay_rollup_day",
        }
    }
}

/// Builds `WHERE` conditions for a filter over one source and time range
/// (milliseconds for records, hours or days for the rollups).
fn conditions(f: &Filter, src: Source, range: Range, d: Dialect, params: &mut Vec<Val>) -> String {
    let mut conds: Vec<String> = vec!["1 = 1".into()];
    let bind = |params: &mut Vec<Val>, v: Val| {
        params.push(v);
        d.ph(params.len())
    };
    let time_col = if src == Source::Records { "ts" } else { "slot" };
    if let Some(lo) = range.0 {
        conds.push(format!("{time_col} >= {}", bind(params, Val::Int(lo))));
    }
    if let Some(hi) = range.1 {
        conds.push(format!("{time_col} < {}", bind(params, Val::Int(hi))));
    }
    if let Some(dec) = &f.decision {
        conds.push(format!(
            "decision = {}",
            bind(params, Val::Text(dec.clone()))
        ));
    }
    if let Some(m) = &f.model {
        let p = bind(params, Val::Text(m.clone()));
        conds.push(format!("(selected_model = {p} OR original_model = {p})"));
    }
    if let Some(s) = f.streamed {
        conds.push(format!("streaming = {}", i64::from(s)));
    }
    if let Some(s) = f.cached {
        conds.push(format!("from_cache = {}", i64::from(s)));
    }
    if let Some(st) = f.status {
        let (lo, hi) = st.range();
        conds.push(format!("status BETWEEN {lo} AND {hi}"));
    }
    if let Some(s) = &f.search {
        // Only the records source is asked when searching.
        let escaped = s
            .to_ascii_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let p = bind(params, Val::Text(format!("%{escaped}%")));
        // SQLite's LIKE folds ASCII letters; PostgreSQL's ILIKE folds ASCII letters and, per the
        // database's locale, others too (folding by hand there made scans ten times slower).
        let op = match d {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        };
        conds.push(format!("doc {op} {p} ESCAPE '\\'"));
    }
    conds.join(" AND ")
}

/// The (source, range) pieces answering a filter: whole days from the daily rollup (unless
/// hourly buckets are asked for), whole hours from the hourly one, partial hours at the edges
/// (or everything, when searching) from the records table.
fn plan(f: &Filter, hourly_buckets: bool) -> Vec<(Source, Range)> {
    let from = f.from.map(|t| t.0);
    let to = f.to.map(|t| t.0);
    if f.search.is_some() {
        return vec![(Source::Records, (from, to))];
    }
    let h0 = from.map(|ms| (ms + HOUR_MS - 1).div_euclid(HOUR_MS)); // first whole hour
    let h1 = to.map(|ms| ms.div_euclid(HOUR_MS)); // end of the last whole hour
    if let (Some(a), Some(b)) = (h0, h1)
        && a >= b
    {
        return vec![(Source::Records, (from, to))];
    }
    let mut parts = vec![];
    if let (Some(ms), Some(h)) = (from, h0)
        && ms < h * HOUR_MS
    {
        parts.push((Source::Records, (Some(ms), Some(h * HOUR_MS))));
    }
    if let (Some(ms), Some(h)) = (to, h1)
        && ms > h * HOUR_MS
    {
        parts.push((Source::Records, (Some(h * HOUR_MS), Some(ms))));
    }
    let d0 = h0.map(|h| (h + 23).div_euclid(24)); // first whole day
    let d1 = h1.map(|h| h.div_euclid(24));
    let whole_days = !matches!((d0, d1), (Some(a), Some(b)) if a >= b);
    if hourly_buckets || !whole_days {
        parts.push((Source::Hourly, (h0, h1)));
        return parts;
    }
    parts.push((Source::Daily, (d0, d1)));
    if let (Some(h), Some(d)) = (h0, d0)
        && h < d * 24
    {
        parts.push((Source::Hourly, (Some(h), Some(d * 24))));
    }
    if let (Some(h), Some(d)) = (h1, d1)
        && h > d * 24
    {
        parts.push((Source::Hourly, (Some(d * 24), Some(h))));
    }
    parts
}

pub(crate) fn count<C: Conn + ?Sized>(c: &mut C, f: &Filter) -> Result<u64, StoreError> {
    let d = c.dialect();
    let mut total = 0i64;
    for (src, range) in plan(f, false) {
        let mut params = vec![];
        let cond = conditions(f, src, range, d, &mut params);
        let table = src.table();
        let sql = match src {
            Source::Records => format!("SELECT COUNT(*) FROM {table} WHERE {cond}"),
            Source::Hourly | Source::Daily => {
                format!("SELECT CAST(COALESCE(SUM(cnt), 0) AS BIGINT) FROM {table} WHERE {cond}")
            }
        };
        total += c
            .query(&sql, &params)?
            .first()
            .and_then(|r| r.first())
            .map(Val::int)
            .unwrap_or(0);
    }
    Ok(total.max(0) as u64)
}

pub(crate) fn list<C: Conn + ?Sized>(c: &mut C, q: &ListQuery) -> Result<Page, StoreError> {
    let d = c.dialect();
    let mut params = vec![];
    let mut cond = conditions(
        &q.filter,
        Source::Records,
        (q.filter.from.map(|t| t.0), q.filter.to.map(|t| t.0)),
        d,
        &mut params,
    );
    if let Some(cur) = &q.cursor {
        params.push(Val::Int(cur.ts));
        let p_ts = d.ph(params.len());
        params.push(Val::Text(cur.id.clone()));
        let p_id = d.ph(params.len());
        cond.push_str(&format!(
            " AND (ts < {p_ts} OR (ts = {p_ts} AND id < {p_id}))"
        ));
    }
    params.push(Val::Int(i64::from(q.limit) + 1));
    let p_limit = d.ph(params.len());
    let offset = if q.cursor.is_some() {
        0
    } else {
        q.offset as i64
    };
    params.push(Val::Int(offset));
    let p_offset = d.ph(params.len());
    let sql = format!(
        "SELECT doc FROM replay_records WHERE {cond} ORDER BY ts DESC, id DESC LIMIT {p_limit} OFFSET {p_offset}"
    );
    let items = c
        .query(&sql, &params)?
        .iter()
        .map(|r| decode(&r[0].text()))
        .collect::<Result<Vec<_>, _>>()?;
    let total = count(c, &q.filter)?;
    Ok(Page::new(items, q, total))
}

#[derive(Default)]
struct Acc {
    m: Measures,
}

fn distinct<C: Conn + ?Sized>(c: &mut C, col: &str) -> Result<Vec<String>, StoreError> {
    Ok(c.query(
        &format!("SELECT DISTINCT {col} FROM replay_rollup_day WHERE {col} <> ''"),
        &[],
    )?
    .iter()
    .map(|r| r[0].text())
    .collect())
}

fn sorted_desc(map: HashMap<String, i64>, top: Option<usize>) -> Vec<NameValue> {
    let mut v: Vec<NameValue> = map
        .into_iter()
        .map(|(name, value)| NameValue { name, value })
        .collect();
    v.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    if let Some(n) = top {
        v.truncate(n);
    }
    v
}

fn token_entries(map: HashMap<String, (i64, i64)>) -> Vec<TokenEntry> {
    let mut v: Vec<TokenEntry> = map
        .into_iter()
        .map(|(name, (i, o))| TokenEntry {
            name,
            input_tokens: i,
            output_tokens: o,
            total_tokens: i + o,
        })
        .collect();
    v.sort_by(|a, b| {
        b.total_tokens
            .cmp(&a.total_tokens)
            .then_with(|| a.name.cmp(&b.name))
    });
    v.truncate(8);
    v
}

fn or_unknown(s: String) -> String {
    if s.is_empty() { "Unknown".into() } else { s }
}

pub(crate) fn aggregate<C: Conn + ?Sized>(
    c: &mut C,
    q: &AggQuery,
) -> Result<Aggregates, StoreError> {
    let d = c.dialect();
    let f = &q.filter;
    let bucket = q.bucket.unwrap_or(match (f.from, f.to) {
        (Some(a), Some(b)) if b.0 - a.0 <= 7 * 24 * HOUR_MS => Bucket::Hour,
        (Some(a), None) if Timestamp::now().0 - a.0 <= 7 * 24 * HOUR_MS => Bucket::Hour,
        _ => Bucket::Day,
    });
    let bh = bucket.hours();
    // Group key: (bucket index, decision, selected model, currency).
    let mut groups: HashMap<(i64, String, String, String), Acc> = HashMap::new();
    for (src, range) in plan(f, bucket == Bucket::Hour) {
        let mut params = vec![];
        let cond = conditions(f, src, range, d, &mut params);
        let (bucket_expr, measures) = match src {
            Source::Records => (
                format!("ts / {}", HOUR_MS * bh),
                std::iter::once("COUNT(*)".to_string())
                    .chain(
                        [
                            "has_usage",
                            "prompt_tokens",
                            "completion_tokens",
                            "has_cost",
                        ]
                        .iter()
                        .chain(["actual_nanos", "baseline_nanos", "savings_nanos"].iter())
                        .chain(SIG_COLS.iter())
                        .map(|m| format!("CAST(COALESCE(SUM({m}), 0) AS BIGINT)")),
                    )
                    .collect::<Vec<_>>(),
            ),
            // Daily slots are only planned for day buckets: the slot is the bucket.
            Source::Hourly | Source::Daily => (
                if src == Source::Daily {
                    "slot".to_string()
                } else {
                    format!("slot / {bh}")
                },
                MEASURES
                    .iter()
                    .map(|m| format!("CAST(COALESCE(SUM({m}), 0) AS BIGINT)"))
                    .collect(),
            ),
        };
        let table = src.table();
        // Epoch times are positive, so integer division floors.
        let sql = format!(
            "SELECT {bucket_expr} AS b, decision, selected_model, currency, {} FROM {table} WHERE {cond} \
             GROUP BY {bucket_expr}, decision, selected_model, currency",
            measures.join(", ")
        );
        for r in c.query(&sql, &params)? {
            let key = (r[0].int(), r[1].text(), r[2].text(), r[3].text());
            let mut m = [0i64; 17];
            for (i, v) in r[4..].iter().enumerate().take(17) {
                m[i] = v.int();
            }
            groups.entry(key).or_default().m.add(&Measures(m), 1);
        }
    }

    let mut record_count = 0;
    let mut models: HashMap<String, i64> = HashMap::new();
    let mut decisions: HashMap<String, i64> = HashMap::new();
    let mut signals = [0i64; 9];
    let (mut tin, mut tout, mut usage_cnt) = (0i64, 0i64, 0i64);
    let mut tok_dec: HashMap<String, (i64, i64)> = HashMap::new();
    let mut tok_model: HashMap<String, (i64, i64)> = HashMap::new();
    // Cost per currency: (count, actual, baseline, savings).
    let mut by_currency: HashMap<String, [i64; 4]> = HashMap::new();
    // Per bucket: the point and its spend per currency (nanos: actual, baseline, savings).
    let mut points: BTreeMap<i64, (TimePoint, HashMap<String, [i64; 3]>)> = BTreeMap::new();
    for ((b, dec, model, cur), acc) in groups {
        let m = acc.m.0;
        if m[0] == 0 {
            continue;
        }
        record_count += m[0];
        *models.entry(or_unknown(model.clone())).or_default() += m[0];
        *decisions.entry(or_unknown(dec.clone())).or_default() += m[0];
        for (s, v) in signals.iter_mut().zip(&m[8..17]) {
            *s += v;
        }
        usage_cnt += m[1];
        tin += m[2];
        tout += m[3];
        if m[1] > 0 {
            let e = tok_dec.entry(or_unknown(dec)).or_default();
            e.0 += m[2];
            e.1 += m[3];
            let e = tok_model.entry(or_unknown(model)).or_default();
            e.0 += m[2];
            e.1 += m[3];
        }
        if m[4] > 0 {
            let e = by_currency.entry(cur.clone()).or_default();
            e[0] += m[4];
            e[1] += m[5];
            e[2] += m[6];
            e[3] += m[7];
        }
        let p = points.entry(b).or_insert_with(|| {
            (
                TimePoint {
                    start: Timestamp(b * bh * HOUR_MS),
                    record_count: 0,
                    input_tokens: 0,
                    output_tokens: 0,
                    actual_spend: 0.0,
                    baseline_spend: 0.0,
                    total_saved: 0.0,
                },
                HashMap::new(),
            )
        });
        p.0.record_count += m[0];
        p.0.input_tokens += m[2];
        p.0.output_tokens += m[3];
        if m[4] > 0 {
            let spend = p.1.entry(cur.clone()).or_default();
            spend[0] += m[5];
            spend[1] += m[6];
            spend[2] += m[7];
        }
    }
    // One currency is summed: the one most records are priced in (ties: alphabetical);
    // records in other currencies are excluded rather than added up with the wrong unit.
    let main_currency = by_currency
        .iter()
        .max_by(|a, b| a.1[0].cmp(&b.1[0]).then_with(|| b.0.cmp(a.0)))
        .map(|(c, _)| c.clone());
    let cost = main_currency
        .as_ref()
        .and_then(|c| by_currency.get(c))
        .copied()
        .unwrap_or([0; 4]);
    let baseline_spend = from_nanos(cost[2]);
    let total_saved = from_nanos(cost[3]);
    let summary = CostSummary {
        total_saved,
        baseline_spend,
        actual_spend: from_nanos(cost[1]),
        currency: main_currency.unwrap_or_else(|| "USD".into()),
        saved_percent: (cost[2] != 0).then(|| total_saved / baseline_spend * 100.0),
        cost_record_count: cost[0],
        excluded_record_count: record_count - cost[0],
    };
    let main_currency_name = summary.currency.clone();
    let signal_distribution = sorted_desc(
        DISTRIBUTION_FAMILIES
            .iter()
            .zip(signals)
            .filter(|(_, v)| *v > 0)
            .map(|(f, v)| (f.to_string(), v))
            .collect(),
        None,
    );
    let mut available_models: BTreeSet<String> =
        distinct(c, "selected_model")?.into_iter().collect();
    available_models.extend(distinct(c, "original_model")?);
    let mut available_decisions = distinct(c, "decision")?;
    available_decisions.sort();
    Ok(Aggregates {
        object: "router_replay.aggregate".into(),
        record_count,
        summary,
        model_selection: sorted_desc(models, Some(10)),
        decision_distribution: sorted_desc(decisions, None),
        signal_distribution,
        token_volume: TokenVolume {
            input_tokens: tin,
            output_tokens: tout,
            total_tokens: tin + tout,
            excluded_record_count: record_count - usage_cnt,
        },
        token_breakdown: TokenBreakdown {
            by_decision: token_entries(tok_dec),
            by_selected_model: token_entries(tok_model),
        },
        time_series: TimeSeries {
            bucket,
            points: points
                .into_values()
                .map(|(mut p, spend)| {
                    let n = spend.get(&main_currency_name).copied().unwrap_or([0; 3]);
                    p.actual_spend = from_nanos(n[0]);
                    p.baseline_spend = from_nanos(n[1]);
                    p.total_saved = from_nanos(n[2]);
                    p
                })
                .collect(),
        },
        available_decisions,
        available_models: available_models.into_iter().collect(),
    })
}
