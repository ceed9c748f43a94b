//! Probe manifests: a list of decisions, each with request variants that must route to it, and
//! acceptance rates. Two formats share one type: the March format (`balance.probes.yaml`: text
//! queries, an expected decision and alias) and `schema_version: v1` (upstream HEAD's
//! `recipe-probes-v1`: chat `messages` with tools and image fixtures, a request `model`, expected
//! recipe/signals/plugins/algorithm, per-decision robustness and a coverage policy).
//! The format lives beside the config it tests; `vsr_app::probes` runs a manifest against a
//! router.

use std::collections::HashSet;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// A probe manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// `v1` for the HEAD format; absent in the March format.
    #[serde(default)]
    pub schema_version: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `{yaml, dsl}`: the recipe's assets (informational).
    #[serde(default)]
    pub routing_assets: Option<IndexMap<String, String>>,
    #[serde(default = "default_endpoint")]
    pub router_eval_endpoint: String,
    #[serde(default)]
    pub evaluation: Option<Evaluation>,
    #[serde(default)]
    pub acceptance: Acceptance,
    #[serde(default)]
    pub fixtures: Option<Fixtures>,
    #[serde(default)]
    pub coverage: Option<Coverage>,
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

/// `evaluation`: how a remote runner calls the eval endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Evaluation {
    #[serde(default)]
    pub request_timeout_seconds: Option<f64>,
    #[serde(default)]
    pub concurrency: Option<u32>,
}

/// `fixtures`: inline data that message variants reference by name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Fixtures {
    #[serde(default)]
    pub images: IndexMap<String, ImageFixture>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ImageFixture {
    #[serde(default)]
    pub description: String,
    pub media_type: String,
    pub data_base64: String,
    #[serde(default)]
    pub sha256: Option<String>,
}

impl ImageFixture {
    /// `data:<media_type>;base64,<data>` (whitespace of the YAML block removed).
    pub fn data_url(&self) -> String {
        let data: String = self
            .data_base64
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        format!("data:{};base64,{data}", self.media_type)
    }
}

/// `coverage`: what the manifest as a whole must assert and exercise.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Coverage {
    #[serde(default)]
    pub min_signal_assertion_percent: f64,
    #[serde(default)]
    pub min_projection_assertion_percent: f64,
    #[serde(default)]
    pub min_algorithm_assertion_percent: f64,
    #[serde(default)]
    pub min_plugin_assertion_percent: f64,
    /// Subset of `text`, `messages`, `tools`.
    #[serde(default)]
    pub required_request_shapes: Vec<String>,
    /// Tag category → minimum number of probes.
    #[serde(default)]
    pub min_tag_counts: IndexMap<String, u64>,
    /// Tag category → minimum live pass rate (percent).
    #[serde(default)]
    pub min_tag_pass_rate: IndexMap<String, f64>,
}

/// Family key (eval `matched_signals` key) → signal names.
pub type SignalMap = IndexMap<String, Vec<String>>;

