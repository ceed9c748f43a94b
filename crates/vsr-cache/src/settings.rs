//! The cache's settings, read once per config generation from the typed config:
//! `global.stores.response_cache` (the store) and each decision's `response_cache` plugin
//! (whether and how that decision caches).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use vsr_config::vocab::{CacheMode, Vocab};
use vsr_config::{Config, Decision};

/// The spec's default semantic threshold when the decision sets none.
pub const DEFAULT_THRESHOLD: f32 = 0.8;
/// Default byte bound of the in-process store (our extension `max_bytes`).
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// `global.stores.response_cache` (or its deprecated name `semantic_cache`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    /// `enabled: false` turns every lookup and write off, whatever the decisions say.
    pub enabled: bool,
    pub max_entries: usize,
    pub max_bytes: u64,
    pub ttl: Duration,
    /// `eviction_policy`: `fifo` (the default) evicts the oldest entry; `lru` (and `lfu`,
    /// which we serve as LRU) the least recently hit.
    pub lru: bool,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 1000,
            max_bytes: DEFAULT_MAX_BYTES,
            ttl: Duration::from_secs(3600),
            lru: false,
        }
    }
}

/// Whose entries a request may see (`scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every client shares the entries.
    Global,
    /// Per user (`x-authz-user-id`); the default when the plugin is present.
    User,
    /// Per team (`x-authz-team-id`, else the first of `x-authz-user-groups`).
    Team,
    /// Per tenant (`x-authz-tenant-id`).
    Tenant,
}

impl Scope {
    fn parse(s: Option<&str>) -> Self {
        match s {
            Some("global") => Self::Global,
            Some("team") => Self::Team,
            Some("tenant") => Self::Tenant,
            // The spec: any other string behaves as `user`.
            _ => Self::User,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::User => "user",
            Self::Team => "team",
            Self::Tenant => "tenant",
        }
    }
}

/// `request_controls`: the header through which a client may opt out per request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestControls {
    pub enabled: bool,
    pub header: String,
    /// Allowed directives (`no-cache`, `no-store`, `bypass`, `ttl`).
    pub allowed: Vec<String>,
    pub max_ttl: Option<Duration>,
}

impl Default for RequestControls {
    fn default() -> Self {
        Self {
            enabled: false,
            header: "x-vsr-cache-control".into(),
            allowed: vec!["no-cache".into(), "no-store".into(), "bypass".into()],
            max_ttl: None,
        }
    }
}

/// One decision's `response_cache` plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionPolicy {
    pub mode: CacheMode,
    pub scope: Scope,
    /// Cosine similarity (of the router's unit-length prompt embeddings) a semantic hit needs.
    pub threshold: f32,
    /// `ttl_seconds`: `None` → the store's TTL; zero → never store.
    pub ttl: Option<Duration>,
    pub controls: RequestControls,
}

impl DecisionPolicy {
    pub fn semantic(&self) -> bool {
        self.mode != CacheMode::Exact
    }

    pub fn exact(&self) -> bool {
        self.mode != CacheMode::Semantic
    }
}

/// Everything the cache reads from one config generation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheSettings {
    pub store: StoreSettings,
    /// Enabled decisions by (recipe, decision); the default profile's recipe is "".
    policies: HashMap<(String, String), DecisionPolicy>,
}

impl CacheSettings {
    pub fn from_config(cfg: &Config) -> Self {
        let store = store_settings(cfg);
        let mut policies = HashMap::new();
        let profiles = std::iter::once(("", &cfg.routing.decisions)).chain(
            cfg.recipes
                .iter()
                .map(|r| (r.name.as_str(), &r.routing.decisions)),
        );
        for (recipe, decisions) in profiles {
            for d in decisions {
                if let Some(p) = decision_policy(d) {
                    policies.insert((recipe.to_string(), d.name.clone()), p);
                }
            }
        }
        Self { store, policies }
    }

    /// The policy of `decision` in profile `recipe`, when the store is on and the decision
    /// enables the cache.
    pub fn policy(&self, recipe: Option<&str>, decision: &str) -> Option<&DecisionPolicy> {
        if !self.store.enabled {
            return None;
        }
        let recipe = recipe
            .filter(|r| *r != vsr_config::DEFAULT_RECIPE)
            .unwrap_or("");
        self.policies
            .get(&(recipe.to_string(), decision.to_string()))
    }

