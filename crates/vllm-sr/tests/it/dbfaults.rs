//! The fault campaign's storage faults, through the running router: the replay database slow,
//! down and back (PostgreSQL behind a relay the test can slow and cut), and a full disk for the
//! SQLite data dir (the router's `RLIMIT_FSIZE` lowered below the database's size, then raised).
//! Each: requests keep answering 200 at once, the write failures show in
//! `vsr_replay_write_failures_total` and the log, and once the store is back every answered
//! request's record is there.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{Proc, REPLAY_CONFIG, chat, http, sim_backend, tempdir};
use crate::replicas::{Relay, Schema, postgres_url, unique_schema, via_port};

/// Sends `n` routed requests; each must answer 200 within `max`. Returns the replay ids.
fn answered(port: u16, n: usize, tag: &str, max: Duration) -> Vec<String> {
    (0..n)
        .map(|i| {
            let t = Instant::now();
            let r = chat(port, &format!("code question {tag} {i}"), i % 2 == 1).unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
            assert!(t.elapsed() < max, "{tag}: {:?}", t.elapsed());
            r.header("x-vsr-replay-id")
                .expect("replay id header")
                .to_string()
        })
        .collect()
}

fn metric(port: u16, name: &str) -> u64 {
    let m = http(port, "GET", "/metrics", None).unwrap().body;
    m.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

fn wait_until(what: &str, max: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < max, "{what}: not within {max:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serve(dir: &Path, extra: &[&str]) -> Proc {
    let cfg = dir.join("config.yaml");
    let data = dir.join("data");
    let mut args = vec![
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-watch",
        "--no-dashboard",
    ];
    args.extend(extra);
    Proc::spawn(dir, &args, &[("VSR_DATA_DIR", data.to_str().unwrap())])
}

fn write_config(dir: &Path, sim: u16) {
    std::fs::write(
        dir.join("config.yaml"),
        REPLAY_CONFIG.replace("SIM", &format!("127.0.0.1:{sim}")),
    )
    .unwrap();
}

#[test]
fn postgres_replay_store_slow_down_and_back_loses_no_record() {
    let Some(url) = postgres_url() else { return };
    let root = tempdir("dbfault-pg");
    let schema = Schema {
        url: url.clone(),
        name: unique_schema("dbfault"),
    };
    let sim = sim_backend(&root);
    write_config(&root, sim.port);
    let (_, upstream) = via_port(&url, 0);
    let relay = Relay::start(upstream);
    let (relayed, _) = via_port(&url, relay.port);
    let router = serve(
        &root,
        &["--shared-db", &relayed, "--shared-db-schema", &schema.name],
    );
    let port = router.port;
    let quick = Duration::from_secs(2);

    let mut ids = answered(port, 10, "up", quick);
    // Slow: every packet to and from the database waits 300 ms; answers do not.
    relay.slow(300);
    ids.extend(answered(port, 10, "slow", quick));
    relay.slow(0);
    // Down: connections cut, new ones refused; answers still do not wait.
    relay.cut();
    let failures_before = metric(port, "vsr_replay_write_failures_total");
    ids.extend(answered(port, 10, "down", quick));
    wait_until("a failed write", Duration::from_secs(20), || {
        metric(port, "vsr_replay_write_failures_total") > failures_before
    });
    assert!(
        router
            .log_text()
            .contains("replay store write failed; will retry"),
        "{}",
        router.log_text()
    );
    // Back: the kept batches are written.
    relay.restore();
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let count = |db: &mut postgres::Client| -> usize {
        let q = format!(
            "SELECT id FROM \"{}\".replay_records WHERE id = ANY($1)",
            schema.name
        );
        db.query(&q, &[&ids]).map(|r| r.len()).unwrap_or(0)
    };
    wait_until("every record written", Duration::from_secs(30), || {
        count(&mut db) == ids.len()
    });
    assert_eq!(metric(port, "vsr_replay_records_dropped_total"), 0);
}

/// The router's soft `RLIMIT_FSIZE`: writes past it fail with `EFBIG` (SIGXFSZ is ignored by
/// the binary), as they would on a full disk. Unprivileged: a process may lower its soft limit
/// and raise it again up to the hard limit.
/// kill -9 while the database is down: every answered request's record is in the replay
/// journal of the data dir, and the next start over the same data dir writes it.
#[test]
fn postgres_down_then_kill_9_the_next_start_writes_every_answered_record() {
    let Some(url) = postgres_url() else { return };
    let root = tempdir("dbfault-pg-kill");
    let schema = Schema {
        url: url.clone(),
        name: unique_schema("dbkill"),
    };
    let sim = sim_backend(&root);
    write_config(&root, sim.port);
    let (_, upstream) = via_port(&url, 0);
    let relay = Relay::start(upstream);
    let (relayed, _) = via_port(&url, relay.port);
    let args = [
        "--shared-db",
        relayed.as_str(),
        "--shared-db-schema",
        &schema.name,
    ];
    let mut router = serve(&root, &args);
    let quick = Duration::from_secs(2);
    let mut ids = answered(router.port, 10, "up", quick);
    relay.cut();
    ids.extend(answered(router.port, 20, "down", quick));
    // The journal is written as each record arrives; give the last answer's record a moment.
    std::thread::sleep(Duration::from_millis(200));
    router.signal("KILL");
    let _ = router.wait(Duration::from_secs(10));
    relay.restore();
    let router = serve(&root, &args);
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let q = format!(
        "SELECT id FROM \"{}\".replay_records WHERE id = ANY($1)",
        schema.name
    );
    wait_until(
        "every answered record written",
        Duration::from_secs(30),
        || db.query(&q, &[&ids]).map(|r| r.len()).unwrap_or(0) == ids.len(),
    );
    assert!(
        metric(router.port, "vsr_replay_records_recovered_total") >= 20,
        "{}",
        router.log_text()
    );
    assert_eq!(metric(router.port, "vsr_replay_records_dropped_total"), 0);
}

fn set_file_size_limit(pid: u32, bytes: Option<u64>) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads the current limits into `old`.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            std::ptr::null(),
            &mut old,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: bytes.unwrap_or(old.rlim_max),
        rlim_max: old.rlim_max,
    };
    // SAFETY: `new` is a valid rlimit; the old value is not wanted.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

