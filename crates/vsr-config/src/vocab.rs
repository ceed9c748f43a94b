//! Closed vocabularies of the config: the string fields whose value is one of a fixed set.
//! Each is a Rust enum decoded once, in `decode`, with an allowed-values (and did-you-mean)
//! error at the value's line:column; consumers match on the enum instead of comparing strings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A closed set of config spellings.
pub trait Vocab: Sized + Copy + 'static {
    /// What the value is, for error messages (`lb_policy`, `partition semantics`, …).
    const WHAT: &'static str;
    /// Every value, in declaration order.
    const ALL: &'static [Self];
    /// The canonical spelling (what export writes).
    fn as_str(self) -> &'static str;

    /// Trimmed and ASCII-case-insensitive, as the original compares these.
    fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str().eq_ignore_ascii_case(t))
    }

    /// The canonical spellings, in declaration order.
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.as_str()).collect()
    }
}

/// Declares a [`Vocab`] enum: `Variant = "spelling"`, with `Display` and serde as the spelling.
macro_rules! vocab {
    ($(#[$m:meta])* pub enum $name:ident as $what:literal {
        $($(#[$vm:meta])* $var:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl Vocab for $name {
            const WHAT: &'static str = $what;
            const ALL: &'static [Self] = &[$($name::$var),+];
            fn as_str(self) -> &'static str {
                match self { $($name::$var => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                <$name as Vocab>::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(unknown_message::<$name>(&text))
                })
            }
        }
    };
}

/// `unknown <what> "x": expected a, b or c; did you mean "b"?`
pub fn unknown_message<V: Vocab>(text: &str) -> String {
    let names = V::names();
    let list = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    };
    let hint = crate::decode::suggest(text.trim(), &names)
        .map(|s| format!("; did you mean {s:?}?"))
        .unwrap_or_default();
    format!("unknown {} {text:?}: expected {list}{hint}", V::WHAT)
}

vocab! {
    /// `providers.models[].reliability.lb_policy`.
    #[derive(Default)]
    pub enum LbPolicy as "lb_policy" {
        #[default]
        RoundRobin = "round_robin",
        LeastRequest = "least_request",
        Random = "random",
    }
}

vocab! {
    /// `global.router.strategy`: how matched decisions without a tier are ordered.
    #[derive(Default)]
    pub enum Strategy as "strategy" {
        /// Priority, then confidence, then name.
        #[default]
        Priority = "priority",
        /// Confidence, then priority, then name.
        Confidence = "confidence",
    }
}

vocab! {
    /// `global.router.keyword_match` (our extension).
    #[derive(Default)]
    pub enum KeywordMatch as "keyword_match" {
        /// Only the first matching rule in declaration order; later rules stay unmatched
        /// (the v0.3 semantics).
        #[default]
        First = "first",
        /// Every matching rule.
        All = "all",
    }
}

vocab! {
    /// `global.services.observability.tracing.sampling.type`.
    #[derive(Default)]
    pub enum SamplingType as "sampling type" {
        #[default]
        AlwaysOn = "always_on",
        AlwaysOff = "always_off",
        /// Samples `rate` of the traces, by trace id.
        TraceIdRatio = "traceidratio",
        /// The original's other spelling of `traceidratio`.
        Probabilistic = "probabilistic",
    }
}

vocab! {
    /// `global.router.config_source`.
    #[derive(Default)]
    pub enum ConfigSource as "config_source" {
        #[default]
        File = "file",
        Kubernetes = "kubernetes",
    }
}

vocab! {
    /// A keyword rule's `operator`: how its keywords combine.
    #[derive(Default)]
    pub enum KeywordOperator as "keyword operator" {
        /// Every keyword.
        And = "AND",
        /// At least one keyword.
        #[default]
        Or = "OR",
        /// Matches when none of the keywords occurs.
        Nor = "NOR",
    }
}

vocab! {
    /// A keyword rule's `method`.
    pub enum KeywordMethod as "keyword method" {
        /// Literal keywords with word boundaries (the default; `fuzzy_match` adds fuzzy matching).
        Regex = "regex",
        Bm25 = "bm25",
        Ngram = "ngram",
        /// Regex matching with fuzzy matching on (the upstream reference config's spelling).
        Fuzzy = "fuzzy",
    }
}

vocab! {
    /// An embedding rule's `aggregation_method` over its candidates' similarities.
    pub enum AggregationMethod as "aggregation_method" {
        Mean = "mean",
        Max = "max",
        /// Matches when any candidate passes the threshold.
        Any = "any",
    }
}

vocab! {
    /// A jailbreak rule's `method`.
    pub enum JailbreakMethod as "jailbreak method" {
        Classifier = "classifier",
        Contrastive = "contrastive",
        Hybrid = "hybrid",
    }
}

