//! The replay record: one routed request, as stored and as served by the replay API.
//!
//! The JSON shape follows the original's record (optional fields omitted when empty or false)
//! plus the fields its later versions added (tier, priority, projections, confidences, timings).
//! Records are append-only; `schema_version` lets readers accept rows written by older versions
//! (every field added later has a serde default).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use vsr_config::secrets::{REDACTED, is_secret_key, redact_text, redact_value};

/// Version of the record JSON written by this build.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// Signal families counted in Insights' `signal_distribution` (the original's nine).
pub const DISTRIBUTION_FAMILIES: [&str; 9] = [
    "keyword",
    "embedding",
    "domain",
    "fact_check",
    "user_feedback",
    "preference",
    "language",
    "context",
    "complexity",
];

fn is_false(b: &bool) -> bool {
    !*b
}

/// Names of the matched signals, per family. Projections, modality, authz, jailbreak and pii are
/// recorded too (the original at the pinned commit dropped them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchedSignals {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keyword: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub embedding: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domain: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fact_check: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_feedback: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preference: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub language: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub structure: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub complexity: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modality: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authz: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jailbreak: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pii: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub projection: Vec<String>,
}

impl MatchedSignals {
    /// The list for a family name (`"keyword"`, `"projection"`, ...), if the family is known.
    pub fn family_mut(&mut self, family: &str) -> Option<&mut Vec<String>> {
        Some(match family {
            "keyword" => &mut self.keyword,
            "embedding" => &mut self.embedding,
            "domain" => &mut self.domain,
            "fact_check" => &mut self.fact_check,
            "user_feedback" => &mut self.user_feedback,
            "preference" => &mut self.preference,
            "language" => &mut self.language,
            "context" => &mut self.context,
            "structure" => &mut self.structure,
            "complexity" => &mut self.complexity,
            "modality" => &mut self.modality,
            "authz" => &mut self.authz,
            "jailbreak" => &mut self.jailbreak,
            "pii" => &mut self.pii,
            "projection" => &mut self.projection,
            _ => return None,
        })
    }

    pub fn family(&self, family: &str) -> &[String] {
        match family {
            "keyword" => &self.keyword,
            "embedding" => &self.embedding,
            "domain" => &self.domain,
            "fact_check" => &self.fact_check,
            "user_feedback" => &self.user_feedback,
            "preference" => &self.preference,
            "language" => &self.language,
            "context" => &self.context,
            "structure" => &self.structure,
            "complexity" => &self.complexity,
            "modality" => &self.modality,
            "authz" => &self.authz,
            "jailbreak" => &self.jailbreak,
            "pii" => &self.pii,
            "projection" => &self.projection,
            _ => &[],
        }
    }

    /// Counts per family in [`DISTRIBUTION_FAMILIES`] order.
    pub fn distribution_counts(&self) -> [i64; 9] {
        DISTRIBUTION_FAMILIES.map(|f| self.family(f).len() as i64)
    }
}

/// One routed request. See the module docs for the JSON conventions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayRecord {
    pub schema_version: u32,
    /// 32 lowercase hex characters: 12 of milliseconds then 20 random, so ids sort by time.
    pub id: String,
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub decision: String,
    /// The named recipe that routed the request (chosen by an entrypoint model name); empty
    /// for the default profile.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub recipe: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_tier: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_priority: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub category: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub original_model: String,
    /// The alias that served the request (falls back to `original_model`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub selected_model: String,
    /// The backend's model id for the alias (`providers.models[].provider_model_id`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub provider_model: String,
    /// `on` or `off`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reasoning_mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence_score: Option<f64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub selection_method: String,

    pub signals: MatchedSignals,
    /// `family:name` → confidence of each matched signal.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub signal_confidences: BTreeMap<String, f64>,
    /// Matched projection outputs (band names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub projections: Vec<String>,
    /// Projection score name → value.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub projection_scores: BTreeMap<String, f64>,

    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub request_body_truncated: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub response_body_truncated: bool,

    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    #[serde(skip_serializing_if = "is_false")]
    pub from_cache: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub streaming: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Time to first token (streaming) or to the response headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<u64>,

    #[serde(skip_serializing_if = "is_false")]
    pub guardrails_enabled: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub jailbreak_enabled: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub pii_enabled: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub jailbreak_detected: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jailbreak_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jailbreak_confidence: Option<f64>,
    #[serde(skip_serializing_if = "is_false")]
    pub pii_detected: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pii_entities: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub pii_blocked: bool,

    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_cost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_cost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_savings: Option<f64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub currency: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub baseline_model: String,
    /// The aliases tried, in order, when the decision's first model ref failed and a later one
    /// answered (the first entry is the decision's choice, the last `selected_model`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fallback_path: Vec<String>,
    /// Every upstream attempt, in order: the path the request took.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_attempts: Vec<UpstreamAttempt>,
    /// A user's verdict on the answer (the dashboard's thumbs up/down), added after the fact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Feedback>,
    /// What session-stable routing did for this turn (absent when it was off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionRecord>,
    /// What router-learning adaptation did for this request (absent when it was off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning: Option<LearningRecord>,
    /// Outcomes clients posted about this answer (`POST /v1/router/outcomes`), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<OutcomeRecord>,
}

