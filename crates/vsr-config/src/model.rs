//! The typed canonical v0.3 configuration. Field names follow the YAML keys; optional YAML
//! fields are `Option` (or an empty `Vec`/map) so that an export writes back what was loaded.
//! Declaration order is kept everywhere: lists are `Vec`, YAML maps are `IndexMap`.
//! Free-form payloads (plugin configurations, algorithm blocks, `global` sections) are ordered
//! `serde_json::Value`s.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::units;
pub use crate::vocab::{
    AdaptationMode, AggregationMethod, ApiFormat, CalibrationMethod, CandidateSet, ClassifierKind,
    ConversationFeatureType, ConversationRole, ConversationSourceType, FeatureType,
    JailbreakMethod, KbMatch, KbTargetKind, KeywordMethod, KeywordOperator, LbPolicy, LeafOnError,
    LearningStoreBackend, MappingMethod, PartitionSemantics, ProtectionScope, Protocol,
    QueryModality, ReasoningFamilyType, ScoreMethod, SourceType, StoreBackend, Strategy, Vocab,
};

/// The whole file: `version`, `listeners`, `providers`, `routing`, `entrypoints`, `recipes`,
/// `global`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<Listener>,
    #[serde(skip_serializing_if = "Providers::is_empty")]
    pub providers: Providers,
    pub routing: Routing,
    /// Request-facing virtual model names mapped to recipes (upstream HEAD).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entrypoints: Vec<Entrypoint>,
    /// Named routing profiles beside the top-level one (upstream HEAD).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipes: Vec<Recipe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global: Option<Global>,
}

/// `entrypoints[]`: model names that select a recipe.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Entrypoint {
    pub model_names: Vec<String>,
    pub recipe: String,
}

/// `recipes[]`: a named routing profile. Its `routing` has the shape of the top-level routing
/// minus `modelCards` (the model catalog is shared).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Recipe {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub routing: Routing,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Listener {
    pub name: String,
    pub address: String,
    pub port: u16,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub timeout: Option<Duration>,
}

// ---------------------------------------------------------------------------------------------
// providers

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Providers {
    #[serde(skip_serializing_if = "ProviderDefaults::is_empty")]
    pub defaults: ProviderDefaults,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ProviderModel>,
}

impl Providers {
    pub fn is_empty(&self) -> bool {
        self.defaults.is_empty() && self.models.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProviderDefaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub reasoning_families: IndexMap<String, ReasoningFamily>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_reasoning_effort: Option<String>,
}

impl ProviderDefaults {
    pub fn is_empty(&self) -> bool {
        self.default_model.is_none()
            && self.reasoning_families.is_empty()
            && self.default_reasoning_effort.is_none()
    }
}

/// How reasoning is switched on for a family: `chat_template_kwargs` + `enable_thinking`, or
/// `reasoning_effort` + `reasoning.effort`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReasoningFamily {
    #[serde(rename = "type")]
    pub kind: ReasoningFamilyType,
    pub parameter: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProviderModel {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_model_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_format: Option<ApiFormat>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub external_model_ids: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<BackendRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reliability: Option<Reliability>,
}

/// `providers.models[].pricing`: rates per million tokens. The one pricing type: the proxy's
/// cost metric and the replay cost model both price usage with [`Pricing::cost`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Pricing {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_per_1m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_per_1m: Option<f64>,
    /// Rate of cached prompt tokens (upstream HEAD; unset prices them at 0 there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_1m: Option<f64>,
    /// Rate of cache-write prompt tokens (upstream HEAD; unset means the prompt rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_per_1m: Option<f64>,
}

impl Pricing {
    /// Pricing with both rates set; an empty currency is left unset.
    pub fn new(currency: &str, prompt_per_1m: f64, completion_per_1m: f64) -> Self {
        Pricing {
            currency: Some(currency.to_string()).filter(|c| !c.is_empty()),
            prompt_per_1m: Some(prompt_per_1m),
            completion_per_1m: Some(completion_per_1m),
            ..Pricing::default()
        }
    }

    /// The currency, when set and non-empty.
    pub fn currency(&self) -> Option<&str> {
        self.currency.as_deref().filter(|c| !c.is_empty())
    }

    pub fn prompt_rate(&self) -> f64 {
        self.prompt_per_1m.unwrap_or(0.0)
    }

    pub fn completion_rate(&self) -> f64 {
        self.completion_per_1m.unwrap_or(0.0)
    }

    /// `prompt_per_1m + completion_per_1m` (how the replay baseline model is chosen).
    pub fn rate_sum(&self) -> f64 {
        self.prompt_rate() + self.completion_rate()
    }

