//! vsr-learned: the learned signal families of the router, all reading **one** prompt
//! embedding per request, and the assembly of a complete [`Router`].
//!
//! - [`space`]: the shared embedding space — an encoder, its similarity [`Calibration`]
//!   (raw cosine → the reference profile's scale) and banks of precomputed exemplar vectors.
//! - heads: the domain and jailbreak families read [`vsr_models::Head`]s shipped for the encoder.
//! - [`prototypes`]: labelled example sets (fact-check, user feedback) scored by kNN.
//! - families: [`embedding`], [`complexity`], [`preference`], [`domain`], [`fact_check`],
//!   [`feedback`], [`jailbreak`], [`pii`] — each a [`vsr_signals::SignalFamily`].
//! - [`router`]: [`build_router`] turns a config and a [`ModelSet`] into a [`Router`] whose
//!   [`Router::route`] embeds the prompt once (only when a needed family reads it) and runs
//!   the engine.
//!
//! [`Calibration`]: vsr_models::Calibration

pub mod classifier;
pub mod complexity;
pub mod domain;
pub mod embedding;
pub mod eval_suite;
pub mod fact_check;
pub mod feedback;
pub mod jailbreak;
pub mod kb;
pub mod pii;
pub mod preference;
pub mod prototypes;
pub mod reask;
pub mod router;
pub mod space;

pub use router::{
    BuildError, ModelSet, RouteTiming, Router, Routers, build_recipe_router, build_router,
};
pub use space::{Bank, Space};
