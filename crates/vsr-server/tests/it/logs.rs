//! The operational log lines fire, once each, with their fields: a refused reload, a failed
//! classification, an ejected backend. Logs are captured as JSON lines through the same layer
//! the binary installs, on the test's thread (the server runs on that thread's runtime).

use std::io::Write;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;
use vsr_engine::RoutingResult;
use vsr_server::{Classifier, ClassifyError, ServeOptions, ValidatingLoader};
use vsr_signals::RequestView;
use vsr_telemetry::{LogFormat, LogLevel, LogOptions};

use crate::harness::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Installs a JSON log layer at `info` for this thread until the guard drops.
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let buf = Arc::clone(&self.0);
        let opts = LogOptions {
            level: LogLevel::Info,
            format: LogFormat::Json,
            directives: None,
        };
        let layer = vsr_telemetry::log_layer(&opts, move || Sink(Arc::clone(&buf)), false).unwrap();
        tracing::subscriber::set_default(tracing_subscriber::registry().with(layer))
    }

    /// Every captured line whose message is `message`, parsed.
    fn lines(&self, message: &str) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .filter(|v| v["fields"]["message"] == message)
            .collect()
    }
}

#[tokio::test]
async fn a_refused_reload_logs_one_error_with_the_reason() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![s.addr.to_string()];
    // No watcher: only the explicit reload below may try the broken file.
    let r = router_with(&config_yaml(&e, &e, "", "30s"), |o| o.watch_interval = None).await;
    let cap = Captured::default();
    let _g = cap.install();
    std::fs::write(&r.config, "providers: [unclosed").unwrap();
    let rep = post(&client(), &format!("{}/config/reload", r.base), &json!({})).await;
    assert_eq!(rep.status, 400, "{}", rep.text());
    let lines = cap.lines("config reload refused; keeping the running config");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "ERROR");
    let error = lines[0]["fields"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("config.yaml"), "{error}");
}

struct Failing;

impl Classifier for Failing {
    fn route(&self, _: Option<&str>, _: &RequestView) -> Result<RoutingResult, ClassifyError> {
        Err(ClassifyError::Failed("model exploded".into()))
    }
    fn eval(&self, _: Option<&str>, _: &RequestView) -> Result<RoutingResult, ClassifyError> {
        Err(ClassifyError::Failed("model exploded".into()))
    }
}

/// The production loader with a classifier that always fails.
fn failing_loader() -> ValidatingLoader {
    ValidatingLoader::with_classifier(|_, _| Ok(Arc::new(Failing) as Arc<dyn Classifier>))
}

#[tokio::test]
async fn a_failed_classification_logs_one_warning_and_uses_the_default() {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![s.addr.to_string()];
    let r = router_with(&config_yaml(&e, &e, "", "30s"), |o: &mut ServeOptions| {
        o.loader = Arc::new(failing_loader());
    })
    .await;
    let cap = Captured::default();
    let _g = cap.install();
    let rep = send(
        &client(),
        "POST",
        &format!("{}/v1/chat/completions", r.base),
        &chat("MoM", "hello").to_string(),
        &[
            ("content-type", "application/json"),
            ("x-request-id", "req-cls-1"),
        ],
    )
    .await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.header("x-vsr-selected-model"), Some("a"));
    let lines = cap.lines("classification failed; using the default model");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["fields"]["request_id"], "req-cls-1");
    assert_eq!(lines[0]["fields"]["error"], "model exploded");
}

#[tokio::test]
async fn an_ejected_backend_logs_one_warning_with_endpoint_and_reason() {
    let (r, bad, _good) = router_with_a_failing_endpoint().await;
    let cap = Captured::default();
    let _g = cap.install();
    let c = client();
    for _ in 0..10 {
        post(
            &c,
            &format!("{}/v1/chat/completions", r.base),
            &chat("a", "hi"),
        )
        .await;
    }
    let lines = cap.lines("backend ejected");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let f = &lines[0]["fields"];
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(f["model"], "a");
    assert_eq!(f["endpoint"], "be0");
    assert_eq!(f["address"], bad.addr.to_string());
    assert!(
        f["reason"].as_str().unwrap_or_default().contains("500"),
        "{f}"
    );
    assert_eq!(f["consecutive_failures"], 2);
}