    /// The rate of cached prompt tokens: `cached_input_per_1m`, else the prompt rate (upstream
    /// prices them at 0 when it is unset; see docs/compatibility.md).
    pub fn cached_input_rate(&self) -> f64 {
        self.cached_input_per_1m
            .unwrap_or_else(|| self.prompt_rate())
    }

    /// The rate of prompt tokens written to the provider's cache: `cache_write_per_1m`, else
    /// the prompt rate (as upstream HEAD).
    pub fn cache_write_rate(&self) -> f64 {
        self.cache_write_per_1m
            .unwrap_or_else(|| self.prompt_rate())
    }

    /// Whether this counts as priced: a non-zero rate or a currency, so that a free model
    /// (0/0 with `USD`) still has cost 0 rather than no cost.
    pub fn is_priced(&self) -> bool {
        self.prompt_rate() != 0.0
            || self.completion_rate() != 0.0
            || self.cached_input_per_1m.is_some_and(|r| r != 0.0)
            || self.cache_write_per_1m.is_some()
            || self.currency().is_some()
    }

    /// The price of one request's usage, in [`Self::currency`]: cached prompt tokens
    /// ([`Usage::cached_tokens`], at most the prompt tokens) at [`Self::cached_input_rate`], the
    /// cache-write tokens ([`Usage::cache_write_tokens`], at most the prompt tokens not cached)
    /// at [`Self::cache_write_rate`], the other prompt tokens at the prompt rate, completion
    /// tokens at the completion rate. Negative rates count as 0.
    pub fn cost(&self, usage: &crate::Usage) -> f64 {
        let cached = usage.cached_tokens.unwrap_or(0).min(usage.prompt_tokens);
        let written = usage
            .cache_write_tokens
            .unwrap_or(0)
            .min(usage.prompt_tokens - cached);
        let standard = usage.prompt_tokens - cached - written;
        (standard as f64 * self.prompt_rate().max(0.0)
            + cached as f64 * self.cached_input_rate().max(0.0)
            + written as f64 * self.cache_write_rate().max(0.0)
            + usage.completion_tokens as f64 * self.completion_rate().max(0.0))
            / 1e6
    }

    /// What a request's prompt cost against paying the highest input rate for every prompt
    /// token, in [0, 1] (router learning's input-cost multiplier: cached prompts make it
    /// small). `None` without prompt tokens or without a prompt rate.
    pub fn input_cost_multiplier(&self, usage: &crate::Usage) -> Option<f64> {
        if usage.prompt_tokens == 0 || self.prompt_rate() <= 0.0 {
            return None;
        }
        let input = crate::Usage {
            completion_tokens: 0,
            ..*usage
        };
        let highest = self
            .prompt_rate()
            .max(self.cache_write_rate())
            .max(self.cached_input_rate());
        let full = usage.prompt_tokens as f64 * highest / 1e6;
        Some((self.cost(&input) / full).clamp(0.0, 1.0))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BackendRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_prefix: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub extra_headers: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// PEM file of the CA certificates trusted for this backend's HTTPS (instead of the
    /// system trust store); relative paths are relative to the config file (our extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<String>,
}

impl BackendRef {
    /// The runtime name: the explicit one, else `primary` for the first ref and `backend-<n>`
    /// (1-based) for later ones.
    pub fn effective_name(&self, index: usize) -> String {
        match &self.name {
            Some(n) if !n.is_empty() => n.clone(),
            _ if index == 0 => "primary".into(),
            _ => format!("backend-{}", index + 1),
        }
    }

    /// Weight with the upstream default: absent or 0 means 1.
    pub fn effective_weight(&self) -> u32 {
        self.weight.filter(|w| *w > 0).unwrap_or(1)
    }
}

/// Load-balancing and health settings per provider model (an upstream-HEAD field).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reliability {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_policy: Option<LbPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retry_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_5xx: Option<u32>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub base_ejection_time: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_path: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub health_check_interval: Option<Duration>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub health_check_timeout: Option<Duration>,
    /// Bound on one upstream attempt until its first byte (our extension; unset: only the
    /// listener's timeout bounds the request).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub per_try_timeout: Option<Duration>,
}

/// The `retry_on` conditions the proxy implements (Envoy's names).
pub const RETRY_ON: [&str; 5] = [
    "connect-failure",
    "refused-stream",
    "reset",
    "gateway-error",
    "5xx",
];

