//! The playbook's command line: `serve --image-pull-policy never --platform amd` starts, and a
//! router started with `--detach` answers `status`, `logs`, `dashboard` and `stop`.

use std::process::Command;

use crate::harness::{bin, http, tempdir};
use crate::learned::models_dir;

/// One CLI call with this test's data dir and models (a detached child inherits both).
fn vllm_sr(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let models = models_dir().unwrap_or_default();
    let out = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("VSR_DATA_DIR", dir.join("data"))
        .env("VSR_MODELS_DIR", models)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn url_after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no `{label}` line: {text}"))
}

#[test]
fn the_playbook_flags_start_a_detached_router_that_status_and_stop_manage() {
    if models_dir().is_none() {
        return;
    }
    let dir = tempdir("daemon");
    let (code, out) = vllm_sr(
        &dir,
        &[
            "serve",
            "--demo",
            "--detach",
            "--image-pull-policy",
            "never",
            "--platform",
            "amd",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-port",
            "0",
            "--no-watch",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("running in the background"), "{out}");

    let (code, status) = vllm_sr(&dir, &["status"]);
    assert_eq!(code, 0, "{status}");
    assert!(status.contains("health     healthy"), "{status}");
    let router = url_after(&status, "router").to_string();
    let port: u16 = router.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(http(port, "GET", "/health", None).unwrap().status, 200);
    let (_, dash) = vllm_sr(&dir, &["dashboard", "--no-open"]);
    assert_eq!(dash.trim(), url_after(&status, "dashboard"));

    let (code, logs) = vllm_sr(&dir, &["logs"]);
    assert_eq!(code, 0);
    assert!(
        logs.contains("platform amd") && logs.contains("router ready"),
        "{logs}"
    );
    assert!(logs.contains("no image is pulled"), "{logs}");

    // A second detached start is refused while the first runs.
    let (code, again) = vllm_sr(&dir, &["serve", "--demo", "--detach", "--port", "0"]);
    assert_ne!(code, 0);
    assert!(again.contains("already runs"), "{again}");

    let (code, out) = vllm_sr(&dir, &["stop"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        http(port, "GET", "/health", None).is_err(),
        "still answering after stop"
    );
    let (code, out) = vllm_sr(&dir, &["status"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("not running"), "{out}");
    assert_eq!(vllm_sr(&dir, &["stop"]).0, 3);
}

#[test]
fn config_import_validates_refuses_overwrites_and_private_urls() {
    let dir = tempdir("config-import");
    let good = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../profiles/balance/balance.yaml");
    let good = good.to_str().unwrap();
    let (code, out) = vllm_sr(&dir, &["config", "import", good]);
    assert_eq!(code, 0, "{out}");
    let written = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    assert_eq!(written, std::fs::read_to_string(good).unwrap());
    let (code, out) = vllm_sr(&dir, &["config", "import", good]);
    assert_eq!(code, 1);
    assert!(out.contains("--force"), "{out}");
    let (code, out) = vllm_sr(&dir, &["config", "import", good, "--force"]);
    assert_eq!(code, 0, "{out}");
    assert!(dir.join("config.yaml.bak").is_file());

    std::fs::write(
        dir.join("bad.yaml"),
        "version: v0.3\nrouting: {decisions: [{name: a, priority: x}]}\n",
    )
    .unwrap();
    let (code, out) = vllm_sr(
        &dir,
        &["config", "import", "bad.yaml", "--target", "b.yaml"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("bad.yaml:2:43:"), "{out}");
    assert!(!dir.join("b.yaml").exists());

    let (code, out) = vllm_sr(
        &dir,
        &[
            "config",
            "import",
            "http://127.0.0.1:9/x.yaml",
            "--target",
            "c.yaml",
        ],
    );
    assert_eq!(code, 1);
    assert!(out.contains("private"), "{out}");
}

/// `--target docker` hands the playbook's flags to the container engine: the image, the pull
/// policy in the engine's words, the config's port and the dashboard's, the config directory
/// mounted at /config and `serve --config /config/<file>` inside. The engine here is a script
/// that records its arguments (this sandbox cannot run containers; scripts/build-image.sh
/// covers the image itself).
#[test]
fn target_docker_runs_the_image_through_the_container_engine() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir("target-docker");
    let config = dir.join("cfg").join("router.yaml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../profiles/balance/balance.yaml"),
        &config,
    )
    .unwrap();
    let record = dir.join("engine-args");
    let engine = dir.join("fake-engine");
    std::fs::write(
        &engine,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done > '{}'\nexit 7\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&engine, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = Command::new(bin())
        .args(["serve", "--target", "docker", "--config"])
        .arg(&config)
        .args([
            "--image",
            "example/vllm-sr:1",
            "--image-pull-policy",
            "never",
        ])
        .args(["--platform", "amd", "--readonly"])
        .env("VSR_CONTAINER_ENGINE", &engine)
        .env("VSR_SHARED_DB", "postgres://secret@db/vsr")
        .output()
        .unwrap();
    // The engine's exit status is the command's.
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args: Vec<String> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let has = |pair: &[&str]| args.windows(pair.len()).any(|w| w == pair);
    assert_eq!(args[0], "run");
    assert!(has(&["--pull=never"]), "{args:?}");
    assert!(
        has(&["-p", "8899:8899"]) && has(&["-p", "8700:8700"]),
        "{args:?}"
    );
    let mount = format!("{}:/config", config.parent().unwrap().display());
    assert!(
        has(&["-v", &mount]) && has(&["-v", "vllm-sr-data:/data"]),
        "{args:?}"
    );
    // The secret goes by name; the engine reads its value from the environment.
    assert!(has(&["-e", "VSR_SHARED_DB"]), "{args:?}");
    assert!(!args.iter().any(|a| a.contains("secret@")), "{args:?}");
    let image = args
        .iter()
        .position(|a| a == "example/vllm-sr:1")
        .expect("image");
    assert_eq!(
        &args[image + 1..],
        [
            "serve",
            "--config",
            "/config/router.yaml",
            "--dashboard-port",
            "8700",
            "--readonly",
            "--platform",
            "amd"
        ]
    );

    // --minimal publishes no dashboard port; with no engine anywhere the error says what to do.
    let out = Command::new(bin())
        .args(["serve", "--target", "docker", "--minimal", "--config"])
        .arg(&config)
        .env("VSR_CONTAINER_ENGINE", &engine)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let args = std::fs::read_to_string(&record).unwrap();
    assert!(
        !args.contains("8700")
            && args.contains("--minimal")
            && args.contains("localhost/vllm-sr:latest"),
        "{args}"
    );
    let out = Command::new(bin())
        .args(["serve", "--target", "docker", "--config"])
        .arg(&config)
        .env_remove("VSR_CONTAINER_ENGINE")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("neither docker nor podman") && err.contains("--target native"),
        "{err}"
    );
}
