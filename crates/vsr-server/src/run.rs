//! Process-level helpers for the CLI (which has no async runtime of its own): a runtime to
//! block on, Ctrl-C, and the `--demo` config rewrite.

use std::future::Future;

/// Runs `f` to completion on a multi-threaded tokio runtime.
pub fn block_on<F: Future>(f: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}

/// Runs `f` on a multi-threaded tokio runtime with `workers` async worker threads (blocking
/// work such as classification runs on tokio's separate blocking pool either way).
pub fn block_on_with<F: Future>(workers: usize, f: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}

/// Default async worker count for the router: half the cores, at least one. Proxying is
/// I/O-bound and cheap (tens of microseconds of CPU per request); each extra idle worker
/// costs a thread wake-up per request as work is offered around, and the cores are better
/// left to the classifier's threads and, on small machines, to the backend itself.
pub fn default_io_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 2)
        .unwrap_or(1)
        .max(1)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Points every `backend_refs` entry of a config at `authority` (the in-process sim of
/// `serve --demo`), and returns the aliases. Everything else in the document is kept.
pub fn retarget_backends(yaml: &str, authority: &str) -> Result<(String, Vec<String>), String> {
    use serde_yaml::Value;
    let mut doc: Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    let mut aliases = Vec::new();
    let models = doc
        .get_mut("providers")
        .and_then(|p| p.get_mut("models"))
        .and_then(|m| m.as_sequence_mut())
        .ok_or("config has no providers.models")?;
    for m in models {
        if let Some(n) = m.get("name").and_then(|n| n.as_str()) {
            aliases.push(n.to_string());
        }
        if let Some(refs) = m.get_mut("backend_refs").and_then(|r| r.as_sequence_mut()) {
            for r in refs {
                if let Some(map) = r.as_mapping_mut() {
                    for k in ["base_url", "api_key", "api_key_env", "chat_path"] {
                        map.remove(k);
                    }
                    map.insert("endpoint".into(), Value::String(authority.into()));
                    map.insert("protocol".into(), Value::String("http".into()));
                }
            }
        }
    }
    Ok((
        serde_yaml::to_string(&doc).map_err(|e| e.to_string())?,
        aliases,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn retarget_rewrites_every_backend() {
        let y = "providers:\n  models:\n    - name: a\n      backend_refs:\n        - {name: x, base_url: 'https://h/v1', api_key: k}\n    - name: b\n      backend_refs: [{name: y, endpoint: 'vllm:8000'}]\n";
        let (out, aliases) = super::retarget_backends(y, "127.0.0.1:9").unwrap();
        assert_eq!(aliases, ["a", "b"]);
        assert_eq!(out.matches("endpoint: 127.0.0.1:9").count(), 2);
        assert!(!out.contains("base_url") && !out.contains("api_key"));
    }
}