/// The variants that must route to one decision.
#[derive(Debug, Clone, Deserialize)]
pub struct ProbeGroup {
    #[serde(default)]
    pub id: String,
    pub expected_decision: String,
    /// The request's `model` (v1), e.g. an entrypoint name.
    #[serde(default)]
    pub model: Option<String>,
    /// The recipe the request must be routed by (v1; `default` when unset).
    #[serde(default)]
    pub expected_recipe: Option<String>,
    #[serde(default)]
    pub expected_algorithm: Option<String>,
    #[serde(default)]
    pub expected_plugins: Vec<String>,
    #[serde(default)]
    pub forbidden_plugins: Vec<String>,
    /// `contains` (default) or `exact`.
    #[serde(default)]
    pub plugin_match: Option<String>,
    #[serde(default)]
    pub expected_alias: Option<String>,
    #[serde(default)]
    pub expected_signals: Option<SignalMap>,
    #[serde(default)]
    pub forbidden_signals: Option<SignalMap>,
    /// `contains` (default) or `exact`.
    #[serde(default)]
    pub signal_match: Option<String>,
    #[serde(default)]
    pub robustness: Option<Robustness>,
    #[serde(default)]
    pub objective: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Robustness {
    pub min_pass_rate: f64,
}

/// One request. The March format has only `id` and `query`.
#[derive(Debug, Clone, Deserialize)]
pub struct Variant {
    pub id: String,
    /// The text of a text variant; empty for a `messages` variant.
    #[serde(default)]
    pub query: String,
    /// Chat messages (v1), sent verbatim except for generated text and image fixtures.
    #[serde(default)]
    pub messages: Option<Vec<Value>>,
    /// Tool definitions (v1), sent verbatim.
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    /// Text variants only: the query repeated this many times, joined by newlines.
    #[serde(default)]
    pub repeat: Option<u32>,
    #[serde(default)]
    pub padding: Option<Padding>,
    #[serde(default)]
    pub generated_text: Option<GeneratedText>,
    #[serde(default)]
    pub display_prompt: Option<String>,
    #[serde(default)]
    pub playground: Option<Value>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Replaces (does not merge with) the decision's `expected_signals`.
    #[serde(default)]
    pub expected_signals: Option<SignalMap>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Padding {
    pub text: String,
    #[serde(default)]
    pub repeat: Option<u32>,
    /// `before` (default), `after` or `around`.
    #[serde(default)]
    pub placement: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GeneratedText {
    pub message_index: usize,
    pub content_index: usize,
    pub target_text_bytes: usize,
    /// One printable ASCII character; `x` by default.
    #[serde(default)]
    pub character: Option<String>,
}

/// The request a variant stands for (the eval body's `text` or `messages`, plus `tools`).
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeRequest {
    Text(String),
    Messages(Vec<Value>),
}

impl Variant {
    /// The text a text variant sends: the query `repeat` times joined by newlines, with the
    /// padding lines before, after or around it (the first half of the lines before).
    pub fn text(&self) -> String {
        let n = self.repeat.unwrap_or(1).max(1) as usize;
        let mut parts: Vec<&str> = vec![self.query.as_str(); n];
        if let Some(p) = &self.padding {
            let k = p.repeat.unwrap_or(1).max(1) as usize;
            let pad = vec![p.text.as_str(); k];
            parts = match p.placement.as_deref().unwrap_or("before") {
                "after" => [parts, pad].concat(),
                "around" => [&pad[..k / 2], &parts[..], &pad[k / 2..]].concat(),
                _ => [pad, parts].concat(),
            };
        }
        parts.join("\n")
    }

    /// The request shape: `messages` when given (generated text inserted and image fixtures
    /// replaced by `image_url` data URLs), otherwise [`Self::text`]. `repeat` and `padding` are
    /// ignored for messages (as upstream).
    pub fn request(&self, fixtures: Option<&Fixtures>) -> Result<ProbeRequest, String> {
        let Some(messages) = &self.messages else {
            return Ok(ProbeRequest::Text(self.text()));
        };
        let mut messages = messages.clone();
        if let Some(g) = &self.generated_text {
            let msg = messages.get_mut(g.message_index).ok_or_else(|| {
                format!(
                    "generated_text.message_index {} is out of range",
                    g.message_index
                )
            })?;
            let Some(Value::Array(parts)) = msg.get_mut("content") else {
                return Err("generated_text needs a message whose content is a list".into());
            };
            let existing: usize = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(str::len)
                .sum();
            if g.target_text_bytes <= existing {
                return Err(format!(
                    "generated_text.target_text_bytes {} must exceed the message's {existing} text bytes",
                    g.target_text_bytes
                ));
            }
            let ch = g.character.as_deref().unwrap_or("x");
            let part = serde_json::json!({"type": "text", "text": ch.repeat(g.target_text_bytes - existing)});
            let at = g.content_index.min(parts.len());
            parts.insert(at, part);
        }
        for m in &mut messages {
            let Some(Value::Array(parts)) = m.get_mut("content") else {
                continue;
            };
            for p in parts {
                if p.get("type").and_then(Value::as_str) != Some("image_fixture") {
                    continue;
                }
                let name = p.get("fixture").and_then(Value::as_str).unwrap_or_default();
                let fx = fixtures
                    .and_then(|f| f.images.get(name))
                    .ok_or_else(|| format!("image fixture `{name}` is not defined"))?;
                *p = serde_json::json!({"type": "image_url", "image_url": {"url": fx.data_url()}});
            }
        }
        Ok(ProbeRequest::Messages(messages))
    }

    /// The request shapes this variant exercises: `text` or `messages`, and `tools`.
    pub fn shapes(&self) -> Vec<&'static str> {
        let mut out = vec![if self.messages.is_some() {
            "messages"
        } else {
            "text"
        }];
        if self.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            out.push("tools");
        }
        out
    }