    /// Whether some decision of profile `recipe` looks up by meaning (then the router embeds
    /// every prompt of that profile, once, for the cache too).
    pub fn profile_needs_embedding(&self, recipe: Option<&str>) -> bool {
        let recipe = recipe
            .filter(|r| *r != vsr_config::DEFAULT_RECIPE)
            .unwrap_or("");
        self.store.enabled
            && self
                .policies
                .iter()
                .any(|((r, _), p)| r == recipe && p.semantic())
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() || !self.store.enabled
    }
}

fn store_settings(cfg: &Config) -> StoreSettings {
    let g = cfg.effective_global();
    let s = g
        .pointer("/stores/response_cache")
        .filter(|v| v.is_object())
        .or_else(|| g.pointer("/stores/semantic_cache"));
    let d = StoreSettings::default();
    let Some(s) = s else { return d };
    let u = |k: &str| s.get(k).and_then(Value::as_u64);
    StoreSettings {
        enabled: s.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        max_entries: u("max_entries")
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(d.max_entries),
        max_bytes: u("max_bytes").unwrap_or(d.max_bytes),
        ttl: u("ttl_seconds").map(Duration::from_secs).unwrap_or(d.ttl),
        lru: matches!(
            s.get("eviction_policy").and_then(Value::as_str),
            Some("lru" | "lfu")
        ),
    }
}

const CACHE_PLUGIN_TYPES: &[&str] = &[
    "response_cache",
    "response-cache",
    "semantic-cache",
    "semantic_cache",
];

/// The decision's policy, when its cache plugin is enabled and it does not personalise (an
/// enabled `rag` or `memory` plugin injects per-user context the key cannot see).
fn decision_policy(d: &Decision) -> Option<DecisionPolicy> {
    let plugin = d
        .plugins
        .iter()
        .find(|p| CACHE_PLUGIN_TYPES.contains(&p.kind.as_str()))?;
    if !plugin.enabled()
        || d.plugins
            .iter()
            .any(|p| matches!(p.kind.as_str(), "rag" | "memory") && p.enabled())
    {
        return None;
    }
    let legacy = matches!(plugin.kind.as_str(), "semantic-cache" | "semantic_cache");
    let c = &plugin.configuration;
    let threshold = c
        .pointer("/semantic/similarity_threshold")
        .or_else(|| c.get("similarity_threshold"))
        .and_then(Value::as_f64)
        .map_or(DEFAULT_THRESHOLD, |t| t as f32);
    let mode = c
        .get("mode")
        .and_then(Value::as_str)
        .and_then(CacheMode::parse)
        .unwrap_or(CacheMode::Semantic);
    // The March plugin had no scope: its entries were shared.
    let scope = if legacy && c.get("scope").is_none() {
        Scope::Global
    } else {
        Scope::parse(c.get("scope").and_then(Value::as_str))
    };
    let ttl = c
        .get("ttl_seconds")
        .and_then(Value::as_u64)
        .map(Duration::from_secs);
    let mut controls = RequestControls::default();
    if let Some(r) = c.get("request_controls") {
        controls.enabled = r.get("enabled").and_then(Value::as_bool).unwrap_or(true);
        if let Some(h) = r.get("header").and_then(Value::as_str) {
            controls.header = h.to_ascii_lowercase();
        }
        if let Some(a) = r.get("allowed").and_then(Value::as_array) {
            controls.allowed = a
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_ascii_lowercase())
                .collect();
        }
        controls.max_ttl = r
            .get("max_ttl_seconds")
            .and_then(Value::as_u64)
            .map(Duration::from_secs);
    } else {
        if let Some(b) = c.get("allow_request_controls").and_then(Value::as_bool) {
            controls.enabled = b;
        }
        if let Some(h) = c.get("control_header").and_then(Value::as_str) {
            controls.header = h.to_ascii_lowercase();
        }
    }
    Some(DecisionPolicy {
        mode,
        scope,
        threshold,
        ttl,
        controls,
    })
}
