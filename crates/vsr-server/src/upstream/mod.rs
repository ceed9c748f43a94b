//! Talking to backends: the HTTP(S) clients and forwarding with retries, per-endpoint circuit
//! breakers (in [`crate::pool`]) and fallback across a decision's model refs.

pub mod client;
pub(crate) mod forward;

pub use forward::{Attempt, Outcome, add_path_headers, attempts_header};