/// Router-learning adaptation's part of a record (docs/sessions.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LearningRecord {
    /// `keep_base`, `propose_switch` or `observe`.
    pub action: String,
    /// `base_best`, `cold_start`, `sampled_win`, `posterior_win`, `observe_only`, …
    pub reason: String,
    /// `decision`, `tier` or `global`.
    pub candidate_set: String,
    /// The decision's own pick.
    pub base_model: String,
    /// The model adaptation proposed (served under `apply` unless protection kept another).
    pub proposal: String,
    /// Whether the quality estimates were random draws (exploration).
    pub sampled: bool,
    /// Each candidate's score, best first.
    pub scores: Vec<(String, f64)>,
    /// The decision scope its outcomes teach (`decision` or `recipe/decision`).
    pub scope: String,
    /// The decision's tier.
    pub tier: u32,
}

/// One outcome a client posted about a routed answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// `model`, `route`, `policy`, `stability`, `provider` or `router`.
    pub target: String,
    /// The model the verdict is about (model outcomes: the record's selected model).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_ref: String,
    /// `good_fit`, `underpowered`, `overprovisioned` or `failed`.
    pub verdict: String,
    #[serde(default)]
    pub score: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The client's `Idempotency-Key`.
    pub key: String,
    pub at: Timestamp,
}

/// Session-stable routing's part of a record (docs/sessions.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionRecord {
    /// The conversation id (16 hex characters of the hashed identity).
    pub id: String,
    /// `new`, `same`, `kept`, `switched`, `expired`, `observed`, `bypassed`, `unavailable`.
    pub action: String,
    /// The model the turn's own decision chose (differs from `selected_model` when kept).
    pub own_model: String,
    /// Why it was kept (or switched, or would have been kept under `observe`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The conversation's turns including this one.
    pub turns: u64,
}

/// One upstream attempt of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpstreamAttempt {
    /// The alias tried.
    pub model: String,
    /// Its endpoint (`backend_refs[].name`); empty when none was available (circuit open).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// The answer's status (`"200"`, `"503"`) or `connect_failure`, `reset`,
    /// `refused_stream`, `timeout`, `circuit_open`.
    pub outcome: String,
}

/// A user's verdict on one routed answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    pub rating: Rating,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// Who gave it (the dashboard user).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub by: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Up,
    Down,
}

impl ReplayRecord {
    /// A new record with a fresh id and the current time.
    pub fn new() -> Self {
        let timestamp = Timestamp::now();
        ReplayRecord {
            schema_version: RECORD_SCHEMA_VERSION,
            id: new_record_id(timestamp),
            timestamp,
            reasoning_mode: "off".into(),
            ..Default::default()
        }
    }

    /// Sets usage and, when the model is priced, cost (see [`crate::CostModel`]). Totals are
    /// recomputed as prompt + completion; a usage of zero tokens records nothing.
    pub fn set_usage(
        &mut self,
        costs: &crate::CostModel,
        prompt_tokens: u64,
        completion_tokens: u64,
        cached_tokens: Option<u64>,
    ) {
        let total = prompt_tokens.saturating_add(completion_tokens);
        if total == 0 {
            return;
        }
        self.prompt_tokens = Some(prompt_tokens);
        self.completion_tokens = Some(completion_tokens);
        self.total_tokens = Some(total);
        self.cached_tokens = cached_tokens;
        let model = if self.selected_model.is_empty() {
            &self.original_model
        } else {
            &self.selected_model
        };
        let usage = vsr_config::Usage {
            prompt_tokens,
            completion_tokens,
            cached_tokens,
            cache_write_tokens: None,
        };
        if let Some(c) = costs.cost(model, &usage) {
            self.actual_cost = Some(c.actual);
            self.baseline_cost = Some(c.baseline);
            self.cost_savings = Some(c.savings);
            self.currency = c.currency;
            self.baseline_model = c.baseline_model;
        }
    }

