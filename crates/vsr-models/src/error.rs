//! Errors of the model layer.
use std::path::PathBuf;

/// Everything that can go wrong while fetching, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A model file is missing; `hint` says how to get it.
    #[error("model file {path} not found ({hint})")]
    Missing { path: PathBuf, hint: String },
    /// A model file exists but its content is not what the loader expects.
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// A checksum did not match the pinned value.
    #[error("{what}: sha256 {actual} does not match the pinned {expected}")]
    Checksum {
        what: String,
        expected: String,
        actual: String,
    },
    /// The inference queue is full: the caller should shed load instead of waiting.
    #[error("encoder overloaded: inference queue full ({capacity} requests waiting)")]
    Overloaded { capacity: usize },
    /// The inference worker is gone (it panicked or was shut down).
    #[error("encoder worker stopped")]
    WorkerStopped,
    /// Fetching a model from its registry package failed.
    #[error("fetch failed: {0}")]
    Fetch(String),
    /// An unknown model id was asked for.
    #[error("unknown model `{id}` (known: {known})")]
    UnknownModel { id: String, known: String },
    /// A model spec is neither a directory, a catalog id nor a Hugging Face repo id.
    #[error("model spec `{spec}`: {reason}")]
    InvalidSource { spec: String, reason: String },
    /// A Hugging Face repo id was given to a build without the `hub` feature.
    #[error(
        "`{repo}` names a Hugging Face repo, but this build lacks hub support (build with \
         the `hub` feature: `cargo build -p vllm-sr --features hub`; or download the model \
         and give its directory)"
    )]
    HubUnsupported { repo: String },
    /// A file of a Hugging Face repo is neither cached nor downloadable.
    #[error("Hugging Face repo `{repo}`, file {file}: {msg}")]
    Hub {
        repo: String,
        file: String,
        msg: String,
    },
    /// An error from the tensor runtime.
    #[error("tensor runtime: {0}")]
    Candle(#[from] candle_core::Error),
    /// An I/O error with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        ModelError::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
