//! `global`: the router-wide settings. A file's `global` is a sparse override: it is deep-merged
//! over the built-in [`defaults`] (mappings merge key by key; scalars and lists replace), as the
//! upstream router does. [`GlobalSettings`] is the one reader of the merged tree: every crate
//! takes `global` knobs from its typed fields, never from the JSON.

use serde_json::{Value, json};

use crate::model::Global;
use crate::vocab::{
    CandidateSet, ConfigSource, KeywordMatch, LearningStoreBackend, ProtectionScope, SamplingType,
    StoreBackend, Strategy, Vocab,
};

/// The router's built-in `global` defaults (the non-zero defaults of upstream 76c76e3a1).
pub fn defaults() -> Value {
    json!({
        "router": {
            "config_source": "file",
            "strategy": "priority",
            "auto_model_name": "MoM",
            "keyword_match": "first",
            "include_config_models_in_list": false,
            "clear_route_cache": true,
            "streamed_body": {"enabled": false},
            "model_selection": {"enabled": true, "method": "knn"}
        },
        "services": {
            "response_api": {
                "enabled": true,
                "store_backend": "memory",
                "ttl_seconds": 86400,
                "max_responses": 1000
            },
            "observability": {
                "tracing": {
                    // Off unless a file turns it on (the original defaults to on).
                    "enabled": false,
                    "provider": "opentelemetry",
                    "exporter": {"type": "otlp", "endpoint": "vllm-sr-jaeger:4317", "insecure": true},
                    "sampling": {"type": "always_on", "rate": 1.0},
                    "resource": {
                        "service_name": "vllm-sr",
                        "service_version": "v0.3.0",
                        "deployment_environment": "development"
                    }
                },
                "metrics": {"enabled": true}
            },
            "authz": {
                "fail_open": false,
                "identity": {
                    "user_id_header": "x-authz-user-id",
                    "user_groups_header": "x-authz-user-groups"
                }
            },
            "ratelimit": {"fail_open": false},
            "router_replay": {
                "store_backend": "memory",
                "ttl_seconds": 2592000,
                "async_writes": false
            }
        },
        "stores": {
            "semantic_cache": {
                "enabled": true,
                "backend_type": "memory",
                "max_entries": 1000,
                "ttl_seconds": 3600,
                "eviction_policy": "fifo"
            },
            "memory": {
                "enabled": false,
                "auto_store": false,
                "milvus": {"collection": "agentic_memory", "dimension": 384},
                "default_retrieval_limit": 5,
                "default_similarity_threshold": 0.70,
                "extraction_batch_size": 10
            }
        },
        "integrations": {
            "tools": {
                "enabled": false,
                "top_k": 3,
                "tools_db_path": "config/tools_db.json",
                "fallback_to_empty": true
            },
            "looper": {
                "endpoint": "http://localhost:8899/v1/chat/completions",
                "timeout_seconds": 1200,
                "headers": {}
            }
        },
        "model_catalog": {
            "embeddings": {
                "semantic": {
                    "mmbert_model_path": "models/mom-embedding-ultra",
                    "use_cpu": true,
                    "embedding_config": {
                        "model_type": "mmbert",
                        "preload_embeddings": true,
                        "target_dimension": 768,
                        "target_layer": 22,
                        "top_k": 1,
                        "min_score_threshold": 0.5,
                        "enable_soft_matching": true
                    }
                }
            },
            "system": {
                "prompt_guard": "models/mmbert32k-jailbreak-detector-merged",
                "domain_classifier": "models/mmbert32k-intent-classifier-merged",
                "pii_classifier": "models/mmbert32k-pii-detector-merged",
                "fact_check_classifier": "models/mmbert32k-factcheck-classifier-merged",
                "hallucination_detector": "models/mom-halugate-detector",
                "hallucination_explainer": "models/mom-halugate-explainer",
                "feedback_detector": "models/mmbert32k-feedback-detector-merged"
            },
            "modules": {
                "prompt_compression": {"enabled": false},
                "prompt_guard": {
                    "model_ref": "prompt_guard",
                    "enabled": true,
                    "threshold": 0.7,
                    "use_cpu": true,
                    "use_mmbert_32k": true
                },
                "classifier": {
                    "domain": {
                        "model_ref": "domain_classifier",
                        "threshold": 0.5,
                        "use_cpu": true,
                        "use_mmbert_32k": true
                    },
                    "pii": {
                        "model_ref": "pii_classifier",
                        "threshold": 0.9,
                        "use_cpu": true,
                        "use_mmbert_32k": true
                    },
                    "preference": {"use_contrastive": true}
                },
                "hallucination_mitigation": {
                    "enabled": false,
                    "fact_check": {"model_ref": "fact_check_classifier", "threshold": 0.6},
                    "detector": {
                        "model_ref": "hallucination_detector",
                        "threshold": 0.8,
                        "min_span_length": 2,
                        "min_span_confidence": 0.6,
                        "context_window_size": 50,
                        "enable_nli_filtering": true,
                        "nli_entailment_threshold": 0.75
                    },
                    "explainer": {"model_ref": "hallucination_explainer", "threshold": 0.9}
                },
                "feedback_detector": {
                    "model_ref": "feedback_detector",
                    "enabled": true,
                    "threshold": 0.7,
                    "use_cpu": true,
                    "use_mmbert_32k": true
                },
                "modality_detector": {"enabled": false}
            }
        }
    })
}

