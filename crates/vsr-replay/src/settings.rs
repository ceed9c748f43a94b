//! Replay settings read from a loaded config: per-decision capture, retention, and the store.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

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
        let global = vsr_config::global::effective(config.global.as_ref());
        let rr = &global["services"]["router_replay"];
        let ttl = rr["ttl_seconds"].as_u64().filter(|t| *t > 0);
        let store_backend = rr["store_backend"].as_str().unwrap_or("memory").to_string();
        let pg = &rr["postgres"];
        let postgres_url = (store_backend == "postgres").then(|| postgres_url(pg));
        ReplaySettings {
            capture,
            retention: Retention {
                max_records: None,
                per_decision_max_records: per_decision,
                max_age: ttl.map(Duration::from_secs),
            },
            store_backend,
            postgres_url,
            postgres_schema: pg["table_name"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
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

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `postgres://user:password@host:port/database?sslmode=...` from the config's fields.
fn postgres_url(pg: &Value) -> String {
    let s = |k: &str, d: &str| {
        pg[k]
            .as_str()
            .filter(|v| !v.is_empty())
            .unwrap_or(d)
            .to_string()
    };
    let port = pg["port"].as_u64().unwrap_or(5432);
    let user = s("user", "postgres");
    let auth = match pg["password"].as_str().filter(|p| !p.is_empty()) {
        Some(pw) => format!("{}:{}", enc(&user), enc(pw)),
        None => enc(&user),
    };
    let mut url = format!(
        "postgres://{auth}@{}:{port}/{}",
        s("host", "localhost"),
        enc(&s("database", "postgres"))
    );
    if let Some(mode) = pg["ssl_mode"].as_str().filter(|m| !m.is_empty()) {
        url.push_str(&format!("?sslmode={}", enc(mode)));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_url_from_fields() {
        let pg = serde_json::json!({"host": "db", "port": 5433, "database": "vsr", "user": "router",
            "password": "p@ss word", "ssl_mode": "disable"});
        assert_eq!(
            postgres_url(&pg),
            "postgres://router:p%40ss%20word@db:5433/vsr?sslmode=disable"
        );
        assert_eq!(
            postgres_url(&serde_json::json!({})),
            "postgres://postgres@localhost:5432/postgres"
        );
    }
}
