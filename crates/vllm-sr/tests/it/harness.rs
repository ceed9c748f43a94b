//! Child processes, and HTTP through the workspace's test client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vllm-sr")
}

pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "vllm-sr-it-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `vllm-sr ARGS --port-file F` and waits for the port. The child is waited for
    /// by `Drop`.
    pub fn spawn(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Proc {
        Proc::spawn_wrapped(&[], dir, args, envs)
    }

    /// Like [`spawn`](Self::spawn), run through `wrapper` (e.g. `ip netns exec NS`) when
    /// not empty.
    #[allow(clippy::zombie_processes)]
    pub fn spawn_wrapped(
        wrapper: &[&str],
        dir: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Proc {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let port_file = dir.join(format!("port-{n}"));
        let log = dir.join(format!("log-{n}.txt"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.args(args)
            .arg("--port-file")
            .arg(&port_file)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(s) = std::fs::read_to_string(&port_file)
                && let Ok(port) = s.trim().parse()
            {
                return Proc { child, port, log };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{args:?} exited with {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        panic!(
            "{args:?} did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for exit (panics after `max`).
    pub fn wait(&mut self, max: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + max;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "process did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request through the workspace's test client (`vsr_testkit::http`).
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Resp> {
    http_at("127.0.0.1", port, method, path, body)
}

/// [`http`] to `host` instead of loopback.
pub fn http_at(
    host: &str,
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<Resp> {
    let url = format!("http://{host}:{port}{path}");
    let r = vsr_testkit::http::blocking(
        method,
        &url,
        body.unwrap_or(""),
        &[("content-type", "application/json")],
    )?;
    Ok(Resp {
        status: r.status,
        headers: r
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: r.text(),
    })
}

/// The simulated backend serving `cheap-up` and `premium` on an ephemeral port.
pub fn sim_backend(dir: &Path) -> Proc {
    Proc::spawn(
        dir,
        &["sim-backend", "--port", "0", "--models", "cheap-up,premium"],
        &[],
    )
}

/// `vllm-sr [GLOBAL_ARGS] serve` on `DIR/config.yaml`, an ephemeral port, data under
/// `DIR/data`, no file watching.
pub fn serve_in(dir: &Path, global_args: &[&str]) -> Proc {
    let data = dir.join("data");
    let cfg = dir.join("config.yaml");
    let mut args = global_args.to_vec();
    args.extend([
        "serve",
        "--config",
        cfg.to_str().unwrap_or_default(),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-watch",
        "--no-dashboard",
    ]);
    Proc::spawn(
        dir,
        &args,
        &[("VSR_DATA_DIR", data.to_str().unwrap_or_default())],
    )
}

/// A sim backend plus a router on a small keyword config whose decision records replays.
pub struct Stack {
    pub dir: PathBuf,
    #[allow(dead_code)] // kept alive for the router
    pub sim: Proc,
    pub router: Proc,
}

pub const REPLAY_CONFIG: &str = r#"version: v0.3
listeners:
  - {name: http, address: 127.0.0.1, port: 8899, timeout: 30s}
providers:
  defaults:
    default_model: cheap
  models:
    - name: cheap
      provider_model_id: cheap-up
      pricing: {currency: USD, prompt_per_1m: 0.5, completion_per_1m: 1.0}
      backend_refs:
        - {name: sim, endpoint: "SIM", protocol: http, weight: 1}
    - name: premium
      pricing: {currency: USD, prompt_per_1m: 10.0, completion_per_1m: 30.0}
      backend_refs:
        - {name: sim, endpoint: "SIM", protocol: http, weight: 1}
routing:
  signals:
    keywords:
      - name: code
        operator: OR
        keywords: ["code"]
        case_sensitive: false
  decisions:
    - name: code_route
      priority: 100
      rules:
        operator: AND
        conditions:
          - {type: keyword, name: code}
      modelRefs:
        - {model: cheap, use_reasoning: false}
      plugins:
        - type: router_replay
          configuration:
            enabled: true
            capture_request_body: true
            capture_response_body: true
            max_body_bytes: 4096
"#;

impl Stack {
    pub fn start(tag: &str) -> Stack {
        let dir = tempdir(tag);
        let sim = sim_backend(&dir);
        let cfg = dir.join("config.yaml");
        std::fs::write(
            &cfg,
            REPLAY_CONFIG.replace("SIM", &format!("127.0.0.1:{}", sim.port)),
        )
        .unwrap();
        let router = Self::router(&dir);
        Stack { dir, sim, router }
    }

    pub fn router(dir: &Path) -> Proc {
        serve_in(dir, &[])
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join("data/replay.db")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn chat(port: u16, text: &str, stream: bool) -> std::io::Result<Resp> {
    chat_at("127.0.0.1", port, text, stream)
}

/// [`chat`] to `host` instead of loopback.
pub fn chat_at(host: &str, port: u16, text: &str, stream: bool) -> std::io::Result<Resp> {
    let body = serde_json::json!({
        "model": "MoM",
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
    .to_string();
    http_at(host, port, "POST", "/v1/chat/completions", Some(&body))
}
