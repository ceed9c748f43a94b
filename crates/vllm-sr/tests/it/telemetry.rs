//! Logs and traces of the running binary: `--log-format json` writes JSON lines, and with
//! `observability.tracing` enabled a routed request reaches an OTLP/HTTP receiver as one span
//! per phase, all in one trace under `request`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{REPLAY_CONFIG, chat, http, serve_in, sim_backend, tempdir};

/// A loopback OTLP/HTTP receiver: every POSTed body, parsed.
struct Receiver {
    port: u16,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve_conn(conn, &seen));
            }
        });
        Receiver { port, bodies }
    }

    /// The spans received so far.
    fn spans(&self) -> Vec<Value> {
        let bodies = self.bodies.lock().unwrap();
        let mut out = Vec::new();
        for b in bodies.iter() {
            for rs in b["resourceSpans"].as_array().into_iter().flatten() {
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    out.extend(ss["spans"].as_array().into_iter().flatten().cloned());
                }
            }
        }
        out
    }
}

/// HTTP/1.1 with keep-alive: one request after another until the client closes.
fn serve_conn(conn: TcpStream, seen: &Mutex<Vec<Value>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(v) = serde_json::from_slice(&body) {
            seen.lock().unwrap().push(v);
        }
        let _ = out.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        );
    }
}

fn config_with_tracing(sim_port: u16, collector: &str) -> String {
    let mut cfg = REPLAY_CONFIG.replace("SIM", &format!("127.0.0.1:{sim_port}"));
    cfg.push_str(&format!(
        "global:
  services:
    observability:
      tracing:
        enabled: true
        exporter: {{type: otlp, endpoint: \"{collector}\"}}
        sampling: {{type: always_on}}
        resource: {{service_name: vsr-it}}
"
    ));
    cfg
}

#[test]
fn a_routed_request_exports_one_span_per_phase() {
    let receiver = Receiver::start();
    let dir = tempdir("otlp");
    let sim = sim_backend(&dir);
    std::fs::write(
        dir.join("config.yaml"),
        config_with_tracing(sim.port, &format!("127.0.0.1:{}", receiver.port)),
    )
    .unwrap();
    let router = serve_in(&dir, &[]);
    let r = chat(router.port, "please review this code", false).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-vsr-selected-decision"), Some("code_route"));
    let request_id = r.header("x-request-id").expect("request id").to_string();

    let phases = [
        "parse",
        "signals",
        "projections",
        "decision",
        "forward",
        "record",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = receiver.spans();
        let root = spans.iter().any(|s| s["name"] == "request");
        if root && phases.iter().all(|p| spans.iter().any(|s| s["name"] == *p)) {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "spans never arrived: {spans:?}\n{}",
            router.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let roots: Vec<&Value> = spans.iter().filter(|s| s["name"] == "request").collect();
    assert_eq!(roots.len(), 1, "{spans:?}");
    let root = roots[0];
    let attr = |s: &Value, k: &str| {
        s["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == k)
            .map(|a| a["value"]["stringValue"].clone())
    };
    assert_eq!(attr(root, "request_id"), Some(Value::from(request_id)));
    assert_eq!(attr(root, "decision"), Some(Value::from("code_route")));
    assert!(root.get("parentSpanId").is_none(), "{root}");
    for p in phases {
        let of_phase: Vec<&Value> = spans.iter().filter(|s| s["name"] == p).collect();
        assert_eq!(of_phase.len(), 1, "{p}: {spans:?}");
        let s = of_phase[0];
        assert_eq!(s["traceId"], root["traceId"], "{p}");
        assert_eq!(s["parentSpanId"], root["spanId"], "{p}");
        let start: u64 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let end: u64 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        assert!(start > 0 && end >= start, "{s}");
    }
}

#[test]
fn json_log_format_writes_json_lines() {
    let dir = tempdir("jsonlog");
    let sim = sim_backend(&dir);
    let cfg = dir.join("config.yaml");
    std::fs::write(
        &cfg,
        REPLAY_CONFIG.replace("SIM", &format!("127.0.0.1:{}", sim.port)),
    )
    .unwrap();
    let router = serve_in(&dir, &["--log-format", "json", "--log-level", "warn"]);
    std::fs::write(&cfg, "providers: [unclosed").unwrap();
    let r = http(router.port, "POST", "/config/reload", Some("{}")).unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = router.log_text();
        let json: Vec<Value> = log
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        if let Some(line) = json
            .iter()
            .find(|v| v["fields"]["message"] == "config reload refused; keeping the running config")
        {
            assert_eq!(line["level"], "ERROR");
            assert!(line["timestamp"].is_string(), "{line}");
            // Only the CLI's own status lines are not JSON.
            for l in log.lines().filter(|l| !l.starts_with('{')) {
                assert!(l.starts_with("vllm-sr"), "not a JSON log line: {l}");
            }
            break;
        }
        assert!(Instant::now() < deadline, "no JSON error line:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