// ---------------------------------------------------------------------------------------------
// routing

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Routing {
    #[serde(rename = "modelCards", skip_serializing_if = "Vec::is_empty")]
    pub model_cards: Vec<ModelCard>,
    /// How matched decisions are ordered in this profile (upstream HEAD); unset falls back to
    /// `global.router.strategy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    #[serde(skip_serializing_if = "Signals::is_empty")]
    pub signals: Signals,
    #[serde(skip_serializing_if = "Projections::is_empty")]
    pub projections: Projections,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<Decision>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelCard {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_window_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub loras: Vec<LoraAdapter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoraAdapter {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The signal type used in rule leaves and score inputs (`type: domain`). The YAML family key
/// differs for some types (see [`SignalType::family_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignalType {
    Keyword,
    Embedding,
    Domain,
    FactCheck,
    UserFeedback,
    /// `routing.signals.reasks` (upstream HEAD).
    Reask,
    Preference,
    Language,
    Context,
    Structure,
    Complexity,
    Modality,
    Authz,
    Jailbreak,
    Pii,
    /// `routing.signals.kb` (upstream HEAD).
    Kb,
    /// `routing.signals.conversation` (upstream HEAD).
    Conversation,
    /// `routing.signals.events` (upstream HEAD).
    Event,
    /// `routing.signals.metadata` (upstream HEAD).
    Metadata,
    /// `routing.signals.classifiers` (upstream HEAD).
    Classifier,
    /// An output of a projection mapping; not a signal family.
    Projection,
    /// A knowledge-base metric read by a projection score input (`type: kb_metric`); not a
    /// signal family and never a rule leaf.
    KbMetric,
}

impl SignalType {
    /// Every type, families first in the canonical export order, then `projection`.
    pub const ALL: [SignalType; 22] = [
        SignalType::Keyword,
        SignalType::Embedding,
        SignalType::Domain,
        SignalType::FactCheck,
        SignalType::UserFeedback,
        SignalType::Reask,
        SignalType::Preference,
        SignalType::Language,
        SignalType::Context,
        SignalType::Structure,
        SignalType::Complexity,
        SignalType::Modality,
        SignalType::Authz,
        SignalType::Jailbreak,
        SignalType::Pii,
        SignalType::Kb,
        SignalType::Conversation,
        SignalType::Event,
        SignalType::Metadata,
        SignalType::Classifier,
        SignalType::Projection,
        SignalType::KbMetric,
    ];

    /// The name used in rule leaves: `keyword`, `fact_check`, `authz`, …
    pub fn as_str(self) -> &'static str {
        match self {
            SignalType::Keyword => "keyword",
            SignalType::Embedding => "embedding",
            SignalType::Domain => "domain",
            SignalType::FactCheck => "fact_check",
            SignalType::UserFeedback => "user_feedback",
            SignalType::Preference => "preference",
            SignalType::Language => "language",
            SignalType::Context => "context",
            SignalType::Structure => "structure",
            SignalType::Complexity => "complexity",
            SignalType::Modality => "modality",
            SignalType::Authz => "authz",
            SignalType::Jailbreak => "jailbreak",
            SignalType::Pii => "pii",
            SignalType::Reask => "reask",
            SignalType::Kb => "kb",
            SignalType::Conversation => "conversation",
            SignalType::Event => "event",
            SignalType::Metadata => "metadata",
            SignalType::Classifier => "classifier",
            SignalType::Projection => "projection",
            SignalType::KbMetric => "kb_metric",
        }
    }

    /// The key of the family under `routing.signals` (`keywords`, `role_bindings`, …); `None`
    /// for `projection`.
    pub fn family_key(self) -> Option<&'static str> {
        Some(match self {
            SignalType::Keyword => "keywords",
            SignalType::Embedding => "embeddings",
            SignalType::Domain => "domains",
            SignalType::FactCheck => "fact_check",
            SignalType::UserFeedback => "user_feedbacks",
            SignalType::Preference => "preferences",
            SignalType::Language => "language",
            SignalType::Context => "context",
            SignalType::Structure => "structure",
            SignalType::Complexity => "complexity",
            SignalType::Modality => "modality",
            SignalType::Authz => "role_bindings",
            SignalType::Jailbreak => "jailbreak",
            SignalType::Pii => "pii",
            SignalType::Reask => "reasks",
            SignalType::Kb => "kb",
            SignalType::Conversation => "conversation",
            SignalType::Event => "events",
            SignalType::Metadata => "metadata",
            SignalType::Classifier => "classifiers",
            SignalType::Projection | SignalType::KbMetric => return None,
        })
    }

    /// Parses a leaf type; trimmed and case-insensitive as upstream.
    pub fn parse(s: &str) -> Option<SignalType> {
        let s = s.trim();
        SignalType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether this type may be a decision or composer leaf (every type but `kb_metric`).
    pub fn is_leaf_type(self) -> bool {
        self != SignalType::KbMetric
    }

    /// Number of types.
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index in `0..COUNT` (declaration order).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Families whose values come from a neural model (built in `vsr-models`).
    pub fn is_learned(self) -> bool {
        matches!(
            self,
            SignalType::Embedding
                | SignalType::Domain
                | SignalType::FactCheck
                | SignalType::UserFeedback
                | SignalType::Preference
                | SignalType::Complexity
                | SignalType::Modality
                | SignalType::Jailbreak
                | SignalType::Pii
        )
    }

    /// The plural key used by the eval API's `MatchedSignals` objects.
    pub fn api_key(self) -> &'static str {
        match self {
            SignalType::Keyword => "keywords",
            SignalType::Embedding => "embeddings",
            SignalType::Domain => "domains",
            SignalType::Preference => "preferences",
            other => other.as_str(),
        }
    }

    /// The suffix of the response header `x-vsr-matched-<suffix>` (surface spec §2.11): the
    /// eval API's key with dashes, and `preference` singular.
    pub fn header_suffix(self) -> &'static str {
        match self {
            SignalType::FactCheck => "fact-check",
            SignalType::UserFeedback => "user-feedback",
            SignalType::Preference => "preference",
            other => other.api_key(),
        }
    }
}

