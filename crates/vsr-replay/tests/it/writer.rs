//! The batched writer: nothing lost on shutdown, never blocks, survives an unavailable store.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use vsr_replay::{
    AggQuery, Aggregates, ListQuery, Page, ReplayRecord, ReplayStore, ReplayWriter, Retention,
    StoreError, Timestamp, WriterConfig,
};

use crate::common::sample_records;

/// Delegates to a real store, but can be switched down or made to hang.
struct Flaky {
    inner: Arc<dyn ReplayStore>,
    down: AtomicBool,
    gate: (Mutex<bool>, Condvar),
}

impl Flaky {
    fn new(inner: Arc<dyn ReplayStore>) -> Arc<Self> {
        Arc::new(Flaky {
            inner,
            down: AtomicBool::new(false),
            gate: (Mutex::new(true), Condvar::new()),
        })
    }
    fn set_open(&self, open: bool) {
        *self.gate.0.lock().unwrap() = open;
        self.gate.1.notify_all();
    }
}

impl ReplayStore for Flaky {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    fn insert_batch(&self, records: &[ReplayRecord]) -> Result<usize, StoreError> {
        let mut open = self.gate.0.lock().unwrap();
        while !*open {
            open = self.gate.1.wait(open).unwrap();
        }
        drop(open);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Postgres("connection refused".into()));
        }
        self.inner.insert_batch(records)
    }
    fn get(&self, id: &str) -> Result<Option<ReplayRecord>, StoreError> {
        self.inner.get(id)
    }
    fn set_feedback(&self, id: &str, f: &vsr_replay::Feedback) -> Result<bool, StoreError> {
        self.inner.set_feedback(id, f)
    }
    fn add_outcome(
        &self,
        id: &str,
        o: &vsr_replay::OutcomeRecord,
    ) -> Result<vsr_replay::Appended, StoreError> {
        self.inner.add_outcome(id, o)
    }
    fn list(&self, q: &ListQuery) -> Result<Page, StoreError> {
        self.inner.list(q)
    }
    fn aggregate(&self, q: &AggQuery) -> Result<Aggregates, StoreError> {
        self.inner.aggregate(q)
    }
    fn count(&self) -> Result<u64, StoreError> {
        self.inner.count()
    }
    fn enforce_retention(&self, r: &Retention, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.enforce_retention(r, now)
    }
}

fn run_graceful_shutdown_loses_nothing(store: Arc<dyn ReplayStore>) {
    let w = ReplayWriter::spawn(
        store.clone(),
        WriterConfig {
            batch_size: 64,
            flush_interval: Duration::from_secs(3600),
            ..Default::default()
        },
    );
    let recs = sample_records(1000, 11);
    for r in &recs {
        assert!(w.submit(r.clone()));
    }
    let stats = w.shutdown();
    assert_eq!(
        (stats.submitted, stats.written, stats.dropped),
        (1000, 1000, 0)
    );
    assert_eq!(store.count().unwrap(), 1000);
    for r in recs.iter().step_by(97) {
        assert_eq!(store.get(&r.id).unwrap().as_ref(), Some(r));
    }
    // After shutdown, submissions are refused and counted, not lost silently.
    assert!(!w.submit(recs[0].clone()));
    assert_eq!(w.stats().dropped, 1);
    assert_eq!(w.shutdown().written, 1000, "shutdown is idempotent");
}

#[test]
fn graceful_shutdown_loses_nothing_sqlite() {
    let s = crate::common::sqlite();
    run_graceful_shutdown_loses_nothing(s.store.clone());
}

#[test]
fn graceful_shutdown_loses_nothing_postgres() {
    if let Some(s) = crate::common::postgres() {
        run_graceful_shutdown_loses_nothing(s.store.clone());
    }
}