/// Deep-merges `over` onto `base`: mappings merge key by key, everything else replaces; a null
/// in `over` keeps the base value.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) if !v.is_null() => *slot = v.clone(),
        _ => {}
    }
}

/// The defaults with `global`'s sections merged on top.
pub fn effective(global: Option<&Global>) -> Value {
    let mut out = defaults();
    if let Some(g) = global
        && let Ok(v) = serde_json::to_value(g)
    {
        merge(&mut out, &v);
    }
    out
}

/// The `global` knobs the router reads, typed, with defaults applied. Build it with
/// [`crate::Config::global_settings`].
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalSettings {
    /// `router.strategy`.
    pub strategy: Strategy,
    /// `router.auto_model_name`: the model name that asks for routing (`auto` always does too).
    pub auto_model_name: String,
    /// `router.auto_model_names` (our extension): more names that ask for routing.
    pub auto_model_names: Vec<String>,
    /// `router.keyword_match` (our extension).
    pub keyword_match: KeywordMatch,
    /// `router.max_body_bytes` (our extension): the request body limit; `None` = built-in.
    pub max_body_bytes: Option<u64>,
    /// `services.response_api.enabled`: whether `/v1/responses` is served.
    pub response_api_enabled: bool,
    /// `services.observability`.
    pub observability: ObservabilitySettings,
    /// `services.router_replay`: where replay records are stored.
    pub router_replay: RouterReplaySettings,
    /// `router.learning`: adaptation and session protection.
    pub learning: LearningSettings,
    /// `integrations.looper.fusion.model_names` (trimmed, de-duplicated, blanks dropped);
    /// `None` when unset or empty.
    pub looper_fusion_names: Option<Vec<String>>,
    /// `integrations.looper.flow.model_names`, likewise.
    pub looper_flow_names: Option<Vec<String>>,
    /// `model_catalog.embeddings.semantic.embedding_config.top_k` (0 = all).
    pub embedding_top_k: u64,
    pub embedding_min_score_threshold: f64,
    pub embedding_soft_matching: bool,
    pub embedding_model_type: String,
    /// `model_catalog.embeddings.semantic.model` (our extension): the sentence encoder, as a
    /// local directory, a catalog id, or a Hugging Face repo id `owner/name[@revision]`.
    /// `None` (absent or empty): the built-in default encoder. Upstream's
    /// `mmbert_model_path` is not read: its default names a model we do not run.
    pub embedding_model: Option<String>,
    pub embedding_target_dimension: u64,
    /// `model_catalog.modules.classifier.domain.threshold`.
    pub domain_threshold: f64,
    /// `model_catalog.modules.hallucination_mitigation.fact_check.threshold`.
    pub fact_check_threshold: f64,
    pub feedback_enabled: bool,
    pub feedback_threshold: f64,
    pub prompt_guard_enabled: bool,
    pub prompt_guard_threshold: f64,
    pub pii_threshold: f64,
    pub preference_use_contrastive: bool,
    pub modality_detector_enabled: bool,
    pub semantic_cache_enabled: bool,
}

