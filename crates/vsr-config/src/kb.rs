//! Knowledge bases (`global.model_catalog.kbs[]`, head-delta §6.1): the typed catalog, the
//! built-in `mmlu_kb` and `privacy_kb` (used when the file does not set the list), their
//! label manifests (written for vllm-sr and embedded in the binary), and manifest lookup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use crate::model::Config;

/// Metrics every knowledge base has.
pub const BUILTIN_METRICS: [&str; 2] = ["best_score", "best_matched_score"];

/// One knowledge base of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeBase {
    pub name: String,
    /// `source.path` (a directory) and `source.manifest` (default `labels.json`).
    pub path: String,
    pub manifest: String,
    /// Default per-label match threshold.
    pub threshold: f64,
    pub label_thresholds: BTreeMap<String, f64>,
    /// Group → labels, in declaration order.
    pub groups: Vec<(String, Vec<String>)>,
    /// `group_margin` metrics: name, positive group, negative group.
    pub metrics: Vec<GroupMargin>,
    pub prototype_scoring: PrototypeScoring,
}

/// A `group_margin` metric: score(positive) − score(negative).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMargin {
    pub name: String,
    pub positive_group: String,
    pub negative_group: String,
}

/// How a label's exemplars become prototypes and how a query is scored against them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrototypeScoring {
    pub enabled: bool,
    pub cluster_similarity_threshold: f64,
    pub max_prototypes: usize,
    pub best_weight: f64,
    pub top_m: usize,
    pub margin_threshold: f64,
}

impl Default for PrototypeScoring {
    fn default() -> Self {
        Self {
            enabled: true,
            cluster_similarity_threshold: 0.9,
            max_prototypes: 8,
            best_weight: 0.75,
            top_m: 2,
            margin_threshold: 0.0,
        }
    }
}

impl KnowledgeBase {
    /// The match threshold of a label.
    pub fn label_threshold(&self, label: &str) -> f64 {
        self.label_thresholds
            .get(label)
            .copied()
            .unwrap_or(self.threshold)
    }

    /// Metric names: the built-in ones, then the declared ones.
    pub fn metric_names(&self) -> Vec<String> {
        BUILTIN_METRICS
            .iter()
            .map(|m| m.to_string())
            .chain(self.metrics.iter().map(|m| m.name.clone()))
            .collect()
    }

    /// The label manifest: a file found by [`resolve_asset`], else for the built-in paths the
    /// manifest embedded in the binary.
    pub fn load_manifest(&self) -> Result<KbManifest, String> {
        let rel = Path::new(&self.path).join(&self.manifest);
        if let Some(found) = resolve_asset(&rel) {
            let text =
                std::fs::read_to_string(&found).map_err(|e| format!("{}: {e}", found.display()))?;
            return KbManifest::parse(&text).map_err(|e| format!("{}: {e}", found.display()));
        }
        match embedded_manifest(&self.path, &self.manifest) {
            Some(text) => {
                KbManifest::parse(text).map_err(|e| format!("built-in {}: {e}", rel.display()))
            }
            None => Err(format!(
                "knowledge base `{}`: manifest {} not found (looked in the working directory, $VLLM_SR_CONFIG_ASSET_ROOT and /app/config)",
                self.name,
                rel.display()
            )),
        }
    }
}

/// A label manifest: `{version?, description?, labels: {<label>: {description?, exemplars}}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KbManifest {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub labels: IndexMap<String, KbLabel>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KbLabel {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub exemplars: Vec<String>,
}

impl KbManifest {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

const MMLU_MANIFEST: &str = include_str!("../assets/knowledge_bases/mmlu/labels.json");
const PRIVACY_MANIFEST: &str = include_str!("../assets/knowledge_bases/privacy/labels.json");

/// The manifest shipped in the binary for a built-in path.
pub fn embedded_manifest(path: &str, manifest: &str) -> Option<&'static str> {
    if manifest != "labels.json" {
        return None;
    }
    match path.trim_start_matches("./").trim_end_matches('/') {
        "knowledge_bases/mmlu" => Some(MMLU_MANIFEST),
        "knowledge_bases/privacy" => Some(PRIVACY_MANIFEST),
        _ => None,
    }
}

