//! The last log lines, kept in memory for the dashboard's Logs page (`GET /api/logs`).
//!
//! A bounded ring: the oldest line goes when a new one arrives at capacity, so memory stays
//! fixed however chatty the process is.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// Lines kept by the process-wide ring.
pub const RECENT_CAPACITY: usize = 2000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// Unix milliseconds.
    pub at: u64,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    pub target: String,
    /// The message followed by the event's other fields as `key=value`.
    pub message: String,
}

/// A bounded ring of recent log lines.
#[derive(Debug)]
pub struct RecentLogs {
    lines: Mutex<VecDeque<LogLine>>,
    capacity: usize,
}

impl RecentLogs {
    pub fn new(capacity: usize) -> Self {
        Self {
            lines: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&self, line: LogLine) {
        let mut l = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if l.len() == self.capacity {
            l.pop_front();
        }
        l.push_back(line);
    }

    /// The newest `limit` lines at `min_level` or more severe, oldest first.
    pub fn tail(&self, min_level: Level, limit: usize) -> Vec<LogLine> {
        let l = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<LogLine> = l
            .iter()
            .rev()
            .filter(|line| line.level.parse::<Level>().is_ok_and(|lv| lv <= min_level))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }
}

static RECENT: OnceLock<Arc<RecentLogs>> = OnceLock::new();

/// The process-wide ring that [`crate::init`] feeds.
pub fn recent_logs() -> Arc<RecentLogs> {
    RECENT
        .get_or_init(|| Arc::new(RecentLogs::new(RECENT_CAPACITY)))
        .clone()
}

/// A layer that appends every event it sees to `ring`.
pub struct RecentLayer {
    ring: Arc<RecentLogs>,
}

impl RecentLayer {
    pub fn new(ring: Arc<RecentLogs>) -> Self {
        Self { ring }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for RecentLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.ring.push(LogLine {
            at,
            level: event.metadata().level().to_string(),
            target: event.metadata().target().to_string(),
            message: format!("{}{}", fields.message, fields.rest),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn the_ring_keeps_the_newest_lines_and_filters_by_level() {
        let ring = Arc::new(RecentLogs::new(3));
        let sub = tracing_subscriber::registry().with(RecentLayer::new(ring.clone()));
        tracing::subscriber::with_default(sub, || {
            tracing::info!("one");
            tracing::warn!(endpoint = "a:1", "two");
            tracing::info!("three");
            tracing::error!("four");
        });
        let all = ring.tail(Level::TRACE, 10);
        let texts: Vec<&str> = all.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(texts, ["two endpoint=a:1", "three", "four"]);
        let warn = ring.tail(Level::WARN, 10);
        assert_eq!(warn.len(), 2);
        assert_eq!(warn[0].level, "WARN");
        assert_eq!(ring.tail(Level::TRACE, 1)[0].message, "four");
    }
}
