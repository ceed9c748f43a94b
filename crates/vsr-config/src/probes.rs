//! Probe manifests (the `balance.probes.yaml` format): a list of decisions, each with query
//! variants that must route to it, and acceptance rates. The format lives beside the config it
//! tests; `vsr_app::probes` runs a manifest against a router.

use std::path::Path;

use serde::Deserialize;

/// A probe manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_endpoint")]
    pub router_eval_endpoint: String,
    #[serde(default)]
    pub acceptance: Acceptance,
    pub decisions: Vec<ProbeGroup>,
}

fn default_endpoint() -> String {
    "/api/v1/eval".into()
}

#[derive(Debug, Clone, Deserialize)]
pub struct Acceptance {
    #[serde(default = "hundred")]
    pub min_probe_pass_rate: f64,
    #[serde(default = "hundred")]
    pub min_decision_pass_rate: f64,
}

fn hundred() -> f64 {
    100.0
}

impl Default for Acceptance {
    fn default() -> Self {
        Self {
            min_probe_pass_rate: 100.0,
            min_decision_pass_rate: 100.0,
        }
    }
}

/// The variants that must route to one decision.
#[derive(Debug, Clone, Deserialize)]
pub struct ProbeGroup {
    pub id: String,
    pub expected_decision: String,
    #[serde(default)]
    pub expected_alias: Option<String>,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Variant {
    pub id: String,
    pub query: String,
}

/// A manifest that cannot be read or parsed; the path carries line:column for YAML errors.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a probe manifest: {message}")]
    Parse { path: String, message: String },
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let show = || path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: show(),
            source,
        })?;
        Self::parse(&text, &show())
    }

    /// Parses a manifest; errors carry `origin` and the YAML's line and column.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        serde_yaml::from_str(text).map_err(|e| ManifestError::Parse {
            path: match e.location() {
                Some(l) => format!("{origin}:{}:{}", l.line(), l.column()),
                None => origin.to_string(),
            },
            message: e.to_string(),
        })
    }

    /// Number of variants.
    pub fn probe_count(&self) -> usize {
        self.decisions.iter().map(|d| d.variants.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_manifest_format() {
        let m = Manifest::parse(
            "name: t\nacceptance:\n  min_probe_pass_rate: 90\ndecisions:\n  - id: a\n    expected_decision: a\n    variants:\n      - id: v\n        query: hi\n        tags: [x]\n",
            "m.yaml",
        )
        .expect("parses");
        assert_eq!(m.router_eval_endpoint, "/api/v1/eval");
        assert_eq!(m.acceptance.min_probe_pass_rate, 90.0);
        assert_eq!(m.acceptance.min_decision_pass_rate, 100.0);
        assert_eq!(m.decisions[0].variants[0].query, "hi");
        assert_eq!(m.probe_count(), 1);
    }

    #[test]
    fn a_broken_manifest_names_file_line_and_column() {
        let e = Manifest::parse("decisions:\n  - id: a\n    variants: 3\n", "m.yaml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("m.yaml:"), "{msg}");
        assert!(
            msg.contains("expected_decision") || msg.contains("variants"),
            "{msg}"
        );
    }
}
