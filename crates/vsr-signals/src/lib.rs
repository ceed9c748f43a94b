//! vsr-signals: what the router measures about a request.
//!
//! A [`RequestView`] holds the text signals see; a [`RequestContext`] wraps it with per-request
//! shared artefacts (lower-cased text, the prompt embedding). Each signal family implements
//! [`SignalFamily`] and fills its slots of a [`SignalSet`]. The heuristic families live here
//! ([`keyword`], [`structure`], [`context`], [`language`]); learned families (embedding, domain,
//! complexity, ...) are built in `vsr-models` against the same trait.

pub mod bounds;
pub mod context;
pub mod conversation;
pub mod envelope;
pub mod event;
pub mod family;
pub mod keyword;
pub mod language;
pub mod metadata;
pub mod request;
pub mod set;
mod stopwords;
pub mod structure;
pub mod text;

pub use bounds::Bounds;
pub use context::{ContextFamily, ContextRuleSpec};
pub use conversation::{ConversationFamily, ConversationRule};
pub use envelope::ContextEnvelope;
pub use event::{EventFamily, EventRule};
pub use family::{Family, FamilySet, SignalError, SignalFamily};
pub use keyword::{KeywordFamily, KeywordMatch, KeywordMethod, KeywordOperator, KeywordRuleSpec};
pub use language::LanguageFamily;
pub use metadata::{MetadataFamily, MetadataRule, MetadataTest};
pub use request::{
    ChatMessage, ContentPart, ConversationFacts, ImageRef, Message, MessageContent, RequestContext,
    RequestView, count_tool_definitions, parse_metadata,
};
pub use set::{FamilySignals, SignalCatalog, SignalResult, SignalSet};
pub use structure::{FeatureKind, SourceSpec, StructureFamily, StructureRuleSpec};
