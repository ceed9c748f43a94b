//! Test harness: sim backends, a router over a generated config, the workspace's test HTTP client (`vsr_testkit::http`), and a
//! keyword classifier standing in for the engine.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use vsr_engine::{EvalMode, RoutingResult};
use vsr_server::sim::{self, SimOptions, SimServer};
use vsr_server::{
    Classifier, ClassifyError, ProxySettings, RecordFinish, RecordSink, RecordStart, RunningServer,
    ServeOptions, ValidatingLoader,
};
use vsr_signals::RequestView;

pub use vsr_testkit::http::{Reply, client, post, send};

pub async fn sim(models: &[&str], tweak: impl FnOnce(&mut SimOptions)) -> SimServer {
    let mut o = SimOptions {
        models: models.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    tweak(&mut o);
    sim::start(([127, 0, 0, 1], 0).into(), o).await.unwrap()
}

/// The routing the test classifier runs: the real engine over keyword, context and projection
/// signals (no model), so the server tests route through the production path
/// (`RequestView::from_messages` → engine → `RoutingResult`).
/// `math` → decision `math_route` on alias `b` with reasoning on (keywords `math_kw` and
/// `proof_kw`, projection `balance_reasoning`); `jailbreak` → decision `block` with a fast
/// response; anything else → the default model, no decision.
pub const TEST_ROUTING: &str = r#"version: v0.3
listeners:
  - {name: http, address: 127.0.0.1, port: 9}
global:
  router: {keyword_match: all}
providers:
  defaults: {default_model: a}
  models:
    - name: a
      backend_refs: [{name: be0, endpoint: "127.0.0.1:9"}]
    - name: b
      backend_refs: [{name: be0, endpoint: "127.0.0.1:9"}]
routing:
  modelCards: [{name: a}, {name: b}]
  signals:
    keywords:
      - {name: math_kw, operator: OR, keywords: [math]}
      - {name: proof_kw, operator: OR, keywords: [math, proof]}
      - {name: jailbreak_kw, operator: OR, keywords: [jailbreak]}
    context:
      - {name: any_context, min_tokens: "0", max_tokens: 256K}
  projections:
    scores:
      - name: reasoning_score
        method: weighted_sum
        inputs:
          - {type: keyword, name: math_kw, weight: 1.0}
          - {type: context, name: any_context, weight: 0.0}
    mappings:
      - name: reasoning_band
        source: reasoning_score
        method: threshold_bands
        outputs: [{name: balance_simple, lt: 0.5}, {name: balance_reasoning, gte: 0.5}]
  decisions:
    - name: block
      priority: 200
      rules: {operator: AND, conditions: [{type: keyword, name: jailbreak_kw}]}
      modelRefs: [{model: a}]
      plugins: [{type: fast_response, configuration: {message: "I cannot help with that request."}}]
    - name: math_route
      priority: 100
      rules:
        operator: AND
        conditions: [{type: keyword, name: math_kw}, {type: projection, name: balance_reasoning}]
      modelRefs: [{model: b, use_reasoning: true}]
"#;

/// The engine of [`TEST_ROUTING`], built once.
pub fn test_engine() -> &'static vsr_engine::Engine {
    static ENGINE: std::sync::OnceLock<vsr_engine::Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        let loaded =
            vsr_config::load_str(TEST_ROUTING, "TEST_ROUTING").expect("test routing loads");
        vsr_engine::Engine::from_config(&loaded.config).expect("test engine builds")
    })
}

/// Every view the test classifiers were given (tests find theirs by a unique marker text).
pub static SEEN: Mutex<Vec<RequestView>> = Mutex::new(Vec::new());

/// The test classifier: [`test_engine`] routing; a text containing `slow` first sleeps 300 ms.
/// Every view it is given is kept in [`SEEN`].
pub struct KeywordClassifier {
    pub default_model: String,
}

impl KeywordClassifier {
    pub fn new(default_model: String) -> Self {
        Self { default_model }
    }
}

impl Classifier for KeywordClassifier {
    fn route(
        &self,
        recipe: Option<&str>,
        view: &RequestView,
    ) -> Result<RoutingResult, ClassifyError> {
        SEEN.lock().unwrap().push(view.clone());
        if view.text.to_lowercase().contains("slow") {
            std::thread::sleep(Duration::from_millis(300));
        }
        let ctx = vsr_signals::RequestContext::new(view);
        let mut r = test_engine().route(&ctx, EvalMode::Routing);
        if r.is_default {
            r.model = self.default_model.clone();
        }
        r.recipe = recipe.map(str::to_string);
        Ok(r)
    }

    fn eval(
        &self,
        recipe: Option<&str>,
        view: &RequestView,
    ) -> Result<RoutingResult, ClassifyError> {
        let mut r = test_engine().route_text(&view.text, EvalMode::All);
        r.recipe = recipe.map(str::to_string);
        Ok(r)
    }
}

/// The production loader (`vsr-config` validation, then the typed settings) with
/// [`KeywordClassifier`] routing.
pub fn keyword_loader() -> ValidatingLoader {
    ValidatingLoader::with_classifier(|_config, settings: &ProxySettings| {
        let default_model = settings.default_model.clone().unwrap_or_default();
        Ok(Arc::new(KeywordClassifier::new(default_model)) as Arc<dyn Classifier>)
    })
}

/// Records what the proxy reports.
#[derive(Default)]
pub struct MemorySink {
    pub starts: Mutex<Vec<(String, String, bool)>>,
    pub finishes: Mutex<Vec<(String, RecordFinish)>>,
    /// Ids of the records finished as answered from the response cache.
    pub from_cache: Mutex<Vec<String>>,
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
    fn finish_from_cache(&self, id: &str, f: RecordFinish) {
        self.from_cache.lock().unwrap().push(id.to_string());
        self.finish(id, f);
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

/// A complete config the real loader accepts: two aliases, `a` (upstream id `a-up`, default)
/// and `b` (qwen3 family), both on the given backends; `a_reliability` goes inside `a`'s
/// `reliability: {...}`. `providers.models` comes last, so tests may append aliases. The
/// listener port is a placeholder: the tests listen on `listen_override`.
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
routing: {{}}
listeners:
  - {{name: http, address: 127.0.0.1, port: 9, timeout: {timeout}}}
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
    let mut opts = ServeOptions::new(&config, Arc::new(keyword_loader()));
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

/// A router whose alias `a` has two endpoints: one that answers every request with 500 (first)
/// and a healthy one; two consecutive 5xx eject an endpoint for 60 s.
pub async fn router_with_a_failing_endpoint() -> (Router, SimServer, SimServer) {
    let bad = sim(&["a-up"], |o| {
        o.error_rate = 1.0;
        o.error_status = 500;
    })
    .await;
    let good = sim(&["a-up"], |_| {}).await;
    let backends = vec![bad.addr.to_string(), good.addr.to_string()];
    let yaml = config_yaml(
        &backends,
        &backends,
        "consecutive_5xx: 2, base_ejection_time: 60s",
        "30s",
    );
    (router_with(&yaml, |_| {}).await, bad, good)
}

/// A router whose aliases `a` and `b` both point at one sim serving `a-up` and `b`.
pub async fn simple() -> (Router, SimServer) {
    let s = sim(&["a-up", "b"], |_| {}).await;
    let e = vec![s.addr.to_string()];
    let r = router_with(&config_yaml(&e, &e, "", "30s"), |_| {}).await;
    (r, s)
}

pub fn chat(model: &str, text: &str) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}
