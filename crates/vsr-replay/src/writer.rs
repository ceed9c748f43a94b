//! The batched writer: the request path hands records over without ever waiting; a thread of
//! its own writes them in batches, applies retention, and drains everything on shutdown. With
//! a journal (`WriterConfig::journal_dir`, used for PostgreSQL), a second thread first appends
//! each record to the write-ahead journal (`crate::journal`), so a killed process loses none
//! of what it had queued: the next start writes it.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::journal::{self, Journal, Sealed};
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
    /// The write-ahead journal's directory (`None`: records wait in memory only).
    pub journal_dir: Option<PathBuf>,
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
            journal_dir: None,
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
    /// Records not written by this process but kept in the journal (store unavailable for
    /// longer than the buffer, or at shutdown): the next start writes them.
    pub deferred: u64,
    /// Records from an earlier process's journal handed to the store at start.
    pub recovered: u64,
    /// Journal appends that failed (the record then waits in memory only).
    pub journal_failures: u64,
}

#[derive(Default)]
struct Counters {
    submitted: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    failed_batches: AtomicU64,
    deleted: AtomicU64,
    deferred: AtomicU64,
    recovered: AtomicU64,
    journal_failures: AtomicU64,
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
    /// A record, with its journal segment once journaled.
    Record(Box<ReplayRecord>, Option<u64>),
    /// A journal segment closed for writing (journal thread → store thread).
    Sealed(Sealed),
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
        let journal = config.journal_dir.as_deref().and_then(open_journal);
        let handle = match journal {
            None => thread::Builder::new()
                .name("vsr-replay-writer".into())
                .spawn(move || run(store, config, rx, c)),
            // journal thread (submit's channel) → store thread.
            Some(j) => {
                let (store_tx, store_rx) = mpsc::sync_channel(capacity);
                let interval = config.flush_interval;
                let c2 = c.clone();
                thread::Builder::new()
                    .name("vsr-replay-writer".into())
                    .spawn(move || run(store, config, store_rx, c2))
                    .and_then(|writer| {
                        thread::Builder::new()
                            .name("vsr-replay-journal".into())
                            .spawn(move || {
                                run_journal(j, rx, store_tx, c, interval);
                                let _ = writer.join();
                            })
                    })
            }
        }
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
        match self.tx.try_send(Msg::Record(Box::new(record), None)) {
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
            deferred: c.deferred.load(Ordering::Relaxed),
            recovered: c.recovered.load(Ordering::Relaxed),
            journal_failures: c.journal_failures.load(Ordering::Relaxed),
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
    /// The journal segment of each pending record (`None`: not journaled).
    pending_segments: Vec<Option<u64>>,
    /// Journal segments with records not committed yet, or not sealed yet.
    segments: BTreeMap<u64, SegmentState>,
    /// After a failed write, wait until then before trying again.
    retry_at: Option<Instant>,
}

/// A journal segment as the store thread sees it.
#[derive(Default)]
struct SegmentState {
    /// Its records received and not yet committed.
    outstanding: u64,
    /// Set when the journal closed it.
    sealed: Option<PathBuf>,
    /// A record of it was let go uncommitted: the file stays for the next start.
    keep: bool,
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
                    let segs: Vec<Option<u64>> = self.pending_segments.drain(..n).collect();
                    self.committed(&segs, false);
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
                        self.let_go(over, "store unavailable");
                    }
                    self.retry_at = Some(Instant::now() + self.config.flush_interval);
                    return false;
                }
            }
        }
        true
    }

    fn push(&mut self, r: ReplayRecord, segment: Option<u64>) {
        if let Some(s) = segment {
            self.segments.entry(s).or_default().outstanding += 1;
        }
        self.pending.push(r);
        self.pending_segments.push(segment);
    }

    /// `n` records taken off the front of `pending` without being written: lost, unless the
    /// journal has them for the next start.
    fn let_go(&mut self, n: usize, why: &str) {
        let segs: Vec<Option<u64>> = self.pending_segments.drain(..n).collect();
        let journaled = segs.iter().filter(|s| s.is_some()).count() as u64;
        self.counters.drop_records(n as u64 - journaled, why);
        if journaled > 0 {
            self.counters
                .deferred
                .fetch_add(journaled, Ordering::Relaxed);
        }
        self.committed(&segs, true);
    }

    /// Records of these segments left memory (written, or let go when `kept`); deletes each
    /// sealed segment none of whose records is left and none let go.
    fn committed(&mut self, segs: &[Option<u64>], kept: bool) {
        for s in segs.iter().flatten() {
            if let Some(st) = self.segments.get_mut(s) {
                st.outstanding = st.outstanding.saturating_sub(1);
                st.keep |= kept;
            }
        }
        self.delete_done_segments();
    }

    fn sealed(&mut self, s: Sealed) {
        self.segments.entry(s.segment).or_default().sealed = Some(s.path);
        self.delete_done_segments();
    }

    fn delete_done_segments(&mut self) {
        let done: Vec<u64> = self
            .segments
            .iter()
            .filter(|(_, st)| st.outstanding == 0 && st.sealed.is_some())
            .map(|(n, _)| *n)
            .collect();
        for n in done {
            if let Some(st) = self.segments.remove(&n)
                && !st.keep
                && let Some(path) = st.sealed
                && let Err(e) = std::fs::remove_file(&path)
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete a written replay journal segment");
            }
        }
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
        pending_segments: Vec::new(),
        segments: BTreeMap::new(),
        retry_at: None,
    };
    st.retention();
    let mut next_flush = Instant::now() + interval;
    let mut next_retention = Instant::now() + retention_every;
    loop {
        let now = Instant::now();
        let wake = next_flush.min(next_retention);
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(Msg::Record(r, segment)) => {
                st.push(*r, segment);
                let may_retry = st.retry_at.is_none_or(|t| Instant::now() >= t);
                if st.pending.len() >= st.config.batch_size && may_retry {
                    st.write();
                }
            }
            Ok(Msg::Sealed(s)) => st.sealed(s),
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
            Msg::Record(r, segment) => st.push(*r, segment),
            Msg::Sealed(s) => st.sealed(s),
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
    let left = st.pending.len();
    if left > 0 {
        let journaled = st.pending_segments.iter().filter(|s| s.is_some()).count();
        tracing::error!(
            lost = left - journaled,
            kept_in_journal = journaled,
            "replay store unavailable at shutdown; journaled records are written at the next start, the others are lost"
        );
        st.pending.clear();
        st.let_go(left, "store unavailable at shutdown");
    }
}