/// `services.observability`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservabilitySettings {
    pub tracing: TracingSettings,
    pub metrics: MetricsSettings,
}

/// `services.observability.tracing`.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingSettings {
    /// `enabled`; off by default.
    pub enabled: bool,
    /// `exporter.type` (`otlp`).
    pub exporter_type: String,
    /// `exporter.endpoint`, e.g. `vllm-sr-jaeger:4317`.
    pub endpoint: String,
    /// `exporter.insecure`: plain-text transport.
    pub insecure: bool,
    pub sampling: Sampling,
    /// `resource.service_name`.
    pub service_name: String,
    /// `resource.service_version`.
    pub service_version: String,
    /// `resource.deployment_environment`.
    pub deployment_environment: String,
}

/// `services.observability.tracing.sampling`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// `type`.
    pub kind: SamplingType,
    /// `rate` in [0, 1], used by `traceidratio` / `probabilistic`.
    pub rate: f64,
}

impl Sampling {
    /// The fraction of traces kept: 1 for `always_on`, 0 for `always_off`, else `rate`.
    pub fn ratio(&self) -> f64 {
        match self.kind {
            SamplingType::AlwaysOn => 1.0,
            SamplingType::AlwaysOff => 0.0,
            SamplingType::TraceIdRatio | SamplingType::Probabilistic => self.rate.clamp(0.0, 1.0),
        }
    }
}

/// `services.observability.metrics`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricsSettings {
    /// `enabled`: whether `/metrics` is served.
    pub enabled: bool,
}

/// `services.router_replay`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterReplaySettings {
    /// `store_backend`: `memory` (default), `postgres`, or the original's `redis`/`milvus`.
    pub store_backend: StoreBackend,
    /// `ttl_seconds`: the age limit of records; 0 = none.
    pub ttl_seconds: u64,
    pub async_writes: bool,
    /// `postgres`: connection fields, each `None` when absent or empty.
    pub postgres: PostgresSettings,
}

/// `services.router_replay.postgres`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostgresSettings {
    pub host: Option<String>,
    pub port: Option<u64>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub ssl_mode: Option<String>,
    /// `table_name`, used as the schema name.
    pub table_name: Option<String>,
}

/// `router.learning` (upstream HEAD), with the upstream defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct LearningSettings {
    /// `enabled`: the master switch (default false).
    pub enabled: bool,
    /// `adaptation.enabled` (default true; effective only with `enabled`).
    pub adaptation_enabled: bool,
    /// `adaptation.candidate_set` (default `decision`): which models adaptation chooses among.
    pub candidate_set: CandidateSet,
    /// `protection.enabled` (default true; effective only with `enabled`).
    pub protection_enabled: bool,
    /// `protection.scope` (default `conversation`).
    pub scope: ProtectionScope,
    /// `protection.identity.headers.session` (default `x-session-id`).
    pub session_header: String,
    /// `protection.identity.headers.conversation` (default `x-conversation-id`).
    pub conversation_header: String,
    /// `protection.tuning.idle_timeout_seconds` (default 300; 0 = never idle).
    pub idle_timeout_seconds: f64,
    /// `protection.tuning.min_turns_before_switch` (default 1).
    pub min_turns_before_switch: u64,
    /// `protection.tuning.switch_margin` (default 0.05).
    pub switch_margin: f64,
    /// `protection.tuning.stability_weight` (default 1.0).
    pub stability_weight: f64,
    /// `state_store.backend`; `None` when unset (then the shared database when replay uses
    /// PostgreSQL, else in-process).
    pub store_backend: Option<LearningStoreBackend>,
    /// `state_store.ttl_seconds`: how long an untouched conversation is remembered (0 = the
    /// built-in 24 hours).
    pub store_ttl_seconds: u64,
}

