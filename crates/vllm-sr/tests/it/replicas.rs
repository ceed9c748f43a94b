//! Router replicas over one PostgreSQL (`serve --shared-db`): a config deployed through one
//! replica's dashboard reaches every replica with no failed request, Insights on any replica
//! counts every replica's records, and a replica cut off from the database keeps routing and
//! catches up when it is back. Runs against `VSR_TEST_POSTGRES_URL` (scripts/test.sh starts
//! one), each test in a schema of its own; without it the tests skip with a notice.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Proc, REPLAY_CONFIG, chat_at, sim_backend, tempdir};

pub(crate) fn postgres_url() -> Option<String> {
    match std::env::var("VSR_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            vsr_testkit::missing("VSR_TEST_POSTGRES_URL is not set (the replicas tests)");
            None
        }
    }
}

pub(crate) fn unique_schema(tag: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("vsr_rep_{tag}_{}_{n}", std::process::id())
}

/// Drops the test's schema at the end.
pub(crate) struct Schema {
    pub url: String,
    pub name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
        }
    }
}

/// One `vllm-sr serve` replica with its own data dir and dashboard.
struct Replica {
    proc: Proc,
    dash: u16,
    /// Where its listeners are reached (loopback, or its network namespace's address).
    host: String,
}

impl Replica {
    /// `config: None` starts with no config file of its own.
    fn start(root: &Path, name: &str, config: Option<&str>, db_url: &str, schema: &str) -> Replica {
        Replica::start_in(None, root, name, config, db_url, schema)
    }