vocab! {
    /// A projection partition's `semantics`.
    #[derive(Default)]
    pub enum PartitionSemantics as "partition semantics" {
        /// The best member wins with its own confidence.
        #[default]
        Exclusive = "exclusive",
        /// The best member wins with its softmax share (at `temperature`).
        SoftmaxExclusive = "softmax_exclusive",
    }
}

vocab! {
    /// A structure feature's `type`.
    #[derive(Default)]
    pub enum FeatureType as "structure feature type" {
        #[default]
        Exists = "exists",
        Count = "count",
        Density = "density",
        Sequence = "sequence",
    }
}

vocab! {
    /// A structure feature source's `type`.
    #[derive(Default)]
    pub enum SourceType as "structure source type" {
        #[default]
        Regex = "regex",
        KeywordSet = "keyword_set",
        Sequence = "sequence",
    }
}

vocab! {
    /// `providers.defaults.reasoning_families.*.type`: how reasoning is switched on.
    #[derive(Default)]
    pub enum ReasoningFamilyType as "reasoning family type" {
        /// `chat_template_kwargs.<parameter>: true|false`.
        #[default]
        ChatTemplateKwargs = "chat_template_kwargs",
        /// `chat_template_kwargs.<parameter>: <effort>`.
        ReasoningEffort = "reasoning_effort",
        /// A top-level `reasoning_effort: <effort>` in the request body (upstream HEAD); the
        /// parameter must be `reasoning_effort`.
        TopLevelReasoningEffort = "top_level_reasoning_effort",
    }
}

vocab! {
    /// `providers.models[].api_format`.
    pub enum ApiFormat as "api_format" {
        OpenAi = "openai",
        Anthropic = "anthropic",
    }
}

vocab! {
    /// `providers.models[].backend_refs[].protocol`, used when the endpoint has no scheme.
    pub enum Protocol as "protocol" {
        Http = "http",
        Https = "https",
    }
}

vocab! {
    /// A projection score's `method`.
    #[derive(Default)]
    pub enum ScoreMethod as "score method" {
        #[default]
        WeightedSum = "weighted_sum",
    }
}

vocab! {
    /// A projection mapping's `method`.
    #[derive(Default)]
    pub enum MappingMethod as "mapping method" {
        #[default]
        ThresholdBands = "threshold_bands",
    }
}

vocab! {
    /// A projection mapping's `calibration.method`.
    pub enum CalibrationMethod as "calibration method" {
        SigmoidDistance = "sigmoid_distance",
    }
}

vocab! {
    /// `global.services.router_replay.store_backend`. `redis` and `milvus` are the original's;
    /// vllm-sr stores them, like `memory`, in its embedded SQLite file.
    #[derive(Default)]
    pub enum StoreBackend as "store_backend" {
        #[default]
        Memory = "memory",
        Postgres = "postgres",
        Redis = "redis",
        Milvus = "milvus",
    }
}

vocab! {
    /// `routing.signals.conversation[].feature.type`.
    pub enum ConversationFeatureType as "conversation feature type" {
        Count = "count",
        Exists = "exists",
    }
}

vocab! {
    /// `routing.signals.conversation[].feature.source.type`.
    pub enum ConversationSourceType as "conversation source type" {
        Message = "message",
        ToolDefinition = "tool_definition",
        AssistantToolCall = "assistant_tool_call",
        AssistantToolCycle = "assistant_tool_cycle",
        ActiveToolLoop = "active_tool_loop",
        ImageContent = "image_content",
    }
}

vocab! {
    /// `routing.signals.conversation[].feature.source.role` (only with `type: message`).
    pub enum ConversationRole as "conversation role" {
        User = "user",
        Assistant = "assistant",
        System = "system",
        Developer = "developer",
        Tool = "tool",
        NonUser = "non_user",
    }
}

vocab! {
    /// `routing.signals.kb[].target.kind`.
    pub enum KbTargetKind as "kb target kind" {
        Label = "label",
        Group = "group",
    }
}

vocab! {
    /// `routing.signals.kb[].match` (default `threshold`).
    pub enum KbMatch as "kb match" {
        Best = "best",
        Threshold = "threshold",
    }
}

vocab! {
    /// `routing.signals.classifiers[].type`.
    pub enum ClassifierKind as "classifier type" {
        Local = "local",
        Llm = "llm",
    }
}

vocab! {
    /// `routing.signals.embeddings[].query_modality` (default `text`).
    pub enum QueryModality as "query_modality" {
        Text = "text",
        Image = "image",
        Audio = "audio",
    }
}

