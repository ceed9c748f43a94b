//! The data-plane view of a config: listeners, aliases with their backends, reasoning
//! families and router options. Built from the typed, validated `vsr_config::Config` (the one
//! config parser); nothing here reads YAML.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use vsr_config::{BackendRef, Config};

pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
pub const DEFAULT_AUTO_NAMES: [&str; 3] = ["MoM", "auto", "vllm-sr/auto"];
/// The most extra attempts a model may configure.
pub const MAX_RETRY_COUNT: u32 = 5;
/// A listener's upstream timeout when the config gives none.
pub const DEFAULT_LISTENER_TIMEOUT: Duration = Duration::from_secs(1200);

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file does not load (every problem with file:line:column).
    #[error(transparent)]
    Config(#[from] vsr_config::ConfigError),
    /// The config loads but cannot be served as given.
    #[error("{origin}: {path}: {message}")]
    Invalid {
        origin: String,
        path: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub listeners: Vec<ListenerSettings>,
    /// Aliases in config order.
    pub models: IndexMap<String, ModelSettings>,
    pub default_model: Option<String>,
    pub reasoning_families: IndexMap<String, ReasoningFamily>,
    pub default_reasoning_effort: Option<String>,
    /// Names that trigger routing (`MoM`, `auto`, `vllm-sr/auto`, config additions).
    pub auto_model_names: Vec<String>,
    /// Entrypoint model names → (recipe, its description), in config order; `default` names
    /// the default profile.
    pub entrypoints: IndexMap<String, (String, Option<String>)>,
    pub max_body_bytes: usize,
    pub response_api_enabled: bool,
    /// `global.services.observability.metrics.enabled`: `/metrics` answers 404 when false.
    pub metrics_enabled: bool,
    /// `global.router.learning` protection: session-stable routing (`None`: off).
    pub session: Option<std::sync::Arc<vsr_session::Policy>>,
    /// `global.router.learning` adaptation: `routing_sampling` over learned experience
    /// (`None`: off).
    pub adapter: Option<std::sync::Arc<vsr_session::Adapter>>,
    /// The response cache's store and per-decision settings.
    pub cache: vsr_cache::CacheSettings,
    /// Per-decision `tools` plugins.
    pub tools: crate::tools_policy::ToolsPolicies,
    /// Whether the classifier reads the request envelope (an August-2026 config with `context`
    /// rules): only then is it measured on the data plane.
    pub context_envelope: bool,
    /// Per-decision looper algorithms (`fusion`, `workflows`).
    pub loopers: crate::looper::Loopers,
    /// Decisions whose selector reads live latency and load (`latency_aware`, `multi_factor`).
    pub live_selectors: crate::live::LiveSelectors,
    /// Model names that ask the default profile's fusion / workflows decisions directly
    /// (`integrations.looper.{fusion,flow}.model_names`, default `vllm-sr/fusion` and
    /// `vllm-sr/flow`), and which of them `/v1/models` lists.
    pub fusion_slugs: Vec<String>,
    /// The default profile's looper decisions as (name, priority, `fusion` | `workflows`),
    /// highest priority first (declaration order among equals): what a slug falls back to.
    pub looper_decisions: Vec<(String, i64, String)>,
    pub flow_slugs: Vec<String>,
    pub exposed_slugs: Vec<String>,
    /// How long a workflow waits for the client's tool results
    /// (`integrations.looper.flow.state.ttl_seconds`, default 1800).
    pub flow_state_ttl: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct ListenerSettings {
    pub name: String,
    pub address: String,
    pub port: u16,
    /// Upper bound on waiting for upstream response headers and between body chunks.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub name: String,
    /// The id sent upstream in `model` (the alias when unset).
    pub provider_model_id: Option<String>,
    pub reasoning_family: Option<String>,
    pub pricing: Option<Pricing>,
    /// The API its backends speak (`api_format`; OpenAI chat when unset).
    pub api_format: Option<ApiFormat>,
    pub backends: Vec<BackendSettings>,
    pub reliability: Reliability,
}

impl ModelSettings {
    pub fn upstream_id(&self) -> &str {
        self.provider_model_id.as_deref().unwrap_or(&self.name)
    }
}

pub use vsr_config::{ApiFormat, LbPolicy, Pricing, ReasoningFamily};

#[derive(Debug, Clone, PartialEq)]
pub struct BackendSettings {
    pub name: String,
    pub https: bool,
    /// `host:port`.
    pub authority: String,
    /// Path the chat request goes to (`/v1/chat/completions` unless rewritten).
    pub chat_path: String,
    pub weight: u32,
    /// The provider key (literal or from `api_key_env`); never printed.
    pub api_key: Option<Secret>,
    pub auth_header: String,
    pub auth_prefix: String,
    pub extra_headers: Vec<(String, String)>,
    /// CA certificates trusted for this backend's HTTPS (`tls_ca_file`); `None`: the system's.
    pub tls_ca: Option<TlsCa>,
}

/// A credential: compared and cloned like a string, printed as `***` (settings are logged in
/// debug output and errors; keys must not be).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A CA file named in config, read and parsed at load time (a bad file refuses the config).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsCa {
    pub path: PathBuf,
    pub certs: Arc<Vec<rustls::pki_types::CertificateDer<'static>>>,
}

/// Which failures before the first byte are retried within an alias (`retry_on`, Envoy's
/// names). Whatever the set, a failed alias falls back to the decision's next model ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    /// `connect-failure`: the TCP or TLS connection could not be made.
    pub connect_failure: bool,
    /// `refused-stream`: a 2xx answer whose body failed before its first byte.
    pub refused_stream: bool,
    /// `reset`: the connection closed or reset before response headers.
    pub reset: bool,
    /// `gateway-error`: a 502, 503 or 504 answer, or an attempt timeout.
    pub gateway_error: bool,
    /// `5xx`: any 5xx answer, or an attempt timeout.
    pub server_error: bool,
}

