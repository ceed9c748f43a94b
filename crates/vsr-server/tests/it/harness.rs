//! Test harness: sim backends, a router over a generated config, a raw HTTP client, and a
//! keyword classifier standing in for the engine.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use indexmap::IndexMap;
use serde_json::Value;
use vsr_server::sim::{self, SimOptions, SimServer};
use vsr_server::{
    Classifier, ClassifyError, ConfigLoader, LoadedConfig, ProxySettings, RecordFinish, RecordSink,
    RecordStart, RouteInput, RouteOutcome, RunningServer, ServeOptions,
};

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub async fn sim(models: &[&str], tweak: impl FnOnce(&mut SimOptions)) -> SimServer {
    let mut o = SimOptions {
        models: models.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    tweak(&mut o);
    sim::start(([127, 0, 0, 1], 0).into(), o).await.unwrap()
}

/// Routes by keywords in the last user message:
/// `math` → decision `math_route` on alias `b` with reasoning on;
/// `jailbreak` → decision `block` with a fast response; `slow` → sleeps 300 ms then as
/// default; anything else → default model, no decision.
pub struct KeywordClassifier {
    pub default_model: String,
}

impl Classifier for KeywordClassifier {
    fn route(&self, input: &RouteInput) -> Result<RouteOutcome, ClassifyError> {
        let t = input.user_text.to_lowercase();
        if t.contains("slow") {
            std::thread::sleep(Duration::from_millis(300));
        }
        if t.contains("jailbreak") {
            return Ok(RouteOutcome {
                decision: Some("block".into()),
                model: self.default_model.clone(),
                fast_response: Some("I cannot help with that request.".into()),
                ..Default::default()
            });
        }
        if t.contains("math") {
            let mut matched = IndexMap::new();
            matched.insert(
                "keywords".to_string(),
                vec!["math_kw".to_string(), "proof_kw".to_string()],
            );
            matched.insert("domains".to_string(), vec!["math".to_string()]);
            return Ok(RouteOutcome {
                decision: Some("math_route".into()),
                model: "b".into(),
                confidence: 0.875,
                reasoning: Some(true),
                category: Some("math".into()),
                matched,
                matched_projections: vec!["balance_reasoning".into()],
                context_tokens: 42,
                selection_method: "static".into(),
                ..Default::default()
            });
        }
        Ok(RouteOutcome {
            model: self.default_model.clone(),
            selection_method: "default".into(),
            ..Default::default()
        })
    }

    fn eval(&self, text: &str) -> Result<Value, ClassifyError> {
        let input = RouteInput {
            requested_model: "MoM".into(),
            messages: Value::Null,
            user_text: text.into(),
            non_user_text: String::new(),
            user_id: None,
            user_groups: vec![],
        };
        let o = self.route(&input)?;
        Ok(
            serde_json::json!({"original_text": text, "routing_decision": o.decision,
                              "recommended_models": [o.model]}),
        )
    }
}

pub struct KeywordLoader;

impl ConfigLoader for KeywordLoader {
    fn load(&self, path: &Path) -> Result<LoadedConfig, String> {
        let (settings, source) = ProxySettings::load_file(path).map_err(|e| e.to_string())?;
        let default_model = settings.default_model.clone().unwrap_or_default();
        Ok(LoadedConfig {
            settings,
            classifier: Arc::new(KeywordClassifier { default_model }),
            source,
            warnings: vec![],
        })
    }
}

/// Records what the proxy reports.
#[derive(Default)]
pub struct MemorySink {
    pub starts: Mutex<Vec<(String, String, bool)>>,
    pub finishes: Mutex<Vec<(String, RecordFinish)>>,
}

impl RecordSink for MemorySink {
    fn start(&self, s: &RecordStart<'_>) -> Option<String> {
        let id = format!("rec{}", self.starts.lock().unwrap().len());
        self.starts
            .lock()
            .unwrap()
            .push((id.clone(), s.selected_model.to_string(), s.routed));
        Some(id)
    }
    fn finish(&self, id: &str, f: RecordFinish) {
        self.finishes.lock().unwrap().push((id.to_string(), f));
    }
}

pub struct Router {
    /// Kept alive for the test's duration (dropping it stops the listeners).
    pub _server: RunningServer,
    pub base: String,
    pub config: PathBuf,
    _dir: TempDir,
}

pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir() -> TempDir {
    let d = std::env::temp_dir().join(format!("vsr-it-{}-{}", std::process::id(), fastrand_u64()));
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

fn fastrand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Two aliases: `a` (upstream id `a-up`, default) and `b` (qwen3 family), both on the given
/// backends. `extra` is appended under `providers.models` entry `a`'s reliability.
pub fn config_yaml(
    a_backends: &[String],
    b_backends: &[String],
    a_reliability: &str,
    timeout: &str,
) -> String {
    let refs = |v: &[String]| {
        v.iter()
            .enumerate()
            .map(|(i, e)| format!("        - {{name: be{i}, endpoint: \"{e}\", weight: 1}}\n"))
            .collect::<String>()
    };
    format!(
        "version: v0.3
listeners:
  - {{name: http, address: 127.0.0.1, port: 0, timeout: {timeout}}}
providers:
  defaults:
    default_model: a
    reasoning_families:
      qwen3: {{type: chat_template_kwargs, parameter: enable_thinking}}
    default_reasoning_effort: high
  models:
    - name: a
      provider_model_id: a-up
      reasoning_family: qwen3
      pricing: {{currency: USD, prompt_per_1m: 1.0, completion_per_1m: 2.0}}
      backend_refs:
{}      reliability: {{{a_reliability}}}
    - name: b
      reasoning_family: qwen3
      backend_refs:
{}",
        refs(a_backends),
        refs(b_backends)
    )
}

pub async fn router_with(yaml: &str, tweak: impl FnOnce(&mut ServeOptions)) -> Router {
    let dir = temp_dir();
    let config = dir.0.join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    let mut opts = ServeOptions::new(&config, Arc::new(KeywordLoader));
    opts.listen_override = Some(([127, 0, 0, 1], 0).into());
    opts.watch_interval = Some(Duration::from_millis(50));
    tweak(&mut opts);
    let server = vsr_server::serve(opts).await.unwrap();
    let base = format!("http://{}", server.addrs[0]);
    Router {
        _server: server,
        base,
        config,
        _dir: dir,
    }
}

/// A router whose aliases `a` and `b` both point at one sim serving `a-up` and `b`.
pub async fn simple() -> (Router, SimServer) {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![s.addr.to_string()];
    let r = router_with(&config_yaml(&e, &e, "", "30s"), |_| {}).await;
    (r, s)
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn send(
    c: &HttpClient,
    method: &str,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut b = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let resp = c.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

pub async fn post(c: &HttpClient, url: &str, body: &Value) -> Reply {
    send(
        c,
        "POST",
        url,
        &body.to_string(),
        &[("content-type", "application/json")],
    )
    .await
}

pub fn chat(model: &str, text: &str) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}
