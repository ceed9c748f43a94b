//! vsr-server: the data plane. One HTTP server per listener that speaks the OpenAI API
//! (`/v1/chat/completions`, `/v1/responses`, `/v1/models`) and Anthropic's `/v1/messages`, routes auto requests through a
//! [`Classifier`], forwards to the chosen alias's backend pool, and serves the management
//! endpoints (`/health`, `/ready`, `/metrics`, `/api/v1/eval`, `/config/router`,
//! `/config/reload`, plus mounted families) on axum ([`management`]). [`sim`] is an OpenAI-compatible stand-in backend.
//!
//! Integration points: the engine implements [`Classifier`] and is returned by a
//! [`ConfigLoader`]; the replay recorder implements [`RecordSink`].

pub mod anthropic_upstream;
mod body;
pub mod by_decision;
mod cache;
pub mod classify;
mod error;
mod headers;
pub mod limits;
pub mod live;
pub mod looper;
pub mod management;
pub mod messages;
pub mod metrics;
mod outcomes;
pub mod pool;
mod proxy;
pub mod record;
pub mod request;
pub mod responses;
pub mod rewrite;
pub mod run;
mod server;
mod session;
pub mod settings;
pub mod sim;
mod sse_translate;
mod state;
pub mod tools_policy;
pub mod upstream;
mod util;

pub use axum;
pub use classify::{Classifier, ClassifyError, FallbackClassifier};
pub use error::{ApiError, ErrorOrigin};
pub use indexmap::IndexMap;
pub use management::{Access, ManagementAuth};
pub use proxy::{ChatRequest, parse_chat};
pub use record::{OutcomeStored, PostedOutcome, RecordFinish, RecordSink, RecordStart, Usage};
pub use server::{RunningServer, ServeOptions, ServerError, serve};
pub use settings::{ProxySettings, SettingsError};
pub use state::{ClassifierFactory, ConfigLoader, LoadedConfig, Shared, ValidatingLoader};
