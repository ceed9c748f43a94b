//! Hugging Face Hub sources (`hub` feature), offline: the HF cache layout is built in a temp
//! dir from the real MiniLM files (`vllm-sr models fetch minilm`), and downloads go to an
//! endpoint nothing listens on, so a miss fails at once instead of touching the network.
use std::path::{Path, PathBuf};

use vsr_models::catalog::{
    HubOptions, ModelSource, resolve_model_source, resolve_model_source_with,
};
use vsr_models::{ModelError, dot, load_source};

const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
const COMMIT: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";
/// Nothing listens on port 1: connections are refused immediately.
const DEAD_ENDPOINT: &str = "http://127.0.0.1:1";

fn minilm_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/minilm");
    let dir = vsr_models::catalog::find_model("minilm").unwrap_or(dir);
    if dir.join("model.safetensors").is_file() {
        Some(dir)
    } else {
        vsr_testkit::missing("minilm not installed (vllm-sr models fetch minilm)");
        None
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vsr-hub-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn offline_opts(cache: &Path) -> HubOptions {
    HubOptions {
        cache_dir: Some(cache.to_path_buf()),
        endpoint: Some(DEAD_ENDPOINT.to_string()),
        offline: false,
        stall: None,
    }
}

/// Lays out `cache/models--owner--name/{blobs,refs/<ref>,snapshots/<commit>}` the way
/// huggingface_hub does: snapshot entries are relative symlinks into `blobs/`.
fn populate_cache(cache: &Path, repo: &str, reference: Option<&str>, src: &Path) -> PathBuf {
    let root = cache.join(format!("models--{}", repo.replace('/', "--")));
    let blobs = root.join("blobs");
    let snapshot = root.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    for (i, f) in ["config.json", "tokenizer.json", "model.safetensors"]
        .iter()
        .enumerate()
    {
        let blob = blobs.join(format!("blob{i}"));
        std::os::unix::fs::symlink(src.join(f), &blob).unwrap();
        std::os::unix::fs::symlink(format!("../../blobs/blob{i}"), snapshot.join(f)).unwrap();
    }
    if let Some(r) = reference {
        std::fs::create_dir_all(root.join("refs")).unwrap();
        std::fs::write(root.join("refs").join(r), COMMIT).unwrap();
    }
    snapshot
}

#[test]
fn an_existing_local_dir_wins_over_the_hub() {
    let Some(src) = minilm_dir() else { return };
    let cache = tempdir("local-wins");
    let got = resolve_model_source_with(src.to_str().unwrap(), &offline_opts(&cache)).unwrap();
    assert_eq!(got, ModelSource::Local(src.clone()));
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        0,
        "cache untouched"
    );
}

#[test]
fn a_repo_id_resolves_from_the_hf_cache_and_embeds() {
    let Some(src) = minilm_dir() else { return };
    let cache = tempdir("cached");
    let snapshot = populate_cache(&cache, REPO, Some("main"), &src);
    let got = resolve_model_source_with(REPO, &offline_opts(&cache)).unwrap();
    let ModelSource::Hub {
        repo,
        dir,
        downloaded,
    } = &got
    else {
        panic!("expected a Hub source, got {got:?}");
    };
    assert_eq!(repo.id, REPO);
    assert_eq!(dir, &snapshot);
    assert!(!downloaded, "everything came from the cache");
    assert_eq!(got.id(), REPO);

    let enc = load_source(&got).unwrap();
    assert_eq!(enc.dim(), 384);
    assert_eq!(enc.model_id(), REPO);
    let v = enc
        .embed(&[
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "What is the tallest mountain in Africa?",
        ])
        .unwrap();
    assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.2);
    // Same weights as the local directory: same vectors.
    let local = vsr_models::load_dir(&src, "minilm").unwrap();
    let w = local.embed_one("How do I reset my password?").unwrap();
    assert!(dot(&v[0], &w) > 0.9999);
}

