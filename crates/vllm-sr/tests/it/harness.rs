//! Child processes and a tiny HTTP/1.1 client (no dependencies).

use std::io::{Read, Write};
use std::net::TcpStream;
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
    #[allow(clippy::zombie_processes)]
    pub fn spawn(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Proc {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let port_file = dir.join(format!("port-{n}"));
        let log = dir.join(format!("log-{n}.txt"));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin());
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

/// One request on a fresh connection (`Connection: close`); chunked bodies are decoded.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut rest = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        rest = dechunk(&rest);
    }
    Ok(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&rest).to_string(),
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..pos])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = pos + 2;
        let end = (start + size).min(b.len());
        out.extend_from_slice(&b[start..end]);
        b = &b[(end + 2).min(b.len())..];
    }
    out
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
        let sim = Proc::spawn(
            &dir,
            &["sim-backend", "--port", "0", "--models", "cheap-up,premium"],
            &[],
        );
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
        let data = dir.join("data");
        Proc::spawn(
            dir,
            &[
                "serve",
                "--config",
                dir.join("config.yaml").to_str().unwrap(),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-watch",
            ],
            &[("VSR_DATA_DIR", data.to_str().unwrap())],
        )
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
    let body = serde_json::json!({
        "model": "MoM",
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
    .to_string();
    http(port, "POST", "/v1/chat/completions", Some(&body))
}