impl std::fmt::Display for SignalType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SignalType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SignalType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SignalType::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown signal type {text:?}")))
    }
}

/// `routing.signals`: one list per family, each in declaration order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Signals {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<KeywordSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub embeddings: Vec<EmbeddingSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<DomainSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fact_check: Vec<DescribedSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_feedbacks: Vec<DescribedSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PreferenceSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasks: Vec<ReaskSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub language: Vec<LanguageSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<ContextSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub structure: Vec<StructureSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub complexity: Vec<ComplexitySignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modality: Vec<DescribedSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub role_bindings: Vec<RoleBinding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jailbreak: Vec<JailbreakSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pii: Vec<PiiSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kb: Vec<KbSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversation: Vec<ConversationSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<MetadataSignal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classifiers: Vec<ClassifierSignal>,
}

impl Signals {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of declared signals over all families.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Every declared signal as `(type, name)`, family by family (in [`SignalType::ALL`] order),
    /// each family in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (SignalType, &str)> + '_ {
        SignalType::ALL
            .into_iter()
            .flat_map(move |t| self.names(t).into_iter().map(move |n| (t, n)))
    }

    /// The declared names of one family, in declaration order (empty for `projection`).
    pub fn names(&self, t: SignalType) -> Vec<&str> {
        fn n<T: Named>(v: &[T]) -> Vec<&str> {
            v.iter().map(|x| x.name()).collect()
        }
        match t {
            SignalType::Keyword => n(&self.keywords),
            SignalType::Embedding => n(&self.embeddings),
            SignalType::Domain => n(&self.domains),
            SignalType::FactCheck => n(&self.fact_check),
            SignalType::UserFeedback => n(&self.user_feedbacks),
            SignalType::Preference => n(&self.preferences),
            SignalType::Language => n(&self.language),
            SignalType::Context => n(&self.context),
            SignalType::Structure => n(&self.structure),
            SignalType::Complexity => n(&self.complexity),
            SignalType::Modality => n(&self.modality),
            SignalType::Authz => n(&self.role_bindings),
            SignalType::Jailbreak => n(&self.jailbreak),
            SignalType::Pii => n(&self.pii),
            SignalType::Reask => n(&self.reasks),
            SignalType::Kb => n(&self.kb),
            SignalType::Conversation => n(&self.conversation),
            SignalType::Event => n(&self.events),
            SignalType::Metadata => n(&self.metadata),
            SignalType::Classifier => n(&self.classifiers),
            SignalType::Projection | SignalType::KbMetric => Vec::new(),
        }
    }

    /// Whether a signal of this type and name is declared. A complexity reference may carry a
    /// level suffix (`code_task:hard`); it is matched on the part before the colon.
    pub fn contains(&self, t: SignalType, name: &str) -> bool {
        let name = if t == SignalType::Complexity {
            name.split_once(':').map_or(name, |(base, _)| base)
        } else {
            name
        };
        self.names(t).contains(&name)
    }
}

/// Anything with a `name`.
pub trait Named {
    fn name(&self) -> &str;
}

