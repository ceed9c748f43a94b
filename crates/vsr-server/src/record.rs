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
}
