//! `llm` classifiers (head-delta §9) against a chat model on loopback: the chosen label's
//! signal is 1, the others 0; predicate leaves route on it; a failed call marks the
//! classifier's signals with the error and only `on_error: match` leaves match.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use vsr_engine::EvalMode;
use vsr_learned::{ModelSet, build_router};
use vsr_signals::{Family, RequestView};

/// A chat endpoint that labels `refund` requests `billing`, answers 500 for `explode`, and
/// `other` otherwise; it keeps the last request body.
fn label_server() -> (u16, Arc<Mutex<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let last = Arc::new(Mutex::new(String::new()));
    let seen = Arc::clone(&last);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).to_string();
            *seen.lock().unwrap() = body.clone();
            let user = body.rsplit("\"content\":").next().unwrap_or("").to_string();
            let (status, answer) = if user.contains("explode") {
                ("500 Internal Server Error", "{}".to_string())
            } else {
                let label = if user.contains("refund") {
                    "billing"
                } else {
                    "other"
                };
                let content = format!(r#"{{"label": "{label}", "rationale": "by its wording"}}"#);
                let v = serde_json::json!({"choices": [{"message": {"role": "assistant", "content": content}}]});
                ("200 OK", v.to_string())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (port, last)
}

fn yaml(port: u16) -> String {
    format!(
        "version: v0.3
providers:
  defaults: {{default_model: a}}
  models:
    - {{name: a, backend_refs: [{{endpoint: \"h:1\"}}]}}
    - {{name: b, backend_refs: [{{endpoint: \"h:1\"}}]}}
global:
  model_catalog:
    external:
      - name: intent-llm
        model_role: classification
        llm_model_name: tiny-intent
        llm_endpoint: {{address: 127.0.0.1, port: {port}, protocol: http}}
routing:
  signals:
    classifiers:
      - name: intent
        type: llm
        model: intent-llm
        instructions: Classify what the customer wants.
        labels: [billing, other]
  decisions:
    - name: billing
      priority: 100
      rules: {{type: classifier, name: intent, label: billing, predicate: {{gte: 0.5}}}}
      modelRefs: [{{model: b}}]
    - name: general_or_unsure
      priority: 50
      rules: {{type: classifier, name: intent, label: other, predicate: {{gte: 0.5}}, on_error: match}}
      modelRefs: [{{model: a}}]
"
    )
}

fn config(port: u16) -> vsr_config::Config {
    let loaded =
        vsr_config::load_str(&yaml(port), "classifier.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        loaded
            .warnings
            .iter()
            .all(|w| !w.message.contains("classifier")),
        "{:?}",
        loaded.warnings
    );
    loaded.config
}

#[test]
fn an_llm_classifier_routes_by_its_label_and_on_error_decides_failures() {
    let (port, last) = label_server();
    let router = build_router(&config(port), &ModelSet::none()).expect("router");
    let route = |text: &str| router.route(&RequestView::from_text(text), EvalMode::Routing);

    let r = route("I want a refund for my last invoice");
    assert_eq!(r.decision.as_deref(), Some("billing"));
    let s = r.signals.get(Family::Classifier, "intent:billing").unwrap();
    assert!(s.matched && s.value == 1.0);
    assert_eq!(s.evidence, ["by its wording"]);
    assert_eq!(
        r.signals
            .get(Family::Classifier, "intent:other")
            .unwrap()
            .value,
        0.0
    );
    let sent = last.lock().unwrap().clone();
    assert!(sent.contains("\"model\":\"tiny-intent\""), "{sent}");
    assert!(sent.contains("billing, other") && sent.contains("Classify what the customer wants."));
    assert!(sent.contains("\"temperature\":0"), "{sent}");

    assert_eq!(
        route("hello there").decision.as_deref(),
        Some("general_or_unsure")
    );

    // The call fails: the billing leaf (no on_error) cannot match, the on_error leaf does.
    let r = route("please explode");
    assert_eq!(r.decision.as_deref(), Some("general_or_unsure"));
    let e = vsr_engine::eval_api::EvalResponse::from_result("please explode", &r, false);
    assert!(
        e.signal_errors["classifier:intent"].contains("500"),
        "{:?}",
        e.signal_errors
    );
}

#[test]
fn classifier_leaves_are_validated() {
    let good = yaml(8123);
    let check = |from: &str, to: &str| {
        let bad = good.replacen(from, to, 1);
        assert_ne!(bad, good, "{from}");
        vsr_config::load_str(&bad, "bad.yaml")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = check("label: billing", "label: refunds");
    assert!(
        e.contains("label \"refunds\" is not declared by classifier \"intent\""),
        "{e}"
    );
    let e = check("label: billing, predicate: {gte: 0.5}", "label: billing");
    assert!(e.contains("a classifier leaf needs `predicate`"), "{e}");
    let e = check("predicate: {gte: 0.5}}", "predicate: {gte: 0.9, gt: 0.5}}");
    assert!(e.contains("set gt or gte, not both"), "{e}");
    let e = check(
        "classifier, name: intent, label: other",
        "keyword, name: intent, label: other",
    );
    assert!(e.contains("`label` is only for classifier leaves"), "{e}");
}

#[test]
fn a_local_classifier_that_cannot_load_leaves_its_leaves_to_on_error() {
    // No model at model_path (and, in default builds, no `bert` runtime at all): every
    // evaluation reports why, and only the on_error leaf matches.
    let yaml = "version: v0.3
providers:
  defaults: {default_model: a}
  models:
    - {name: a, backend_refs: [{endpoint: \"h:1\"}]}
    - {name: b, backend_refs: [{endpoint: \"h:1\"}]}
routing:
  signals:
    classifiers:
      - name: tox
        type: local
        model_path: /nonexistent/vsr-local-classifier
        labels: [safe, toxic]
  decisions:
    - name: flagged
      priority: 100
      rules: {type: classifier, name: tox, label: toxic, predicate: {gte: 0.5}}
      modelRefs: [{model: b}]
    - name: unsure
      priority: 50
      rules: {type: classifier, name: tox, label: safe, predicate: {gte: 0.5}, on_error: match}
      modelRefs: [{model: a}]
";
    let loaded = vsr_config::load_str(yaml, "local.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        loaded
            .warnings
            .iter()
            .all(|w| !w.message.contains("classifier")),
        "a local classifier has a runtime: {:?}",
        loaded.warnings
    );
    let router = build_router(&loaded.config, &ModelSet::none()).expect("router");
    let r = router.route(&RequestView::from_text("you are awful"), EvalMode::Routing);
    assert_eq!(r.decision.as_deref(), Some("unsure"));
    let e = vsr_engine::eval_api::EvalResponse::from_result("you are awful", &r, false);
    let why = &e.signal_errors["classifier:tox"];
    assert!(
        why.contains("/nonexistent/vsr-local-classifier") || why.contains("bert"),
        "{why}"
    );
}
