//! Queries over stored records (filters, paging, aggregates) and their JSON answers.
use serde::{Deserialize, Serialize};

use crate::record::ReplayRecord;
use crate::time::Timestamp;

/// Bad query parameters; the HTTP layer answers 400 with the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("invalid {param}: {message}")]
    Invalid { param: String, message: String },
}

fn invalid(param: &str, message: impl Into<String>) -> QueryError {
    QueryError::Invalid {
        param: param.into(),
        message: message.into(),
    }
}

/// Response status filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusFilter {
    /// Exactly this status.
    Exact(u16),
    /// `2xx`, `4xx`, ...: the hundreds digit.
    Class(u16),
    /// 400 and above.
    Error,
}

impl StatusFilter {
    fn parse(s: &str) -> Result<Self, QueryError> {
        let s = s.trim().to_ascii_lowercase();
        if s == "error" || s == "errors" {
            return Ok(StatusFilter::Error);
        }
        if let Some(d) = s.strip_suffix("xx")
            && let Ok(c @ 1..=5) = d.parse::<u16>()
        {
            return Ok(StatusFilter::Class(c));
        }
        match s.parse::<u16>() {
            Ok(n @ 100..=599) => Ok(StatusFilter::Exact(n)),
            _ => Err(invalid(
                "status",
                "expected a status code (200), a class (2xx..5xx) or `error`",
            )),
        }
    }

    /// Inclusive status range.
    pub fn range(self) -> (i64, i64) {
        match self {
            StatusFilter::Exact(n) => (n.into(), n.into()),
            StatusFilter::Class(c) => (i64::from(c) * 100, i64::from(c) * 100 + 99),
            StatusFilter::Error => (400, 999),
        }
    }
}

/// Filters shared by list and aggregate queries. All given filters must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// Exact decision name.
    pub decision: Option<String>,
    /// Matches `selected_model` or `original_model`.
    pub model: Option<String>,
    /// Inclusive lower bound on the timestamp.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on the timestamp.
    pub to: Option<Timestamp>,
    pub streamed: Option<bool>,
    pub cached: Option<bool>,
    pub status: Option<StatusFilter>,
    /// Case-insensitive substring of the record's JSON: request id, id, names, bodies. ASCII
    /// letters always fold; PostgreSQL also folds other letters per its locale.
    pub search: Option<String>,
}

/// Cursor for keyset paging: the (timestamp, id) of the last record of the previous page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub ts: i64,
    pub id: String,
}

impl Cursor {
    pub fn of(record: &ReplayRecord) -> Self {
        Cursor {
            ts: record.timestamp.0,
            id: record.id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}_{}", self.ts, self.id)
    }

    pub fn decode(s: &str) -> Result<Self, QueryError> {
        let bad = || invalid("cursor", "not a cursor returned by this API");
        let (ts, id) = s.split_once('_').ok_or_else(bad)?;
        let ts = ts.parse().map_err(|_| bad())?;
        if id.is_empty()
            || id.len() > 64
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad());
        }
        Ok(Cursor { ts, id: id.into() })
    }
}

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// `GET /v1/router_replay` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListQuery {
    pub filter: Filter,
    pub limit: u32,
    pub offset: u64,
    /// When set, paging continues after the cursor and `offset` is ignored.
    pub cursor: Option<Cursor>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            filter: Filter::default(),
            limit: DEFAULT_LIMIT,
            offset: 0,
            cursor: None,
        }
    }
}

/// Time-series bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn hours(self) -> i64 {
        match self {
            Bucket::Hour => 1,
            Bucket::Day => 24,
        }
    }
}

/// `GET /v1/router_replay/aggregate` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AggQuery {
    pub filter: Filter,
    /// Time-series bucket; by default hours for ranges up to 7 days, else days.
    pub bucket: Option<Bucket>,
}

fn parse_bool(param: &str, v: &str) -> Result<bool, QueryError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(param, "expected true or false")),
    }
}

fn parse_time(param: &str, v: &str) -> Result<Timestamp, QueryError> {
    Timestamp::parse(v).ok_or_else(|| {
        invalid(
            param,
            "expected RFC 3339, a date or Unix seconds/milliseconds",
        )
    })
}

