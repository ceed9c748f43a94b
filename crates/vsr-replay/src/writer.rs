//! The batched writer: the request path hands records over without ever waiting; a thread of
//! its own writes them in batches, applies retention, and drains everything on shutdown.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::record::ReplayRecord;
use crate::store::{ReplayStore, Retention};
use crate::time::Timestamp;

#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Records that may wait for the store (queue plus a failed batch kept for retry).
    pub capacity: usize,
    /// Records per transaction.
    pub batch_size: usize,
    /// Longest a submitted record waits before it is written.
    pub flush_interval: Duration,
    pub retention: Retention,
    /// How often retention runs (also once at start).
    pub retention_interval: Duration,
    /// Attempts to write what is left at shutdown before giving up on it.
    pub shutdown_attempts: u32,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            capacity: 10_000,
            batch_size: 256,
            flush_interval: Duration::from_millis(500),
            retention: Retention::default(),
            retention_interval: Duration::from_secs(60),
            shutdown_attempts: 3,
        }
    }
}

/// Counters for metrics (`vsr_replay_records_dropped_total` and friends).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriterStats {
    pub submitted: u64,
    /// Records committed to the store (duplicates included).
    pub written: u64,
    /// Records lost: queue full, writer stopped, or the store down for longer than the buffer.
    pub dropped: u64,
    pub failed_batches: u64,
    pub deleted_by_retention: u64,
}

#[derive(Default)]
struct Counters {
    submitted: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    failed_batches: AtomicU64,
    deleted: AtomicU64,
    last_drop_log_ms: AtomicU64,
}

impl Counters {
    fn drop_records(&self, n: u64, why: &str) {
        if n == 0 {
            return;
        }
        let total = self.dropped.fetch_add(n, Ordering::Relaxed) + n;
        // At most one warning per second so a dead store cannot flood the log.
        let now = Timestamp::now().0 as u64;
        let last = self.last_drop_log_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .last_drop_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                dropped = n,
                dropped_total = total,
                reason = why,
                "replay records dropped"
            );
        }
    }
}

enum Msg {
    Record(Box<ReplayRecord>),
    Flush(mpsc::Sender<()>),
    Shutdown,
}

/// Handle to the writer thread. Cheap to share behind an `Arc`.
pub struct ReplayWriter {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    handle: Mutex<Option<thread::JoinHandle<()>>>,
}

impl ReplayWriter {
    /// Starts the writer thread over `store`.
    pub fn spawn(store: Arc<dyn ReplayStore>, config: WriterConfig) -> Self {
        let capacity = config.capacity.max(1);
        let (tx, rx) = mpsc::sync_channel(capacity);
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let handle = thread::Builder::new()
            .name("vsr-replay-writer".into())
            .spawn(move || run(store, config, rx, c))
            .map_err(|e| tracing::error!(error = %e, "cannot start the replay writer; records will be dropped"))
            .ok();
        ReplayWriter {
            tx,
            counters,
            handle: Mutex::new(handle),
        }
    }

    /// Queues a record. Never blocks: when the queue is full or the writer has stopped, the
    /// record is dropped, counted and logged, and `false` is returned.
    pub fn submit(&self, record: ReplayRecord) -> bool {
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Msg::Record(Box::new(record))) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.counters.drop_records(1, "queue full");
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                self.counters.drop_records(1, "writer stopped");
                false
            }
        }
    }

    /// Writes everything submitted so far and waits for it (tests, admin endpoints).
    pub fn flush(&self) {
        let (ack, done) = mpsc::channel();
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv();
        }
    }

    /// Drains the queue into the store and stops the thread. Idempotent.
    pub fn shutdown(&self) -> WriterStats {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = self.tx.send(Msg::Shutdown);
            let _ = h.join();
        }
        self.stats()
    }

    pub fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            submitted: c.submitted.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
            deleted_by_retention: c.deleted.load(Ordering::Relaxed),
        }
    }

    /// Records dropped so far (for the metric).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for ReplayWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct State {
    store: Arc<dyn ReplayStore>,
    config: WriterConfig,
    counters: Arc<Counters>,
    pending: Vec<ReplayRecord>,
    /// After a failed write, wait until then before trying again.
    retry_at: Option<Instant>,
}

