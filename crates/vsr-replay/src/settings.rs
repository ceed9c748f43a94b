//! Replay settings read from a loaded config: per-decision capture, retention, and the store.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::record::CaptureConfig;
use crate::store::{Retention, StoreConfig};

/// Everything the router needs to record replays for a config.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySettings {
    /// Decisions with an enabled `router_replay` plugin, and what each captures.
    pub capture: BTreeMap<String, CaptureConfig>,
    /// `max_records` per decision and `ttl_seconds` as the age limit.
    pub retention: Retention,
    /// `global.services.router_replay.store_backend` (`memory` by default).
    pub store_backend: String,
    /// A PostgreSQL URL when the backend is `postgres`.
    pub postgres_url: Option<String>,
    /// `global.services.router_replay.postgres.table_name`, used as the schema name.
    pub postgres_schema: Option<String>,
}

impl ReplaySettings {
    pub fn from_config(config: &vsr_config::Config) -> Self {
        let mut capture = BTreeMap::new();
        let mut per_decision = BTreeMap::new();
        for d in &config.routing.decisions {
            if let Some(p) = d.plugin("router_replay") {
                let c = CaptureConfig::from_plugin(p);
                if c.enabled {
                    per_decision.insert(d.name.clone(), c.max_records);
                    capture.insert(d.name.clone(), c);
                }
            }
        }
        // Decisions of named recipes record under their namespaced key; their records obey
        // the global caps only (per-decision caps count records by their local name).
        for r in config.named_recipes() {
            for d in &r.routing.decisions {
                if let Some(p) = d.plugin("router_replay") {
                    let c = CaptureConfig::from_plugin(p);
                    if c.enabled {
                        capture.insert(capture_key(Some(&r.name), &d.name), c);
                    }
                }
            }
        }
        let rr = config.global_settings().router_replay;
        let ttl = Some(rr.ttl_seconds).filter(|t| *t > 0);
        let postgres_url =
            (rr.store_backend == vsr_config::StoreBackend::Postgres).then(|| rr.postgres.url());
        ReplaySettings {
            capture,
            retention: Retention {
                max_records: None,
                per_decision_max_records: per_decision,
                max_age: ttl.map(Duration::from_secs),
            },
            store_backend: rr.store_backend.to_string(),
            postgres_url,
            postgres_schema: rr.postgres.table_name,
        }
    }

    /// Whether any decision records replays (the replay API is served only then).
    pub fn enabled(&self) -> bool {
        !self.capture.is_empty()
    }

    /// PostgreSQL when configured; otherwise the embedded SQLite file under `data_dir`
    /// (the original's `memory`, `redis` and `milvus` backends map to it).
    pub fn store_config(&self, data_dir: &Path) -> StoreConfig {
        match &self.postgres_url {
            Some(url) => StoreConfig::Postgres {
                url: url.clone(),
                schema: self.postgres_schema.clone(),
            },
            None => StoreConfig::sqlite_in(data_dir),
        }
    }
}

/// The key of a decision in [`ReplaySettings::capture`]: its name for the default profile,
/// `<recipe>::<decision>` (each percent-encoded) for a named recipe's, so that recipes may
/// reuse decision names.
pub fn capture_key(recipe: Option<&str>, decision: &str) -> String {
    match recipe.filter(|r| *r != vsr_config::DEFAULT_RECIPE) {
        None => decision.to_string(),
        Some(r) => format!("{}::{}", enc(r), enc(decision)),
    }
}

fn enc(s: &str) -> String {
    vsr_config::global::url_enc(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsr_config::global::PostgresSettings;

    #[test]
    fn postgres_url_from_fields() {
        let s = |v: &str| Some(v.to_string());
        let pg = PostgresSettings {
            host: s("db"),
            port: Some(5433),
            database: s("vsr"),
            user: s("router"),
            password: s("p@ss word"),
            ssl_mode: s("disable"),
            table_name: None,
        };
        assert_eq!(
            pg.url(),
            "postgres://router:p%40ss%20word@db:5433/vsr?sslmode=disable"
        );
        assert_eq!(
            PostgresSettings::default().url(),
            "postgres://postgres@localhost:5432/postgres"
        );
    }

    #[test]
    fn recipe_decisions_record_under_a_namespaced_key() {
        let yaml = "version: v0.3\nproviders:\n  models:\n    - name: a\n      backend_refs: [{endpoint: \"h:1\"}]\nrouting:\n  modelCards: [{name: a}]\n  decisions:\n    - {name: d, priority: 1, rules: {operator: AND}, modelRefs: [{model: a}], plugins: [{type: router_replay, configuration: {enabled: true}}]}\nentrypoints:\n  - {model_names: [x/y], recipe: r one}\nrecipes:\n  - name: r one\n    routing:\n      decisions:\n        - {name: d, priority: 1, rules: {operator: AND}, modelRefs: [{model: a}], plugins: [{type: router_replay, configuration: {enabled: true}}]}\n";
        let cfg = vsr_config::load_str(yaml, "t.yaml").expect("loads").config;
        let s = ReplaySettings::from_config(&cfg);
        let keys: Vec<&String> = s.capture.keys().collect();
        assert_eq!(keys, ["d", "r%20one::d"]);
        assert_eq!(capture_key(None, "d"), "d");
        assert_eq!(capture_key(Some("default"), "d"), "d");
        assert_eq!(s.retention.per_decision_max_records.len(), 1);
    }
}
