//! Hook for the replay recorder (`vsr-replay` implements [`RecordSink`]). Calls are made on the
//! request path and must not block: a sink queues work and returns.

use bytes::Bytes;
use serde::Serialize;

use vsr_engine::RoutingResult;

#[derive(Debug, Clone)]
pub struct RecordStart<'a> {
    pub request_id: &'a str,
    /// The client's `model`.
    pub original_model: &'a str,
    /// The alias forwarded to.
    pub selected_model: &'a str,
    /// True on the auto path, false for an explicit alias.
    pub routed: bool,
    /// The routing result on the auto path (`None` for an explicit alias).
    pub result: Option<&'a RoutingResult>,
    /// The client's original body.
    pub request_body: &'a [u8],
    pub streaming: bool,
    pub fast_response: bool,
    /// What session-stable routing did (`None`: not active for this request).
    pub session: Option<&'a vsr_session::Outcome>,
    /// What router-learning adaptation did (`None`: not active for this request).
    pub adaptation: Option<&'a vsr_session::Adaptation>,
}

pub use vsr_config::Usage;

#[derive(Debug, Clone, Serialize)]
pub struct RecordFinish {
    pub status: u16,
    pub streaming: bool,
    pub usage: Option<Usage>,
    /// Final JSON for a non-streaming answer, the concatenated assistant text for a stream.
    #[serde(skip)]
    pub response_body: Bytes,
    /// False when the client went away or the upstream failed mid-body.
    pub completed: bool,
    /// Time to first token: first streamed byte for SSE, response headers otherwise.
    pub ttft: Option<std::time::Duration>,
    /// The alias whose answer this is when it was forwarded (a fallback may differ from the
    /// start's `selected_model`); `None` for answers the router made itself.
    #[serde(skip)]
    pub served_model: Option<String>,
    /// Every upstream attempt, in order (the path taken).
    #[serde(skip)]
    pub attempts: Vec<crate::upstream::Attempt>,
    /// An answer made of several model calls (a looper): each call's alias and usage, so its
    /// cost is priced per model; empty for a single forwarded answer (`usage` is the total).
    #[serde(skip)]
    pub usage_by_model: Vec<(String, Usage)>,
}

impl RecordFinish {
    /// The finish of a request that got no answer: the router's error `status`, no usage, no
    /// body; `served` is the alias last tried, if any.
    pub fn failed(
        status: u16,
        streaming: bool,
        served: Option<String>,
        attempts: Vec<crate::upstream::Attempt>,
    ) -> Self {
        RecordFinish {
            status,
            streaming,
            usage: None,
            response_body: Bytes::new(),
            completed: false,
            ttft: None,
            served_model: served,
            attempts,
            usage_by_model: Vec::new(),
        }
    }
}

/// An outcome a client posted about a recorded answer (`POST /v1/router/outcomes`), checked.
#[derive(Debug, Clone, PartialEq)]
pub struct PostedOutcome {
    /// `model`, `route`, `policy`, `stability`, `provider` or `router`.
    pub target: String,
    /// The model the client says the verdict is about (model outcomes; empty: the record's).
    pub target_ref: String,
    pub verdict: vsr_session::Verdict,
    /// In [0, 1] (0 when not given).
    pub score: f64,
    pub reason: String,
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The client's `Idempotency-Key`.
    pub key: String,
}

/// What the record store did with a posted outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeStored {
    /// Appended to the record of a routed answer.
    Added {
        recipe: Option<String>,
        decision: String,
        tier: u32,
        /// The model the record says answered.
        model: String,
    },
    /// The record already holds an outcome with this key: nothing changed.
    Duplicate,
    /// No record has this id (or it is not written yet).
    Missing,
    /// The outcome names another model than the record's.
    Mismatch(String),
}

pub trait RecordSink: Send + Sync {
    /// Starts a record; returns its id (sent as `x-vsr-replay-id`) or `None` when this request
    /// is not recorded (for example no `router_replay` plugin on the decision).
    fn start(&self, start: &RecordStart<'_>) -> Option<String>;
    /// Completes the record `id` with status, usage and the response body.
    fn finish(&self, id: &str, finish: RecordFinish);
    /// Completes the record of a request answered from the response cache (`from_cache`).
    fn finish_from_cache(&self, id: &str, finish: RecordFinish) {
        self.finish(id, finish)
    }
    /// Appends the sink's own metric families to `/metrics` (for example dropped records), in
    /// the OpenMetrics text format: a counter's `# TYPE` names it without `_total`.
    fn render_metrics(&self, _out: &mut String) {}
    /// Stores an outcome with the record `id` (blocking I/O). `Err` when the store fails; a
    /// sink that keeps no readable records answers `Err` too.
    fn add_outcome(&self, _id: &str, _outcome: &PostedOutcome) -> Result<OutcomeStored, String> {
        Err("this router's replay records cannot be read back".into())
    }
}