impl Default for RetryOn {
    /// Upstream's default (`connect-failure,refused-stream`) plus `reset`: a connection that
    /// died before any answer is as safe to retry as one never made.
    fn default() -> Self {
        Self {
            connect_failure: true,
            refused_stream: true,
            reset: true,
            gateway_error: false,
            server_error: false,
        }
    }
}

impl RetryOn {
    /// From validated `retry_on` names (unknown names were refused by `vsr-config`).
    pub fn from_names(names: &[String]) -> Self {
        if names.is_empty() {
            return Self::default();
        }
        let has = |n: &str| names.iter().any(|x| x.trim() == n);
        Self {
            connect_failure: has("connect-failure"),
            refused_stream: has("refused-stream"),
            reset: has("reset"),
            gateway_error: has("gateway-error"),
            server_error: has("5xx"),
        }
    }
}

impl BackendSettings {
    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reliability {
    pub lb_policy: LbPolicy,
    /// Extra attempts on connect failure or a connection that died before response headers
    /// (at most [`MAX_RETRY_COUNT`]).
    pub retry_count: u32,
    pub retry_on: RetryOn,
    /// Bound on one attempt until its first byte (`None`: the request's deadline only).
    pub per_try_timeout: Option<Duration>,
    /// Eject an endpoint after this many consecutive 5xx/connect failures (0 = never).
    pub consecutive_5xx: u32,
    pub base_ejection_time: Duration,
    pub max_ejection_percent: u32,
    pub health_check_path: Option<String>,
    pub health_check_interval: Duration,
    pub health_check_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for Reliability {
    fn default() -> Self {
        Self {
            lb_policy: LbPolicy::RoundRobin,
            retry_count: 1,
            retry_on: RetryOn::default(),
            per_try_timeout: None,
            consecutive_5xx: 5,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_percent: 50,
            health_check_path: None,
            health_check_interval: Duration::from_secs(10),
            health_check_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl ProxySettings {
    /// How long one request may take end to end: the first listener's `timeout` (20 minutes
    /// when none is configured).
    pub fn request_timeout(&self) -> std::time::Duration {
        self.listeners
            .first()
            .map(|l| l.timeout)
            .unwrap_or(std::time::Duration::from_secs(1200))
    }

    /// Loads config text through `vsr-config` and builds the settings (for tests and tools);
    /// `origin` names the text in errors.
    pub fn from_yaml(
        text: &str,
        origin: &str,
    ) -> Result<(Self, vsr_config::Loaded), SettingsError> {
        let loaded = vsr_config::load_str(text, origin)?;
        let settings = Self::from_config(&loaded.config, origin)?;
        Ok((settings, loaded))
    }

    /// Builds the settings from a config validated by `vsr-config`.
    pub fn from_config(cfg: &Config, origin: &str) -> Result<Self, SettingsError> {
        let invalid = |path: String, message: String| SettingsError::Invalid {
            origin: origin.to_string(),
            path,
            message,
        };
        // Relative file names in the config (`tls_ca_file`) are relative to the config file.
        let origin_path = Path::new(origin);
        let base_dir = origin_path.parent().filter(|_| origin_path.is_file());
        let listeners = cfg
            .listeners
            .iter()
            .map(|l| ListenerSettings {
                name: l.name.clone(),
                address: Some(l.address.clone())
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                port: l.port,
                timeout: l.timeout.unwrap_or(DEFAULT_LISTENER_TIMEOUT),
            })
            .collect();
        let mut models = IndexMap::new();
        for (i, m) in cfg.providers.models.iter().enumerate() {
            let at = format!("providers.models[{i}]");
            if m.name.is_empty() {
                return Err(invalid(format!("{at}.name"), "is required".into()));
            }
            let backends = m
                .backend_refs
                .iter()
                .enumerate()
                .map(|(j, b)| {
                    backend(b, j, base_dir, m.api_format)
                        .map_err(|(field, e)| invalid(format!("{at}.backend_refs[{j}]{field}"), e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let reliability = m.reliability.as_ref().map(reliability).unwrap_or_default();
            if reliability.retry_count > MAX_RETRY_COUNT {
                return Err(invalid(
                    format!("{at}.reliability.retry_count"),
                    format!("{} is above {MAX_RETRY_COUNT}", reliability.retry_count),
                ));
            }
            if models.contains_key(&m.name) {
                return Err(invalid(
                    "providers.models".into(),
                    format!("duplicate alias `{}`", m.name),
                ));
            }
            models.insert(
                m.name.clone(),
                ModelSettings {
                    name: m.name.clone(),
                    provider_model_id: m.provider_model_id.clone().filter(|s| !s.is_empty()),
                    reasoning_family: m.reasoning_family.clone().filter(|s| !s.is_empty()),
                    pricing: m.pricing.clone(),
                    api_format: m.api_format,
                    backends,
                    reliability,
                },
            );
        }
        let defaults = &cfg.providers.defaults;
        let default_model = defaults.default_model.clone().filter(|s| !s.is_empty());
        if let Some(d) = &default_model
            && !models.contains_key(d)
        {
            return Err(invalid(
                "providers.defaults.default_model".into(),
                format!("`{d}` is not a configured model"),
            ));
        }
        let global = cfg.global_settings();
        let looper_decisions = looper_decisions(cfg);
        let (fusion_slugs, flow_slugs, exposed_slugs) = looper_slugs(&global, &looper_decisions);
        let mut auto_model_names: Vec<String> =
            DEFAULT_AUTO_NAMES.iter().map(|s| s.to_string()).collect();
        for n in std::iter::once(global.auto_model_name).chain(global.auto_model_names) {
            if !n.is_empty() && !auto_model_names.contains(&n) {
                auto_model_names.push(n);
            }
        }
        let mut entrypoints = IndexMap::new();
        for e in &cfg.entrypoints {
            let description = cfg
                .recipes
                .iter()
                .find(|r| r.name == e.recipe)
                .and_then(|r| r.description.clone());
            for n in e
                .model_names
                .iter()
                .map(|n| n.trim())
                .filter(|n| !n.is_empty())
            {
                entrypoints
                    .entry(n.to_string())
                    .or_insert_with(|| (e.recipe.clone(), description.clone()));
            }
        }
        Ok(Self {
            listeners,
            models,
            default_model,
            entrypoints,
            reasoning_families: defaults.reasoning_families.clone(),
            default_reasoning_effort: defaults.default_reasoning_effort.clone(),
            auto_model_names,
            max_body_bytes: global
                .max_body_bytes
                .and_then(|b| usize::try_from(b).ok())
                .unwrap_or(DEFAULT_MAX_BODY_BYTES),
            response_api_enabled: global.response_api_enabled,
            metrics_enabled: global.observability.metrics.enabled,
            session: vsr_session::Policy::from_config(cfg).map(std::sync::Arc::new),
            adapter: vsr_session::Adapter::from_config(cfg).map(std::sync::Arc::new),
            cache: vsr_cache::CacheSettings::from_config(cfg),
            tools: crate::tools_policy::ToolsPolicies::from_config(
                cfg,
                crate::tools_policy::ToolsPolicy::of,
            ),
            context_envelope: cfg.uses_head_schema()
                && std::iter::once(&cfg.routing)
                    .chain(cfg.recipes.iter().map(|r| &r.routing))
                    .any(|r| !r.signals.context.is_empty()),
            live_selectors: crate::live::LiveSelectors::from_config(cfg),
            fusion_slugs,
            looper_decisions,
            flow_slugs,
            exposed_slugs,
            flow_state_ttl: std::time::Duration::from_secs(
                cfg.effective_global()
                    .pointer("/integrations/looper/flow/state/ttl_seconds")
                    .and_then(serde_json::Value::as_u64)
                    .filter(|s| *s > 0)
                    .unwrap_or(1800),
            ),
            loopers: crate::looper::Loopers::from_config(cfg, |d| {
                crate::looper::Looper::of(d).map(std::sync::Arc::new)
            }),
        })
    }

    pub fn is_auto_name(&self, model: &str) -> bool {
        self.auto_model_names.iter().any(|n| n == model)
    }

    /// The looper a model name asks for directly (`fusion` or `workflows`), if it is a slug.
    pub fn looper_slug(&self, model: &str) -> Option<&'static str> {
        let model = model.trim();
        if self.fusion_slugs.iter().any(|n| n == model) {
            Some("fusion")
        } else if self.flow_slugs.iter().any(|n| n == model) {
            Some("workflows")
        } else {
            None
        }
    }

    /// Which routing profile a request model asks for: `Some(None)` for an auto name (the
    /// default profile), `Some(Some(recipe))` for an entrypoint name of a named recipe, `None`
    /// for anything else (an explicit model, not routed).
    pub fn routing_profile(&self, model: &str) -> Option<Option<&str>> {
        if self.is_auto_name(model) {
            return Some(None);
        }
        self.entrypoints
            .get(model.trim())
            .map(|(r, _)| Some(r.as_str()).filter(|r| *r != vsr_config::DEFAULT_RECIPE))
    }
}

/// The built-in looper slugs (upstream's defaults).
pub const DEFAULT_FUSION_SLUG: &str = "vllm-sr/fusion";
pub const DEFAULT_FLOW_SLUG: &str = "vllm-sr/flow";

/// The fusion and flow slugs, and those `/v1/models` lists: fusion names when configured or
/// when a default-profile decision uses fusion; flow names when one uses workflows (as
/// upstream).
fn looper_slugs(
    global: &vsr_config::global::GlobalSettings,
    looper_decisions: &[(String, i64, String)],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let uses = |kind: &str| looper_decisions.iter().any(|(_, _, k)| k == kind);
    let or_default = |names: &Option<Vec<String>>, slug: &str| {
        names.clone().unwrap_or_else(|| vec![slug.to_string()])
    };
    let fusion = or_default(&global.looper_fusion_names, DEFAULT_FUSION_SLUG);
    let flow = or_default(&global.looper_flow_names, DEFAULT_FLOW_SLUG);
    let mut exposed = Vec::new();
    if global.looper_fusion_names.is_some() || uses("fusion") {
        exposed.extend(fusion.iter().cloned());
    }
    if uses("workflows") {
        exposed.extend(flow.iter().cloned());
    }
    (fusion, flow, exposed)
}

/// The default profile's fusion and workflows decisions, highest priority first.
fn looper_decisions(cfg: &Config) -> Vec<(String, i64, String)> {
    let mut out: Vec<(String, i64, String)> = cfg
        .profile(None)
        .map(|p| {
            p.routing
                .decisions
                .iter()
                .filter_map(|d| {
                    let kind = d.algorithm.as_ref()?.kind.as_str();
                    matches!(kind, "fusion" | "workflows")
                        .then(|| (d.name.clone(), d.priority, kind.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|d| std::cmp::Reverse(d.1));
    out
}

/// The typed config as JSON (`GET /config/router`): what was loaded, in canonical form.
pub fn source_json(cfg: &Config) -> serde_json::Value {
    // Serializing the model cannot fail: every map key is a string and every number finite.
    serde_json::to_value(cfg).unwrap_or(serde_json::Value::Null)
}

/// One backend's settings; an error names the field (`.tls_ca_file`, or empty for the entry).
fn backend(
    b: &BackendRef,
    index: usize,
    base_dir: Option<&Path>,
    api_format: Option<ApiFormat>,
) -> Result<BackendSettings, (&'static str, String)> {
    let s = backend_address(b, index, api_format).map_err(|e| ("", e))?;
    let tls_ca = match b.tls_ca_file.as_deref().filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => {
            let path = match base_dir {
                Some(d) if Path::new(f).is_relative() => d.join(f),
                _ => PathBuf::from(f),
            };
            let certs = vsr_tls::read_certs(&path).map_err(|e| (".tls_ca_file", e.to_string()))?;
            Some(TlsCa {
                path,
                certs: Arc::new(certs),
            })
        }
    };
    if tls_ca.is_some() && !s.https {
        return Err((
            ".tls_ca_file",
            "is set but the backend does not use https".into(),
        ));
    }
    if let Some(var) = b.api_key_env.as_deref().filter(|_| s.api_key.is_none()) {
        // Not an error: `validate` on another machine must not need the key.
        tracing::warn!(
            backend = %s.name,
            variable = var,
            "api_key_env names an unset or empty environment variable; requests to this backend carry no configured key"
        );
    }
    Ok(BackendSettings { tls_ca, ..s })
}

fn backend_address(
    b: &BackendRef,
    index: usize,
    api_format: Option<ApiFormat>,
) -> Result<BackendSettings, String> {
    // An Anthropic-protocol backend takes `/v1/messages` and its key in `x-api-key`.
    let anthropic = api_format == Some(ApiFormat::Anthropic);
    let (address, from_base_url) = match (&b.base_url, &b.endpoint) {
        (Some(u), _) if !u.is_empty() => (u.clone(), true),
        (_, Some(e)) if !e.is_empty() => (e.clone(), false),
        _ => return Err("needs `endpoint` or `base_url`".into()),
    };
    let (scheme, rest) = match address.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r.to_string()),
        None => (None, address.clone()),
    };
    let protocol = b.protocol.map(vsr_config::Vocab::as_str);
    let https = match scheme.as_deref().or(protocol) {
        Some("https") => true,
        Some("http") | None => false,
        Some(other) => return Err(format!("unsupported protocol `{other}`")),
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
        None => (rest.as_str(), String::new()),
    };
    if hostport.is_empty() {
        return Err(format!("no host in `{address}`"));
    }
    let authority = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        hostport.to_string()
    } else {
        format!("{hostport}:{}", if https { 443 } else { 80 })
    };
    let chat_suffix = match (&b.chat_path, from_base_url, anthropic) {
        (Some(p), _, _) => p.clone(),
        (None, true, false) => "/chat/completions".into(),
        (None, false, false) => "/v1/chat/completions".into(),
        (None, true, true) => "/messages".into(),
        (None, false, true) => "/v1/messages".into(),
    };
    let api_key = match (b.api_key.clone().filter(|k| !k.is_empty()), &b.api_key_env) {
        (Some(k), _) => Some(k),
        (None, Some(var)) => std::env::var(var).ok().filter(|k| !k.is_empty()),
        (None, None) => None,
    }
    .map(Secret);
    Ok(BackendSettings {
        name: b.effective_name(index),
        https,
        authority,
        chat_path: format!("{path}{chat_suffix}"),
        weight: b.effective_weight(),
        api_key,
        auth_header: b.auth_header.clone().unwrap_or_else(|| {
            if anthropic {
                "x-api-key"
            } else {
                "Authorization"
            }
            .into()
        }),
        auth_prefix: b
            .auth_prefix
            .clone()
            .unwrap_or_else(|| if anthropic { "" } else { "Bearer" }.into()),
        extra_headers: b
            .extra_headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        tls_ca: None,
    })
}

fn reliability(r: &vsr_config::Reliability) -> Reliability {
    let d = Reliability::default();
    Reliability {
        lb_policy: r.lb_policy.unwrap_or(d.lb_policy),
        retry_count: r.retry_count.unwrap_or(d.retry_count),
        retry_on: RetryOn::from_names(&r.retry_on),
        per_try_timeout: r.per_try_timeout,
        consecutive_5xx: r.consecutive_5xx.unwrap_or(d.consecutive_5xx),
        base_ejection_time: r.base_ejection_time.unwrap_or(d.base_ejection_time),
        max_ejection_percent: r
            .max_ejection_percent
            .map_or(d.max_ejection_percent, |p| p.clamp(0.0, 100.0) as u32),
        health_check_path: r.health_check_path.clone().filter(|p| !p.is_empty()),
        health_check_interval: r.health_check_interval.unwrap_or(d.health_check_interval),
        health_check_timeout: r.health_check_timeout.unwrap_or(d.health_check_timeout),
        // Not a config field: the built-in bound on connecting.
        connect_timeout: d.connect_timeout,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const YAML: &str = r#"
version: v0.3
listeners:
  - {name: http-8899, address: 0.0.0.0, port: 8899, timeout: 300s}
providers:
  defaults:
    default_model: a
    reasoning_families:
      qwen3: {type: chat_template_kwargs, parameter: enable_thinking}
  models:
    - name: a
      provider_model_id: a-upstream
      reasoning_family: qwen3
      backend_refs:
        - {name: p, endpoint: "127.0.0.1:8000", weight: 3, api_key: k}
        - {base_url: "https://api.example.com/v1", weight: 1}
      reliability: {lb_policy: least_request, retry_count: 2, consecutive_5xx: 3, base_ejection_time: 1h30m}
global:
  router: {auto_model_names: [router/auto], max_body_bytes: 2048}
  services: {response_api: {enabled: false}, observability: {metrics: {enabled: false}}}
"#;

    #[test]
    fn built_from_the_typed_config() {
        let (s, loaded) = ProxySettings::from_yaml(YAML, "t.yaml").unwrap();
        assert_eq!(source_json(&loaded.config)["version"], "v0.3");
        assert_eq!(s.listeners[0].timeout, Duration::from_secs(300));
        let a = &s.models["a"];
        assert_eq!(a.upstream_id(), "a-upstream");
        assert_eq!(a.backends[0].authority, "127.0.0.1:8000");
        assert_eq!(a.backends[0].chat_path, "/v1/chat/completions");
        assert_eq!(a.backends[0].api_key, Some(Secret("k".into())));
        assert_eq!(format!("{:?}", a.backends[0].api_key), "Some(\"***\")");
        assert_eq!(a.backends[0].weight, 3);
        assert!(a.backends[1].https);
        assert_eq!(a.backends[1].name, "backend-2");
        assert_eq!(a.backends[1].authority, "api.example.com:443");
        assert_eq!(a.backends[1].chat_path, "/v1/chat/completions");
        assert_eq!(a.reliability.lb_policy, LbPolicy::LeastRequest);
        assert_eq!(a.reliability.retry_count, 2);
        assert_eq!(a.reliability.base_ejection_time, Duration::from_secs(5400));
        assert_eq!(a.reliability.health_check_interval, Duration::from_secs(10));
        assert_eq!(s.reasoning_families["qwen3"].parameter, "enable_thinking");
        assert!(s.is_auto_name("router/auto") && s.is_auto_name("MoM") && !s.is_auto_name("a"));
        assert_eq!(s.max_body_bytes, 2048);
        assert!(!s.response_api_enabled);
        assert!(!s.metrics_enabled);
        assert_eq!(a.api_format, None);
    }

    #[test]
    fn anthropic_backends_default_to_the_messages_path_and_x_api_key() {
        let yaml = "version: v0.3\nlisteners: [{name: l, address: 127.0.0.1, port: 1}]\nproviders: {models: [{name: c, api_format: anthropic, backend_refs: [{endpoint: \"h:1\", api_key: k}, {base_url: \"http://h:2/v1\"}, {endpoint: \"h:3\", chat_path: /x, auth_header: Authorization, auth_prefix: Bearer}]}]}\nrouting: {}\n";
        let (s, _) = ProxySettings::from_yaml(yaml, "t.yaml").unwrap();
        let c = &s.models["c"];
        assert_eq!(c.api_format, Some(ApiFormat::Anthropic));
        let b = &c.backends;
        assert_eq!(b[0].chat_path, "/v1/messages");
        assert_eq!(
            (b[0].auth_header.as_str(), b[0].auth_prefix.as_str()),
            ("x-api-key", "")
        );
        assert_eq!(b[1].chat_path, "/v1/messages");
        assert_eq!(b[2].chat_path, "/x");
        assert_eq!(b[2].auth_header, "Authorization");
    }

    #[test]
    fn defaults_apply_when_unset() {
        let yaml = "version: v0.3\nlisteners: [{name: l, address: 127.0.0.1, port: 1}]\nproviders: {models: [{name: m, backend_refs: [{endpoint: \"h:1\"}]}]}\nrouting: {}\n";
        let (s, _) = ProxySettings::from_yaml(yaml, "t.yaml").unwrap();
        assert_eq!(s.listeners[0].timeout, DEFAULT_LISTENER_TIMEOUT);
        assert_eq!(s.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(s.response_api_enabled);
        assert!(s.metrics_enabled);
        assert_eq!(s.models["m"].reliability, Reliability::default());
        assert_eq!(s.models["m"].backends[0].name, "primary");
        assert_eq!(s.auto_model_names, DEFAULT_AUTO_NAMES);
    }

    #[test]
    fn rejects_bad_values_with_location() {
        let bad = YAML.replace("least_request", "fastest");
        let e = ProxySettings::from_yaml(&bad, "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.yaml:17:32:") && e.contains("unknown lb_policy \"fastest\""),
            "{e}"
        );
        let e = ProxySettings::from_yaml("listeners: [", "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.yaml:"), "{e}");
        let bad = YAML.replace("default_model: a", "default_model: zz");
        assert!(ProxySettings::from_yaml(&bad, "t.yaml").is_err());
        let bad = YAML.replace("retry_count: 2", "retry_count: 9");
        let e = ProxySettings::from_yaml(&bad, "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("retry_count") && e.contains("above 5"), "{e}");
        let bad = YAML.replace(
            "retry_count: 2,",
            "retry_count: 2, retry_on: [reset, 5xxx],",
        );
        let e = ProxySettings::from_yaml(&bad, "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.yaml:17:") && e.contains("unknown retry_on condition \"5xxx\""),
            "{e}"
        );
        let ok = YAML.replace(
            "retry_count: 2,",
            "retry_count: 2, retry_on: \"gateway-error,reset\", per_try_timeout: 2s,",
        );
        let (s, _) = ProxySettings::from_yaml(&ok, "t.yaml").unwrap();
        let r = &s.models["a"].reliability;
        assert!(r.retry_on.gateway_error && r.retry_on.reset && !r.retry_on.connect_failure);
        assert_eq!(r.per_try_timeout, Some(Duration::from_secs(2)));
        let bad = YAML.replace("timeout: 300s", "timeout: 300");
        let e = ProxySettings::from_yaml(&bad, "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.yaml:4:") && e.contains("bare number"), "{e}");
    }

    #[test]
    fn balance_profile_loads() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/upstream-amd-2026-03/balance.yaml");
        if !p.exists() {
            vsr_testkit::missing(format!("{} absent", p.display()));
            return;
        }
        let loaded = vsr_config::load_file(&p).unwrap();
        let s = ProxySettings::from_config(&loaded.config, "balance.yaml").unwrap();
        assert_eq!(s.listeners[0].port, 8899);
        assert_eq!(s.listeners[0].timeout, Duration::from_secs(1200));
        assert_eq!(s.models.len(), 5);
        for m in s.models.values() {
            assert_eq!(m.backends[0].authority, "vllm:8000");
        }
    }
}
