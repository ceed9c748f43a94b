//! The request-path side of replay: start a record when a decision is chosen, finish it when
//! the response completes, hand it to the writer. Framework-agnostic and non-blocking: the
//! server's hook calls [`Recorder::start`] and [`Recorder::finish`] directly.
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use crate::cost::CostModel;
use crate::record::{ReplayRecord, UpstreamAttempt};
use crate::settings::{ReplaySettings, capture_key};
use crate::time::Timestamp;
use crate::writer::ReplayWriter;
use vsr_config::Usage;

/// What the proxy knows when the decision is made.
#[derive(Debug, Clone, Default)]
pub struct StartInfo<'a> {
    pub decision: &'a str,
    /// The named recipe whose decision it is (`None`: the default profile).
    pub recipe: Option<&'a str>,
    pub request_id: &'a str,
    /// The client's `model` (e.g. `MoM`).
    pub original_model: &'a str,
    /// The alias routed to.
    pub selected_model: &'a str,
    /// The backend's model id for the alias.
    pub provider_model: &'a str,
    /// The client's original body (captured only when the decision's plugin says so).
    pub request_body: &'a [u8],
    pub streaming: bool,
}

/// What the proxy knows when the response is over.
#[derive(Debug, Clone, Default)]
pub struct FinishInfo<'a> {
    pub status: u16,
    pub streaming: bool,
    pub from_cache: bool,
    /// From the response's `usage`, or a stream's final usage chunk.
    pub usage: Option<Usage>,
    /// Final JSON (non-streaming) or the concatenated assistant text (streaming).
    pub response_body: &'a [u8],
    pub ttft_ms: Option<u64>,
    /// The alias that answered and its provider model id, when a fallback model ref did
    /// (`None`: the start's `selected_model`).
    pub served_model: Option<(&'a str, &'a str)>,
    /// Every upstream attempt, in order.
    pub attempts: Vec<UpstreamAttempt>,
    /// An answer made of several model calls (fusion, workflows): each call's alias and usage;
    /// the cost is then the sum of each call at its own model's price. Empty: `usage` is the
    /// answering alias's.
    pub usage_by_model: &'a [(String, Usage)],
}

struct State {
    settings: ReplaySettings,
    costs: CostModel,
}

#[derive(Default)]
struct Pending {
    records: HashMap<String, ReplayRecord>,
    order: VecDeque<String>,
}

/// Records in flight between start and finish, bounded; see the module docs.
pub struct Recorder {
    writer: Arc<ReplayWriter>,
    state: RwLock<State>,
    pending: Mutex<Pending>,
    max_pending: usize,
}

impl Recorder {
    /// `max_pending` bounds records started but not finished (oldest are written unfinished).
    pub fn new(
        writer: Arc<ReplayWriter>,
        settings: ReplaySettings,
        costs: CostModel,
        max_pending: usize,
    ) -> Self {
        Recorder {
            writer,
            state: RwLock::new(State { settings, costs }),
            pending: Mutex::new(Pending::default()),
            max_pending: max_pending.max(1),
        }
    }

    /// Applies a reloaded config (capture flags and prices) to requests started from now on.
    pub fn reload(&self, settings: ReplaySettings, costs: CostModel) {
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = State { settings, costs };
    }

    pub fn writer(&self) -> &ReplayWriter {
        &self.writer
    }

    /// Whether any decision records (the replay API is served only then).
    pub fn enabled(&self) -> bool {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .settings
            .enabled()
    }

    /// Starts a record for a request routed to `info.decision`; `fill` adds what the router
    /// knows beyond `StartInfo` (signals, confidences, tier, priority, reasoning mode).
    /// Returns the record id for `x-vsr-replay-id`, or `None` when the decision does not record.
    pub fn start(
        &self,
        info: &StartInfo<'_>,
        fill: impl FnOnce(&mut ReplayRecord),
    ) -> Option<String> {
        let capture = {
            let st = self.state.read().unwrap_or_else(|p| p.into_inner());
            st.settings
                .capture
                .get(&capture_key(info.recipe, info.decision))?
                .clone()
        };
        let mut r = ReplayRecord::new();
        r.request_id = info.request_id.to_string();
        r.decision = info.decision.to_string();
        r.recipe = info.recipe.unwrap_or_default().to_string();
        r.original_model = info.original_model.to_string();
        r.selected_model = if info.selected_model.is_empty() {
            info.original_model.to_string()
        } else {
            info.selected_model.to_string()
        };
        r.provider_model = info.provider_model.to_string();
        r.streaming = info.streaming;
        capture.apply(&mut r, Some(info.request_body), None);
        fill(&mut r);
        let id = r.id.clone();
        let evicted = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            p.records.insert(id.clone(), r);
            p.order.push_back(id.clone());
            let mut evicted = Vec::new();
            while p.records.len() > self.max_pending {
                let Some(old) = p.order.pop_front() else {
                    break;
                };
                if let Some(rec) = p.records.remove(&old) {
                    evicted.push(rec);
                }
            }
            // Forget ids of finished records, so the queue stays bounded even when one old
            // request never finishes.
            while p.order.front().is_some_and(|f| !p.records.contains_key(f)) {
                p.order.pop_front();
            }
            if p.order.len() > 2 * self.max_pending {
                let Pending { records, order } = &mut *p;
                order.retain(|k| records.contains_key(k));
            }
            evicted
        };
        for rec in evicted {
            tracing::debug!(id = %rec.id, "replay record never finished; written as started");
            self.writer.submit(rec);
        }
        Some(id)
    }

    /// Completes record `id` (status, usage and cost, response body) and queues it for writing.
    /// Unknown ids are ignored.
    pub fn finish(&self, id: &str, info: &FinishInfo<'_>) {
        let Some(mut r) = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .records
            .remove(id)
        else {
            return;
        };
        {
            let st = self.state.read().unwrap_or_else(|p| p.into_inner());
            r.response_status = Some(info.status);
            r.streaming = info.streaming;
            r.from_cache = info.from_cache;
            r.ttft_ms = info.ttft_ms;
            r.duration_ms = Some((Timestamp::now().0 - r.timestamp.0).max(0) as u64);
            if let Some((served, provider)) = info.served_model
                && served != r.selected_model
            {
                // Cost and the model rollups are the answering alias's.
                r.fallback_path = Vec::new();
                for a in &info.attempts {
                    if r.fallback_path.last() != Some(&a.model) {
                        r.fallback_path.push(a.model.clone());
                    }
                }
                r.selected_model = served.to_string();
                r.provider_model = provider.to_string();
            }
            r.upstream_attempts = info.attempts.clone();
            if let Some(u) = info.usage {
                r.set_usage(
                    &st.costs,
                    u.prompt_tokens,
                    u.completion_tokens,
                    u.cached_tokens,
                );
                if !info.usage_by_model.is_empty() {
                    r.price_per_model(&st.costs, info.usage_by_model);
                }
            }
            if let Some(capture) = st.settings.capture.get(&r.decision) {
                let body = String::from_utf8_lossy(info.response_body);
                capture.apply(&mut r, None, Some(&body));
            }
        }
        self.writer.submit(r);
    }

    /// Records started and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .records
            .len()
    }
}