    /// Started inside network namespace `netns` (`(name, address)`) when given.
    fn start_in(
        netns: Option<(&str, &str)>,
        root: &Path,
        name: &str,
        config: Option<&str>,
        db_url: &str,
        schema: &str,
    ) -> Replica {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config.yaml");
        if let Some(config) = config {
            std::fs::write(&cfg, config).unwrap();
        }
        let dash_file = dir.join("dash.port");
        let data = dir.join("data");
        let args = [
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--host",
            if netns.is_some() {
                "0.0.0.0"
            } else {
                "127.0.0.1"
            },
            "--port",
            "0",
            "--no-watch",
            "--dashboard-port",
            "0",
            "--dashboard-port-file",
            dash_file.to_str().unwrap(),
            "--shared-db",
            db_url,
            "--shared-db-schema",
            schema,
        ];
        let wrapper: Vec<&str> = match netns {
            Some((ns, _)) => vec!["ip", "netns", "exec", ns],
            None => vec![],
        };
        let proc = Proc::spawn_wrapped(
            &wrapper,
            &dir,
            &args,
            &[("VSR_DATA_DIR", data.to_str().unwrap())],
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let dash = loop {
            if let Ok(p) = std::fs::read_to_string(&dash_file).map(|s| s.trim().parse::<u16>())
                && let Ok(p) = p
            {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: no dashboard port: {}",
                proc.log_text()
            );
            thread::sleep(Duration::from_millis(20));
        };
        let host = netns.map_or("127.0.0.1", |(_, addr)| addr).to_string();
        Replica { proc, dash, host }
    }

    fn port(&self) -> u16 {
        self.proc.port
    }

    /// `GET /config/sync` on the router's management plane.
    fn sync(&self) -> Value {
        crate::harness::http_at(&self.host, self.port(), "GET", "/config/sync", None)
            .map(|r| r.json())
            .unwrap_or(Value::Null)
    }

    /// The alias a coding prompt is routed to now.
    fn routes_code_to(&self) -> Option<String> {
        chat_at(&self.host, self.port(), "please write code", false)
            .ok()
            .filter(|r| r.status == 200)
            .and_then(|r| r.header("x-vsr-selected-model").map(str::to_string))
    }
}

/// A signed-in dashboard user: cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

/// A dashboard's address: a port on loopback, or `(host, port)`.
#[derive(Clone)]
struct Addr(String, u16);

impl From<u16> for Addr {
    fn from(port: u16) -> Addr {
        Addr("127.0.0.1".into(), port)
    }
}

impl From<(&str, u16)> for Addr {
    fn from((host, port): (&str, u16)) -> Addr {
        Addr(host.into(), port)
    }
}

fn dash_call(
    to: impl Into<Addr>,
    s: Option<&Session>,
    method: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(s) = s {
        headers.push(("cookie", s.cookie.as_str()));
        headers.push(("x-csrf-token", s.csrf.as_str()));
    }
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let Addr(host, port) = to.into();
    let r = vsr_testkit::http::blocking(
        method,
        &format!("http://{host}:{port}{path}"),
        &body,
        &headers,
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let v = serde_json::from_str(&r.text()).unwrap_or(Value::Null);
    (r.status, v)
}

fn login(to: impl Into<Addr>, password: &str) -> Session {
    let body = json!({"username": "admin", "password": password}).to_string();
    let Addr(host, port) = to.into();
    let r = vsr_testkit::http::blocking(
        "POST",
        &format!("http://{host}:{port}/api/auth/login"),
        &body,
        &[("content-type", "application/json")],
    )
    .unwrap();
    assert_eq!(r.status, 200, "login: {}", r.text());
    let cookie = r
        .header("set-cookie")
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    Session {
        cookie,
        csrf: r.json()["csrf"].as_str().unwrap_or_default().to_string(),
    }
}

/// The first replica created the admin and wrote its password to its data dir.
fn admin_password(root: &Path, replicas: &[&str]) -> String {
    replicas
        .iter()
        .find_map(|n| {
            std::fs::read_to_string(root.join(n).join("data/initial-admin-password")).ok()
        })
        .map(|p| p.trim().to_string())
        .expect("one replica created the first admin")
}

fn wait_until(what: &str, max: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < max, "{what}: not within {max:?}");
        thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// Chat requests in a loop against `ports` until stopped; counts answers and failures.
struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<Mutex<Vec<String>>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(to: &[&Replica]) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let threads = to
            .iter()
            .map(|r| (r.host.clone(), r.port()))
            .map(|(host, port)| {
                let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match chat_at(&host, port, "write some code for me", false) {
                            Ok(r) if r.status == 200 => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(r) => failed
                                .lock()
                                .unwrap()
                                .push(format!("{port}: {} {}", r.status, r.body)),
                            Err(e) => failed.lock().unwrap().push(format!("{port}: {e}")),
                        }
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Stops and returns (answered, failures).
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let failed = self.failed.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failed)
    }
}

fn config_v1(sim: u16) -> String {
    REPLAY_CONFIG.replace("SIM", &format!("127.0.0.1:{sim}"))
}

/// v1 with the coding decision sent to `premium` instead of `cheap`.
fn config_v2(sim: u16) -> String {
    let v1 = config_v1(sim);
    let v2 = v1.replace(
        "        - {model: cheap, use_reasoning: false}",
        "        - {model: premium, use_reasoning: false}",
    );
    assert_ne!(v1, v2);
    v2
}

fn deploy(to: impl Into<Addr>, s: &Session, yaml: &str, message: &str) -> i64 {
    let (status, v) = dash_call(
        to,
        Some(s),
        "POST",
        "/api/config/deploy",
        &json!({"yaml": yaml, "message": message}),
    );
    assert_eq!(status, 200, "deploy: {v}");
    v["version"].as_i64().expect("a version id")
}

#[test]
fn a_deploy_through_one_replica_reaches_all_three_without_a_failed_request() {
    let Some(url) = postgres_url() else { return };
    let root = tempdir("replicas");
    let schema = Schema {
        url: url.clone(),
        name: unique_schema("deploy"),
    };
    let sim = sim_backend(&root);
    let v1 = config_v1(sim.port);
    // The first replica makes the first admin; the others start together.
    let names = ["r1", "r2", "r3"];
    let r1 = Replica::start(&root, names[0], Some(&v1), &url, &schema.name);
    let (r2, r3) = thread::scope(|s| {
        let a = s.spawn(|| Replica::start(&root, names[1], Some(&v1), &url, &schema.name));
        let b = s.spawn(|| Replica::start(&root, names[2], Some(&v1), &url, &schema.name));
        (a.join().unwrap(), b.join().unwrap())
    });
    let replicas = [&r1, &r2, &r3];
    for r in replicas {
        assert_eq!(
            r.routes_code_to().as_deref(),
            Some("cheap"),
            "{}",
            r.proc.log_text()
        );
    }
    // All three run the first version (one recorded it; the others found it).
    wait_until(
        "every replica runs the first version",
        Duration::from_secs(10),
        || {
            let ids: Vec<Value> = replicas
                .iter()
                .map(|r| r.sync()["sync"]["applied_version"].clone())
                .collect();
            ids[0].is_i64() && ids.iter().all(|v| *v == ids[0])
        },
    );

    // One admin for the fleet: the password made by one replica signs in on another, and the
    // session cookie from that one is accepted by a third.
    let password = admin_password(&root, &names);
    let session = login(r2.dash, &password);
    let (status, users) = dash_call(r3.dash, Some(&session), "GET", "/api/users", &Value::Null);
    assert_eq!(status, 200, "{users}");
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");

    let traffic = Traffic::start(&[&r1, &r2, &r3]);
    thread::sleep(Duration::from_millis(500));
    let version = deploy(
        r2.dash,
        &session,
        &config_v2(sim.port),
        "send code to premium",
    );
    let took = wait_until(
        "every replica serves the new version",
        Duration::from_secs(10),
        || {
            replicas
                .iter()
                .all(|r| r.routes_code_to().as_deref() == Some("premium"))
        },
    );
    thread::sleep(Duration::from_millis(300));
    let (answered, failures) = traffic.finish();
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        answered > 30,
        "too little traffic to say anything: {answered}"
    );
    for r in replicas {
        let s = r.sync();
        assert_eq!(s["sync"]["applied_version"], json!(version), "{s}");
        assert_eq!(s["sync"]["active_version"], json!(version), "{s}");
        assert!(s["generation"].as_u64().unwrap_or(0) >= 2, "{s}");
    }
    // The dashboard status of a replica that did not deploy shows the same.
    let (_, st) = dash_call(r3.dash, Some(&session), "GET", "/api/status", &Value::Null);
    assert_eq!(
        st["config_sync"]["sync"]["applied_version"],
        json!(version),
        "{st}"
    );
    eprintln!("replicas: version {version} everywhere in {took:?}; {answered} requests, 0 failed");