macro_rules! named {
    ($($t:ty),*) => {$(impl Named for $t { fn name(&self) -> &str { &self.name } })*};
}
named!(
    KeywordSignal,
    EmbeddingSignal,
    DomainSignal,
    DescribedSignal,
    PreferenceSignal,
    ContextSignal,
    StructureSignal,
    ComplexitySignal,
    RoleBinding,
    JailbreakSignal,
    PiiSignal,
    ReaskSignal,
    LanguageSignal,
    KbSignal,
    ConversationSignal,
    EventSignal,
    MetadataSignal,
    ClassifierSignal,
    Recipe,
    ModelCard,
    ProviderModel,
    Decision,
    Partition,
    Score,
    Mapping,
    MappingOutput,
    Listener
);

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KeywordSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<KeywordOperator>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<KeywordMethod>,
    pub keywords: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_sensitive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuzzy_match: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuzzy_threshold: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25_threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ngram_threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ngram_arity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl KeywordSignal {
    /// The matcher: `regex` (the default), `bm25` or `ngram`. `fuzzy` (used by the upstream
    /// reference config) is regex matching with fuzzy matching on, see [`Self::is_fuzzy`].
    pub fn method_kind(&self) -> KeywordMethod {
        match self.method {
            None | Some(KeywordMethod::Fuzzy) => KeywordMethod::Regex,
            Some(m) => m,
        }
    }

    pub fn is_fuzzy(&self) -> bool {
        self.fuzzy_match == Some(true) || self.method == Some(KeywordMethod::Fuzzy)
    }

    /// Whether the keywords are regular expressions rather than literal phrases: upstream
    /// since August 2026 compiles them as written when `method: regex` is spelled out; March
    /// quoted them (and still does when the method is left unset). `head` is
    /// [`Config::uses_head_schema`] of the file.
    pub fn keywords_are_patterns(&self, head: bool) -> bool {
        head && self.method == Some(KeywordMethod::Regex)
    }

    pub fn case_sensitive(&self) -> bool {
        self.case_sensitive.unwrap_or(false)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EmbeddingSignal {
    pub name: String,
    /// Similarity threshold in [0, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Unset behaves as `max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregation_method: Option<AggregationMethod>,
    pub candidates: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the query is matched as (upstream HEAD; unset means text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_modality: Option<QueryModality>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DomainSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mmlu_categories: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_scores: Vec<ModelScore>,
}

/// Legacy static per-domain model scores (YAML only).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelScore {
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_reasoning: Option<bool>,
}

/// The 14 routing domains the domain classifier knows.
pub const SUPPORTED_DOMAINS: [&str; 14] = [
    "biology",
    "business",
    "chemistry",
    "computer science",
    "economics",
    "engineering",
    "health",
    "history",
    "law",
    "math",
    "other",
    "philosophy",
    "physics",
    "psychology",
];

/// Families whose entries carry only a name and a description: `fact_check`,
/// `user_feedbacks`, `language`, `modality`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DescribedSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PreferenceSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// Matches when the request's token estimate lies in `[min_tokens, max_tokens]` (inclusive).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContextSignal {
    pub name: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_tokens"
    )]
    pub min_tokens: Option<u64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_tokens"
    )]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StructureSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub feature: StructureFeature,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate: Option<Bounds>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StructureFeature {
    #[serde(rename = "type")]
    pub kind: FeatureType,
    pub source: StructureSource,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StructureSource {
    #[serde(rename = "type")]
    pub kind: SourceType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_sensitive: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sequences: Vec<Vec<String>>,
}

/// Numeric bounds, used by structure predicates and mapping outputs. A value satisfies the
/// bounds when every bound that is set holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bounds {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
}

impl Bounds {
    pub fn is_empty(&self) -> bool {
        self.gt.is_none() && self.gte.is_none() && self.lt.is_none() && self.lte.is_none()
    }

    pub fn contains(&self, v: f64) -> bool {
        self.gt.is_none_or(|b| v > b)
            && self.gte.is_none_or(|b| v >= b)
            && self.lt.is_none_or(|b| v < b)
            && self.lte.is_none_or(|b| v <= b)
    }

    /// The lower bound as (value, inclusive).
    pub fn lower(&self) -> Option<(f64, bool)> {
        self.gt.map(|b| (b, false)).or(self.gte.map(|b| (b, true)))
    }

