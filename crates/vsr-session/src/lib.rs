//! vsr-session: router learning (upstream HEAD §12): session-stable routing (*protection*,
//! §12.3–12.6) and *adaptation* (`routing_sampling`, §12.5, in [`adaptation`]). Per conversation the router remembers the model it served; a later turn whose
//! own decision picks another model switches only when that decision beats the previous
//! model's support by `switch_margin`, after `min_turns_before_switch` turns, and a
//! conversation idle for `idle_timeout_seconds` starts afresh.
//!
//! - [`identity`]: who the conversation is (configurable headers, then the fallbacks).
//! - [`policy`]: the keep-or-switch rule, built from a validated config; pure.
//! - [`store`]: where the per-conversation state lives: in-process (bounded LRU + TTL) or the
//!   shared PostgreSQL database (so replicas agree), behind one trait with an atomic
//!   read-modify-write ([`store::transition`]).
//!
//! - [`adaptation`]: which of a decision's candidate models to serve, from what the router
//!   learned about them (client outcomes, latency, cache hits, failures); pure, with the
//!   process-wide [`Experience`].
//!
//! The proxy calls [`Adapter::adapt`] and then [`protect`] between classification and rewrite.

pub mod adaptation;
pub mod identity;
pub mod policy;
pub mod postgres;
pub mod store;

use std::sync::Arc;

pub use adaptation::{Adaptation, Adapter, Experience, ExperienceKey, Observation, Verdict};
pub use identity::{Identity, IdentityInputs, IdentitySource};
pub use policy::{Action, Outcome, Policy, StoreChoice, Turn};
pub use postgres::PostgresSessionStore;
pub use store::{MemorySessionStore, SessionState, SessionStore, StoreError, Stores};

/// Runs one turn through the policy against `store`: loads the conversation's state, decides,
/// and writes the new state atomically (retrying when another replica wrote in between).
pub fn protect(
    store: &dyn SessionStore,
    policy: &Policy,
    identity: &Identity,
    turn: &Turn,
    now_ms: i64,
) -> Result<Outcome, StoreError> {
    store::transition(store, &identity.key, now_ms, policy.ttl_ms(), |prev| {
        policy.decide(prev, turn, now_ms)
    })
    .map(|mut o: Outcome| {
        o.session_id = identity.id.clone();
        o
    })
}

/// A shared handle to a store (the server keeps one per backend for the process's life).
pub type SharedStore = Arc<dyn SessionStore>;