#[test]
fn a_stuck_store_never_blocks_submit_and_drops_are_counted() {
    let s = crate::common::sqlite();
    let flaky = Flaky::new(s.store.clone());
    flaky.set_open(false); // every write hangs until reopened
    let w = ReplayWriter::spawn(
        flaky.clone(),
        WriterConfig {
            capacity: 4,
            batch_size: 1,
            flush_interval: Duration::from_millis(5),
            ..Default::default()
        },
    );
    let recs = sample_records(100, 12);
    let accepted = recs.iter().filter(|r| w.submit((*r).clone())).count() as u64;
    let mid = w.stats();
    assert_eq!(mid.submitted, 100);
    assert!(mid.dropped >= 90, "queue of 4 cannot hold 100: {mid:?}");
    assert_eq!(mid.dropped, 100 - accepted);
    flaky.set_open(true);
    let end = w.shutdown();
    assert_eq!(end.written + end.dropped, 100, "{end:?}");
    assert_eq!(s.store.count().unwrap(), end.written);
}

#[test]
fn records_wait_for_a_store_that_comes_back() {
    let s = crate::common::sqlite();
    let flaky = Flaky::new(s.store.clone());
    flaky.down.store(true, Ordering::SeqCst);
    let w = ReplayWriter::spawn(
        flaky.clone(),
        WriterConfig {
            capacity: 1000,
            batch_size: 8,
            flush_interval: Duration::from_millis(10),
            ..Default::default()
        },
    );
    for r in sample_records(50, 13) {
        assert!(w.submit(r));
    }
    w.flush();
    assert!(w.stats().failed_batches >= 1);
    assert_eq!(s.store.count().unwrap(), 0);
    flaky.down.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.store.count().unwrap() < 50 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.store.count().unwrap(), 50);
    assert_eq!(w.shutdown().dropped, 0);
}

#[test]
fn a_buffer_over_capacity_drops_the_oldest_while_the_store_is_down() {
    let s = crate::common::sqlite();
    let flaky = Flaky::new(s.store.clone());
    flaky.down.store(true, Ordering::SeqCst);
    let w = ReplayWriter::spawn(
        flaky.clone(),
        WriterConfig {
            capacity: 10,
            batch_size: 5,
            flush_interval: Duration::from_millis(5),
            shutdown_attempts: 1,
            ..Default::default()
        },
    );
    for (i, r) in sample_records(40, 14).into_iter().enumerate() {
        w.submit(r);
        if i % 5 == 4 {
            w.flush();
        }
    }
    let st = w.shutdown();
    assert_eq!(st.written, 0);
    assert_eq!(
        st.dropped, 40,
        "everything is accounted for as dropped: {st:?}"
    );
}

#[test]
fn the_writer_applies_retention() {
    let s = crate::common::sqlite();
    let w = ReplayWriter::spawn(
        s.store.clone(),
        WriterConfig {
            flush_interval: Duration::from_millis(5),
            retention: Retention {
                max_records: Some(5),
                ..Default::default()
            },
            retention_interval: Duration::from_millis(10),
            ..Default::default()
        },
    );
    for r in sample_records(20, 15) {
        w.submit(r);
    }
    w.flush();
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.store.count().unwrap() > 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(s.store.count().unwrap(), 5);
    assert!(w.shutdown().deleted_by_retention >= 15);
}

#[test]
fn a_lazy_postgres_store_that_is_down_fails_calls_without_panicking() {
    // Nothing listens on port 1: every call fails fast, the writer counts, nothing blocks.
    let store =
        vsr_replay::PostgresStore::open_lazy("postgres://nobody@127.0.0.1:1/none", None).unwrap();
    assert!(store.count().is_err());
    let store: Arc<dyn ReplayStore> = Arc::new(store);
    let w = ReplayWriter::spawn(
        store,
        WriterConfig {
            capacity: 100,
            batch_size: 10,
            flush_interval: Duration::from_millis(5),
            shutdown_attempts: 1,
            ..Default::default()
        },
    );
    for r in sample_records(20, 16) {
        assert!(w.submit(r));
    }
    w.flush();
    let st = w.shutdown();
    assert!(st.failed_batches >= 1);
    assert_eq!((st.written, st.dropped), (0, 20));
    assert!(vsr_replay::PostgresStore::open_lazy("not a url", None).is_err());
}

