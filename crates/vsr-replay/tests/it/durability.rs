//! Durability of the store + writer across a killed process. The test binary re-runs itself
//! as the child (the ignored `child_writer` test, selected by environment variables), so no
//! extra binary is needed. The child prints `persisted N` each time the writer has committed
//! N records; records are written in submission order, so the first N are durable.
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use vsr_replay::{
    Filter, ListQuery, ReplayRecord, ReplayStore, ReplayWriter, StoreConfig, WriterConfig,
    open_store,
};

const ENV_MODE: &str = "VSR_REPLAY_CHILD_MODE";
const ENV_SQLITE: &str = "VSR_REPLAY_CHILD_SQLITE";
const ENV_PG_URL: &str = "VSR_REPLAY_CHILD_PG_URL";
const ENV_PG_SCHEMA: &str = "VSR_REPLAY_CHILD_PG_SCHEMA";
const GRACEFUL_COUNT: usize = 3000;

fn child_config() -> StoreConfig {
    match std::env::var(ENV_SQLITE) {
        Ok(path) => StoreConfig::Sqlite { path: path.into() },
        Err(_) => StoreConfig::Postgres {
            url: std::env::var(ENV_PG_URL).unwrap(),
            schema: std::env::var(ENV_PG_SCHEMA).ok(),
        },
    }
}

fn record(i: usize) -> ReplayRecord {
    let mut r = ReplayRecord::new();
    r.request_id = format!("dur-{i}");
    r.decision = ["simple", "medium"][i % 2].into();
    r.selected_model = "qwen/qwen3.5-rocm".into();
    r.request_body = Some("x".repeat(300));
    r
}

/// The child process body (only runs when the parent sets the environment).
#[test]
#[ignore = "run by the durability tests as a child process"]
fn child_writer() {
    let Ok(mode) = std::env::var(ENV_MODE) else {
        return;
    };
    let store = open_store(&child_config()).unwrap();
    let w = ReplayWriter::spawn(
        store,
        WriterConfig {
            capacity: 200_000,
            batch_size: 64,
            flush_interval: Duration::from_millis(20),
            ..Default::default()
        },
    );
    if mode == "graceful" {
        for i in 0..GRACEFUL_COUNT {
            assert!(w.submit(record(i)));
        }
        let st = w.shutdown();
        println!("done written={} dropped={}", st.written, st.dropped);
        return;
    }
    let mut last = 0;
    for i in 0..1_000_000 {
        assert!(w.submit(record(i)));
        if i % 16 == 0 {
            std::thread::sleep(Duration::from_micros(500));
        }
        let st = w.stats();
        assert_eq!(st.dropped, 0);
        if st.written != last {
            last = st.written;
            println!("persisted {last}");
        }
    }
}

fn spawn_child(mode: &str, env: &[(&str, String)]) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "durability::child_writer",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env(ENV_MODE, mode)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn request_ids(store: &dyn ReplayStore) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut q = ListQuery {
        filter: Filter::default(),
        limit: 100,
        ..Default::default()
    };
    loop {
        let page = store.list(&q).unwrap();
        ids.extend(page.items.iter().map(|r| r.request_id.clone()));
        match page.next_cursor {
            Some(c) => q.cursor = Some(vsr_replay::Cursor::decode(&c).unwrap()),
            None => return ids,
        }
    }
}

fn kill_mid_write(env: Vec<(&str, String)>, reopen: impl Fn() -> Arc<dyn ReplayStore>) {
    let mut child = spawn_child("kill", &env);
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut persisted = 0usize;
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("persisted ") {
            persisted = n.trim().parse().unwrap();
            if persisted >= 2000 {
                // SIGKILL while the writer keeps writing.
                child.kill().unwrap();
                break;
            }
        }
    }
    let _ = child.wait();
    assert!(persisted >= 2000, "child stopped early after {persisted}");
    let store = reopen();
    let ids = request_ids(&*store);
    assert!(
        ids.len() >= persisted,
        "{} stored < {persisted} persisted",
        ids.len()
    );
    let missing: Vec<usize> = (0..persisted)
        .filter(|i| !ids.contains(&format!("dur-{i}")))
        .collect();
    assert!(
        missing.is_empty(),
        "lost {} acknowledged records, first {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // Rollups agree with the rows after the crash.
    assert_eq!(
        store.aggregate(&Default::default()).unwrap().record_count as usize,
        ids.len()
    );
}

fn graceful(env: Vec<(&str, String)>, reopen: impl Fn() -> Arc<dyn ReplayStore>) {
    let child = spawn_child("graceful", &env);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    assert!(
        stdout.contains(&format!("done written={GRACEFUL_COUNT} dropped=0")),
        "{stdout}"
    );
    let store = reopen();
    let ids = request_ids(&*store);
    assert_eq!(ids.len(), GRACEFUL_COUNT);
}

#[test]
fn sqlite_sigkill_keeps_every_flushed_record() {
    let dir = crate::common::temp_dir("vsr_replay_durable");
    let path = dir.join("replay.db");
    kill_mid_write(vec![(ENV_SQLITE, path.display().to_string())], || {
        let s = vsr_replay::SqliteStore::open(&path).unwrap();
        assert_eq!(s.integrity_check().unwrap(), "ok");
        Arc::new(s)
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sqlite_graceful_shutdown_loses_nothing() {
    let dir = crate::common::temp_dir("vsr_replay_graceful");
    let path = dir.join("replay.db");
    graceful(vec![(ENV_SQLITE, path.display().to_string())], || {
        Arc::new(vsr_replay::SqliteStore::open(&path).unwrap())
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn postgres_sigkill_keeps_every_flushed_record() {
    let Some(url) = crate::common::postgres_url() else {
        return;
    };
    let schema = crate::common::unique("vsr_dur");
    kill_mid_write(
        vec![(ENV_PG_URL, url.clone()), (ENV_PG_SCHEMA, schema.clone())],
        || Arc::new(vsr_replay::PostgresStore::connect(&url, Some(&schema)).unwrap()),
    );
    let _ = vsr_replay::PostgresStore::drop_schema(&url, &schema);
}

#[test]
fn postgres_graceful_shutdown_loses_nothing() {
    let Some(url) = crate::common::postgres_url() else {
        return;
    };
    let schema = crate::common::unique("vsr_grace");
    graceful(
        vec![(ENV_PG_URL, url.clone()), (ENV_PG_SCHEMA, schema.clone())],
        || Arc::new(vsr_replay::PostgresStore::connect(&url, Some(&schema)).unwrap()),
    );
    let _ = vsr_replay::PostgresStore::drop_schema(&url, &schema);
}