impl LearningSettings {
    /// Whether conversations are protected: `enabled` and `protection.enabled`.
    pub fn protection_active(&self) -> bool {
        self.enabled && self.protection_enabled
    }

    /// Whether adaptation (`routing_sampling`) runs: `enabled` and `adaptation.enabled`.
    pub fn adaptation_active(&self) -> bool {
        self.enabled && self.adaptation_enabled
    }
}

impl PostgresSettings {
    /// `postgres://user:password@host:port/database?sslmode=...` from the fields (the defaults
    /// `postgres@localhost:5432/postgres`); user, password and database percent-encoded.
    pub fn url(&self) -> String {
        let port = self.port.unwrap_or(5432);
        let user = self.user.as_deref().unwrap_or("postgres");
        let auth = match &self.password {
            Some(pw) => format!("{}:{}", url_enc(user), url_enc(pw)),
            None => url_enc(user),
        };
        let mut url = format!(
            "postgres://{auth}@{}:{port}/{}",
            self.host.as_deref().unwrap_or("localhost"),
            url_enc(self.database.as_deref().unwrap_or("postgres"))
        );
        if let Some(mode) = &self.ssl_mode {
            url.push_str(&format!("?sslmode={}", url_enc(mode)));
        }
        url
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn url_enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl GlobalSettings {
    /// Reads the settings from a merged tree (see [`effective`]); a missing or mistyped knob
    /// falls back to its default (the loader has already reported mistyped ones).
    pub fn from_effective(v: &Value) -> GlobalSettings {
        let d = defaults();
        let get = |p: &str| {
            v.pointer(p)
                .filter(|x| !x.is_null())
                .or_else(|| d.pointer(p))
        };
        let s = |p: &str| get(p).and_then(Value::as_str).unwrap_or("").to_string();
        let opt_s = |p: &str| {
            get(p)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
        };
        let f = |p: &str| get(p).and_then(Value::as_f64).unwrap_or(0.0);
        let u = |p: &str| get(p).and_then(Value::as_u64).unwrap_or(0);
        let b = |p: &str| get(p).and_then(Value::as_bool).unwrap_or(false);
        fn names(list: Option<&Value>) -> Option<Vec<String>> {
            let mut out: Vec<String> = Vec::new();
            for n in list.and_then(Value::as_array).into_iter().flatten() {
                if let Some(n) = n.as_str().map(str::trim).filter(|n| !n.is_empty())
                    && !out.iter().any(|o| o == n)
                {
                    out.push(n.to_string());
                }
            }
            (!out.is_empty()).then_some(out)
        }
        fn vocab<V: Vocab + Default>(text: Option<&str>) -> V {
            text.and_then(V::parse).unwrap_or_default()
        }
        const EC: &str = "/model_catalog/embeddings/semantic/embedding_config";
        const M: &str = "/model_catalog/modules";
        const T: &str = "/services/observability/tracing";
        const RR: &str = "/services/router_replay";
        const PG: &str = "/services/router_replay/postgres";
        const L: &str = "/router/learning";
        let or_f = |p: &str, d: f64| get(p).and_then(Value::as_f64).unwrap_or(d);
        let or_b = |p: &str, d: bool| get(p).and_then(Value::as_bool).unwrap_or(d);
        let or_s = |p: &str, d: &str| opt_s(p).unwrap_or_else(|| d.to_string());
        GlobalSettings {
            strategy: vocab(get("/router/strategy").and_then(Value::as_str)),
            auto_model_name: s("/router/auto_model_name"),
            auto_model_names: get("/router/auto_model_names")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            keyword_match: vocab(get("/router/keyword_match").and_then(Value::as_str)),
            max_body_bytes: get("/router/max_body_bytes").and_then(Value::as_u64),
            response_api_enabled: b("/services/response_api/enabled"),
            observability: ObservabilitySettings {
                tracing: TracingSettings {
                    enabled: b(&format!("{T}/enabled")),
                    exporter_type: s(&format!("{T}/exporter/type")),
                    endpoint: s(&format!("{T}/exporter/endpoint")),
                    insecure: b(&format!("{T}/exporter/insecure")),
                    sampling: Sampling {
                        kind: vocab(get(&format!("{T}/sampling/type")).and_then(Value::as_str)),
                        rate: f(&format!("{T}/sampling/rate")),
                    },
                    service_name: s(&format!("{T}/resource/service_name")),
                    service_version: s(&format!("{T}/resource/service_version")),
                    deployment_environment: s(&format!("{T}/resource/deployment_environment")),
                },
                metrics: MetricsSettings {
                    enabled: b("/services/observability/metrics/enabled"),
                },
            },
            router_replay: RouterReplaySettings {
                store_backend: vocab(get(&format!("{RR}/store_backend")).and_then(Value::as_str)),
                ttl_seconds: u(&format!("{RR}/ttl_seconds")),
                async_writes: b(&format!("{RR}/async_writes")),
                postgres: PostgresSettings {
                    host: opt_s(&format!("{PG}/host")),
                    port: get(&format!("{PG}/port")).and_then(Value::as_u64),
                    database: opt_s(&format!("{PG}/database")),
                    user: opt_s(&format!("{PG}/user")),
                    password: opt_s(&format!("{PG}/password")),
                    ssl_mode: opt_s(&format!("{PG}/ssl_mode")),
                    table_name: opt_s(&format!("{PG}/table_name")),
                },
            },
            learning: LearningSettings {
                enabled: or_b(&format!("{L}/enabled"), false),
                adaptation_enabled: or_b(&format!("{L}/adaptation/enabled"), true),
                candidate_set: vocab(
                    get(&format!("{L}/adaptation/candidate_set")).and_then(Value::as_str),
                ),
                protection_enabled: or_b(&format!("{L}/protection/enabled"), true),
                scope: vocab(get(&format!("{L}/protection/scope")).and_then(Value::as_str)),
                session_header: or_s(
                    &format!("{L}/protection/identity/headers/session"),
                    "x-session-id",
                ),
                conversation_header: or_s(
                    &format!("{L}/protection/identity/headers/conversation"),
                    "x-conversation-id",
                ),
                idle_timeout_seconds: or_f(
                    &format!("{L}/protection/tuning/idle_timeout_seconds"),
                    300.0,
                ),
                min_turns_before_switch: get(&format!(
                    "{L}/protection/tuning/min_turns_before_switch"
                ))
                .and_then(Value::as_f64)
                .map(|v| v.max(0.0) as u64)
                .unwrap_or(1),
                switch_margin: or_f(&format!("{L}/protection/tuning/switch_margin"), 0.05),
                stability_weight: or_f(&format!("{L}/protection/tuning/stability_weight"), 1.0),
                store_backend: get(&format!("{L}/state_store/backend"))
                    .and_then(Value::as_str)
                    .and_then(LearningStoreBackend::parse),
                store_ttl_seconds: u(&format!("{L}/state_store/ttl_seconds")),
            },
            looper_fusion_names: names(get("/integrations/looper/fusion/model_names")),
            looper_flow_names: names(get("/integrations/looper/flow/model_names")),
            embedding_top_k: u(&format!("{EC}/top_k")),
            embedding_min_score_threshold: f(&format!("{EC}/min_score_threshold")),
            embedding_soft_matching: b(&format!("{EC}/enable_soft_matching")),
            embedding_model_type: s(&format!("{EC}/model_type")),
            embedding_model: opt_s("/model_catalog/embeddings/semantic/model"),
            embedding_target_dimension: u(&format!("{EC}/target_dimension")),
            domain_threshold: f(&format!("{M}/classifier/domain/threshold")),
            fact_check_threshold: f(&format!(
                "{M}/hallucination_mitigation/fact_check/threshold"
            )),
            feedback_enabled: b(&format!("{M}/feedback_detector/enabled")),
            feedback_threshold: f(&format!("{M}/feedback_detector/threshold")),
            prompt_guard_enabled: b(&format!("{M}/prompt_guard/enabled")),
            prompt_guard_threshold: f(&format!("{M}/prompt_guard/threshold")),
            pii_threshold: f(&format!("{M}/classifier/pii/threshold")),
            preference_use_contrastive: b(&format!("{M}/classifier/preference/use_contrastive")),
            modality_detector_enabled: b(&format!("{M}/modality_detector/enabled")),
            semantic_cache_enabled: b("/stores/semantic_cache/enabled"),
        }
    }
}

/// Typed knobs checked in a file's `global` (JSON pointer below `global`, expected kind).
pub(crate) const TYPED_KNOBS: &[(&str, Kind)] = &[
    ("/router/strategy", Kind::Vocab(check::<Strategy>)),
    ("/router/config_source", Kind::Vocab(check::<ConfigSource>)),
    ("/router/auto_model_name", Kind::Str),
    ("/router/auto_model_names", Kind::StrList),
    ("/integrations/looper/fusion/model_names", Kind::StrList),
    ("/integrations/looper/flow/model_names", Kind::StrList),
    ("/router/keyword_match", Kind::Vocab(check::<KeywordMatch>)),
    ("/router/max_body_bytes", Kind::UInt),
    ("/services/response_api/enabled", Kind::Bool),
    ("/services/observability/tracing/enabled", Kind::Bool),
    ("/services/observability/tracing/exporter/type", Kind::Str),
    (
        "/services/observability/tracing/exporter/endpoint",
        Kind::Str,
    ),
    (
        "/services/observability/tracing/exporter/insecure",
        Kind::Bool,
    ),
    (
        "/services/observability/tracing/sampling/type",
        Kind::Vocab(check::<SamplingType>),
    ),
    ("/services/observability/tracing/sampling/rate", Kind::Unit),
    (
        "/services/observability/tracing/resource/service_name",
        Kind::Str,
    ),
    ("/services/observability/metrics/enabled", Kind::Bool),
    (
        "/services/router_replay/store_backend",
        Kind::Vocab(check::<StoreBackend>),
    ),
    ("/services/router_replay/ttl_seconds", Kind::UInt),
    ("/services/router_replay/async_writes", Kind::Bool),
    ("/services/router_replay/postgres/port", Kind::UInt),
    ("/model_catalog/embeddings/semantic/model", Kind::Str),
    (
        "/model_catalog/embeddings/semantic/embedding_config/top_k",
        Kind::UInt,
    ),
    (
        "/model_catalog/embeddings/semantic/embedding_config/min_score_threshold",
        Kind::Unit,
    ),
    (
        "/model_catalog/embeddings/semantic/embedding_config/enable_soft_matching",
        Kind::Bool,
    ),
    (
        "/model_catalog/embeddings/semantic/embedding_config/target_dimension",
        Kind::UInt,
    ),
    (
        "/model_catalog/modules/classifier/domain/threshold",
        Kind::Unit,
    ),
    (
        "/model_catalog/modules/classifier/pii/threshold",
        Kind::Unit,
    ),
    (
        "/model_catalog/modules/hallucination_mitigation/fact_check/threshold",
        Kind::Unit,
    ),
    (
        "/model_catalog/modules/feedback_detector/threshold",
        Kind::Unit,
    ),
    (
        "/model_catalog/modules/feedback_detector/enabled",
        Kind::Bool,
    ),
    ("/model_catalog/modules/prompt_guard/threshold", Kind::Unit),
    ("/model_catalog/modules/prompt_guard/enabled", Kind::Bool),
    ("/stores/semantic_cache/enabled", Kind::Bool),
    ("/stores/semantic_cache/similarity_threshold", Kind::Unit),
];

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Str,
    StrList,
    Bool,
    UInt,
    Unit,
    /// A closed vocabulary: the check gives the unknown-value message.
    Vocab(fn(&str) -> Result<(), String>),
}

fn check<V: Vocab>(text: &str) -> Result<(), String> {
    match V::parse(text) {
        Some(_) => Ok(()),
        None => Err(crate::vocab::unknown_message::<V>(text)),
    }
}

/// Modules that name a system model through `model_ref`.
pub(crate) const MODEL_REFS: &[&str] = &[
    "/model_catalog/modules/prompt_guard",
    "/model_catalog/modules/classifier/domain",
    "/model_catalog/modules/classifier/pii",
    "/model_catalog/modules/hallucination_mitigation/fact_check",
    "/model_catalog/modules/hallucination_mitigation/detector",
    "/model_catalog/modules/hallucination_mitigation/explainer",
    "/model_catalog/modules/feedback_detector",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_override_keeps_sibling_defaults() {
        let g = Global {
            stores: Some(json!({"semantic_cache": {"enabled": false}})),
            ..Global::default()
        };
        let v = effective(Some(&g));
        assert_eq!(
            v.pointer("/stores/semantic_cache/enabled"),
            Some(&json!(false))
        );
        assert_eq!(
            v.pointer("/stores/semantic_cache/max_entries"),
            Some(&json!(1000))
        );
        let s = GlobalSettings::from_effective(&v);
        assert!(!s.semantic_cache_enabled);
        assert_eq!(s.embedding_top_k, 1);
        assert_eq!(s.domain_threshold, 0.5);
    }

    #[test]
    fn lists_replace_rather_than_merge() {
        let mut base = json!({"a": [1, 2], "b": {"c": 1}});
        merge(&mut base, &json!({"a": [3], "b": {"d": 2}}));
        assert_eq!(base, json!({"a": [3], "b": {"c": 1, "d": 2}}));
    }

    /// A file with nothing but `global` and the given encoder knob value (YAML).
    fn with_encoder_knob(value: &str) -> String {
        format!(
            "version: v0.3\nglobal:\n  model_catalog:\n    embeddings:\n      semantic:\n        model: {value}\n"
        )
    }

    #[test]
    fn encoder_knob_is_read_and_absent_means_built_in() {
        let loaded = crate::load_str(
            &with_encoder_knob("sentence-transformers/all-MiniLM-L6-v2@main"),
            "t.yaml",
        )
        .unwrap();
        assert_eq!(
            loaded.config.global_settings().embedding_model.as_deref(),
            Some("sentence-transformers/all-MiniLM-L6-v2@main")
        );
        let none = crate::load_str("version: v0.3\nrouting: {}\n", "t.yaml").unwrap();
        assert_eq!(none.config.global_settings().embedding_model, None);
        // Upstream's mmbert_model_path default (a directory we do not ship) is not the knob.
        assert_eq!(
            GlobalSettings::from_effective(&defaults()).embedding_model,
            None
        );
        let blank = crate::load_str(&with_encoder_knob("\"  \""), "t.yaml").unwrap();
        assert_eq!(blank.config.global_settings().embedding_model, None);
    }

    #[test]
    fn encoder_knob_is_type_checked() {
        let err = crate::load_str(&with_encoder_knob("[a, b]"), "t.yaml")
            .expect_err("a list is not a model spec")
            .to_string();
        assert!(
            err.contains("global.model_catalog.embeddings.semantic.model")
                && err.contains("expected a string"),
            "{err}"
        );
        assert!(err.contains("t.yaml:6:"), "points at the line: {err}");
    }

    #[test]
    fn observability_is_read_typed_and_tracing_is_off_by_default() {
        let none = crate::load_str("version: v0.3\nrouting: {}\n", "t.yaml").unwrap();
        let g = none.config.global_settings();
        assert!(!g.observability.tracing.enabled);
        assert!(g.observability.metrics.enabled);
        assert_eq!(
            g.observability.tracing.sampling.kind,
            SamplingType::AlwaysOn
        );
        assert_eq!(g.observability.tracing.service_name, "vllm-sr");
        assert_eq!(g.strategy, Strategy::Priority);
        assert_eq!(g.keyword_match, KeywordMatch::First);

        let yaml = "version: v0.3\nglobal:\n  router: {strategy: confidence, keyword_match: all, auto_model_names: [x/auto], max_body_bytes: 1024}\n  services:\n    response_api: {enabled: false}\n    observability:\n      tracing:\n        enabled: true\n        exporter: {endpoint: \"otel:4317\"}\n        sampling: {type: traceidratio, rate: 0.25}\n        resource: {service_name: edge-router}\n      metrics: {enabled: false}\n    router_replay: {store_backend: postgres, ttl_seconds: 60, postgres: {host: db, port: 5433}}\n";
        let g = crate::load_str(yaml, "t.yaml")
            .unwrap()
            .config
            .global_settings();
        let t = &g.observability.tracing;
        assert!(t.enabled);
        assert_eq!(t.endpoint, "otel:4317");
        // Siblings of an overridden key keep their defaults.
        assert_eq!(t.exporter_type, "otlp");
        assert!(t.insecure);
        assert_eq!(
            t.sampling,
            Sampling {
                kind: SamplingType::TraceIdRatio,
                rate: 0.25
            }
        );
        assert_eq!(t.sampling.ratio(), 0.25);
        assert_eq!(t.service_name, "edge-router");
        assert!(!g.observability.metrics.enabled);
        assert_eq!(g.strategy, Strategy::Confidence);
        assert_eq!(g.keyword_match, KeywordMatch::All);
        assert_eq!(g.auto_model_names, ["x/auto"]);
        assert_eq!(g.max_body_bytes, Some(1024));
        assert!(!g.response_api_enabled);
        assert_eq!(g.router_replay.store_backend, StoreBackend::Postgres);
        assert_eq!(g.router_replay.ttl_seconds, 60);
        assert_eq!(g.router_replay.postgres.host.as_deref(), Some("db"));
        assert_eq!(g.router_replay.postgres.port, Some(5433));
        assert_eq!(g.router_replay.postgres.database, None);
    }

    #[test]
    fn closed_global_knobs_are_checked_with_position_and_suggestion() {
        let yaml = "version: v0.3\nglobal:\n  services:\n    observability:\n      tracing:\n        sampling: {type: alwys_off}\n";
        let err = crate::load_str(yaml, "t.yaml").unwrap_err().to_string();
        assert!(
            err.contains("t.yaml:6:")
                && err.contains("global.services.observability.tracing.sampling.type")
                && err.contains("unknown sampling type \"alwys_off\"")
                && err.contains("did you mean \"always_off\"?"),
            "{err}"
        );
        let yaml = "version: v0.3\nglobal:\n  router: {strategy: priorty}\n";
        let err = crate::load_str(yaml, "t.yaml").unwrap_err().to_string();
        assert!(
            err.contains("t.yaml:3:") && err.contains("did you mean \"priority\"?"),
            "{err}"
        );
    }
}