#[test]
fn a_lazy_postgres_store_connects_and_migrates_on_first_use() {
    let Some(url) = crate::common::postgres_url() else {
        return;
    };
    let schema = crate::common::unique("vsr_lazy");
    let store = vsr_replay::PostgresStore::open_lazy(&url, Some(&schema)).unwrap();
    assert_eq!(store.insert_batch(&sample_records(3, 17)).unwrap(), 3);
    assert_eq!(store.count().unwrap(), 3);
    drop(store);
    let _ = vsr_replay::PostgresStore::drop_schema(&url, &schema);
}

fn journal_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("vsr-it-journal-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn segment_files(dir: &std::path::Path) -> usize {
    vsr_replay::journal::segments(dir).map_or(0, |s| s.len())
}

/// What a process could not write (its store down until it stopped) is kept in the journal
/// and written by the next process over the same journal, once; the segments then go away.
fn run_journal_keeps_what_the_store_could_not_take(store: Arc<dyn ReplayStore>, tag: &str) {
    let dir = journal_dir(tag);
    let config = || WriterConfig {
        batch_size: 16,
        flush_interval: Duration::from_millis(20),
        shutdown_attempts: 1,
        journal_dir: Some(dir.clone()),
        ..Default::default()
    };
    let flaky = Flaky::new(store.clone());
    flaky.down.store(true, Ordering::SeqCst);
    let first = ReplayWriter::spawn(flaky.clone(), config());
    let recs = sample_records(300, 21);
    for r in &recs {
        assert!(first.submit(r.clone()));
    }
    let stats = first.shutdown();
    assert_eq!(
        (stats.written, stats.dropped, stats.deferred),
        (0, 0, 300),
        "{stats:?}"
    );
    assert_eq!(store.count().unwrap(), 0);
    assert!(segment_files(&dir) >= 1);

    // Part of it reached the store before the crash: replaying must not count it twice.
    store.insert_batch(&recs[..50]).unwrap();
    let second = ReplayWriter::spawn(store.clone(), config());
    let more = sample_records(20, 22);
    for r in &more {
        assert!(second.submit(r.clone()));
    }
    second.flush();
    let stats = second.shutdown();
    assert_eq!(stats.recovered, 300, "{stats:?}");
    assert_eq!((stats.dropped, stats.deferred), (0, 0), "{stats:?}");
    assert_eq!(store.count().unwrap(), 320);
    let agg = store.aggregate(&AggQuery::default()).unwrap();
    assert_eq!(agg.record_count, 320, "rollups count each record once");
    for r in recs.iter().step_by(37).chain(more.iter().step_by(7)) {
        assert_eq!(store.get(&r.id).unwrap().as_ref(), Some(r));
    }
    assert_eq!(segment_files(&dir), 0, "written segments are deleted");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn journal_keeps_what_the_store_could_not_take_sqlite() {
    let s = crate::common::sqlite();
    run_journal_keeps_what_the_store_could_not_take(s.store.clone(), "sqlite");
}

#[test]
fn journal_keeps_what_the_store_could_not_take_postgres() {
    if let Some(s) = crate::common::postgres() {
        run_journal_keeps_what_the_store_could_not_take(s.store.clone(), "pg");
    }
}

/// A journal directory is one process's: a second writer on it runs without one and says so.
#[test]
fn a_second_writer_on_the_same_journal_runs_without_it() {
    let s = crate::common::sqlite();
    let dir = journal_dir("shared");
    let config = || WriterConfig {
        journal_dir: Some(dir.clone()),
        ..Default::default()
    };
    let a = ReplayWriter::spawn(s.store.clone(), config());
    let b = ReplayWriter::spawn(s.store.clone(), config());
    let recs = sample_records(10, 23);
    for r in &recs[..5] {
        assert!(a.submit(r.clone()));
    }
    for r in &recs[5..] {
        assert!(b.submit(r.clone()));
    }
    let (sa, sb) = (a.shutdown(), b.shutdown());
    assert_eq!((sa.written, sb.written), (5, 5));
    assert_eq!(s.store.count().unwrap(), 10);
    assert_eq!(segment_files(&dir), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