#[test]
fn a_full_disk_for_the_sqlite_data_dir_keeps_answering_and_loses_no_record() {
    let root = tempdir("dbfault-disk");
    let sim = sim_backend(&root);
    write_config(&root, sim.port);
    let router = serve(&root, &[]);
    let port = router.port;
    let quick = Duration::from_secs(2);
    let mut ids = answered(port, 5, "before", quick);
    wait_until("first records written", Duration::from_secs(10), || {
        metric(port, "vsr_replay_records_written_total") >= 5
    });
    // "Full": no file may grow past its size now (the largest of the data files and the log).
    let largest = std::fs::read_dir(root.join("data"))
        .unwrap()
        .chain(std::fs::read_dir(&root).unwrap())
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .max()
        .unwrap_or(0);
    set_file_size_limit(router.child.id(), Some(largest + 4096));
    let written_before = metric(port, "vsr_replay_records_written_total");
    // Records with captured bodies (4 KiB each) soon need more room than that.
    ids.extend(answered(port, 60, "full", quick));
    wait_until("a failed write", Duration::from_secs(20), || {
        metric(port, "vsr_replay_write_failures_total") > 0
    });
    assert!(
        metric(port, "vsr_replay_records_written_total") < written_before + 60,
        "the limit stopped some writes"
    );
    assert!(
        router.log_text().contains("replay store write failed"),
        "{}",
        router.log_text()
    );
    // Room again: the kept batches are written.
    set_file_size_limit(router.child.id(), None);
    wait_until("every record written", Duration::from_secs(30), || {
        metric(port, "vsr_replay_records_written_total") >= written_before + 60
    });
    for id in &ids {
        let r = http(port, "GET", &format!("/v1/router_replay/{id}"), None).unwrap();
        assert_eq!(r.status, 200, "{id}: {}", r.body);
    }
    assert_eq!(metric(port, "vsr_replay_records_dropped_total"), 0);
    let db = vsr_replay::SqliteStore::open(root.join("data/replay.db")).unwrap();
    assert_eq!(db.integrity_check().unwrap(), "ok");
}