    /// The upper bound as (value, inclusive).
    pub fn upper(&self) -> Option<(f64, bool)> {
        self.lt.map(|b| (b, false)).or(self.lte.map(|b| (b, true)))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ComplexitySignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Gates the rule's level on other signals (default operator AND at runtime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composer: Option<RuleNode>,
    pub hard: ComplexityCandidates,
    pub easy: ComplexityCandidates,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ComplexityCandidates {
    pub candidates: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image_candidates: Vec<String>,
}

/// An authz role binding (leaf type `authz`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoleBinding {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub role: String,
    pub subjects: Vec<Subject>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Subject {
    /// `User` or `Group`.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JailbreakSignal {
    pub name: String,
    /// Unset means `classifier`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<JailbreakMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_history: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jailbreak_patterns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub benign_patterns: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PiiSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pii_types_allowed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_history: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `routing.signals.language[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LanguageSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Minimum detection confidence (upstream HEAD; unset or 0 means 0.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// `routing.signals.reasks[]`: the user repeats an earlier question.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReaskSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Similarity to count as a repeat, 0..1 (unset or 0 means 0.8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Consecutive earlier user turns that must be repeats (unset or 0 means 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookback_turns: Option<u32>,
}

/// `routing.signals.kb[]`: a knowledge-base label or group.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KbSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A `global.model_catalog.kbs[].name`.
    pub kb: String,
    pub target: KbTarget,
    /// Unset means `threshold`.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_mode: Option<KbMatch>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KbTarget {
    pub kind: Option<KbTargetKind>,
    pub value: String,
}

/// `routing.signals.conversation[]`: a count or presence over the request's messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConversationSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub feature: ConversationFeature,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate: Option<Bounds>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConversationFeature {
    #[serde(rename = "type")]
    pub kind: Option<ConversationFeatureType>,
    pub source: ConversationSource,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConversationSource {
    #[serde(rename = "type")]
    pub kind: Option<ConversationSourceType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<ConversationRole>,
}

/// `routing.signals.events[]`: event types, severities, action codes or urgency in the text.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub severities: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub action_codes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporal: Option<bool>,
}

/// `routing.signals.metadata[]`: a test on the request body's `metadata` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetadataSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub key: String,
    pub predicate: MetadataPredicate,
}

/// Exactly one of `equals`, `in`, `exists`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetadataPredicate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    #[serde(rename = "in", skip_serializing_if = "Option::is_none")]
    pub any_of: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

/// `routing.signals.classifiers[]`: a generic `local` or `llm` label classifier.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClassifierSignal {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<ClassifierKind>,
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_cpu: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// projections

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Projections {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<Partition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<Score>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mappings: Vec<Mapping>,
}

impl Projections {
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty() && self.scores.is_empty() && self.mappings.is_empty()
    }

    /// Every mapping output name, mapping by mapping, in declaration order.
    pub fn output_names(&self) -> impl Iterator<Item = &str> {
        self.mappings
            .iter()
            .flat_map(|m| m.outputs.iter().map(|o| o.name.as_str()))
    }

    pub fn score(&self, name: &str) -> Option<&Score> {
        self.scores.iter().find(|s| s.name == name)
    }
}