fn non_empty(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

impl Filter {
    /// Applies one query parameter; returns false when the key is not a filter.
    fn apply(&mut self, key: &str, value: &str) -> Result<bool, QueryError> {
        match key {
            "decision" => self.decision = non_empty(value),
            "model" => self.model = non_empty(value),
            "search" | "q" => self.search = non_empty(value),
            "from" | "since" | "start" => {
                self.from = non_empty(value).map(|v| parse_time(key, &v)).transpose()?
            }
            "to" | "until" | "end" => {
                self.to = non_empty(value).map(|v| parse_time(key, &v)).transpose()?
            }
            "streamed" | "streaming" => {
                self.streamed = non_empty(value).map(|v| parse_bool(key, &v)).transpose()?
            }
            "cached" | "from_cache" => {
                self.cached = non_empty(value).map(|v| parse_bool(key, &v)).transpose()?
            }
            "status" => {
                self.status = non_empty(value)
                    .map(|v| StatusFilter::parse(&v))
                    .transpose()?
            }
            // The original's single selector: all | cached | streamed.
            "cache_status" => match value.trim() {
                "" | "all" => {}
                "cached" => self.cached = Some(true),
                "streamed" => self.streamed = Some(true),
                _ => return Err(invalid("cache_status", "expected all, cached or streamed")),
            },
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn check(&self) -> Result<(), QueryError> {
        if let (Some(f), Some(t)) = (self.from, self.to)
            && f > t
        {
            return Err(invalid("from", "is after `to`"));
        }
        Ok(())
    }

    /// Whether `record` passes the filter (the same semantics the stores implement in SQL).
    pub fn matches(&self, r: &ReplayRecord) -> bool {
        // Same semantics as the stores: ASCII-case-insensitive substring of the record's JSON.
        let search_hit = |needle: &str| {
            serde_json::to_string(r)
                .map(|doc| {
                    doc.to_ascii_lowercase()
                        .contains(&needle.to_ascii_lowercase())
                })
                .unwrap_or(false)
        };
        self.decision.as_ref().is_none_or(|d| &r.decision == d)
            && self
                .model
                .as_ref()
                .is_none_or(|m| &r.selected_model == m || &r.original_model == m)
            && self.from.is_none_or(|f| r.timestamp >= f)
            && self.to.is_none_or(|t| r.timestamp < t)
            && self.streamed.is_none_or(|s| r.streaming == s)
            && self.cached.is_none_or(|c| r.from_cache == c)
            && self.status.is_none_or(|s| {
                let (lo, hi) = s.range();
                let st = i64::from(r.response_status.unwrap_or(0));
                st >= lo && st <= hi
            })
            && self.search.as_deref().is_none_or(search_hit)
    }
}

impl ListQuery {
    /// Parses URL query pairs. Unknown keys are ignored (clients add cache-busters).
    pub fn from_query_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
    ) -> Result<Self, QueryError> {
        let mut q = ListQuery::default();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            if q.filter.apply(k, v)? {
                continue;
            }
            match k {
                "limit" => {
                    let n: i64 = v
                        .trim()
                        .parse()
                        .map_err(|_| invalid("limit", "expected an integer"))?;
                    if n <= 0 {
                        return Err(invalid("limit", "must be greater than 0"));
                    }
                    q.limit = n.min(i64::from(MAX_LIMIT)) as u32;
                }
                "offset" => {
                    let n: i64 = v
                        .trim()
                        .parse()
                        .map_err(|_| invalid("offset", "expected an integer"))?;
                    if n < 0 {
                        return Err(invalid("offset", "must be 0 or more"));
                    }
                    q.offset = n as u64;
                }
                "cursor" | "after" => {
                    q.cursor = non_empty(v).map(|c| Cursor::decode(&c)).transpose()?
                }
                _ => {}
            }
        }
        q.filter.check()?;
        Ok(q)
    }
}

impl AggQuery {
    pub fn from_query_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
    ) -> Result<Self, QueryError> {
        let mut q = AggQuery::default();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            if q.filter.apply(k, v)? {
                continue;
            }
            if k == "bucket" {
                q.bucket = match v.trim() {
                    "" => None,
                    "hour" => Some(Bucket::Hour),
                    "day" => Some(Bucket::Day),
                    _ => return Err(invalid("bucket", "expected hour or day")),
                };
            }
        }
        q.filter.check()?;
        Ok(q)
    }
}

/// One page of records, newest first (`GET /v1/router_replay`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub object: String,
    /// Records on this page.
    pub count: usize,
    /// Records matching the filter.
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
    /// Pass as `cursor=` for the next page (stable under concurrent inserts, unlike offsets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    #[serde(rename = "data")]
    pub items: Vec<ReplayRecord>,
}

