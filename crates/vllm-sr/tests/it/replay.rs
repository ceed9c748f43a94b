//! Replay through the running router: records with cost and savings, the replay API and
//! metric, graceful shutdown losing nothing, and SIGKILL durability.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vsr_replay::{ReplayStore, SqliteStore};

use crate::harness::{Stack, chat, http};

/// The writer's flush interval (`WriterConfig::default()`).
const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

fn wait_for_record(port: u16, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http(port, "GET", &format!("/v1/router_replay/{id}"), None).unwrap();
        if r.status == 200 {
            return r.json();
        }
        assert!(
            Instant::now() < deadline,
            "record {id} never appeared: {}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn routed_requests_leave_records_with_cost_and_savings() {
    let stack = Stack::start("replay");
    let port = stack.router.port;
    let mut ids = Vec::new();
    for stream in [false, true, false, true] {
        let r = chat(port, "please review this code", stream).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("x-vsr-selected-decision"), Some("code_route"));
        let id = r
            .header("x-vsr-replay-id")
            .expect("replay id header")
            .to_string();
        ids.push((id, stream));
    }
    // No decision → no plugin → no record.
    let r = chat(port, "hello there", false).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("x-vsr-replay-id").is_none());

    for (id, stream) in &ids {
        let rec = wait_for_record(port, id);
        assert_eq!(rec["decision"], "code_route");
        assert_eq!(rec["selected_model"], "cheap");
        assert_eq!(rec["provider_model"], "cheap-up");
        assert_eq!(rec["original_model"], "MoM");
        assert_eq!(
            rec["streaming"].as_bool().unwrap_or(false),
            *stream,
            "{rec}"
        );
        assert_eq!(rec["response_status"], 200);
        let ttft = rec["ttft_ms"]
            .as_u64()
            .expect("time to first token recorded");
        let duration = rec["duration_ms"].as_u64().expect("duration recorded");
        assert!(ttft <= duration, "{rec}");
        assert!(rec["signals"]["keyword"][0] == "code", "{rec}");
        let prompt = rec["prompt_tokens"].as_u64().expect("prompt tokens");
        let completion = rec["completion_tokens"]
            .as_u64()
            .expect("completion tokens");
        assert!(prompt > 0 && completion > 0, "{rec}");
        // cheap: 0.5 / 1.0 per 1M; baseline premium: 10 / 30 per 1M.
        let actual = rec["actual_cost"].as_f64().unwrap();
        let baseline = rec["baseline_cost"].as_f64().unwrap();
        let saved = rec["cost_savings"].as_f64().unwrap();
        let want_actual = (prompt as f64 * 0.5 + completion as f64 * 1.0) / 1e6;
        let want_baseline = (prompt as f64 * 10.0 + completion as f64 * 30.0) / 1e6;
        assert!((actual - want_actual).abs() < 1e-12, "{rec}");
        assert!((baseline - want_baseline).abs() < 1e-12, "{rec}");
        assert!((saved - (baseline - actual)).abs() < 1e-12, "{rec}");
        assert_eq!(rec["baseline_model"], "premium");
        assert!(
            rec["request_body"]
                .as_str()
                .unwrap()
                .contains("review this code"),
            "{rec}"
        );
    }
    let agg = http(port, "GET", "/v1/router_replay/aggregate", None).unwrap();
    assert_eq!(agg.status, 200);
    assert_eq!(agg.json()["record_count"], 4, "{}", agg.body);
    let list = http(port, "GET", "/v1/router_replay?streamed=true", None).unwrap();
    assert_eq!(list.json()["total"], 2, "{}", list.body);
    let bad = http(port, "POST", "/v1/router_replay", Some("{}")).unwrap();
    assert_eq!(bad.status, 405);
    let missing = http(port, "GET", "/v1/router_replay/nope", None).unwrap();
    assert_eq!(missing.status, 404);
    let metrics = http(port, "GET", "/metrics", None).unwrap();
    assert!(
        metrics.body.contains("vsr_replay_records_dropped_total 0"),
        "{}",
        metrics.body
    );
}

/// Replay ids of answered requests, with the time each answer was complete.
type Answered = Arc<Mutex<Vec<(String, Instant)>>>;

/// Sends requests from `threads` clients until `stop`; returns (replay id, response time).
fn load(
    port: u16,
    threads: usize,
    stop: Arc<AtomicBool>,
) -> (Vec<std::thread::JoinHandle<()>>, Answered) {
    let done = Arc::new(Mutex::new(Vec::new()));
    let handles = (0..threads)
        .map(|t| {
            let stop = stop.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let Ok(r) = chat(port, &format!("code question {t}-{i}"), i % 2 == 0) else {
                        break;
                    };
                    if r.status != 200 {
                        continue;
                    }
                    // A stream is complete once its final chunk arrived.
                    if i % 2 == 0 && !r.body.contains("[DONE]") {
                        continue;
                    }
                    if let Some(id) = r.header("x-vsr-replay-id") {
                        done.lock().unwrap().push((id.to_string(), Instant::now()));
                    }
                }
            })
        })
        .collect();
    (handles, done)
}

#[test]
fn sigterm_under_load_loses_nothing() {
    let mut stack = Stack::start("sigterm");
    let stop = Arc::new(AtomicBool::new(false));
    let (handles, done) = load(stack.router.port, 4, stop.clone());
    std::thread::sleep(Duration::from_millis(1500));
    stack.router.signal("TERM");
    let status = stack.router.wait(Duration::from_secs(30));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    assert!(status.success(), "{status}: {}", stack.router.log_text());
    let done = done.lock().unwrap().clone();
    assert!(done.len() > 10, "too little load: {}", done.len());
    let store = SqliteStore::open(stack.db()).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let missing: Vec<_> = done
        .iter()
        .filter(|(id, _)| store.get(id).unwrap().is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests have no record after SIGTERM",
        missing.len(),
        done.len()
    );
}

#[test]
fn sigkill_under_load_keeps_every_record_older_than_a_flush_interval() {
    let mut stack = Stack::start("sigkill");
    let stop = Arc::new(AtomicBool::new(false));
    let (handles, done) = load(stack.router.port, 4, stop.clone());
    std::thread::sleep(Duration::from_millis(2500));
    let killed_at = Instant::now();
    stack.router.signal("KILL");
    let _ = stack.router.wait(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let done = done.lock().unwrap().clone();
    // Answered before the last flush interval started (plus the time a commit takes).
    let due: Vec<_> = done
        .iter()
        .filter(|(_, at)| *at + FLUSH_INTERVAL + Duration::from_millis(250) < killed_at)
        .collect();
    assert!(
        due.len() > 10,
        "too little load: {} of {}",
        due.len(),
        done.len()
    );

    // The database opens cleanly, standalone and under a restarted router.
    {
        let store = SqliteStore::open(stack.db()).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        let missing = due
            .iter()
            .filter(|(id, _)| store.get(id).unwrap().is_none())
            .count();
        assert_eq!(missing, 0, "{missing} of {} due records lost", due.len());
    }
    let router = Stack::router(&stack.dir);
    // The restarted router serves the same store. It enforces retention (200 records per
    // decision by default) on start, which may drop any given old record under this load,
    // so ask for the newest record and check it is one of the answered requests.
    let r = http(router.port, "GET", "/v1/router_replay?limit=1", None).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let page: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let newest = page["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        done.iter().any(|(id, _)| *id == newest),
        "the restarted router's newest record {newest} is not an answered request"
    );
    let r = chat(router.port, "more code please", false).unwrap();
    assert_eq!(r.status, 200);
    stack.router = router;
}