    /// Re-prices a record whose answer came from several model calls: the actual cost is each
    /// call at its own model's price; the baseline stays the summed tokens at the baseline
    /// model's price. A call to an unpriced model leaves the record without cost.
    pub fn price_per_model(
        &mut self,
        costs: &crate::CostModel,
        parts: &[(String, vsr_config::Usage)],
    ) {
        let Some(baseline) = self.baseline_cost else {
            return;
        };
        let mut actual = 0.0;
        for (model, usage) in parts.iter().filter(|(_, u)| u.total() > 0) {
            match costs.cost(model, usage) {
                Some(c) => actual += c.actual,
                None => {
                    self.actual_cost = None;
                    self.baseline_cost = None;
                    self.cost_savings = None;
                    return;
                }
            }
        }
        self.actual_cost = Some(actual);
        self.cost_savings = Some(baseline - actual);
    }

    /// Whether the record takes part in cost sums (it has all three cost values).
    pub fn has_cost(&self) -> bool {
        self.actual_cost.is_some() && self.baseline_cost.is_some() && self.cost_savings.is_some()
    }

    /// Whether the record has token usage.
    pub fn has_usage(&self) -> bool {
        self.prompt_tokens.is_some() || self.completion_tokens.is_some()
    }
}

/// A new record id: 48 bits of milliseconds then 80 random bits, as 32 hex characters.
pub fn new_record_id(at: Timestamp) -> String {
    let mut rnd = [0u8; 10];
    if getrandom::fill(&mut rnd).is_err() {
        // No OS randomness: fall back to a process-local counter mixed with the time.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rnd[..8].copy_from_slice(&(n ^ (at.0 as u64).rotate_left(17)).to_be_bytes());
    }
    let mut s = format!("{:012x}", (at.0 as u64) & 0xffff_ffff_ffff);
    for b in rnd {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// What the `router_replay` plugin of a decision asks to keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureConfig {
    pub enabled: bool,
    pub max_records: u64,
    pub capture_request_body: bool,
    pub capture_response_body: bool,
    pub max_body_bytes: usize,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            enabled: true,
            max_records: 200,
            capture_request_body: false,
            capture_response_body: false,
            max_body_bytes: 4096,
        }
    }
}

impl CaptureConfig {
    /// From a decision's `router_replay` plugin (missing fields take the defaults).
    pub fn from_plugin(plugin: &vsr_config::Plugin) -> Self {
        let d = CaptureConfig::default();
        let flag = |k: &str, dflt: bool| {
            plugin
                .get(k)
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(dflt)
        };
        let num = |k: &str| plugin.get(k).and_then(serde_json::Value::as_u64);
        CaptureConfig {
            enabled: plugin.enabled(),
            max_records: num("max_records").unwrap_or(d.max_records),
            capture_request_body: flag("capture_request_body", d.capture_request_body),
            capture_response_body: flag("capture_response_body", d.capture_response_body),
            max_body_bytes: num("max_body_bytes").map_or(d.max_body_bytes, |n| n as usize),
        }
    }

    /// The request body to store, if capture is on: secrets redacted, then truncated.
    pub fn request_body(&self, raw: &[u8]) -> Option<(String, bool)> {
        self.capture_request_body.then(|| {
            truncate_utf8(
                &redact_body(&String::from_utf8_lossy(raw)),
                self.max_body_bytes,
            )
        })
    }

    /// The response body (final JSON, or the concatenated text of a stream) to store.
    pub fn response_body(&self, raw: &str) -> Option<(String, bool)> {
        self.capture_response_body
            .then(|| truncate_utf8(&redact_body(raw), self.max_body_bytes))
    }

    /// Fills the record's body fields according to the flags.
    pub fn apply(&self, record: &mut ReplayRecord, request: Option<&[u8]>, response: Option<&str>) {
        if let Some((body, truncated)) = request.and_then(|r| self.request_body(r)) {
            record.request_body = Some(body);
            record.request_body_truncated = truncated;
        }
        if let Some((body, truncated)) = response.and_then(|r| self.response_body(r)) {
            record.response_body = Some(body);
            record.response_body_truncated = truncated;
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary; returns whether it cut.
pub fn truncate_utf8(s: &str, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s.to_string(), false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s[..end].to_string(), true)
}

/// Removes credentials from a body: values of secret-named JSON keys at any depth, and
/// bearer tokens / API-key-shaped strings anywhere in the text. Non-JSON text is scrubbed as text.
pub fn redact_body(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut v) if v.is_object() || v.is_array() => {
            redact_value(&mut v);
            serde_json::to_string(&v).unwrap_or_else(|_| redact_text(body))
        }
        _ => redact_text(body),
    }
}