/// An exclusive group of domain or embedding signals with a default member.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Partition {
    pub name: String,
    pub semantics: PartitionSemantics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    pub members: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Score {
    pub name: String,
    pub method: ScoreMethod,
    pub inputs: Vec<ScoreInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreInput {
    #[serde(rename = "type")]
    pub kind: SignalType,
    /// The signal read; empty (and not written) for `kb_metric` inputs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `kb_metric` inputs: the knowledge base (`global.model_catalog.kbs[].name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kb: Option<String>,
    /// `kb_metric` inputs: the metric of that knowledge base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    pub weight: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_source: Option<ValueSource>,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miss: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueSource {
    Binary,
    Confidence,
    /// The signal's raw value (upstream HEAD).
    Raw,
    /// The metric or score value (`kb_metric` and `projection` inputs, upstream HEAD).
    Score,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Mapping {
    pub name: String,
    /// The score this mapping reads.
    pub source: String,
    pub method: MappingMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    pub outputs: Vec<MappingOutput>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Calibration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<CalibrationMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slope: Option<f64>,
}

impl Mapping {
    /// The sigmoid slope with the upstream default: 12 when unset or ≤ 0.
    pub fn slope(&self) -> f64 {
        self.calibration
            .as_ref()
            .and_then(|c| c.slope)
            .filter(|s| *s > 0.0)
            .unwrap_or(12.0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MappingOutput {
    pub name: String,
    #[serde(flatten)]
    pub bounds: Bounds,
}

// ---------------------------------------------------------------------------------------------
// decisions

/// A boolean rule tree over signals (decision `rules`, complexity `composer`).
#[derive(Debug, Clone, PartialEq)]
pub enum RuleNode {
    /// `{type, name}`.
    Signal(SignalRef),
    /// `{operator: AND, conditions: [...]}`; an empty AND is written for "no condition".
    And(Vec<RuleNode>),
    Or(Vec<RuleNode>),
    /// `{operator: NOT, conditions: [x]}` with exactly one child.
    Not(Box<RuleNode>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SignalRef {
    #[serde(rename = "type")]
    pub kind: SignalType,
    pub name: String,
    /// The label a `classifier` leaf reads (head-delta §2; only on classifier leaves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A leaf with a predicate matches when the signal's score satisfies it, whatever the
    /// matched list says (required on classifier leaves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate: Option<LeafPredicate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_error: Option<LeafOnError>,
}

impl SignalRef {
    /// A plain `{type, name}` leaf.
    pub fn new(kind: SignalType, name: impl Into<String>) -> Self {
        SignalRef {
            kind,
            name: name.into(),
            label: None,
            predicate: None,
            on_error: None,
        }
    }
}

/// A leaf predicate: [`Bounds`] that the validator has checked to be finite, so the leaf can
/// be compared and hashed like the rest of the rule tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct LeafPredicate(pub Bounds);

impl Eq for LeafPredicate {}

impl std::hash::Hash for LeafPredicate {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        for b in [self.0.gt, self.0.gte, self.0.lt, self.0.lte] {
            b.map(f64::to_bits).hash(h);
        }
    }
}

impl std::fmt::Display for SignalRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?})", self.kind, self.name)
    }
}

impl Default for RuleNode {
    fn default() -> Self {
        RuleNode::And(Vec::new())
    }
}

impl RuleNode {
    /// Every leaf, depth-first in declaration order.
    pub fn leaves(&self) -> Vec<&SignalRef> {
        let mut out = Vec::new();
        self.walk(&mut |n| {
            if let RuleNode::Signal(s) = n {
                out.push(s);
            }
        });
        out
    }

    /// Visits every node, parents before children.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a RuleNode)) {
        f(self);
        match self {
            RuleNode::Signal(_) => {}
            RuleNode::And(c) | RuleNode::Or(c) => c.iter().for_each(|n| n.walk(f)),
            RuleNode::Not(c) => c.walk(f),
        }
    }
}

impl Serialize for RuleNode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            RuleNode::Signal(r) => r.serialize(s),
            RuleNode::And(c) | RuleNode::Or(c) => {
                let op = if matches!(self, RuleNode::And(_)) {
                    "AND"
                } else {
                    "OR"
                };
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("operator", op)?;
                if !c.is_empty() {
                    m.serialize_entry("conditions", c)?;
                }
                m.end()
            }
            RuleNode::Not(c) => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("operator", "NOT")?;
                m.serialize_entry("conditions", std::slice::from_ref(c.as_ref()))?;
                m.end()
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub name: String,
    pub description: Option<String>,
    pub priority: i64,
    /// 0 means "no tier"; 1 is the best tier.
    pub tier: u32,
    /// The rule tree; an empty AND when `rules` was omitted (see [`Decision::fallback`]).
    pub rules: RuleNode,
    /// `rules` was omitted: upstream HEAD matches such a decision unconditionally with
    /// confidence 0 (a fallback). Export writes no `rules` for it.
    pub fallback: bool,
    pub model_refs: Vec<ModelRef>,
    pub algorithm: Option<Algorithm>,
    pub plugins: Vec<Plugin>,
    /// Router-learning overrides for this decision (upstream HEAD).
    pub adaptations: Option<Adaptations>,
    /// `output_contract` (HEAD §2): a label for the answer's expected shape; parsed and kept.
    pub output_contract: Option<String>,
    /// `output_contract_spec`: the contract's details (a mapping); parsed and kept.
    pub output_contract_spec: Option<Value>,
    /// `emits`: what the decision asks of the conversation state (`retention`); parsed,
    /// validated and kept (not applied).
    pub emits: Vec<Emit>,
    /// `candidateIterations`: model lists a decision iterates over (DSL `FOR … IN …`); parsed,
    /// validated and kept (not applied).
    pub candidate_iterations: Vec<CandidateIteration>,
    /// `annotations`: free metadata (a mapping of at most 32 keys, 4096 bytes encoded).
    pub annotations: Option<Value>,
}

/// One `routing.decisions[].emits[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Emit {
    /// Always `retention` (validated).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
}

/// `emits[].retention`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Retention {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_turns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_current_model: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefer_prefix_retention: Option<bool>,
}

/// One `routing.decisions[].candidateIterations[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CandidateIteration {
    pub variable: String,
    /// `decision.candidates` or `models`.
    pub source: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelRef>,
    pub outputs: Vec<IterationOutput>,
}