/// Opens the journal of `dir`; `None` (with a warning) when it cannot be used.
fn open_journal(dir: &std::path::Path) -> Option<Journal> {
    match Journal::open(dir) {
        Ok(Some(j)) => Some(j),
        Ok(None) => {
            tracing::warn!(dir = %dir.display(), "replay journal in use by another process; records wait in memory only");
            None
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot open the replay journal; records wait in memory only");
            None
        }
    }
}

/// The journal thread: replays an earlier process's segments, then appends each submitted
/// record before passing it on, flushing once per burst (synced once per flush interval).
fn run_journal(
    mut j: Journal,
    rx: mpsc::Receiver<Msg>,
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    interval: Duration,
) {
    recover(&j, &tx, &counters);
    let interval = interval.max(Duration::from_millis(1));
    let mut last_sync = Instant::now();
    let mut failures_logged = 0u64;
    loop {
        let first = match rx.recv_timeout(interval) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = j.flush(true) {
                    tracing::warn!(error = %e, "replay journal sync failed");
                }
                last_sync = Instant::now();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => Msg::Shutdown,
        };
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            let forward = match msg {
                Msg::Record(r, _) => match j.append(&r) {
                    Ok((segment, sealed)) => {
                        if let Some(s) = sealed {
                            let _ = tx.send(Msg::Sealed(s));
                        }
                        Msg::Record(r, Some(segment))
                    }
                    Err(e) => {
                        let n = counters.journal_failures.fetch_add(1, Ordering::Relaxed) + 1;
                        if n > failures_logged && (n == 1 || n.is_power_of_two()) {
                            failures_logged = n;
                            tracing::error!(error = %e, failures = n, "replay journal append failed; the record waits in memory only");
                        }
                        Msg::Record(r, None)
                    }
                },
                Msg::Flush(ack) => {
                    let _ = j.flush(false);
                    Msg::Flush(ack)
                }
                Msg::Shutdown => {
                    match j.seal() {
                        Ok(Some(s)) => {
                            let _ = tx.send(Msg::Sealed(s));
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "replay journal close failed"),
                    }
                    let _ = tx.send(Msg::Shutdown);
                    return;
                }
                sealed @ Msg::Sealed(_) => sealed,
            };
            if tx.send(forward).is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        let sync = last_sync.elapsed() >= interval;
        if let Err(e) = j.flush(sync) {
            tracing::warn!(error = %e, "replay journal flush failed");
        }
        if sync {
            last_sync = Instant::now();
        }
    }
}

/// Hands the records of segments an earlier process left to the store thread, each segment
/// followed by its seal (deleted once written).
fn recover(j: &Journal, tx: &SyncSender<Msg>, counters: &Counters) {
    let old = match journal::segments(j.dir()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the replay journal");
            return;
        }
    };
    for (n, path) in old {
        match journal::read_segment(&path) {
            Ok(rec) => {
                let count = rec.records.len() as u64;
                tracing::info!(segment = %path.display(), records = count,
                    unreadable_lines = rec.unreadable_lines, "replaying a replay journal segment left by an earlier process");
                counters.recovered.fetch_add(count, Ordering::Relaxed);
                for r in rec.records {
                    let _ = tx.send(Msg::Record(Box::new(r), Some(n)));
                }
                let _ = tx.send(Msg::Sealed(Sealed { segment: n, path }));
            }
            Err(e) => {
                tracing::warn!(segment = %path.display(), error = %e, "cannot read a replay journal segment; left in place");
            }
        }
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
