//! Upstream behaviour through the binaries: a provider key from the environment reaches the
//! backend and appears neither in the router's debug log nor in the replay store; a decision
//! whose first model's sim backend refuses connections is answered by its second model ref,
//! with the path in the headers and the replay record.

use std::time::{Duration, Instant};

use crate::harness::{Proc, chat, http, tempdir};

const SECRET: &str = "sk-provider-7f3a9c1e5b";

const CONFIG: &str = r#"version: v0.3
listeners:
  - {name: http, address: 127.0.0.1, port: 8899, timeout: 30s}
providers:
  defaults:
    default_model: cheap
  models:
    - name: premium
      backend_refs:
        - {name: down, endpoint: "DEAD"}
      reliability: {retry_count: 1}
    - name: cheap
      provider_model_id: cheap-up
      backend_refs:
        - {name: sim, endpoint: "SIM", api_key_env: VSR_IT_PROVIDER_KEY, auth_header: x-api-key, auth_prefix: ""}
routing:
  signals:
    keywords:
      - {name: code, operator: OR, keywords: ["code"]}
  decisions:
    - name: code_route
      priority: 100
      rules: {operator: AND, conditions: [{type: keyword, name: code}]}
      modelRefs:
        - {model: premium}
        - {model: cheap}
      plugins:
        - type: router_replay
          configuration: {enabled: true, capture_request_body: true, capture_response_body: true}
"#;

fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn provider_key_from_env_reaches_the_backend_but_never_logs_or_replay_and_fallback_is_recorded() {
    let dir = tempdir("upstream");
    let sim = Proc::spawn(
        &dir,
        &["sim-backend", "--port", "0", "--models", "cheap-up"],
        &[],
    );
    std::fs::write(
        dir.join("config.yaml"),
        CONFIG
            .replace("SIM", &format!("127.0.0.1:{}", sim.port))
            .replace("DEAD", &format!("127.0.0.1:{}", dead_port())),
    )
    .unwrap();
    // The key is in the router's environment only.
    let router = {
        let data = dir.join("data");
        let cfg = dir.join("config.yaml");
        Proc::spawn(
            &dir,
            &[
                "--log-level",
                "trace",
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-watch",
                "--no-dashboard",
            ],
            &[
                ("VSR_DATA_DIR", data.to_str().unwrap()),
                ("VSR_IT_PROVIDER_KEY", SECRET),
            ],
        )
    };
    let r = chat(router.port, "please review this code", false).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-vsr-selected-model"), Some("cheap"));
    assert_eq!(r.header("x-vsr-fallback-path"), Some("premium,cheap"));
    assert_eq!(
        r.header("x-vsr-upstream-attempts"),
        Some("premium/down=connect_failure,premium/down=connect_failure,cheap/sim=200")
    );
    assert!(!r.body.contains(SECRET), "{}", r.body);
    let stats = http(sim.port, "GET", "/sim/stats", None).unwrap().json();
    assert_eq!(stats["last_api_key"], SECRET, "the key reached the backend");

    let id = r
        .header("x-vsr-replay-id")
        .expect("a replay id")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let rec = loop {
        let g = http(router.port, "GET", &format!("/v1/router_replay/{id}"), None).unwrap();
        if g.status == 200 {
            break g.json();
        }
        assert!(Instant::now() < deadline, "no record: {}", g.body);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(rec["selected_model"], "cheap");
    assert_eq!(rec["provider_model"], "cheap-up");
    assert_eq!(
        rec["fallback_path"],
        serde_json::json!(["premium", "cheap"])
    );
    assert_eq!(rec["upstream_attempts"][2]["outcome"], "200");
    assert!(!rec.to_string().contains(SECRET));

    let log = router.log_text();
    assert!(log.contains("falling back to the next model ref"), "{log}");
    assert!(!log.contains(SECRET), "the key was logged");
    drop(router);
    for entry in std::fs::read_dir(dir.join("data")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{} holds the key",
                path.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
