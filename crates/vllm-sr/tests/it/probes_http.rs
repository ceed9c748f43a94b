//! `vllm-sr probes --url` against the running router gives the same per-probe results as
//! in-process, on the project's balance profile (needs the installed encoder).

use std::process::Command;

use crate::harness::{Proc, bin, tempdir};

fn shared() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

#[test]
fn probes_over_http_match_in_process() {
    let Some(models) = vsr_testkit::require_model(vsr_models::catalog::DEFAULT_MODEL)
        .and_then(|d| d.parent().map(std::path::Path::to_path_buf))
    else {
        return;
    };
    let reference = shared().join("reference/upstream-amd-2026-03");
    if !reference.join("balance.yaml").is_file() {
        vsr_testkit::missing(format!("{} not found", reference.display()));
        return;
    }
    let config = reference.join("balance.yaml");
    let probes = reference.join("balance.probes.yaml");
    let dir = tempdir("probes");
    let router = Proc::spawn(
        &dir,
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-watch",
            "--no-dashboard",
        ],
        &[
            ("VSR_MODELS_DIR", models.to_str().unwrap()),
            ("VSR_DATA_DIR", dir.join("data").to_str().unwrap()),
        ],
    );
    let url = format!("http://127.0.0.1:{}", router.port);
    let run = |extra: &[&str]| {
        let mut cmd = Command::new(bin());
        cmd.env("VSR_MODELS_DIR", &models).args([
            "probes",
            "--probes",
            probes.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--json",
        ]);
        cmd.args(extra);
        let out = cmd.output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    let local = run(&[]);
    let remote = run(&["--url", &url]);
    let results = |v: &serde_json::Value| -> Vec<(String, String, String, bool)> {
        v["outcomes"]
            .as_array()
            .unwrap_or_else(|| panic!("no outcomes array: {v}"))
            .iter()
            .map(|p| {
                assert!(p.get("error").is_none(), "probe error: {p}");
                (
                    format!("{}/{}", p["group"], p["variant"]),
                    p["decision"].to_string(),
                    p["alias"].to_string(),
                    p["passed"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    let (l, r) = (results(&local), results(&remote));
    assert_eq!(l.len(), 58, "{local}");
    assert_eq!(l, r, "in-process and HTTP probe results differ");
    let passed = l.iter().filter(|p| p.3).count();
    eprintln!("reference probes: {passed}/58 both in-process and over HTTP");
    let _ = std::fs::remove_dir_all(&dir);
}