#[test]
fn a_commit_revision_resolves_without_a_ref() {
    let Some(src) = minilm_dir() else { return };
    let cache = tempdir("commit");
    let snapshot = populate_cache(&cache, REPO, None, &src);
    let spec = format!("{REPO}@{COMMIT}");
    let got = resolve_model_source_with(&spec, &offline_opts(&cache)).unwrap();
    assert_eq!(got.dir(), snapshot.as_path());
    // `main` has no ref in this cache: it must go to the (dead) endpoint and fail cleanly.
    let err = resolve_model_source_with(REPO, &offline_opts(&cache)).unwrap_err();
    assert!(matches!(err, ModelError::Hub { .. }), "{err}");
}

#[test]
fn a_missing_repo_fails_fast_naming_repo_and_file() {
    let cache = tempdir("missing");
    let t = std::time::Instant::now();
    let err = resolve_model_source_with("no-such-owner/no-such-model", &offline_opts(&cache))
        .unwrap_err();
    let ModelError::Hub { repo, file, msg } = &err else {
        panic!("expected a Hub error, got {err}");
    };
    assert_eq!(repo, "no-such-owner/no-such-model");
    assert_eq!(file, "config.json");
    assert!(msg.contains("127.0.0.1:1"), "names the URL: {msg}");
    assert!(
        t.elapsed().as_secs() < 30,
        "a refused connection fails fast"
    );
    let text = err.to_string();
    assert!(text.contains("no-such-owner/no-such-model") && text.contains("config.json"));
}

#[test]
fn offline_mode_never_downloads() {
    let cache = tempdir("offline");
    let opts = HubOptions {
        offline: true,
        ..offline_opts(&cache)
    };
    let err = resolve_model_source_with("owner/model@v2", &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("owner/model@v2"), "{err}");
    assert!(err.contains("HF_HUB_OFFLINE"), "{err}");
}

#[test]
fn partial_cache_is_not_used() {
    let Some(src) = minilm_dir() else { return };
    let cache = tempdir("partial");
    let snapshot = populate_cache(&cache, REPO, Some("main"), &src);
    std::fs::remove_file(snapshot.join("model.safetensors")).unwrap();
    let err = resolve_model_source_with(REPO, &offline_opts(&cache)).unwrap_err();
    let ModelError::Hub { file, .. } = &err else {
        panic!("expected a Hub error, got {err}");
    };
    assert_eq!(
        file, "model.safetensors",
        "the first file not cached is fetched"
    );
}

#[test]
fn malformed_specs_are_precise_errors() {
    for spec in ["owner/na me", "owner/name@", "-owner/name", "owner/na--me"] {
        let err = resolve_model_source(spec, None).unwrap_err();
        assert!(
            matches!(err, ModelError::InvalidSource { .. }),
            "{spec}: {err}"
        );
        assert!(err.to_string().contains(spec), "{err}");
    }
}

#[test]
fn a_silent_endpoint_fails_after_the_stall_limit_instead_of_hanging() {
    // Accepts connections and never answers: what a network that drops packets looks like
    // once connected. The client itself has no timeout; the watchdog must end it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(4) {
            conns.push(c);
        }
        std::thread::sleep(std::time::Duration::from_secs(10));
    });
    let cache = tempdir("silent");
    let opts = HubOptions {
        endpoint: Some(format!("http://{addr}")),
        stall: Some(std::time::Duration::from_millis(800)),
        ..offline_opts(&cache)
    };
    let t = std::time::Instant::now();
    let err = resolve_model_source_with("owner/silent-model", &opts).unwrap_err();
    assert!(t.elapsed().as_secs() < 8, "took {:?}", t.elapsed());
    let ModelError::Hub { file, msg, .. } = &err else {
        panic!("expected a Hub error, got {err}");
    };
    assert_eq!(file, "config.json");
    assert!(msg.contains("no data for"), "{msg}");
    drop(held);
}