    /// The tag categories of the coverage policy this variant counts for.
    pub fn tag_categories(&self) -> Vec<&'static str> {
        let has = |f: &dyn Fn(&str) -> bool| self.tags.iter().any(|t| f(t));
        let mut out = Vec::new();
        if has(&|t| {
            t.starts_with("language:") || matches!(t, "de" | "en" | "es" | "fr" | "ja" | "zh")
        }) {
            out.push("language");
        }
        if has(&|t| matches!(t, "negative" | "class:negative" | "fallback")) {
            out.push("negative");
        }
        if has(&|t| t == "collision" || t.ends_with(":collision")) {
            out.push("collision");
        }
        if has(&|t| t == "fallback") {
            out.push("fallback");
        }
        if has(&|t| t.starts_with("stress:")) {
            out.push("stress");
        }
        if has(&|t| matches!(t, "tools" | "shape:tools")) || self.shapes().contains(&"tools") {
            out.push("tools");
        }
        if has(&|t| matches!(t, "multi-turn" | "multiturn" | "shape:messages"))
            || self.messages.is_some()
        {
            out.push("multi_turn");
        }
        out
    }
}

impl ProbeGroup {
    /// The signals a variant must see: its own map, else the decision's.
    pub fn expected_signals_for<'a>(&'a self, v: &'a Variant) -> Option<&'a SignalMap> {
        v.expected_signals
            .as_ref()
            .or(self.expected_signals.as_ref())
    }

    /// The recipe the probes must be routed by (`default` when unset).
    pub fn recipe(&self) -> &str {
        self.expected_recipe.as_deref().unwrap_or("default")
    }
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

