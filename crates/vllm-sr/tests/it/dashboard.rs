//! `vllm-sr serve` with its dashboard: `--demo` prints where the dashboard is and how to sign
//! in; without a config the dashboard alone starts, in setup mode.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Proc, bin, http, tempdir};
use crate::learned::models_dir;

fn wait_port(file: &Path, what: &str, log: &dyn Fn() -> String) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(p) = std::fs::read_to_string(file).map(|s| s.trim().parse::<u16>())
            && let Ok(p) = p
        {
            return p;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} never wrote its port: {}", log());
}

fn login(port: u16, user: &str, password: &str) -> (u16, String) {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    let r = vsr_testkit::http::blocking(
        "POST",
        &format!("http://127.0.0.1:{port}/api/auth/login"),
        &body,
        &[("content-type", "application/json")],
    )
    .unwrap();
    let cookie = r
        .header("set-cookie")
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    (r.status, cookie)
}

#[test]
fn demo_serves_the_dashboard_and_prints_how_to_sign_in() {
    let Some(models) = models_dir() else { return };
    let dir = tempdir("dash-demo");
    let data = dir.join("data");
    let dash_port = dir.join("dash.port");
    let args = [
        "serve",
        "--demo",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-watch",
        "--dashboard-port",
        "0",
        "--dashboard-port-file",
        dash_port.to_str().unwrap(),
    ];
    let envs = [
        ("VSR_MODELS_DIR", models.to_str().unwrap()),
        ("VSR_DATA_DIR", data.to_str().unwrap()),
    ];
    let router = Proc::spawn(&dir, &args, &envs);
    let port = wait_port(&dash_port, "the dashboard", &|| router.log_text());
    let log = router.log_text();
    assert!(
        log.contains(&format!("dashboard on http://127.0.0.1:{port}")),
        "{log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("dashboard login: user `admin`, password `"))
        .unwrap_or_else(|| panic!("no login line: {log}"));
    let password = line
        .split("password `")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .unwrap()
        .to_string();
    assert_eq!(
        std::fs::read_to_string(data.join("initial-admin-password"))
            .unwrap()
            .trim(),
        password
    );
    assert_eq!(login(port, "admin", "wrong-password").0, 401);
    let (status, cookie) = login(port, "admin", &password);
    assert_eq!(status, 200);
    let cfg = vsr_testkit::http::blocking(
        "GET",
        &format!("http://127.0.0.1:{port}/api/config"),
        "",
        &[("cookie", cookie.as_str())],
    )
    .unwrap();
    assert_eq!(cfg.status, 200, "{}", cfg.text());
    assert!(
        cfg.json()["yaml"]
            .as_str()
            .unwrap_or("")
            .contains("reasoning_math")
    );
    let page = http(port, "GET", "/", None).unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<script"), "{}", page.body);

    // A second start keeps the admin and prints no new password.
    drop(router);
    std::fs::remove_file(&dash_port).unwrap();
    let router = Proc::spawn(&dir, &args, &envs);
    let _ = wait_port(&dash_port, "the dashboard", &|| router.log_text());
    let log = router.log_text();
    assert!(!log.contains("password `"), "{log}");
    assert!(log.contains("an existing dashboard user"), "{log}");
}

#[test]
fn without_a_config_the_dashboard_starts_in_setup_mode() {
    let dir = tempdir("dash-setup");
    let dash_port = dir.join("dash.port");
    let log_path = dir.join("log.txt");
    let out = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(bin())
        .args(["serve", "--config", "absent.yaml", "--host", "127.0.0.1"])
        .args([
            "--port",
            "0",
            "--dashboard-port",
            "0",
            "--dashboard-port-file",
        ])
        .arg(&dash_port)
        .current_dir(&dir)
        .env("VSR_DATA_DIR", dir.join("data"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let port = wait_port(&dash_port, "the dashboard", &log);
    let state = http(port, "GET", "/api/auth/state", None).unwrap().json();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(state["setup_mode"], true, "{state}");
    assert_eq!(state["has_users"], false);
    assert!(log().contains("no config yet"), "{}", log());

    // Without the dashboard there is nothing to serve: a clear error.
    let out = Command::new(bin())
        .args(["serve", "--config", "absent.yaml", "--no-dashboard"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("absent.yaml") && err.contains("setup wizard"),
        "{err}"
    );
}