/// `candidateIterations[].outputs[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IterationOutput {
    /// Always `model` (validated).
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        if let Some(d) = &self.description {
            m.serialize_entry("description", d)?;
        }
        m.serialize_entry("priority", &self.priority)?;
        if self.tier != 0 {
            m.serialize_entry("tier", &self.tier)?;
        }
        if !self.fallback {
            m.serialize_entry("rules", &self.rules)?;
        }
        if !self.model_refs.is_empty() {
            m.serialize_entry("modelRefs", &self.model_refs)?;
        }
        if let Some(a) = &self.algorithm {
            m.serialize_entry("algorithm", a)?;
        }
        if !self.plugins.is_empty() {
            m.serialize_entry("plugins", &self.plugins)?;
        }
        if let Some(a) = &self.adaptations {
            m.serialize_entry("adaptations", a)?;
        }
        if let Some(c) = &self.output_contract {
            m.serialize_entry("output_contract", c)?;
        }
        if let Some(c) = &self.output_contract_spec {
            m.serialize_entry("output_contract_spec", c)?;
        }
        if !self.emits.is_empty() {
            m.serialize_entry("emits", &self.emits)?;
        }
        if !self.candidate_iterations.is_empty() {
            m.serialize_entry("candidateIterations", &self.candidate_iterations)?;
        }
        if let Some(a) = &self.annotations {
            m.serialize_entry("annotations", a)?;
        }
        m.end()
    }
}

/// `routing.decisions[].adaptations`: how router learning treats this decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Adaptations {
    /// Unset means `apply`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<AdaptationMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptation: Option<AdaptationOverride>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection: Option<ProtectionOverride>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AdaptationOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<AdaptationMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_set: Option<CandidateSet>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProtectionOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<AdaptationMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stability_weight: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch_margin: Option<f64>,
}

impl Decision {
    pub fn plugin(&self, kind: &str) -> Option<&Plugin> {
        self.plugins.iter().find(|p| p.kind == kind)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelRef {
    pub model: String,
    /// Unset reads as false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_reasoning: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lora_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

impl ModelRef {
    pub fn use_reasoning(&self) -> bool {
        self.use_reasoning.unwrap_or(false)
    }
}

/// `algorithm: {type, on_error?, <type>: {...}}`. The block named after the type is kept as an
/// ordered JSON object; the known types are listed in [`ALGORITHM_TYPES`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Algorithm {
    pub kind: String,
    pub on_error: Option<String>,
    /// The `<type>` block, when present.
    pub params: Option<Value>,
}

/// Accepted algorithm types (the last five are upstream HEAD's).
pub const ALGORITHM_TYPES: [&str; 19] = [
    "confidence",
    "ratings",
    "remom",
    "elo",
    "router_dc",
    "automix",
    "hybrid",
    "rl_driven",
    "gmtrouter",
    "latency_aware",
    "static",
    "knn",
    "kmeans",
    "svm",
    "fusion",
    "workflows",
    "multi_factor",
    "prompt",
    "mlp",
];

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", &self.kind)?;
        if let Some(e) = &self.on_error {
            m.serialize_entry("on_error", e)?;
        }
        if let Some(p) = &self.params {
            m.serialize_entry(&self.kind, p)?;
        }
        m.end()
    }
}

/// A route plugin: `{type, configuration}`; the configuration is a free-form ordered payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plugin {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub configuration: Value,
}

/// Accepted plugin types (`semantic_cache` is an alias of `semantic-cache`; upstream HEAD calls
/// the cache `response_cache` and also accepts `response-cache`).
pub const PLUGIN_TYPES: [&str; 19] = [
    "fast_response",
    "hallucination",
    "header_mutation",
    "image_gen",
    "jailbreak",
    "memory",
    "pii",
    "rag",
    "response_jailbreak",
    "router_replay",
    "semantic-cache",
    "semantic_cache",
    "system_prompt",
    "response_cache",
    "response-cache",
    "tools",
    "tool_selection",
    "request_params",
    "context_compression",
];

impl Plugin {
    /// A configuration field, if the configuration is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.configuration.get(key)
    }

    /// `enabled`, defaulting to true when absent.
    pub fn enabled(&self) -> bool {
        self.get("enabled").and_then(Value::as_bool).unwrap_or(true)
    }
}

// ---------------------------------------------------------------------------------------------
// global

/// `global`: a sparse override of the router defaults. The five sections are kept as written
/// (ordered JSON); [`Global::effective`] merges them over [`crate::global::defaults`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Global {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stores: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrations: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_catalog: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// serde helpers

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&units::format_duration(*d)),
        None => s.serialize_none(),
    }
}

fn ser_opt_tokens<S: Serializer>(n: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match n {
        Some(n) => s.serialize_str(&units::format_token_count(*n)),
        None => s.serialize_none(),
    }
}