vocab! {
    /// A decision's `on_error` leaf field (`classifier` leaves).
    pub enum LeafOnError as "on_error" {
        NoMatch = "no_match",
        Match = "match",
    }
}

vocab! {
    /// `routing.decisions[].adaptations.mode` and its `adaptation`/`protection` modes.
    pub enum AdaptationMode as "adaptation mode" {
        Apply = "apply",
        Observe = "observe",
        Bypass = "bypass",
    }
}

vocab! {
    /// `global.router.learning.adaptation.candidate_set` (and a decision's override).
    #[derive(Default)]
    pub enum CandidateSet as "candidate_set" {
        #[default]
        Decision = "decision",
        Tier = "tier",
        Global = "global",
    }
}

vocab! {
    /// `global.router.learning.adaptation.strategy`.
    pub enum LearningStrategy as "adaptation strategy" {
        RoutingSampling = "routing_sampling",
    }
}

vocab! {
    /// `global.router.learning.protection.scope`.
    #[derive(Default)]
    pub enum ProtectionScope as "protection scope" {
        #[default]
        Conversation = "conversation",
        Session = "session",
    }
}

vocab! {
    /// `global.router.learning.state_store.backend`.
    pub enum LearningStoreBackend as "learning state_store backend" {
        Local = "local",
        Redis = "redis",
        /// Our extension: the replay PostgreSQL database, shared by replicas.
        Postgres = "postgres",
    }
}

vocab! {
    /// `global.stores.response_cache.backend_type`.
    pub enum CacheBackend as "cache backend_type" {
        Memory = "memory",
        Redis = "redis",
        Valkey = "valkey",
        Milvus = "milvus",
        Qdrant = "qdrant",
        Hybrid = "hybrid",
    }
}

vocab! {
    /// `global.stores.response_cache.eviction_policy`.
    pub enum EvictionPolicy as "eviction_policy" {
        Fifo = "fifo",
        Lru = "lru",
        Lfu = "lfu",
    }
}

vocab! {
    /// The `response_cache` plugin's `mode`.
    pub enum CacheMode as "response_cache mode" {
        Semantic = "semantic",
        Exact = "exact",
        ExactThenSemantic = "exact_then_semantic",
    }
}

vocab! {
    /// The `tools` plugin's `mode`.
    pub enum ToolsMode as "tools mode" {
        Passthrough = "passthrough",
        None = "none",
        Filtered = "filtered",
    }
}

vocab! {
    /// The `tools` plugin's `dynamic_retrieval.strategy`.
    pub enum ToolsRetrieval as "dynamic_retrieval strategy" {
        SemanticOnly = "semantic_only",
        HybridHistory = "hybrid_history",
    }
}

vocab! {
    /// `on_error` of the looper algorithms `fusion` and `workflows`.
    pub enum LooperOnError as "on_error" {
        Skip = "skip",
        Fail = "fail",
    }
}

vocab! {
    /// `algorithm.workflows.mode` (default `static`).
    pub enum WorkflowsMode as "workflows mode" {
        Static = "static",
        Dynamic = "dynamic",
    }
}

vocab! {
    /// `algorithm.fusion.grounding.reference`.
    pub enum GroundingReference as "grounding reference" {
        Hybrid = "hybrid",
        Context = "context",
        Panel = "panel",
    }
}

vocab! {
    /// `algorithm.fusion.grounding.policy`.
    pub enum GroundingPolicy as "grounding policy" {
        Weight = "weight",
        Annotate = "annotate",
        Filter = "filter",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_trimmed_case_insensitive_and_closed() {
        assert_eq!(
            LbPolicy::parse(" Least_Request "),
            Some(LbPolicy::LeastRequest)
        );
        assert_eq!(KeywordOperator::parse("nor"), Some(KeywordOperator::Nor));
        assert_eq!(LbPolicy::parse("fastest"), None);
        for v in SamplingType::ALL {
            assert_eq!(SamplingType::parse(v.as_str()), Some(*v));
        }
    }

    #[test]
    fn unknown_values_list_the_allowed_ones_and_suggest() {
        let m = unknown_message::<LbPolicy>("least_requests");
        assert_eq!(
            m,
            "unknown lb_policy \"least_requests\": expected round_robin, least_request or random; did you mean \"least_request\"?"
        );
        assert!(!unknown_message::<Strategy>("zzzzzz").contains("did you mean"));
    }

    #[test]
    fn serde_uses_the_spelling() {
        assert_eq!(
            serde_json::to_value(SamplingType::TraceIdRatio).unwrap(),
            "traceidratio"
        );
        let e = serde_json::from_value::<Strategy>(serde_json::json!("prio")).unwrap_err();
        assert!(
            e.to_string().contains("expected priority or confidence"),
            "{e}"
        );
    }
}