    // Insights on any replica count every replica's records: the traffic above plus the
    // probes of `routes_code_to`, all routed by the recording decision.
    let count = |r: &Replica| {
        let (status, v) = dash_call(r.dash, Some(&session), "GET", "/api/insights", &Value::Null);
        assert_eq!(status, 200, "{v}");
        v["aggregates"]["record_count"].as_i64().unwrap_or(-1)
    };
    // The last records may still be on their way from a writer: wait until every replica
    // reads the same total, which must cover everything answered.
    let mut totals: Vec<i64> = Vec::new();
    wait_until(
        "Insights on every replica count every replica's records",
        Duration::from_secs(15),
        || {
            totals = replicas.iter().map(|r| count(r)).collect();
            totals.iter().all(|t| *t == totals[0]) && totals[0] >= answered as i64
        },
    );
    let per_replica = (answered / 3) as i64;
    assert!(
        totals[0] > per_replica * 2,
        "{totals:?} vs {answered} answered"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// A TCP relay to PostgreSQL that the test can cut (every connection closed, new ones
/// refused at once), slow down (a delay before every chunk it passes on) and restore.
pub(crate) struct Relay {
    pub port: u16,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    delay_ms: Arc<AtomicU64>,
}

impl Relay {
    pub(crate) fn start(upstream: std::net::SocketAddr) -> Relay {
        Relay::start_on("127.0.0.1", upstream)
    }

    fn start_on(bind: &str, upstream: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind((bind, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (o, c, d) = (open.clone(), conns.clone(), delay_ms.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !o.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                {
                    let mut all = c.lock().unwrap();
                    all.push(client.try_clone().unwrap());
                    all.push(server.try_clone().unwrap());
                }
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    let d = d.clone();
                    thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    let ms = d.load(Ordering::Relaxed);
                                    if ms > 0 {
                                        thread::sleep(Duration::from_millis(ms));
                                    }
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Relay {
            port,
            open,
            conns,
            delay_ms,
        }
    }

    /// Every chunk waits this long before it is passed on (0: none).
    pub(crate) fn slow(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
pub(crate) fn via_port(url: &str, port: u16) -> (String, std::net::SocketAddr) {
    let config: postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        postgres::config::Host::Tcp(h) => h.clone(),
        #[allow(unreachable_patterns)]
        _ => "127.0.0.1".into(),
    };
    let upstream_port = config.get_ports().first().copied().unwrap_or(5432);
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), upstream_port))
        .unwrap()
        .next()
        .unwrap();
    let (scheme_auth, rest) = url.split_once('@').unwrap();
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
    (format!("{scheme_auth}@127.0.0.1:{port}{path}"), upstream)
}

#[test]
fn a_replica_that_loses_the_database_keeps_routing_and_catches_up() {
    let Some(url) = postgres_url() else { return };
    let root = tempdir("replicas-loss");
    let schema = Schema {
        url: url.clone(),
        name: unique_schema("loss"),
    };
    let sim = sim_backend(&root);
    let v1 = config_v1(sim.port);
    let a = Replica::start(&root, "a", Some(&v1), &url, &schema.name);
    let (_, upstream) = via_port(&url, 0);
    let relay = Relay::start(upstream);
    let (relayed, _) = via_port(&url, relay.port);
    let b = Replica::start(&root, "b", Some(&v1), &relayed, &schema.name);
    wait_until("b listens", Duration::from_secs(10), || {
        b.sync()["sync"]["connected"] == json!(true)
    });
    let session = login(a.dash, &admin_password(&root, &["a", "b"]));

    // B loses the database; it keeps routing on its config while A deploys.
    relay.cut();
    wait_until("b notices", Duration::from_secs(15), || {
        b.sync()["sync"]["connected"] == json!(false)
    });
    let traffic = Traffic::start(&[&b]);
    let version = deploy(a.dash, &session, &config_v2(sim.port), "while b is away");
    assert_eq!(a.routes_code_to().as_deref(), Some("premium"));
    thread::sleep(Duration::from_secs(2));
    let (answered, failures) = traffic.finish();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(answered > 0);
    assert_eq!(
        b.routes_code_to().as_deref(),
        Some("cheap"),
        "b still runs its config"
    );
    assert_ne!(b.sync()["sync"]["applied_version"], json!(version));

    // Back: B catches up to the version it missed (no notification reached it).
    relay.restore();
    wait_until("b catches up", Duration::from_secs(20), || {
        b.routes_code_to().as_deref() == Some("premium")
    });
    assert_eq!(b.sync()["sync"]["applied_version"], json!(version));

    // A new replica with an empty data dir and no config file starts on the active version.
    let c = Replica::start(&root, "c", None, &url, &schema.name);
    assert_eq!(
        c.routes_code_to().as_deref(),
        Some("premium"),
        "{}",
        c.proc.log_text()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("c/config.yaml")).unwrap(),
        config_v2(sim.port)
    );
    drop(c);

    // A new replica that finds neither a config file nor the database starts in setup mode,
    // and runs the active version as soon as the database is reachable.
    relay.cut();
    let e_dir = root.join("e");
    std::fs::create_dir_all(&e_dir).unwrap();
    let e_dash_file = e_dir.join("dash.port");
    let e_cfg = e_dir.join("config.yaml");
    let mut e = std::process::Command::new(crate::harness::bin())
        .args([
            "serve",
            "--config",
            e_cfg.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .args([
            "--no-watch",
            "--dashboard-port",
            "0",
            "--dashboard-port-file",
        ])
        .arg(&e_dash_file)
        .args(["--shared-db", &relayed, "--shared-db-schema", &schema.name])
        .env("VSR_DATA_DIR", e_dir.join("data"))
        .current_dir(&e_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut e_dash = 0u16;
    wait_until("e's dashboard", Duration::from_secs(30), || {
        e_dash = std::fs::read_to_string(&e_dash_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        e_dash != 0
    });
    let state = || dash_call(e_dash, None, "GET", "/api/auth/state", &Value::Null);
    // Without the database the dashboard cannot say who may sign in: 503, not a guess.
    assert_eq!(state().0, 503, "{}", state().1);
    relay.restore();
    wait_until("e runs the active version", Duration::from_secs(30), || {
        state().1["setup_mode"] == json!(false)
    });
    assert_eq!(
        std::fs::read_to_string(&e_cfg).unwrap(),
        config_v2(sim.port)
    );
    let _ = e.kill();
    let _ = e.wait();

    // A version that does not validate reaches the database behind the dashboard's back:
    // both replicas refuse it, say so, and keep routing on the running one.
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(&format!("SET search_path TO \"{}\"", schema.name))
        .unwrap();
    let bad: i64 = c
        .query_one(
            "INSERT INTO config_versions (created_at, author, message, yaml) VALUES (0, 'test', 'bad', $1) RETURNING id",
            &[&"version: v0.3\nrouting: [unclosed\n"],
        )
        .unwrap()
        .get(0);
    c.execute("UPDATE config_active SET version_id = $1", &[&bad])
        .unwrap();
    c.execute(
        "SELECT pg_notify($1, $2)",
        &[
            &format!("vsr_config_active:{}", schema.name),
            &bad.to_string(),
        ],
    )
    .unwrap();
    for r in [&a, &b] {
        wait_until(
            "the bad version is refused",
            Duration::from_secs(10),
            || r.sync()["sync"]["refused"]["version"] == json!(bad),
        );
        let s = r.sync();
        assert_eq!(s["sync"]["applied_version"], json!(version), "{s}");
        assert!(
            s["sync"]["refused"]["error"]
                .as_str()
                .unwrap_or("")
                .contains("does not validate"),
            "{s}"
        );
        assert_eq!(r.routes_code_to().as_deref(), Some("premium"));
        assert!(
            r.proc.log_text().contains("refused the active version"),
            "{}",
            r.proc.log_text()
        );
    }
    drop(c);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_replica_starts_and_routes_while_the_database_is_down() {
    let root = tempdir("replicas-down");
    let sim = sim_backend(&root);
    // Nothing listens on port 1.
    let r = Replica::start(
        &root,
        "d",
        Some(&config_v1(sim.port)),
        "postgres://postgres@127.0.0.1:1/vsr",
        "unused",
    );
    assert_eq!(
        r.routes_code_to().as_deref(),
        Some("cheap"),
        "{}",
        r.proc.log_text()
    );
    let s = r.sync();
    assert_eq!(s["sync"]["connected"], json!(false), "{s}");
    assert!(s["sync"]["last_error"].is_string(), "{s}");
    // The dashboard answers, and says the user store is unavailable rather than guessing.
    let (status, v) = dash_call(
        r.dash,
        None,
        "POST",
        "/api/auth/login",
        &json!({"username": "admin", "password": "x"}),
    );
    assert_eq!(status, 503, "{v}");
    let _ = std::fs::remove_dir_all(&root);
}

/// A network namespace joined to the host by a veth pair: the host side is `10.213.<n>.1`, the
/// namespace side `10.213.<n>.2`. Deleted on drop (with its veth pair).
struct Netns {
    name: String,
    host_ip: String,
    ns_ip: String,
}

impl Netns {
    /// `None` when this machine cannot make one (not root, no `ip`, no netns support).
    fn create(n: u8) -> Option<Netns> {
        let tag = std::process::id() % 100_000;
        let name = format!("vsr-{tag}-{n}");
        let (host_if, ns_if) = (format!("vh{tag}{n}"), format!("vn{tag}{n}"));
        let (host_ip, ns_ip) = (format!("10.213.{n}.1"), format!("10.213.{n}.2"));
        let ns = Netns {
            name: name.clone(),
            host_ip: host_ip.clone(),
            ns_ip: ns_ip.clone(),
        };
        let ip = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let ok = ip(&["netns", "add", &name])
            && ip(&[
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ])
            && ip(&["link", "set", &ns_if, "netns", &name])
            && ip(&["addr", "add", &format!("{host_ip}/24"), "dev", &host_if])
            && ip(&["link", "set", &host_if, "up"])
            && ip(&[
                "netns",
                "exec",
                &name,
                "ip",
                "addr",
                "add",
                &format!("{ns_ip}/24"),
                "dev",
                &ns_if,
            ])
            && ip(&["netns", "exec", &name, "ip", "link", "set", &ns_if, "up"])
            && ip(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"])
            && ip(&[
                "netns", "exec", &name, "ip", "route", "add", "default", "via", &host_ip,
            ]);
        ok.then_some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The acceptance run with each replica on a host of its own: three network namespaces, each
/// reaching PostgreSQL and the backend only over its veth link (through the host, as a router
/// would). Runs where network namespaces can be made (root with `ip`); elsewhere it says so and
/// passes (the loopback runs above cover the same behaviour).
#[test]
fn replicas_in_separate_network_namespaces_follow_one_deploy() {
    let Some(url) = postgres_url() else { return };
    let spaces: Vec<Netns> = (1..=3).filter_map(Netns::create).collect();
    if spaces.len() < 3 {
        eprintln!("note: cannot make network namespaces here (needs root and `ip netns`); skipped");
        return;
    }
    let root = tempdir("replicas-netns");
    let schema = Schema {
        url: url.clone(),
        name: unique_schema("netns"),
    };
    let sim = Proc::spawn(
        &root,
        &[
            "sim-backend",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--models",
            "cheap-up,premium",
        ],
        &[],
    );
    let (_, upstream) = via_port(&url, 0);
    let relay = Relay::start_on("0.0.0.0", upstream);
    // One address of the host, reached from every namespace through its default route, names
    // the backend and the database in the one config text all replicas share.
    let host = spaces[0].host_ip.clone();
    let v1 = REPLAY_CONFIG.replace("SIM", &format!("{host}:{}", sim.port));
    let v2 = v1.replace(
        "        - {model: cheap, use_reasoning: false}",
        "        - {model: premium, use_reasoning: false}",
    );
    let (db, _) = via_port(&url, relay.port);
    let db = db.replace("127.0.0.1", &host);
    let replicas: Vec<Replica> = spaces
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            Replica::start_in(
                Some((&ns.name, &ns.ns_ip)),
                &root,
                &format!("n{i}"),
                Some(&v1),
                &db,
                &schema.name,
            )
        })
        .collect();
    for r in &replicas {
        assert_eq!(
            r.routes_code_to().as_deref(),
            Some("cheap"),
            "{}",
            r.proc.log_text()
        );
    }
    let password = admin_password(&root, &["n0", "n1", "n2"]);
    let r1 = &replicas[1];
    let session = login((r1.host.as_str(), r1.dash), &password);
    let traffic = Traffic::start(&replicas.iter().collect::<Vec<_>>());
    thread::sleep(Duration::from_millis(300));
    let version = deploy((r1.host.as_str(), r1.dash), &session, &v2, "across hosts");
    wait_until(
        "every namespace serves the new version",
        Duration::from_secs(10),
        || {
            replicas
                .iter()
                .all(|r| r.routes_code_to().as_deref() == Some("premium"))
        },
    );
    let (answered, failures) = traffic.finish();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(answered > 30, "{answered}");
    for r in &replicas {
        assert_eq!(r.sync()["sync"]["applied_version"], json!(version));
    }
    let r2 = &replicas[2];
    wait_until(
        "Insights in one namespace count all three",
        Duration::from_secs(15),
        || {
            let (_, v) = dash_call(
                (r2.host.as_str(), r2.dash),
                Some(&session),
                "GET",
                "/api/insights",
                &Value::Null,
            );
            v["aggregates"]["record_count"].as_i64().unwrap_or(0) >= answered as i64
        },
    );
    drop(replicas);
    let _ = std::fs::remove_dir_all(&root);
}
