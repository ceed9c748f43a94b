//! `eval --endpoint`, `chat` (one-shot and the stdin conversation) and `config migrate`, each
//! run as the real binary against a real router process in front of the sim backend.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::harness::{Stack, bin, http, tempdir};

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.unwrap_or("").to_string();
    let mut pipe = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn eval_endpoint_shows_the_running_routers_decision() {
    let s = Stack::start("eval-endpoint");
    let url = format!("http://127.0.0.1:{}", s.router.port);
    let out = run(
        &["eval", "--endpoint", &url, "review this code please"],
        None,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("decision   code_route"), "{stdout}");
    assert!(stdout.contains("keyword:code"), "{stdout}");

    let out = run(&["eval", "--endpoint", &url, "--json", "hello there"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("routing_decision").is_none(), "{v}");
    assert_eq!(v["original_text"], "hello there");

    // The router's own refusal comes back as its message, exit 1.
    let out = run(
        &["eval", "--endpoint", &url, "--model", "no-such", "code"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("INVALID_ROUTING_MODEL")
            || text(&out.stderr).contains("neither an auto model"),
        "{}",
        text(&out.stderr)
    );
    // Nothing listening: a clear error, no panic.
    let out = run(&["eval", "--endpoint", "http://127.0.0.1:1", "code"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("127.0.0.1:1"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["eval", "--endpoint", "ftp://x", "code"], None);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn chat_one_shot_streams_the_answer_and_reports_the_route() {
    let s = Stack::start("chat-once");
    let url = format!("http://127.0.0.1:{}", s.router.port);
    let out = run(
        &["chat", "--endpoint", &url, "write code for a parser"],
        None,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.trim().len() > 10, "no answer text: {stdout:?}");
    assert!(stderr.contains("decision=code_route"), "{stderr}");
    assert!(stderr.contains("model=cheap"), "{stderr}");
}

#[test]
fn chat_reads_a_conversation_from_stdin_and_sends_the_history() {
    let s = Stack::start("chat-repl");
    let url = format!("http://127.0.0.1:{}", s.router.port);
    let input = "first code question\n\nsecond code question\n/exit\nnever sent\n";
    let out = run(&["chat", "--endpoint", &url, "--quiet"], Some(input));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let answers: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(answers.len(), 2, "{stdout}");
    assert!(
        text(&out.stderr).is_empty(),
        "--quiet: {}",
        text(&out.stderr)
    );
    // The second request carried the first turn and its answer (the replay captured bodies).
    let mut bodies = Vec::new();
    for _ in 0..100 {
        let r = http(s.router.port, "GET", "/v1/router_replay?limit=10", None).unwrap();
        let v = r.json();
        bodies = v["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|rec| rec["request_body"].as_str().map(str::to_string))
            .collect();
        if bodies.len() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = bodies
        .iter()
        .find(|b| b.contains("second code question"))
        .unwrap_or_else(|| panic!("{bodies:?}"));
    assert!(second.contains("first code question"), "{second}");
    assert!(second.contains("\"assistant\""), "{second}");
    assert!(!bodies.iter().any(|b| b.contains("never sent")));
}

#[test]
fn metrics_expose_the_classification_queue_depth() {
    let s = Stack::start("queue-gauge");
    let r = http(s.router.port, "GET", "/metrics", None).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("# TYPE vsr_classify_queue_depth gauge"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("vsr_classify_queue_depth 0\n"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("vsr_classify_queue_capacity 1024\n"),
        "{}",
        r.body
    );
}

#[test]
fn config_migrate_rewrites_the_march_reference_and_the_result_validates() {
    let Some(march) = vsr_testkit::shared_file("reference/upstream-config-2026-03/config.yaml")
    else {
        return;
    };
    let dir = tempdir("migrate");
    let march = march.to_str().unwrap();
    let out_path = dir.join("august.yaml");
    let out_file = out_path.to_str().unwrap();
    // --check: the March file needs edits (exit 1).
    let out = run(&["config", "migrate", march, "--check"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let out = run(&["config", "migrate", march, "--out", out_file], None);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    assert!(
        report.contains("`semantic-cache` → `response_cache`"),
        "{report}"
    );
    assert!(report.contains("algorithm `elo`"), "{report}");
    assert!(report.contains("the result validates"), "{report}");
    let out = run(&["validate", out_file], None);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let out = run(&["config", "migrate", out_file, "--check"], None);
    assert!(out.status.success(), "{}", text(&out.stdout));
    // An existing --out is kept unless --force.
    let out = run(&["config", "migrate", march, "--out", out_file], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    // Without --out the YAML goes to stdout and the report to stderr.
    let out = run(&["config", "migrate", march], None);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("type: response_cache"));
    assert!(text(&out.stderr).contains("removed"));
    // Not YAML: file:line:col, exit 2.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "routing: [\n  a: b").unwrap();
    let out = run(&["config", "migrate", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.yaml:"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
