//! vsr-engine: the deterministic half of the router. Pure and synchronous: it turns a
//! [`vsr_signals::SignalSet`] into projections and exactly one decision (or the default model),
//! with a trace that explains every step.
//!
//! Build an [`Engine`] with [`Engine::builder`] (or from a config), then call
//! [`Engine::route`] per request, or [`Engine::decide`] on signals computed elsewhere.

pub mod algorithms;
pub mod config;
pub mod decision;
pub mod engine;
pub mod eval_api;
pub mod projection;
pub mod result;
pub mod rule;

pub use algorithms::{AlgorithmTrace, LiveView, ModelFacts, SelectionStatus, Selector};
pub use decision::{DecisionSpec, ModelRef, Strategy};
pub use engine::{BuildError, ComposerSpec, Engine, EngineBuilder, EvalMode};
pub use projection::{
    BandSpec, MappingSpec, PartitionSemantics, PartitionSpec, ScoreInputSpec, ScoreSpec,
    ValueSource,
};
pub use result::{DecisionTrace, LeafTrace, Reasoning, RoutingResult, Timing};
pub use rule::RuleNode;
