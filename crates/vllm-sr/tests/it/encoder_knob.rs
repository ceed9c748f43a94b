//! `global.model_catalog.embeddings.semantic.model`: a configured encoder that cannot be
//! loaded leaves the router without a model, and a profile whose rules need one is refused
//! with the spec, the reason and the rules named. No network: Hub lookups go to a dead port.

use crate::harness::tempdir;

fn config(model: &str) -> String {
    format!(
        "version: v0.3
providers:
  defaults:
    default_model: small
  models:
    - name: small
      backend_refs:
        - endpoint: 127.0.0.1:9
routing:
  modelCards:
    - name: small
  signals:
    embeddings:
      - name: physics
        threshold: 0.5
        candidates: [How fast does light travel?]
  decisions:
    - name: science
      priority: 10
      rules:
        operator: OR
        conditions:
          - type: embedding
            name: physics
      modelRefs:
        - model: small
global:
  model_catalog:
    embeddings:
      semantic:
        model: {model}
"
    )
}

/// Runs `serve` on `model`'s config; returns its stderr after it exits (it must fail).
fn refused(tag: &str, model: &str) -> String {
    let dir = tempdir(tag);
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, config(model)).unwrap();
    let out = std::process::Command::new(crate::harness::bin())
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .args(["--port", "0", "--no-watch", "--no-dashboard"])
        .current_dir(&dir)
        .env("VSR_MODELS_DIR", dir.join("no-models"))
        .env("VSR_DATA_DIR", dir.join("data"))
        .env("HF_HUB_CACHE", dir.join("hf-cache"))
        .env("HF_ENDPOINT", "http://127.0.0.1:1")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains("these rules need") && err.contains("embedding:physics"),
        "{err}"
    );
    assert!(
        err.contains("global.model_catalog.embeddings.semantic.model"),
        "{err}"
    );
    err
}

#[test]
fn a_missing_local_encoder_dir_is_named_with_the_rules_that_need_it() {
    let err = refused("knob-local", "./no-such-encoder");
    assert!(err.contains("no-such-encoder"), "{err}");
    assert!(err.contains("no such directory"), "{err}");
}

#[test]
fn an_unreachable_hub_repo_is_named_with_the_rules_that_need_it() {
    let err = refused("knob-hub", "no-such-owner/no-such-encoder");
    assert!(err.contains("no-such-owner/no-such-encoder"), "{err}");
    // With the `hub` feature the download fails on the dead endpoint; without it the
    // build says it lacks hub support.
    assert!(
        err.contains("config.json") || err.contains("lacks hub support"),
        "{err}"
    );
}

/// `bench route` measures the encoder the config selects, and says which one it measured.
#[test]
fn bench_route_measures_the_configured_encoder() {
    let Some(models) = crate::learned::models_dir() else {
        return;
    };
    let probes = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../profiles/balance/balance.probes.yaml");
    for id in ["usem3", "e5-small"] {
        if !vsr_models::catalog::is_installed(&models.join(id)) {
            vsr_testkit::missing(format!("{id}: not installed (vllm-sr models fetch {id})"));
            continue;
        }
        let dir = tempdir(&format!("bench-{id}"));
        let cfg = dir.join("config.yaml");
        std::fs::write(&cfg, config(id)).unwrap();
        let out = std::process::Command::new(crate::harness::bin())
            .args(["bench", "route", "--config", cfg.to_str().unwrap()])
            .args([
                "--probes",
                probes.to_str().unwrap(),
                "--iterations",
                "1",
                "--json",
            ])
            .env("VSR_MODELS_DIR", &models)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["encoder"], id);
        assert!(report["prompts"].as_u64().unwrap() >= 46);
        assert!(report["phases"]["encode"]["p50_ms"].as_f64().unwrap() > 0.0);
    }
}
