//! vsr-models: the encoder runtime of the router.
//!
//! - [`Encoder`]: text → unit vectors; [`UseM3`] (Google USE-multilingual-v3 on candle) is
//!   the default implementation.
//! - [`catalog`]: where models live and how `vllm-sr models fetch` installs them.
pub mod catalog;
pub mod encoder;
pub mod error;
pub mod npz;
pub mod spm;
pub mod usem3;

pub use encoder::{Encoder, cosine, dot};
pub use error::ModelError;
pub use usem3::{USEM3_ID, UseM3};