impl Page {
    /// Builds a page from up to `limit + 1` fetched rows.
    pub fn new(mut items: Vec<ReplayRecord>, q: &ListQuery, total: u64) -> Self {
        let has_more = items.len() > q.limit as usize;
        items.truncate(q.limit as usize);
        let next_cursor = has_more
            .then(|| items.last().map(|r| Cursor::of(r).encode()))
            .flatten();
        let offset = if q.cursor.is_some() { 0 } else { q.offset };
        Page {
            object: "router_replay.list".into(),
            count: items.len(),
            total,
            limit: q.limit,
            offset,
            has_more,
            next_offset: (has_more && q.cursor.is_none()).then(|| offset + items.len() as u64),
            next_cursor,
            items,
        }
    }
}

/// A `{name, value}` entry of a distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameValue {
    pub name: String,
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSummary {
    pub total_saved: f64,
    pub baseline_spend: f64,
    pub actual_spend: f64,
    pub currency: String,
    /// `total_saved / baseline_spend × 100`, absent when nothing was spent on the baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_percent: Option<f64>,
    pub cost_record_count: i64,
    pub excluded_record_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenVolume {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    pub excluded_record_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenBreakdown {
    pub by_decision: Vec<TokenEntry>,
    pub by_selected_model: Vec<TokenEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimePoint {
    /// Start of the bucket (RFC 3339).
    pub start: Timestamp,
    pub record_count: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub actual_spend: f64,
    pub baseline_spend: f64,
    pub total_saved: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSeries {
    pub bucket: Bucket,
    pub points: Vec<TimePoint>,
}

/// Insights aggregates (`GET /v1/router_replay/aggregate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregates {
    pub object: String,
    pub record_count: i64,
    pub summary: CostSummary,
    /// Top 10 selected aliases by count (`Unknown` when empty).
    pub model_selection: Vec<NameValue>,
    pub decision_distribution: Vec<NameValue>,
    /// Matched signal names per family (families with matches only).
    pub signal_distribution: Vec<NameValue>,
    pub token_volume: TokenVolume,
    pub token_breakdown: TokenBreakdown,
    pub time_series: TimeSeries,
    /// Over all records, unfiltered.
    pub available_decisions: Vec<String>,
    pub available_models: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn list_defaults_caps_and_rejects() {
        let q = ListQuery::from_query_pairs::<&str, &str>(&[]).unwrap();
        assert_eq!((q.limit, q.offset), (20, 0));
        let q = ListQuery::from_query_pairs(&pairs(&[("limit", "500"), ("offset", "40")])).unwrap();
        assert_eq!((q.limit, q.offset), (100, 40));
        for bad in [
            ("limit", "0"),
            ("limit", "x"),
            ("offset", "-1"),
            ("cache_status", "warm"),
            ("streamed", "maybe"),
            ("status", "7xx"),
            ("from", "soon"),
            ("cursor", "nope"),
        ] {
            let err = ListQuery::from_query_pairs(&pairs(&[bad])).unwrap_err();
            assert!(err.to_string().contains(bad.0), "{err}");
        }
        let err =
            ListQuery::from_query_pairs(&pairs(&[("from", "2026-03-02"), ("to", "2026-03-01")]))
                .unwrap_err();
        assert!(err.to_string().contains("after"));
    }

    #[test]
    fn filters_parse() {
        let q = ListQuery::from_query_pairs(&pairs(&[
            ("decision", "simple"),
            ("model", "qwen"),
            ("cache_status", "streamed"),
            ("status", "5xx"),
            ("from", "2026-03-01T00:00:00Z"),
            ("search", "  abc "),
            ("cursor", "1700000000000_0a1b"),
            ("_", "123"),
        ]))
        .unwrap();
        let f = &q.filter;
        assert_eq!(f.decision.as_deref(), Some("simple"));
        assert_eq!(f.streamed, Some(true));
        assert_eq!(f.status, Some(StatusFilter::Class(5)));
        assert_eq!(f.search.as_deref(), Some("abc"));
        assert_eq!(
            q.cursor,
            Some(Cursor {
                ts: 1_700_000_000_000,
                id: "0a1b".into()
            })
        );
        let a =
            AggQuery::from_query_pairs(&pairs(&[("bucket", "day"), ("cache_status", "cached")]))
                .unwrap();
        assert_eq!((a.bucket, a.filter.cached), (Some(Bucket::Day), Some(true)));
    }
}