    /// Parses a manifest; errors carry `origin` and the YAML's line and column. A v1 manifest
    /// is also checked (ids, exactly one of `query`/`messages`, fixtures, match modes).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let mut m: Manifest = serde_yaml::from_str(text).map_err(|e| ManifestError::Parse {
            path: match e.location() {
                Some(l) => format!("{origin}:{}:{}", l.line(), l.column()),
                None => origin.to_string(),
            },
            message: e.to_string(),
        })?;
        let bad = |message: String| ManifestError::Parse {
            path: origin.to_string(),
            message,
        };
        match m.schema_version.as_deref() {
            None => {
                for g in &m.decisions {
                    for v in &g.variants {
                        if v.query.is_empty() {
                            return Err(bad(format!("{}:{}: missing field `query`", g.id, v.id)));
                        }
                    }
                }
            }
            Some("v1") => m.check_v1().map_err(bad)?,
            Some(other) => {
                return Err(bad(format!(
                    "schema_version must be `v1` (or absent for the March format), got `{other}`"
                )));
            }
        }
        for g in &mut m.decisions {
            if g.id.is_empty() {
                g.id = g.expected_decision.clone();
            }
        }
        Ok(m)
    }

    /// Whether this is a `schema_version: v1` manifest.
    pub fn is_v1(&self) -> bool {
        self.schema_version.as_deref() == Some("v1")
    }

    fn check_v1(&self) -> Result<(), String> {
        if self.coverage.is_none() {
            return Err("missing field `coverage` (required by schema v1)".into());
        }
        if self.decisions.is_empty() {
            return Err("`decisions` must not be empty".into());
        }
        let mut groups = HashSet::new();
        let mut probes = HashSet::new();
        for g in &self.decisions {
            let gid = if g.id.is_empty() {
                &g.expected_decision
            } else {
                &g.id
            };
            if !groups.insert(gid.clone()) {
                return Err(format!("decision id `{gid}` is used twice"));
            }
            for (what, mode) in [
                ("plugin_match", &g.plugin_match),
                ("signal_match", &g.signal_match),
            ] {
                if let Some(m) = mode
                    && m != "contains"
                    && m != "exact"
                {
                    return Err(format!(
                        "{gid}: {what} must be `contains` or `exact`, got `{m}`"
                    ));
                }
            }
            if g.variants.is_empty() {
                return Err(format!("{gid}: `variants` must not be empty"));
            }
            for v in &g.variants {
                let pid = format!("{gid}:{}", v.id);
                if !probes.insert(pid.clone()) {
                    return Err(format!("probe id `{pid}` is used twice"));
                }
                match (&v.messages, v.query.is_empty()) {
                    (Some(_), false) => {
                        return Err(format!("{pid}: give `query` or `messages`, not both"));
                    }
                    (None, true) => return Err(format!("{pid}: give `query` or `messages`")),
                    (Some(m), true) if m.is_empty() => {
                        return Err(format!("{pid}: `messages` must not be empty"));
                    }
                    _ => {}
                }
                if v.generated_text.is_some() && v.messages.is_none() {
                    return Err(format!("{pid}: generated_text needs `messages`"));
                }
                for m in v.messages.iter().flatten() {
                    let parts = m
                        .get("content")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten();
                    for p in parts {
                        match p.get("type").and_then(Value::as_str) {
                            Some("image_url" | "input_image") => {
                                return Err(format!(
                                    "{pid}: image parts must reference a fixture (`type: image_fixture`)"
                                ));
                            }
                            Some("image_fixture") => {
                                let name =
                                    p.get("fixture").and_then(Value::as_str).unwrap_or_default();
                                if !self
                                    .fixtures
                                    .as_ref()
                                    .is_some_and(|f| f.images.contains_key(name))
                                {
                                    return Err(format!(
                                        "{pid}: image fixture `{name}` is not defined"
                                    ));
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        Ok(())
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
        assert!(!m.is_v1());
    }

    const V1: &str = "schema_version: v1\nname: t\nfixtures:\n  images:\n    pic:\n      description: d\n      media_type: image/png\n      data_base64: |-\n        iVBO\n        Rw==\ncoverage:\n  min_signal_assertion_percent: 0\n  min_projection_assertion_percent: 0\n  min_algorithm_assertion_percent: 0\n  min_plugin_assertion_percent: 0\n  required_request_shapes: [text]\n  min_tag_counts: {}\n  min_tag_pass_rate: {}\ndecisions:\n  - id: a\n    expected_decision: a\n    model: vllm-sr/x\n    expected_recipe: r\n    expected_signals: {keywords: [k]}\n    variants:\n      - id: q\n        query: hi\n        repeat: 2\n        padding: {text: pad, repeat: 3, placement: around}\n        tags: [en, stress:long]\n      - id: m\n        messages:\n          - {role: user, content: [{type: text, text: ab}, {type: image_fixture, fixture: pic}]}\n        generated_text: {message_index: 0, content_index: 1, target_text_bytes: 5}\n        tools: [{type: function}]\n        expected_signals: {domains: [math]}\n";

    #[test]
    fn parses_v1_and_builds_requests() {
        let m = Manifest::parse(V1, "m.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert!(m.is_v1());
        let g = &m.decisions[0];
        assert_eq!(g.recipe(), "r");
        assert_eq!(g.model.as_deref(), Some("vllm-sr/x"));
        let (q, msg) = (&g.variants[0], &g.variants[1]);
        assert_eq!(q.text(), "pad\nhi\nhi\npad\npad");
        assert_eq!(q.tag_categories(), vec!["language", "stress"]);
        assert_eq!(msg.shapes(), vec!["messages", "tools"]);
        assert!(
            g.expected_signals_for(msg)
                .is_some_and(|s| s.contains_key("domains"))
        );
        assert!(
            g.expected_signals_for(q)
                .is_some_and(|s| s.contains_key("keywords"))
        );
        let ProbeRequest::Messages(ms) = msg
            .request(m.fixtures.as_ref())
            .unwrap_or_else(|e| panic!("{e}"))
        else {
            panic!("messages")
        };
        let parts = ms[0]["content"].as_array().cloned().unwrap_or_default();
        assert_eq!(parts[1]["text"], "xxx");
        assert_eq!(
            parts[2]["image_url"]["url"],
            "data:image/png;base64,iVBORw=="
        );
    }

    #[test]
    fn v1_shape_errors_are_reported() {
        for (from, to, want) in [
            (
                "        query: hi\n",
                "        query: hi\n        messages: [{role: user, content: x}]\n",
                "not both",
            ),
            ("fixture: pic", "fixture: nope", "not defined"),
            (
                "  - id: a\n",
                "  - id: a\n    signal_match: some\n",
                "signal_match",
            ),
            ("coverage:", "coverag:", "coverage"),
        ] {
            let text = V1.replacen(from, to, 1);
            let e = Manifest::parse(&text, "m.yaml")
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
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
