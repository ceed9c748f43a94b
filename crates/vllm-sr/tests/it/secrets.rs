//! Secrets are never logged or recorded (docs/security.md): a provider key and a secret extra
//! header in the config, client credentials on the data plane (Authorization, x-api-key, keys
//! in the body), and dashboard passwords (a user created, a sign-in, a failed sign-in) go
//! through the real flows of `vllm-sr serve` with trace-level logs; then the captured output,
//! the replay database's files, the dashboard's log API and `/config/router` are searched
//! for each of them.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{Proc, REPLAY_CONFIG, sim_backend, tempdir};

const PROVIDER_KEY: &str = "sk-provider0secret0key0AAAAAAAAAAAA";
const PROVIDER_HEADER: &str = "hdr0secret0value0BBBBBBBB";
const CLIENT_BEARER: &str = "sk-client0bearer0CCCCCCCCCCCCCCCC";
const CLIENT_X_API_KEY: &str = "xkey0client0DDDDDDDDDDDD";
const BODY_KEY: &str = "sk-body0key0EEEEEEEEEEEEEEEEEEEE";
const USER_PASSWORD: &str = "ops0password0FFFFFFFF";
const WRONG_PASSWORD: &str = "wrong0password0GGGGGGGG";

fn wait_port(file: &Path, router: &Proc) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Ok(p)) = std::fs::read_to_string(file).map(|s| s.trim().parse::<u16>()) {
            return p;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the dashboard never wrote its port: {}", router.log_text());
}

fn call(url: &str, method: &str, body: &str, headers: &[(&str, &str)]) -> vsr_testkit::http::Reply {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    vsr_testkit::http::blocking(method, url, body, &h).expect("request")
}

#[test]
fn secrets_never_reach_the_logs_or_the_replay_store() {
    let dir = tempdir("secrets");
    let sim = sim_backend(&dir);
    let config = REPLAY_CONFIG
        .replace("SIM", &format!("127.0.0.1:{}", sim.port))
        .replace(
            "- {name: sim, endpoint: \"127.0.0.1",
            &format!(
                "- {{name: sim, api_key: \"{PROVIDER_KEY}\", extra_headers: {{X-Api-Key: \"{PROVIDER_HEADER}\"}}, endpoint: \"127.0.0.1"
            ),
        );
    assert!(config.contains(PROVIDER_KEY), "{config}");
    std::fs::write(dir.join("config.yaml"), &config).unwrap();
    let data = dir.join("data");
    let dash_port_file = dir.join("dash.port");
    let args = [
        "serve",
        "--config",
        "config.yaml",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-watch",
        "--dashboard-port",
        "0",
        "--dashboard-port-file",
        dash_port_file.to_str().unwrap(),
    ];
    let mut router = Proc::spawn(
        &dir,
        &args,
        &[
            ("VSR_DATA_DIR", data.to_str().unwrap()),
            ("RUST_LOG", "trace"),
        ],
    );
    let dash = format!("http://127.0.0.1:{}", wait_port(&dash_port_file, &router));
    let plane = format!("http://127.0.0.1:{}", router.port);

    // The dashboard: the initial admin signs in, creates a user, who signs in; a wrong
    // password is refused.
    let admin_password = std::fs::read_to_string(data.join("initial-admin-password"))
        .unwrap()
        .trim()
        .to_string();
    let login = |user: &str, password: &str| {
        call(
            &format!("{dash}/api/auth/login"),
            "POST",
            &serde_json::json!({"username": user, "password": password}).to_string(),
            &[],
        )
    };
    let admin = login("admin", &admin_password);
    assert_eq!(admin.status, 200, "{}", admin.text());
    let cookie = admin
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let csrf = admin.json()["csrf"].as_str().unwrap().to_string();
    let created = call(
        &format!("{dash}/api/users"),
        "POST",
        &serde_json::json!({"username": "ops", "password": USER_PASSWORD, "role": "write"})
            .to_string(),
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(login("ops", USER_PASSWORD).status, 200);
    assert_eq!(login("ops", WRONG_PASSWORD).status, 401);

    // The data plane: client credentials in headers and body, plain and streamed, recorded.
    let bearer = format!("Bearer {CLIENT_BEARER}");
    let mut ids = Vec::new();
    for stream in [false, true] {
        let body = serde_json::json!({
            "model": "MoM",
            "stream": stream,
            "messages": [{"role": "user", "content": format!("write code, my key is {BODY_KEY}")}],
            "api_key": BODY_KEY,
        })
        .to_string();
        let r = call(
            &format!("{plane}/v1/chat/completions"),
            "POST",
            &body,
            &[("authorization", &bearer), ("x-api-key", CLIENT_X_API_KEY)],
        );
        assert_eq!(r.status, 200, "{}", r.text());
        ids.push(r.header("x-vsr-replay-id").expect("recorded").to_string());
    }
    // Both records are written before the checks (the replay API, as the admin).
    let admin_auth = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = call(
                &format!("{plane}/v1/router_replay/{id}"),
                "GET",
                "",
                &admin_auth,
            );
            if r.status == 200 {
                let text = r.text();
                assert!(text.contains("write code"), "the body is captured: {text}");
                for s in [CLIENT_BEARER, CLIENT_X_API_KEY, BODY_KEY, PROVIDER_KEY] {
                    assert!(!text.contains(s), "the replay API shows {s}: {text}");
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "record {id}: {} {}",
                r.status,
                r.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let shown = call(&format!("{plane}/config/router"), "GET", "", &[]).text();
    assert!(shown.contains("127.0.0.1"), "{shown}");
    for s in [PROVIDER_KEY, PROVIDER_HEADER] {
        assert!(!shown.contains(s), "/config/router shows {s}");
    }
    let logs = call(
        &format!("{dash}/api/logs?limit=2000"),
        "GET",
        "",
        &admin_auth,
    );
    assert_eq!(logs.status, 200);
    let api_logs = logs.text();

    // Stop (the replay writer drains), then search everything the router wrote.
    router.signal("TERM");
    router.wait(Duration::from_secs(30));
    let log = router.log_text();
    assert!(
        log.contains("TRACE") || log.contains("trace"),
        "trace-level output was captured"
    );
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("replay.db") {
            stored.push((name, std::fs::read(entry.path()).unwrap()));
        }
    }
    assert!(
        !stored.is_empty(),
        "no replay database in {}",
        data.display()
    );
    for s in [
        PROVIDER_KEY,
        PROVIDER_HEADER,
        CLIENT_BEARER,
        CLIENT_X_API_KEY,
        BODY_KEY,
        USER_PASSWORD,
        WRONG_PASSWORD,
    ] {
        assert!(!log.contains(s), "the log has {s}");
        assert!(!api_logs.contains(s), "the dashboard's log API has {s}");
        for (name, bytes) in &stored {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{name} has {s}"
            );
        }
    }
    // The initial admin's password is printed once, on purpose, and nowhere else.
    assert_eq!(log.matches(admin_password.as_str()).count(), 1, "{log}");
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}
