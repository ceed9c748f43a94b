//! `<data dir>/run.json`: which router process serves from this data dir and where, written
//! once it listens and removed on a clean stop. `vllm-sr status`, `logs`, `stop` and
//! `dashboard` read it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const RUN_FILE: &str = "run.json";
/// Where a detached router writes its output.
pub const LOG_FILE: &str = "vllm-sr.log";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub pid: u32,
    /// The data plane's listeners (empty in setup mode).
    pub router: Vec<SocketAddr>,
    pub dashboard: Option<SocketAddr>,
    pub config: PathBuf,
    /// Unix seconds.
    pub started: u64,
}

impl RunInfo {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(RUN_FILE)
    }

    /// Written through a temporary file so a reader never sees half of it.
    pub fn write(&self, data_dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_file::write_atomically(&Self::path(data_dir), text.as_bytes())
    }

    /// The run file, if any (a file that does not parse counts as none).
    pub fn read(data_dir: &Path) -> Option<RunInfo> {
        let text = std::fs::read_to_string(Self::path(data_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Removes the run file if it still names this process.
    pub fn remove_if_mine(data_dir: &Path) {
        if Self::read(data_dir).is_some_and(|r| r.pid == std::process::id()) {
            let _ = std::fs::remove_file(Self::path(data_dir));
        }
    }

    /// Whether the process still exists (Linux: `/proc/<pid>`; elsewhere assumed).
    pub fn is_alive(&self) -> bool {
        let proc = Path::new("/proc");
        if !proc.is_dir() {
            return true;
        }
        match std::fs::read_to_string(proc.join(self.pid.to_string()).join("stat")) {
            // A zombie (exited, not yet reaped) is not running.
            Ok(stat) => !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    /// A loopback URL for a listener bound to every interface.
    pub fn url(addr: SocketAddr) -> String {
        let mut a = addr;
        if a.ip().is_unspecified() {
            a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{a}")
    }
}

/// `GET url` with a short timeout, as one status word. Blocking (its own small runtime).
pub fn health(url: &str) -> String {
    use std::time::Duration;

    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return format!("unknown ({e})"),
    };
    rt.block_on(async {
        let client: Client<_, Empty<bytes::Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let Ok(uri) = url.parse::<http::Uri>() else {
            return "unknown (bad address)".to_string();
        };
        match tokio::time::timeout(Duration::from_secs(3), client.get(uri)).await {
            Ok(Ok(r)) if r.status().is_success() => "healthy".to_string(),
            Ok(Ok(r)) => format!("unhealthy ({})", r.status()),
            Ok(Err(e)) => format!("unreachable ({e})"),
            Err(_) => "no answer within 3 s".to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_liveness() {
        let dir = std::env::temp_dir().join(format!("vsr-run-file-{}", std::process::id()));
        let me = RunInfo {
            pid: std::process::id(),
            router: vec!["0.0.0.0:8899".parse().unwrap()],
            dashboard: Some("127.0.0.1:8700".parse().unwrap()),
            config: "config.yaml".into(),
            started: 1,
        };
        me.write(&dir).unwrap();
        assert_eq!(RunInfo::read(&dir), Some(me.clone()));
        assert!(me.is_alive());
        assert_eq!(RunInfo::url(me.router[0]), "http://127.0.0.1:8899");
        let gone = RunInfo {
            pid: u32::MAX - 1,
            ..me.clone()
        };
        assert!(!gone.is_alive());
        RunInfo::remove_if_mine(&dir);
        assert_eq!(RunInfo::read(&dir), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
