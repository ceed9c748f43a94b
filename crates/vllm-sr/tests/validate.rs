//! `vllm-sr validate` end to end: spawns the built binary.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vllm-sr"))
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vsr-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const VALID: &str = "version: v0.3
providers:
  models:
    - name: m
      backend_refs: [{endpoint: 'localhost:8000'}]
routing:
  signals:
    keywords:
      - {name: k, operator: OR, keywords: [x]}
  decisions:
    - name: d
      rules: {operator: AND, conditions: [{type: keyword, name: k}]}
      modelRefs: [{model: m}]
";

#[test]
fn valid_file_exits_zero_with_a_summary() {
    let f = temp_file("ok.yaml", VALID);
    let out = bin().arg("validate").arg(&f).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("1 file(s) checked: 1 valid, 0 invalid"),
        "{stdout}"
    );
}

#[test]
fn invalid_file_exits_two_and_names_the_place() {
    let f = temp_file("bad.yaml", &VALID.replace("name: k}]}", "name: kk}]}"));
    let out = bin().arg("validate").arg(&f).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    let expected = format!(
        "{}:12:65: routing.decisions[0].rules.conditions[0].name: keyword signal \"kk\" is not declared in routing.signals.keywords; did you mean \"k\"?",
        f.display()
    );
    assert!(stdout.contains(&expected), "{stdout}");
    assert!(
        stdout.contains("0 valid, 1 invalid; 1 error(s)"),
        "{stdout}"
    );
}

#[test]
fn warnings_are_marked_and_do_not_fail() {
    let f = temp_file(
        "warn.yaml",
        &VALID.replace("      modelRefs: [{model: m}]\n", ""),
    );
    let out = bin().arg("validate").arg(&f).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("routing.decisions[0]: warning: decision \"d\" has no modelRefs"),
        "{stdout}"
    );
}

#[test]
fn json_format_and_missing_file() {
    let ok = temp_file("ok2.yaml", VALID);
    let out = bin()
        .args(["validate", "--format", "json"])
        .arg(&ok)
        .arg("/no/such/file.yaml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["valid"], 1);
    assert_eq!(doc["summary"]["invalid"], 1);
    assert_eq!(doc["files"][1]["valid"], false);
    assert_eq!(doc["files"][1]["diagnostics"][0]["severity"], "error");
}

#[test]
fn shipped_reference_profile_is_valid() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/upstream-amd-2026-03/balance.yaml");
    if !p.exists() {
        vsr_testkit::missing(format!("{} not found", p.display()));
        return;
    }
    let out = bin().arg("validate").arg(&p).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