/// Header pairs safe to keep: credentials replaced by `[REDACTED]`.
pub fn redact_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(k, v)| {
            let v = if is_secret_key(k) {
                REDACTED.to_string()
            } else {
                redact_text(v)
            };
            (k.to_string(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_cuts_on_a_char_boundary_and_flags_it() {
        assert_eq!(truncate_utf8("héllo", 100), ("héllo".into(), false));
        // 'é' is two bytes at 1..3: a cut at 2 must back off to 1.
        assert_eq!(truncate_utf8("héllo", 2), ("h".into(), true));
        assert_eq!(truncate_utf8("日本語", 7), ("日本".into(), true));
        assert_eq!(truncate_utf8("日本語", 0), ("".into(), true));
        let (s, t) = truncate_utf8("ab", 2);
        assert_eq!((s.as_str(), t), ("ab", false));
    }

    #[test]
    fn capture_honours_the_flags() {
        let off = CaptureConfig::default();
        let mut r = ReplayRecord::new();
        off.apply(&mut r, Some(b"{\"a\":1}"), Some("hi"));
        assert_eq!(r.request_body, None);
        assert_eq!(r.response_body, None);
        let on = CaptureConfig {
            capture_request_body: true,
            capture_response_body: true,
            max_body_bytes: 4,
            ..Default::default()
        };
        on.apply(&mut r, Some("{\"a\":\"ééé\"}".as_bytes()), Some("hello"));
        assert_eq!(r.request_body.as_deref(), Some("{\"a\""));
        assert!(r.request_body_truncated);
        assert_eq!(r.response_body.as_deref(), Some("hell"));
        assert!(r.response_body_truncated);
    }

    #[test]
    fn secrets_never_reach_a_stored_body() {
        let body = r#"{"model":"MoM","api_key":"abc123","max_tokens":5,"headers":{"Authorization":"Bearer tok_abcdefghijk"},
            "messages":[{"role":"user","content":"my key is sk-abcdefghijklmnopqrstuvwx ok"}]}"#;
        let cfg = CaptureConfig {
            capture_request_body: true,
            ..Default::default()
        };
        let (stored, _) = cfg.request_body(body.as_bytes()).unwrap();
        for secret in ["abc123", "tok_abcdefghijk", "sk-abcdefghijklmnopqrstuvwx"] {
            assert!(!stored.contains(secret), "{secret} leaked: {stored}");
        }
        assert!(stored.contains("\"max_tokens\":5"), "{stored}");
        assert!(stored.contains("my key is [REDACTED] ok"), "{stored}");
        // Not JSON: scrubbed as text.
        assert_eq!(
            redact_body("Authorization: Bearer abcdefghijkl"),
            "Authorization: [REDACTED]"
        );
        let h = redact_headers([("x-api-key", "k"), ("content-type", "application/json")]);
        assert_eq!(h[0].1, REDACTED);
        assert_eq!(h[1].1, "application/json");
    }

    #[test]
    fn record_json_omits_empty_fields_and_reads_old_rows() {
        let mut r = ReplayRecord::new();
        r.decision = "simple".into();
        let v = serde_json::to_value(&r).unwrap();
        let obj = v.as_object().unwrap();
        assert!(obj.contains_key("signals"));
        assert!(!obj.contains_key("streaming"));
        assert!(!obj.contains_key("request_body"));
        assert_eq!(obj["id"].as_str().unwrap().len(), 32);
        // A row from an older writer without the newer fields still reads.
        let old: ReplayRecord = serde_json::from_str(
            r#"{"id":"x","timestamp":"2026-03-24T10:00:00Z","signals":{"keyword":["a"]}}"#,
        )
        .unwrap();
        assert_eq!(old.signals.keyword, vec!["a"]);
        assert_eq!(old.schema_version, 0);
    }

    #[test]
    fn ids_sort_by_time() {
        let a = new_record_id(Timestamp(1_000));
        let b = new_record_id(Timestamp(2_000));
        assert!(a < b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_record_id(Timestamp(5)), new_record_id(Timestamp(5)));
    }
}