/// A relative asset path resolved like the original (first existing wins): as given (the
/// working directory), `.vllm-sr/<path>` for `knowledge_bases/` paths,
/// `$VLLM_SR_CONFIG_ASSET_ROOT/<path>`, `/app/config/<path>`. Absolute paths are taken as
/// they are.
pub fn resolve_asset(rel: &Path) -> Option<PathBuf> {
    if rel.is_absolute() {
        return rel.is_file().then(|| rel.to_path_buf());
    }
    let mut candidates = vec![rel.to_path_buf()];
    if rel.starts_with("knowledge_bases") {
        candidates.push(Path::new(".vllm-sr").join(rel));
    }
    if let Some(root) = std::env::var_os("VLLM_SR_CONFIG_ASSET_ROOT") {
        candidates.push(Path::new(&root).join(rel));
    }
    candidates.push(Path::new("/app/config").join(rel));
    candidates.into_iter().find(|p| p.is_file())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Privacy labels by the group of the built-in `privacy_kb` they belong to.
pub const PRIVACY_SECURITY: [&str; 4] = [
    "prompt_injection",
    "credential_exfiltration",
    "jailbreak_role",
    "system_prompt_extraction",
];
pub const PRIVACY_POLICY: [&str; 8] = [
    "proprietary_code",
    "internal_document",
    "pii",
    "business_strategy",
    "trade_secret_ip",
    "operational_infrastructure",
    "locality_directive",
    "customer_data",
];
pub const PRIVACY_FRONTIER: [&str; 3] = [
    "architecture_analysis",
    "root_cause_analysis",
    "multi_step_tradeoffs",
];
pub const PRIVACY_LOCAL: [&str; 3] = ["generic_coding", "simple_task", "general_knowledge"];

/// The MMLU labels escalated by the built-in `mmlu_kb`'s `escalate` group.
pub const MMLU_ESCALATE: [&str; 9] = [
    "biology",
    "business",
    "computer science",
    "economics",
    "history",
    "math",
    "other",
    "philosophy",
    "psychology",
];
pub const MMLU_KEEP: [&str; 5] = ["chemistry", "engineering", "health", "law", "physics"];

/// The built-in catalog: `privacy_kb` and `mmlu_kb` (head-delta §6.1).
pub fn builtin_kbs() -> Vec<KnowledgeBase> {
    let private: Vec<&str> = PRIVACY_SECURITY
        .iter()
        .chain(PRIVACY_POLICY.iter())
        .copied()
        .collect();
    let public: Vec<&str> = PRIVACY_FRONTIER
        .iter()
        .chain(PRIVACY_LOCAL.iter())
        .copied()
        .collect();
    vec![
        KnowledgeBase {
            name: "privacy_kb".into(),
            path: "knowledge_bases/privacy/".into(),
            manifest: "labels.json".into(),
            threshold: 0.55,
            label_thresholds: [("prompt_injection".to_string(), 0.7)]
                .into_iter()
                .collect(),
            groups: vec![
                ("security_containment".into(), strings(&PRIVACY_SECURITY)),
                ("privacy_policy".into(), strings(&PRIVACY_POLICY)),
                ("frontier_reasoning".into(), strings(&PRIVACY_FRONTIER)),
                ("local_standard".into(), strings(&PRIVACY_LOCAL)),
                ("private".into(), strings(&private)),
                ("public".into(), strings(&public)),
            ],
            metrics: vec![GroupMargin {
                name: "private_vs_public".into(),
                positive_group: "private".into(),
                negative_group: "public".into(),
            }],
            prototype_scoring: PrototypeScoring::default(),
        },
        KnowledgeBase {
            name: "mmlu_kb".into(),
            path: "knowledge_bases/mmlu/".into(),
            manifest: "labels.json".into(),
            threshold: 0.25,
            label_thresholds: BTreeMap::new(),
            groups: vec![
                ("escalate".into(), strings(&MMLU_ESCALATE)),
                ("keep".into(), strings(&MMLU_KEEP)),
            ],
            metrics: vec![GroupMargin {
                name: "escalate_vs_keep".into(),
                positive_group: "escalate".into(),
                negative_group: "keep".into(),
            }],
            prototype_scoring: PrototypeScoring::default(),
        },
    ]
}

/// One `kbs[]` entry read leniently (validation reports the shape errors).
fn from_value(k: &Value) -> KnowledgeBase {
    let str_of = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let num =
        |v: Option<&Value>, d: f64| v.and_then(Value::as_f64).filter(|x| *x != 0.0).unwrap_or(d);
    let source = k.get("source");
    let manifest = str_of(source.and_then(|s| s.get("manifest")));
    let ps = k.get("prototype_scoring");
    let d = PrototypeScoring::default();
    let usize_of = |v: Option<&Value>, d: usize| {
        v.and_then(Value::as_u64)
            .filter(|x| *x > 0)
            .and_then(|x| usize::try_from(x).ok())
            .unwrap_or(d)
    };
    KnowledgeBase {
        name: str_of(k.get("name")),
        path: str_of(source.and_then(|s| s.get("path"))),
        manifest: if manifest.is_empty() {
            "labels.json".into()
        } else {
            manifest
        },
        threshold: k.get("threshold").and_then(Value::as_f64).unwrap_or(0.0),
        label_thresholds: k
            .get("label_thresholds")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(l, v)| v.as_f64().map(|x| (l.clone(), x)))
                    .collect()
            })
            .unwrap_or_default(),
        groups: k
            .get("groups")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(g, ls)| {
                        let labels = ls
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .map(String::from)
                                    .collect()
                            })
                            .unwrap_or_default();
                        (g.clone(), labels)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        metrics: k
            .get("metrics")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .filter(|m| m.get("type").and_then(Value::as_str) == Some("group_margin"))
                    .map(|m| GroupMargin {
                        name: str_of(m.get("name")),
                        positive_group: str_of(m.get("positive_group")),
                        negative_group: str_of(m.get("negative_group")),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        prototype_scoring: PrototypeScoring {
            enabled: ps
                .and_then(|p| p.get("enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(d.enabled),
            cluster_similarity_threshold: num(
                ps.and_then(|p| p.get("cluster_similarity_threshold")),
                d.cluster_similarity_threshold,
            ),
            max_prototypes: usize_of(ps.and_then(|p| p.get("max_prototypes")), d.max_prototypes),
            best_weight: num(ps.and_then(|p| p.get("best_weight")), d.best_weight),
            top_m: usize_of(ps.and_then(|p| p.get("top_m")), d.top_m),
            margin_threshold: ps
                .and_then(|p| p.get("margin_threshold"))
                .and_then(Value::as_f64)
                .unwrap_or(d.margin_threshold),
        },
    }
}

impl Config {
    /// The knowledge bases in effect: `global.model_catalog.kbs` when the file sets it (the
    /// list replaces the built-ins), else [`builtin_kbs`].
    pub fn knowledge_bases(&self) -> Vec<KnowledgeBase> {
        let user = self
            .global
            .as_ref()
            .and_then(|g| g.model_catalog.as_ref())
            .and_then(|m| m.get("kbs"))
            .and_then(Value::as_array);
        match user {
            Some(list) => list.iter().map(from_value).collect(),
            None => builtin_kbs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_manifests_parse_and_cover_their_groups() {
        for kb in builtin_kbs() {
            let m = kb.load_manifest().expect("embedded manifest");
            for (g, labels) in &kb.groups {
                for l in labels {
                    assert!(
                        m.labels.contains_key(l),
                        "{}: group {g} names unknown label {l}",
                        kb.name
                    );
                }
            }
            for (l, label) in &m.labels {
                assert!(
                    label.exemplars.len() >= 15,
                    "{}: {l} has {} exemplars",
                    kb.name,
                    label.exemplars.len()
                );
                let mut seen = std::collections::HashSet::new();
                for e in &label.exemplars {
                    assert!(
                        seen.insert(e.to_lowercase()),
                        "{}: {l}: duplicate exemplar {e}",
                        kb.name
                    );
                }
            }
        }
        let mmlu = &builtin_kbs()[1];
        let m = mmlu.load_manifest().expect("mmlu");
        let labels: Vec<&str> = m.labels.keys().map(String::as_str).collect();
        let mut want = crate::model::SUPPORTED_DOMAINS.to_vec();
        want.sort();
        let mut got = labels.clone();
        got.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn a_user_list_replaces_the_built_ins_and_reads_defaults() {
        let src = "version: v0.3\nproviders:\n  defaults:\n    default_model: m\n  models:\n    - name: m\n      backend_refs:\n        - endpoint: vllm:8000\nrouting:\n  modelCards:\n    - name: m\nglobal:\n  model_catalog:\n    kbs:\n      - name: mine\n        source:\n          path: kb/mine/\n        threshold: 0.4\n        groups:\n          a: [x]\n          b: [y]\n        metrics:\n          - name: a_vs_b\n            type: group_margin\n            positive_group: a\n            negative_group: b\n";
        let (cfg, _, diags) = crate::check_str(src, "t.yaml");
        let cfg = cfg.expect("parses");
        let kbs = cfg.knowledge_bases();
        assert_eq!(kbs.len(), 1, "{diags:?}");
        let k = &kbs[0];
        assert_eq!(
            (k.name.as_str(), k.manifest.as_str(), k.threshold),
            ("mine", "labels.json", 0.4)
        );
        assert_eq!(
            k.metric_names(),
            ["best_score", "best_matched_score", "a_vs_b"]
        );
        assert_eq!(k.prototype_scoring, PrototypeScoring::default());
        let e = k.load_manifest().unwrap_err();
        assert!(e.contains("kb/mine/labels.json"), "{e}");
    }
}