impl State {
    /// Writes pending records in batches; on failure keeps them (bounded) for a retry.
    fn write(&mut self) -> bool {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(self.config.batch_size.max(1));
            match self.store.insert_batch(&self.pending[..n]) {
                Ok(_) => {
                    self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
                    self.pending.drain(..n);
                    self.retry_at = None;
                }
                Err(e) => {
                    let failed = self.counters.failed_batches.fetch_add(1, Ordering::Relaxed) + 1;
                    if failed == 1 || failed.is_power_of_two() {
                        tracing::error!(error = %e, pending = self.pending.len(), failed_batches = failed,
                            "replay store write failed; will retry");
                    }
                    let over = self.pending.len().saturating_sub(self.config.capacity);
                    if over > 0 {
                        self.pending.drain(..over);
                        self.counters.drop_records(over as u64, "store unavailable");
                    }
                    self.retry_at = Some(Instant::now() + self.config.flush_interval);
                    return false;
                }
            }
        }
        true
    }

    fn retention(&mut self) {
        if self.config.retention.is_unbounded() {
            return;
        }
        match self
            .store
            .enforce_retention(&self.config.retention, Timestamp::now())
        {
            Ok(n) => {
                self.counters.deleted.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "replay retention failed"),
        }
    }
}

fn run(
    store: Arc<dyn ReplayStore>,
    config: WriterConfig,
    rx: mpsc::Receiver<Msg>,
    counters: Arc<Counters>,
) {
    let interval = config.flush_interval.max(Duration::from_millis(1));
    let retention_every = config.retention_interval;
    let mut st = State {
        store,
        config,
        counters,
        pending: Vec::new(),
        retry_at: None,
    };
    st.retention();
    let mut next_flush = Instant::now() + interval;
    let mut next_retention = Instant::now() + retention_every;
    loop {
        let now = Instant::now();
        let wake = next_flush.min(next_retention);
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(Msg::Record(r)) => {
                st.pending.push(*r);
                let may_retry = st.retry_at.is_none_or(|t| Instant::now() >= t);
                if st.pending.len() >= st.config.batch_size && may_retry {
                    st.write();
                }
            }
            Ok(Msg::Flush(ack)) => {
                st.write();
                let _ = ack.send(());
            }
            Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        if now >= next_flush {
            if !st.pending.is_empty() && st.retry_at.is_none_or(|t| now >= t) {
                st.write();
            }
            next_flush = now + interval;
        }
        if now >= next_retention {
            st.retention();
            next_retention = now + retention_every;
        }
    }
    // Drain: everything still queued, then a few attempts to store it.
    while let Ok(msg) = rx.try_recv() {
        match msg {
            Msg::Record(r) => st.pending.push(*r),
            Msg::Flush(ack) => {
                let _ = ack.send(());
            }
            Msg::Shutdown => {}
        }
    }
    for attempt in 0..st.config.shutdown_attempts.max(1) {
        if st.write() {
            break;
        }
        if attempt + 1 < st.config.shutdown_attempts {
            thread::sleep(interval);
        }
    }
    let left = st.pending.len() as u64;
    if left > 0 {
        tracing::error!(
            lost = left,
            "replay store unavailable at shutdown; records lost"
        );
        st.counters
            .drop_records(left, "store unavailable at shutdown");
    }
}

#[cfg(test)]
mod log_tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::Counters;

    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_flood_of_drops_logs_one_warning() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let w = Arc::clone(&out);
        let sub = tracing_subscriber::fmt()
            .with_writer(move || Buf(Arc::clone(&w)))
            .with_ansi(false)
            .finish();
        let c = Counters::default();
        tracing::subscriber::with_default(sub, || {
            for _ in 0..1000 {
                c.drop_records(1, "queue full");
            }
        });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("replay records dropped"))
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert!(lines[0].contains("WARN"), "{text}");
        assert!(lines[0].contains("reason=\"queue full\""), "{text}");
        assert!(lines[0].contains("dropped_total=1"), "{text}");
        assert_eq!(c.dropped.load(std::sync::atomic::Ordering::Relaxed), 1000);
    }
}
