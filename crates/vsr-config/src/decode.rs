//! Maps the positioned YAML tree onto the typed model, collecting every problem instead of
//! stopping at the first: unknown fields, wrong types, missing required fields. Each value's
//! position is recorded under its YAML path so that later checks can point at it too.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::Value;

use crate::diag::{Diagnostic, Severity, join_index, join_key};
use crate::model::*;
use crate::units;
use crate::vocab::Vocab;
use crate::yaml::{Key, Node, NodeKind, Pos, Scalar};

/// Where each YAML path starts in the source (the value's position; for a map entry's key see
/// [`SpanIndex::key`]).
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl SpanIndex {
    /// The position of the value at `path`, or of its nearest recorded ancestor.
    pub fn locate(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.values.get(p) {
                return *pos;
            }
            match parent(p) {
                Some(up) => p = up,
                None => {
                    return self
                        .values
                        .get("")
                        .copied()
                        .unwrap_or(Pos { line: 1, column: 1 });
                }
            }
        }
    }

    /// The position of the key of the map entry at `path`, if it is one.
    pub fn key(&self, path: &str) -> Option<Pos> {
        self.keys.get(path).copied()
    }

    /// Whether a value was written at exactly this path.
    pub fn has(&self, path: &str) -> bool {
        self.values.contains_key(path)
    }
}

fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

pub(crate) struct Ctx<'a> {
    pub origin: &'a str,
    pub diags: Vec<Diagnostic>,
    pub spans: SpanIndex,
}

/// A mapping being decoded; reading a field marks it known.
pub(crate) struct Obj<'n> {
    path: String,
    pos: Pos,
    entries: &'n [(Key, Node)],
}

impl<'n> Obj<'n> {
    fn get(&self, key: &str) -> Option<(&'n Node, String)> {
        self.entries
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(_, v)| (v, join_key(&self.path, key)))
    }

    fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k.text == key)
    }
}

const EMPTY: &[(Key, Node)] = &[];

impl<'a> Ctx<'a> {
    pub fn new(origin: &'a str) -> Self {
        Ctx {
            origin,
            diags: Vec::new(),
            spans: SpanIndex::default(),
        }
    }

    pub fn error_at(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, pos, path, message.into());
    }

    pub fn warn_at(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, pos, path, message.into());
    }

    /// Whether an error was already reported at exactly this path.
    pub fn has_error(&self, path: &str) -> bool {
        self.diags
            .iter()
            .any(|d| d.severity == Severity::Error && d.path == path)
    }

    fn push(&mut self, severity: Severity, pos: Pos, path: &str, message: String) {
        self.diags.push(Diagnostic {
            severity,
            origin: self.origin.to_string(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message,
        });
    }

    fn record(&mut self, path: &str, node: &Node) {
        self.spans.values.insert(path.to_string(), node.pos);
    }

    fn type_error(&mut self, node: &Node, path: &str, expected: &str) {
        let found = node.describe();
        self.error_at(
            node.pos,
            path,
            format!("expected {expected}, found {found}"),
        );
    }

    /// Opens a mapping and reports keys outside `allowed`. Null reads as an empty mapping.
    pub fn obj<'n>(&mut self, node: &'n Node, path: &str, allowed: &[&str]) -> Option<Obj<'n>> {
        self.obj_with(node, path, Some(allowed))
    }

    /// Opens a mapping whose keys are free (names chosen by the user).
    pub fn obj_any<'n>(&mut self, node: &'n Node, path: &str) -> Option<Obj<'n>> {
        self.obj_with(node, path, None)
    }

    fn obj_with<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: Option<&[&str]>,
    ) -> Option<Obj<'n>> {
        self.record(path, node);
        let entries: &'n [(Key, Node)] = match &node.kind {
            NodeKind::Map(e) => e,
            _ if node.is_null() => EMPTY,
            _ => {
                self.type_error(node, path, "a mapping");
                return None;
            }
        };
        for (i, (k, v)) in entries.iter().enumerate() {
            let p = join_key(path, &k.text);
            self.spans.keys.insert(p.clone(), k.pos);
            self.spans.values.insert(p.clone(), v.pos);
            let Some(allowed) = allowed else { continue };
            if !allowed.contains(&k.text.as_str()) {
                let hint = match suggest(&k.text, allowed) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    // `{description: a, b}` parses `b` as a key with no value.
                    None if v.is_null()
                        && i > 0
                        && entries[i - 1].1.pos.line == k.pos.line =>
                    {
                        "; if it belongs to the previous value, quote that value (a comma ends an unquoted value inside `{...}`)".to_string()
                    }
                    None => String::new(),
                };
                self.error_at(k.pos, &p, format!("unknown field `{}`{hint}", k.text));
            }
        }
        Some(Obj {
            path: path.to_string(),
            pos: node.pos,
            entries,
        })
    }

    fn missing(&mut self, o: &Obj, key: &str) {
        let p = join_key(&o.path, key);
        self.error_at(o.pos, &p, format!("missing required field `{key}`"));
    }

    /// A scalar read as text (numbers and booleans keep their source spelling).
    fn text(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar(t, _) if !node.is_null() => Some(t.clone()),
            _ => {
                self.type_error(node, path, "a string");
                None
            }
        }
    }

    pub fn str_opt(&mut self, o: &Obj, key: &str) -> Option<String> {
        let (n, p) = o.get(key)?;
        if n.is_null() {
            return None;
        }
        self.text(n, &p)
    }

    pub fn str_req(&mut self, o: &Obj, key: &str) -> String {
        match o.get(key) {
            Some((n, p)) if !n.is_null() => self.text(n, &p).unwrap_or_default(),
            _ => {
                self.missing(o, key);
                String::new()
            }
        }
    }

    pub fn bool_opt(&mut self, o: &Obj, key: &str) -> Option<bool> {
        let (n, p) = o.get(key)?;
        match n.scalar() {
            Some(Scalar::Null) => None,
            Some(Scalar::Bool(b)) => Some(b),
            _ => {
                self.type_error(n, &p, "a boolean (true or false)");
                None
            }
        }
    }

    fn number(&mut self, n: &Node, p: &str) -> Option<f64> {
        match n.scalar() {
            Some(Scalar::Int(i)) => Some(i as f64),
            Some(Scalar::Float(f)) if f.is_finite() => Some(f),
            Some(Scalar::Float(_)) => {
                self.error_at(n.pos, p, "must be a finite number");
                None
            }
            _ => {
                self.type_error(n, p, "a number");
                None
            }
        }
    }

    pub fn f64_opt(&mut self, o: &Obj, key: &str) -> Option<f64> {
        let (n, p) = o.get(key)?;
        if n.is_null() {
            return None;
        }
        self.number(n, &p)
    }

    pub fn f64_req(&mut self, o: &Obj, key: &str) -> f64 {
        match o.get(key) {
            Some((n, p)) if !n.is_null() => self.number(n, &p).unwrap_or(0.0),
            _ => {
                self.missing(o, key);
                0.0
            }
        }
    }

    fn integer(&mut self, n: &Node, p: &str) -> Option<i64> {
        match n.scalar() {
            Some(Scalar::Int(i)) => Some(i),
            _ => {
                self.type_error(n, p, "an integer");
                None
            }
        }
    }

    pub fn i64_opt(&mut self, o: &Obj, key: &str) -> Option<i64> {
        let (n, p) = o.get(key)?;
        if n.is_null() {
            return None;
        }
        self.integer(n, &p)
    }

    /// An integer in `[min, max]`; out-of-range values are reported and dropped.
    pub fn int_in<T: TryFrom<i64>>(&mut self, o: &Obj, key: &str, min: i64, max: i64) -> Option<T> {
        let (n, p) = o.get(key)?;
        if n.is_null() {
            return None;
        }
        let v = self.integer(n, &p)?;
        if v < min || v > max {
            self.error_at(
                n.pos,
                &p,
                format!("must be between {min} and {max}, got {v}"),
            );
            return None;
        }
        T::try_from(v).ok()
    }

    pub fn str_list(&mut self, o: &Obj, key: &str) -> Vec<String> {
        let Some((n, p)) = o.get(key) else {
            return Vec::new();
        };
        self.str_list_node(n, &p)
    }

    fn str_list_node(&mut self, n: &Node, p: &str) -> Vec<String> {
        self.record(p, n);
        match &n.kind {
            NodeKind::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let ip = join_index(p, i);
                    self.record(&ip, item);
                    self.text(item, &ip)
                })
                .collect(),
            _ if n.is_null() => Vec::new(),
            _ => {
                self.type_error(n, p, "a list of strings");
                Vec::new()
            }
        }
    }

    pub fn str_map(&mut self, o: &Obj, key: &str) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        let Some((n, p)) = o.get(key) else {
            return out;
        };
        self.record(&p, n);
        match &n.kind {
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let kp = join_key(&p, &k.text);
                    self.record(&kp, v);
                    if let Some(t) = self.text(v, &kp) {
                        out.insert(k.text.clone(), t);
                    }
                }
            }
            _ if n.is_null() => {}
            _ => self.type_error(n, &p, "a mapping of strings"),
        }
        out
    }

    /// Decodes each item of a list field.
    pub fn list<T>(
        &mut self,
        o: &Obj,
        key: &str,
        mut item: impl FnMut(&mut Self, &Node, &str) -> Option<T>,
    ) -> Vec<T> {
        let Some((n, p)) = o.get(key) else {
            return Vec::new();
        };
        self.list_node(n, &p, &mut item)
    }

    fn list_node<T>(
        &mut self,
        n: &Node,
        p: &str,
        item: &mut impl FnMut(&mut Self, &Node, &str) -> Option<T>,
    ) -> Vec<T> {
        self.record(p, n);
        match &n.kind {
            NodeKind::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, it)| {
                    let ip = join_index(p, i);
                    self.record(&ip, it);
                    item(self, it, &ip)
                })
                .collect(),
            _ if n.is_null() => Vec::new(),
            _ => {
                self.type_error(n, p, "a list");
                Vec::new()
            }
        }
    }

    pub fn duration_opt(&mut self, o: &Obj, key: &str) -> Option<std::time::Duration> {
        let (n, p) = o.get(key)?;
        if n.is_null() {
            return None;
        }
        let t = self.text(n, &p)?;
        match units::parse_duration(&t) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error_at(n.pos, &p, e.to_string());
                None
            }
        }
    }

    /// A value of a closed vocabulary; anything else is reported at the value with the allowed
    /// values and the closest one.
    pub fn vocab_opt<V: Vocab>(&mut self, o: &Obj, key: &str) -> Option<V> {
        let (n, p) = o.get(key)?;
        if n.is_null() {
            return None;
        }
        self.vocab_node(n, &p)
    }

    /// Like [`Self::vocab_opt`], reporting a missing field; the default stands in after an error.
    pub fn vocab_req<V: Vocab + Default>(&mut self, o: &Obj, key: &str) -> V {
        match o.get(key) {
            Some((n, p)) if !n.is_null() => self.vocab_node(n, &p).unwrap_or_default(),
            _ => {
                self.missing(o, key);
                V::default()
            }
        }
    }

    fn vocab_node<V: Vocab>(&mut self, n: &Node, p: &str) -> Option<V> {
        let t = self.text(n, p)?;
        let v = V::parse(&t);
        if v.is_none() {
            self.error_at(n.pos, p, crate::vocab::unknown_message::<V>(&t));
        }
        v
    }

    /// A token count written as a string (`"1K"`) or a plain integer.
    pub fn tokens_opt(&mut self, o: &Obj, key: &str) -> Option<u64> {
        let (n, p) = o.get(key)?;
        if n.is_null() {
            return None;
        }
        let t = self.text(n, &p)?;
        match units::parse_token_count(&t) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error_at(n.pos, &p, e.to_string());
                None
            }
        }
    }

    /// A free-form value, recording positions of everything inside it.
    pub fn json(&mut self, n: &Node, p: &str) -> Value {
        self.record(p, n);
        match &n.kind {
            NodeKind::Map(entries) => {
                let mut m = serde_json::Map::new();
                for (k, v) in entries {
                    let kp = join_key(p, &k.text);
                    self.spans.keys.insert(kp.clone(), k.pos);
                    m.insert(k.text.clone(), self.json(v, &kp));
                }
                Value::Object(m)
            }
            NodeKind::Seq(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| self.json(it, &join_index(p, i)))
                    .collect(),
            ),
            NodeKind::Scalar(..) => match n.scalar() {
                Some(Scalar::Null) | None => Value::Null,
                Some(Scalar::Bool(b)) => Value::Bool(b),
                Some(Scalar::Int(i)) => Value::from(i),
                Some(Scalar::Float(f)) => match serde_json::Number::from_f64(f) {
                    Some(num) => Value::Number(num),
                    None => {
                        self.error_at(n.pos, p, "must be a finite number");
                        Value::Null
                    }
                },
                Some(Scalar::Str(s)) => Value::String(s.to_string()),
            },
        }
    }
}

/// The closest allowed key, for "did you mean" hints.
pub(crate) fn suggest<'s>(got: &str, allowed: &[&'s str]) -> Option<&'s str> {
    allowed
        .iter()
        .map(|a| {
            (
                levenshtein(&got.to_ascii_lowercase(), &a.to_ascii_lowercase()),
                *a,
            )
        })
        .filter(|(d, a)| *d <= (a.len().max(got.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// Edit distance counting an adjacent transposition as one edit (optimal string alignment).
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

// ---------------------------------------------------------------------------------------------
// the schema

const TOP: &[&str] = &["version", "listeners", "providers", "routing", "global"];

/// Fields removed from v0.3, with where they went.
const LEGACY_TOP: &[(&str, &str)] = &[
    ("default_model", "providers.defaults.default_model"),
    (
        "reasoning_families",
        "providers.defaults.reasoning_families",
    ),
    (
        "default_reasoning_effort",
        "providers.defaults.default_reasoning_effort",
    ),
    ("signals", "routing.signals"),
    ("decisions", "routing.decisions"),
    ("keyword_rules", "routing.signals.keywords"),
    ("embedding_rules", "routing.signals.embeddings"),
    ("categories", "routing.signals.domains"),
    ("vllm_endpoints", "providers.models[].backend_refs"),
    ("model_config", "providers.models[] and routing.modelCards"),
    ("semantic_cache", "global.stores.semantic_cache"),
];

pub(crate) fn config(cx: &mut Ctx, root: &Node) -> Config {
    let mut cfg = Config::default();
    let Some(o) = cx.obj_top(root) else {
        return cfg;
    };
    if !o.has("routing") && !o.has("global") {
        let pos = o.pos;
        cx.error_at(
            pos,
            "",
            "config file must use canonical v0.3 version/listeners/providers/routing/global: missing canonical routing/global sections",
        );
    }
    cfg.version = cx.str_opt(&o, "version");
    cfg.listeners = cx.list(&o, "listeners", listener);
    if let Some((n, p)) = o.get("providers") {
        cfg.providers = providers(cx, n, &p);
    }
    if let Some((n, p)) = o.get("routing") {
        cfg.routing = routing(cx, n, &p);
    }
    if let Some((n, p)) = o.get("global") {
        cfg.global = global(cx, n, &p);
    }
    cfg
}

impl Ctx<'_> {
    /// The root mapping; legacy top-level keys get a pointer to their v0.3 home.
    fn obj_top<'n>(&mut self, node: &'n Node) -> Option<Obj<'n>> {
        self.record("", node);
        let NodeKind::Map(entries) = &node.kind else {
            self.type_error(
                node,
                "",
                "a mapping with version/listeners/providers/routing/global",
            );
            return None;
        };
        for (k, v) in entries {
            self.spans.keys.insert(k.text.clone(), k.pos);
            self.spans.values.insert(k.text.clone(), v.pos);
            if TOP.contains(&k.text.as_str()) {
                continue;
            }
            let msg = match LEGACY_TOP.iter().find(|(old, _)| *old == k.text) {
                Some((_, new)) => format!(
                    "top-level `{}` is not canonical v0.3; it belongs under `{new}`",
                    k.text
                ),
                None => {
                    let hint = suggest(&k.text, TOP)
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    format!(
                        "unknown top-level key `{}`: canonical v0.3 has version, listeners, providers, routing, global{hint}",
                        k.text
                    )
                }
            };
            self.error_at(k.pos, &k.text, msg);
        }
        Some(Obj {
            path: String::new(),
            pos: node.pos,
            entries,
        })
    }
}

fn listener(cx: &mut Ctx, n: &Node, p: &str) -> Option<Listener> {
    let o = cx.obj(n, p, &["name", "address", "port", "timeout"])?;
    let name = cx.str_req(&o, "name");
    let address = cx.str_req(&o, "address");
    if !o.has("port") {
        cx.missing(&o, "port");
    }
    let port = cx.int_in::<u16>(&o, "port", 1, 65535).unwrap_or(0);
    let timeout = cx.duration_opt(&o, "timeout");
    Some(Listener {
        name,
        address,
        port,
        timeout,
    })
}

fn providers(cx: &mut Ctx, n: &Node, p: &str) -> Providers {
    let mut out = Providers::default();
    let legacy = [
        "model_targets",
        "backends",
        "auth_profiles",
        "default_model",
        "reasoning_families",
        "default_reasoning_effort",
    ];
    let mut allowed = vec!["defaults", "models"];
    allowed.extend(legacy);
    let Some(o) = cx.obj(n, p, &allowed) else {
        return out;
    };
    for key in legacy {
        if let Some((v, kp)) = o.get(key) {
            let pos = cx.spans.key(&kp).unwrap_or(v.pos);
            let msg = if key.starts_with("default") || key == "reasoning_families" {
                format!("`providers.{key}` moved to `providers.defaults.{key}` in v0.3")
            } else {
                format!(
                    "`providers.{key}` is no longer supported; use `providers.models[].backend_refs`"
                )
            };
            cx.error_at(pos, &kp, msg);
        }
    }
    if let Some((dn, dp)) = o.get("defaults")
        && let Some(d) = cx.obj(
            dn,
            &dp,
            &[
                "default_model",
                "reasoning_families",
                "default_reasoning_effort",
            ],
        )
    {
        out.defaults.default_model = cx.str_opt(&d, "default_model");
        out.defaults.default_reasoning_effort = cx.str_opt(&d, "default_reasoning_effort");
        if let Some((fnode, fp)) = d.get("reasoning_families")
            && let Some(fo) = cx.obj_any(fnode, &fp)
        {
            for (k, v) in fo.entries {
                let kp = join_key(&fp, &k.text);
                if let Some(f) = cx.obj(v, &kp, &["type", "parameter"]) {
                    let fam = ReasoningFamily {
                        kind: cx.str_req(&f, "type"),
                        parameter: cx.str_req(&f, "parameter"),
                    };
                    out.defaults.reasoning_families.insert(k.text.clone(), fam);
                }
            }
        }
    }
    out.models = cx.list(&o, "models", provider_model);
    out
}

fn provider_model(cx: &mut Ctx, n: &Node, p: &str) -> Option<ProviderModel> {
    const LEGACY: &[&str] = &[
        "access",
        "endpoints",
        "access_key",
        "param_size",
        "context_window_size",
        "description",
        "capabilities",
        "loras",
        "quality_score",
        "modality",
        "tags",
    ];
    let mut allowed = vec![
        "name",
        "reasoning_family",
        "provider_model_id",
        "api_format",
        "external_model_ids",
        "pricing",
        "backend_refs",
        "reliability",
    ];
    allowed.extend(LEGACY);
    let o = cx.obj(n, p, &allowed)?;
    for key in LEGACY {
        if let Some((v, kp)) = o.get(key) {
            let pos = cx.spans.key(&kp).unwrap_or(v.pos);
            let home = if matches!(*key, "access" | "endpoints" | "access_key") {
                "providers.models[].backend_refs"
            } else {
                "routing.modelCards[]"
            };
            cx.error_at(
                pos,
                &kp,
                format!("`{key}` is no longer supported here; it belongs in `{home}`"),
            );
        }
    }
    let pricing = match o.get("pricing") {
        Some((pn, pp)) if !pn.is_null() => cx
            .obj(pn, &pp, &["currency", "prompt_per_1m", "completion_per_1m"])
            .map(|po| Pricing {
                currency: cx.str_opt(&po, "currency"),
                prompt_per_1m: cx.f64_opt(&po, "prompt_per_1m"),
                completion_per_1m: cx.f64_opt(&po, "completion_per_1m"),
            }),
        _ => None,
    };
    let reliability = match o.get("reliability") {
        Some((rn, rp)) if !rn.is_null() => reliability(cx, rn, &rp),
        _ => None,
    };
    Some(ProviderModel {
        name: cx.str_req(&o, "name"),
        reasoning_family: cx.str_opt(&o, "reasoning_family"),
        provider_model_id: cx.str_opt(&o, "provider_model_id"),
        api_format: cx.str_opt(&o, "api_format"),
        external_model_ids: cx.str_map(&o, "external_model_ids"),
        pricing,
        backend_refs: cx.list(&o, "backend_refs", backend_ref),
        reliability,
    })
}

fn backend_ref(cx: &mut Ctx, n: &Node, p: &str) -> Option<BackendRef> {
    let o = cx.obj(
        n,
        p,
        &[
            "name",
            "endpoint",
            "protocol",
            "weight",
            "type",
            "base_url",
            "provider",
            "auth_header",
            "auth_prefix",
            "extra_headers",
            "api_version",
            "chat_path",
            "api_key",
            "api_key_env",
        ],
    )?;
    Some(BackendRef {
        name: cx.str_opt(&o, "name"),
        endpoint: cx.str_opt(&o, "endpoint"),
        protocol: cx.str_opt(&o, "protocol"),
        weight: cx.int_in::<u32>(&o, "weight", 0, u32::MAX as i64),
        kind: cx.str_opt(&o, "type"),
        base_url: cx.str_opt(&o, "base_url"),
        provider: cx.str_opt(&o, "provider"),
        auth_header: cx.str_opt(&o, "auth_header"),
        auth_prefix: cx.str_opt(&o, "auth_prefix"),
        extra_headers: cx.str_map(&o, "extra_headers"),
        api_version: cx.str_opt(&o, "api_version"),
        chat_path: cx.str_opt(&o, "chat_path"),
        api_key: cx.str_opt(&o, "api_key"),
        api_key_env: cx.str_opt(&o, "api_key_env"),
    })
}

fn reliability(cx: &mut Ctx, n: &Node, p: &str) -> Option<Reliability> {
    let o = cx.obj(
        n,
        p,
        &[
            "lb_policy",
            "retry_count",
            "retry_on",
            "consecutive_5xx",
            "base_ejection_time",
            "max_ejection_percent",
            "health_check_path",
            "health_check_interval",
            "health_check_timeout",
        ],
    )?;
    // `retry_on` is a list, or one comma-separated string.
    let retry_on = match o.get("retry_on") {
        Some((rn, rp)) => match rn.scalar() {
            Some(Scalar::Str(s)) => {
                cx.record(&rp, rn);
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            }
            _ => cx.str_list(&o, "retry_on"),
        },
        None => Vec::new(),
    };
    Some(Reliability {
        lb_policy: cx.vocab_opt(&o, "lb_policy"),
        retry_count: cx.int_in::<u32>(&o, "retry_count", 0, u32::MAX as i64),
        retry_on,
        consecutive_5xx: cx.int_in::<u32>(&o, "consecutive_5xx", 0, u32::MAX as i64),
        base_ejection_time: cx.duration_opt(&o, "base_ejection_time"),
        max_ejection_percent: cx.f64_opt(&o, "max_ejection_percent"),
        health_check_path: cx.str_opt(&o, "health_check_path"),
        health_check_interval: cx.duration_opt(&o, "health_check_interval"),
        health_check_timeout: cx.duration_opt(&o, "health_check_timeout"),
    })
}

fn routing(cx: &mut Ctx, n: &Node, p: &str) -> Routing {
    let mut out = Routing::default();
    let Some(o) = cx.obj(
        n,
        p,
        &[
            "modelCards",
            "signals",
            "projections",
            "decisions",
            "models",
        ],
    ) else {
        return out;
    };
    if let Some((v, kp)) = o.get("models") {
        let pos = cx.spans.key(&kp).unwrap_or(v.pos);
        cx.error_at(
            pos,
            &kp,
            "`routing.models` was renamed to `routing.modelCards` in v0.3",
        );
    }
    out.model_cards = cx.list(&o, "modelCards", model_card);
    if let Some((sn, sp)) = o.get("signals") {
        out.signals = signals(cx, sn, &sp);
    }
    if let Some((pn, pp)) = o.get("projections") {
        out.projections = projections(cx, pn, &pp);
    }
    out.decisions = cx.list(&o, "decisions", decision);
    out
}

fn model_card(cx: &mut Ctx, n: &Node, p: &str) -> Option<ModelCard> {
    let o = cx.obj(
        n,
        p,
        &[
            "name",
            "param_size",
            "context_window_size",
            "description",
            "capabilities",
            "loras",
            "quality_score",
            "modality",
            "tags",
        ],
    )?;
    Some(ModelCard {
        name: cx.str_req(&o, "name"),
        param_size: cx.str_opt(&o, "param_size"),
        context_window_size: cx.int_in::<u64>(&o, "context_window_size", 1, i64::MAX),
        description: cx.str_opt(&o, "description"),
        capabilities: cx.str_list(&o, "capabilities"),
        loras: cx.list(&o, "loras", |cx, n, p| {
            let o = cx.obj(n, p, &["name", "description"])?;
            Some(LoraAdapter {
                name: cx.str_req(&o, "name"),
                description: cx.str_opt(&o, "description"),
            })
        }),
        quality_score: cx.f64_opt(&o, "quality_score"),
        modality: cx.str_opt(&o, "modality"),
        tags: cx.str_list(&o, "tags"),
    })
}

const FAMILIES: &[&str] = &[
    "keywords",
    "embeddings",
    "domains",
    "fact_check",
    "user_feedbacks",
    "preferences",
    "language",
    "context",
    "structure",
    "complexity",
    "modality",
    "role_bindings",
    "jailbreak",
    "pii",
];

fn signals(cx: &mut Ctx, n: &Node, p: &str) -> Signals {
    let mut s = Signals::default();
    let Some(o) = cx.obj(n, p, FAMILIES) else {
        return s;
    };
    s.keywords = cx.list(&o, "keywords", |cx, n, p| {
        let o = cx.obj(
            n,
            p,
            &[
                "name",
                "operator",
                "method",
                "keywords",
                "case_sensitive",
                "fuzzy_match",
                "fuzzy_threshold",
                "bm25_threshold",
                "ngram_threshold",
                "ngram_arity",
                "description",
            ],
        )?;
        Some(KeywordSignal {
            name: cx.str_req(&o, "name"),
            operator: cx.vocab_opt(&o, "operator"),
            method: cx.vocab_opt(&o, "method"),
            keywords: cx.str_list(&o, "keywords"),
            case_sensitive: cx.bool_opt(&o, "case_sensitive"),
            fuzzy_match: cx.bool_opt(&o, "fuzzy_match"),
            fuzzy_threshold: cx.i64_opt(&o, "fuzzy_threshold"),
            bm25_threshold: cx.f64_opt(&o, "bm25_threshold"),
            ngram_threshold: cx.f64_opt(&o, "ngram_threshold"),
            ngram_arity: cx.i64_opt(&o, "ngram_arity"),
            description: cx.str_opt(&o, "description"),
        })
    });
    s.embeddings = cx.list(&o, "embeddings", |cx, n, p| {
        let o = cx.obj(
            n,
            p,
            &[
                "name",
                "threshold",
                "aggregation_method",
                "candidates",
                "description",
            ],
        )?;
        Some(EmbeddingSignal {
            name: cx.str_req(&o, "name"),
            threshold: cx.f64_opt(&o, "threshold"),
            aggregation_method: cx.vocab_opt(&o, "aggregation_method"),
            candidates: cx.str_list(&o, "candidates"),
            description: cx.str_opt(&o, "description"),
        })
    });
    s.domains = cx.list(&o, "domains", |cx, n, p| {
        let o = cx.obj(
            n,
            p,
            &["name", "description", "mmlu_categories", "model_scores"],
        )?;
        Some(DomainSignal {
            name: cx.str_req(&o, "name"),
            description: cx.str_opt(&o, "description"),
            mmlu_categories: cx.str_list(&o, "mmlu_categories"),
            model_scores: cx.list(&o, "model_scores", |cx, n, p| {
                let o = cx.obj(n, p, &["model", "score", "use_reasoning"])?;
                Some(ModelScore {
                    model: cx.str_req(&o, "model"),
                    score: cx.f64_opt(&o, "score"),
                    use_reasoning: cx.bool_opt(&o, "use_reasoning"),
                })
            }),
        })
    });
    s.fact_check = cx.list(&o, "fact_check", described);
    s.user_feedbacks = cx.list(&o, "user_feedbacks", described);
    s.preferences = cx.list(&o, "preferences", |cx, n, p| {
        let o = cx.obj(n, p, &["name", "description", "examples", "threshold"])?;
        Some(PreferenceSignal {
            name: cx.str_req(&o, "name"),
            description: cx.str_opt(&o, "description"),
            examples: cx.str_list(&o, "examples"),
            threshold: cx.f64_opt(&o, "threshold"),
        })
    });
    s.language = cx.list(&o, "language", described);
    s.context = cx.list(&o, "context", |cx, n, p| {
        let o = cx.obj(n, p, &["name", "min_tokens", "max_tokens", "description"])?;
        Some(ContextSignal {
            name: cx.str_req(&o, "name"),
            min_tokens: cx.tokens_opt(&o, "min_tokens"),
            max_tokens: cx.tokens_opt(&o, "max_tokens"),
            description: cx.str_opt(&o, "description"),
        })
    });
    s.structure = cx.list(&o, "structure", structure);
    s.complexity = cx.list(&o, "complexity", |cx, n, p| {
        let o = cx.obj(
            n,
            p,
            &[
                "name",
                "threshold",
                "description",
                "composer",
                "hard",
                "easy",
            ],
        )?;
        let composer = match o.get("composer") {
            Some((cn, cp)) if !cn.is_null() => rule_node(cx, cn, &cp),
            _ => None,
        };
        let cands = |cx: &mut Ctx, key: &str| match o.get(key) {
            Some((hn, hp)) if !hn.is_null() => cx
                .obj(hn, &hp, &["candidates", "image_candidates"])
                .map(|ho| ComplexityCandidates {
                    candidates: cx.str_list(&ho, "candidates"),
                    image_candidates: cx.str_list(&ho, "image_candidates"),
                })
                .unwrap_or_default(),
            _ => {
                cx.missing(&o, key);
                ComplexityCandidates::default()
            }
        };
        let hard = cands(cx, "hard");
        let easy = cands(cx, "easy");
        Some(ComplexitySignal {
            name: cx.str_req(&o, "name"),
            threshold: cx.f64_opt(&o, "threshold"),
            description: cx.str_opt(&o, "description"),
            composer,
            hard,
            easy,
        })
    });
    s.modality = cx.list(&o, "modality", described);
    s.role_bindings = cx.list(&o, "role_bindings", |cx, n, p| {
        let o = cx.obj(n, p, &["name", "description", "role", "subjects"])?;
        Some(RoleBinding {
            name: cx.str_req(&o, "name"),
            description: cx.str_opt(&o, "description"),
            role: cx.str_req(&o, "role"),
            subjects: cx.list(&o, "subjects", |cx, n, p| {
                let o = cx.obj(n, p, &["kind", "name"])?;
                Some(Subject {
                    kind: cx.str_req(&o, "kind"),
                    name: cx.str_req(&o, "name"),
                })
            }),
        })
    });
    s.jailbreak = cx.list(&o, "jailbreak", |cx, n, p| {
        let o = cx.obj(
            n,
            p,
            &[
                "name",
                "method",
                "threshold",
                "include_history",
                "description",
                "jailbreak_patterns",
                "benign_patterns",
            ],
        )?;
        Some(JailbreakSignal {
            name: cx.str_req(&o, "name"),
            method: cx.vocab_opt(&o, "method"),
            threshold: cx.f64_opt(&o, "threshold"),
            include_history: cx.bool_opt(&o, "include_history"),
            description: cx.str_opt(&o, "description"),
            jailbreak_patterns: cx.str_list(&o, "jailbreak_patterns"),
            benign_patterns: cx.str_list(&o, "benign_patterns"),
        })
    });
    s.pii = cx.list(&o, "pii", |cx, n, p| {
        let o = cx.obj(
            n,
            p,
            &[
                "name",
                "threshold",
                "pii_types_allowed",
                "include_history",
                "description",
            ],
        )?;
        Some(PiiSignal {
            name: cx.str_req(&o, "name"),
            threshold: cx.f64_opt(&o, "threshold"),
            pii_types_allowed: cx.str_list(&o, "pii_types_allowed"),
            include_history: cx.bool_opt(&o, "include_history"),
            description: cx.str_opt(&o, "description"),
        })
    });
    s
}

fn described(cx: &mut Ctx, n: &Node, p: &str) -> Option<DescribedSignal> {
    let o = cx.obj(n, p, &["name", "description"])?;
    Some(DescribedSignal {
        name: cx.str_req(&o, "name"),
        description: cx.str_opt(&o, "description"),
    })
}

fn structure(cx: &mut Ctx, n: &Node, p: &str) -> Option<StructureSignal> {
    let o = cx.obj(n, p, &["name", "description", "feature", "predicate"])?;
    let name = cx.str_req(&o, "name");
    let description = cx.str_opt(&o, "description");
    let mut feature = StructureFeature::default();
    match o.get("feature") {
        Some((fnode, fp)) if !fnode.is_null() => {
            if let Some(fo) = cx.obj(fnode, &fp, &["type", "source", "normalize_by"]) {
                if let Some((v, kp)) = fo.get("normalize_by") {
                    let pos = cx.spans.key(&kp).unwrap_or(v.pos);
                    cx.error_at(
                        pos,
                        &kp,
                        "`normalize_by` was removed: density features use built-in multilingual text-unit normalization",
                    );
                }
                feature.kind = cx.vocab_req(&fo, "type");
                match fo.get("source") {
                    Some((sn, sp)) if !sn.is_null() => {
                        if let Some(so) = cx.obj(
                            sn,
                            &sp,
                            &["type", "pattern", "keywords", "case_sensitive", "sequences"],
                        ) {
                            feature.source = StructureSource {
                                kind: cx.vocab_req(&so, "type"),
                                pattern: cx.str_opt(&so, "pattern"),
                                keywords: cx.str_list(&so, "keywords"),
                                case_sensitive: cx.bool_opt(&so, "case_sensitive"),
                                sequences: cx.list(&so, "sequences", |cx, n, p| {
                                    Some(cx.str_list_node(n, p))
                                }),
                            };
                        }
                    }
                    _ => cx.missing(&fo, "source"),
                }
            }
        }
        _ => cx.missing(&o, "feature"),
    }
    let predicate = match o.get("predicate") {
        Some((pn, pp)) if !pn.is_null() => bounds(cx, pn, &pp, &[]),
        _ => None,
    };
    Some(StructureSignal {
        name,
        description,
        feature,
        predicate,
    })
}

fn bounds(cx: &mut Ctx, n: &Node, p: &str, extra: &[&str]) -> Option<Bounds> {
    let mut allowed = vec!["gt", "gte", "lt", "lte"];
    allowed.extend_from_slice(extra);
    let o = cx.obj(n, p, &allowed)?;
    Some(Bounds {
        gt: cx.f64_opt(&o, "gt"),
        gte: cx.f64_opt(&o, "gte"),
        lt: cx.f64_opt(&o, "lt"),
        lte: cx.f64_opt(&o, "lte"),
    })
}

fn projections(cx: &mut Ctx, n: &Node, p: &str) -> Projections {
    let mut out = Projections::default();
    let Some(o) = cx.obj(n, p, &["partitions", "scores", "mappings"]) else {
        return out;
    };
    out.partitions = cx.list(&o, "partitions", |cx, n, p| {
        let o = cx.obj(
            n,
            p,
            &[
                "name",
                "semantics",
                "temperature",
                "members",
                "default",
                "description",
            ],
        )?;
        Some(Partition {
            name: cx.str_req(&o, "name"),
            semantics: cx.vocab_req(&o, "semantics"),
            temperature: cx.f64_opt(&o, "temperature"),
            members: cx.str_list(&o, "members"),
            default: cx.str_opt(&o, "default"),
        })
    });
    out.scores = cx.list(&o, "scores", |cx, n, p| {
        let o = cx.obj(n, p, &["name", "method", "inputs"])?;
        Some(Score {
            name: cx.str_req(&o, "name"),
            method: cx.str_req(&o, "method"),
            inputs: cx.list(&o, "inputs", |cx, n, p| {
                let o = cx.obj(
                    n,
                    p,
                    &["type", "name", "weight", "value_source", "match", "miss"],
                )?;
                let kind = signal_type(cx, &o, "type")?;
                let value_source = match o.get("value_source") {
                    Some((vn, vp)) if !vn.is_null() => match cx.text(vn, &vp)?.as_str() {
                        "" => None,
                        "binary" => Some(ValueSource::Binary),
                        "confidence" => Some(ValueSource::Confidence),
                        other => {
                            cx.error_at(
                                vn.pos,
                                &vp,
                                format!("unknown value_source {other:?}: expected binary or confidence"),
                            );
                            None
                        }
                    },
                    _ => None,
                };
                Some(ScoreInput {
                    kind,
                    name: cx.str_req(&o, "name"),
                    weight: cx.f64_req(&o, "weight"),
                    value_source,
                    match_value: cx.f64_opt(&o, "match"),
                    miss: cx.f64_opt(&o, "miss"),
                })
            }),
        })
    });
    out.mappings = cx.list(&o, "mappings", |cx, n, p| {
        let o = cx.obj(
            n,
            p,
            &["name", "source", "method", "calibration", "outputs"],
        )?;
        let calibration = match o.get("calibration") {
            Some((cn, cp)) if !cn.is_null() => {
                cx.obj(cn, &cp, &["method", "slope"]).map(|co| Calibration {
                    method: cx.str_opt(&co, "method"),
                    slope: cx.f64_opt(&co, "slope"),
                })
            }
            _ => None,
        };
        Some(Mapping {
            name: cx.str_req(&o, "name"),
            source: cx.str_req(&o, "source"),
            method: cx.str_req(&o, "method"),
            calibration,
            outputs: cx.list(&o, "outputs", |cx, n, p| {
                let b = bounds(cx, n, p, &["name"])?;
                let o = cx.obj_quiet(n, p)?;
                Some(MappingOutput {
                    name: cx.str_req(&o, "name"),
                    bounds: b,
                })
            }),
        })
    });
    out
}

impl Ctx<'_> {
    /// Opens a mapping that was already checked for unknown keys.
    fn obj_quiet<'n>(&mut self, node: &'n Node, path: &str) -> Option<Obj<'n>> {
        match &node.kind {
            NodeKind::Map(entries) => Some(Obj {
                path: path.to_string(),
                pos: node.pos,
                entries,
            }),
            _ => None,
        }
    }
}

fn signal_type(cx: &mut Ctx, o: &Obj, key: &str) -> Option<SignalType> {
    let Some((n, p)) = o.get(key) else {
        cx.missing(o, key);
        return None;
    };
    let t = cx.text(n, &p)?;
    match SignalType::parse(&t) {
        Some(st) => Some(st),
        None => {
            let names: Vec<&str> = SignalType::ALL.iter().map(|t| t.as_str()).collect();
            let msg = if t.trim().eq_ignore_ascii_case("latency") {
                "condition type `latency` is no longer supported (legacy)".to_string()
            } else {
                let hint = suggest(&t, &names)
                    .map(|s| format!("; did you mean {s:?}?"))
                    .unwrap_or_default();
                format!("unknown signal type {t:?}{hint}")
            };
            cx.error_at(n.pos, &p, msg);
            None
        }
    }
}

/// A rule node: a leaf `{type, name}` or `{operator, conditions}`.
pub(crate) fn rule_node(cx: &mut Ctx, n: &Node, p: &str) -> Option<RuleNode> {
    let o = cx.obj(n, p, &["type", "name", "operator", "conditions"])?;
    let is_leaf = o.get("type").is_some_and(|(t, _)| !t.is_null());
    if is_leaf {
        if o.has("operator") || o.has("conditions") {
            cx.error_at(
                o.pos,
                p,
                "a rule node is either a leaf {type, name} or {operator, conditions}, not both",
            );
        }
        let kind = signal_type(cx, &o, "type");
        let name = cx.str_req(&o, "name");
        return kind.map(|kind| RuleNode::Signal(SignalRef { kind, name }));
    }
    if o.has("name") {
        cx.error_at(
            o.pos,
            &join_key(p, "type"),
            "missing required field `type` for a leaf with `name`",
        );
        return None;
    }
    let op = match o.get("operator") {
        Some((on, op)) if !on.is_null() => {
            let text = cx.text(on, &op)?;
            match text.trim().to_ascii_uppercase().as_str() {
                "AND" => Some("AND"),
                "OR" => Some("OR"),
                "NOT" => Some("NOT"),
                _ => {
                    cx.error_at(
                        on.pos,
                        &op,
                        format!("unknown operator {text:?}: expected AND, OR or NOT"),
                    );
                    None
                }
            }
        }
        _ => {
            cx.error_at(
                o.pos,
                p,
                "a rule node needs `operator` (AND, OR, NOT) with `conditions`, or `type` and `name`",
            );
            None
        }
    };
    let children = cx.list(&o, "conditions", rule_node);
    match op? {
        "AND" => Some(RuleNode::And(children)),
        "OR" => Some(RuleNode::Or(children)),
        _ => {
            let count = o.get("conditions").map_or(0, |(c, _)| match &c.kind {
                NodeKind::Seq(items) => items.len(),
                _ => 0,
            });
            if count != 1 {
                cx.error_at(
                    o.pos,
                    &join_key(p, "conditions"),
                    format!("NOT takes exactly one condition, found {count}"),
                );
                return None;
            }
            children
                .into_iter()
                .next()
                .map(|c| RuleNode::Not(Box::new(c)))
        }
    }
}

fn decision(cx: &mut Ctx, n: &Node, p: &str) -> Option<Decision> {
    let o = cx.obj(
        n,
        p,
        &[
            "name",
            "description",
            "priority",
            "tier",
            "rules",
            "modelRefs",
            "algorithm",
            "plugins",
            "modelSelectionAlgorithm",
        ],
    )?;
    if let Some((v, kp)) = o.get("modelSelectionAlgorithm") {
        let pos = cx.spans.key(&kp).unwrap_or(v.pos);
        cx.error_at(
            pos,
            &kp,
            "`modelSelectionAlgorithm` is no longer supported; use `algorithm`",
        );
    }
    let name = cx.str_req(&o, "name");
    let description = cx.str_opt(&o, "description");
    let priority = cx.i64_opt(&o, "priority").unwrap_or(0);
    let tier = match o.get("tier") {
        Some((tn, tp)) if !tn.is_null() => match cx.integer(tn, &tp) {
            Some(t) if t < 0 => {
                cx.error_at(tn.pos, &tp, format!("must be >= 0, got {t}"));
                0
            }
            Some(t) => u32::try_from(t).unwrap_or_else(|_| {
                cx.error_at(tn.pos, &tp, format!("is too large: {t}"));
                0
            }),
            None => 0,
        },
        _ => 0,
    };
    let rules = match o.get("rules") {
        Some((rn, rp)) if !rn.is_null() => rule_node(cx, rn, &rp).unwrap_or_default(),
        _ => {
            cx.missing(&o, "rules");
            RuleNode::default()
        }
    };
    let model_refs = cx.list(&o, "modelRefs", |cx, n, p| {
        let o = cx.obj(
            n,
            p,
            &[
                "model",
                "use_reasoning",
                "reasoning_effort",
                "reasoning_description",
                "lora_name",
                "weight",
            ],
        )?;
        Some(ModelRef {
            model: cx.str_req(&o, "model"),
            use_reasoning: cx.bool_opt(&o, "use_reasoning"),
            reasoning_effort: cx.str_opt(&o, "reasoning_effort"),
            reasoning_description: cx.str_opt(&o, "reasoning_description"),
            lora_name: cx.str_opt(&o, "lora_name"),
            weight: cx.f64_opt(&o, "weight"),
        })
    });
    let algorithm = match o.get("algorithm") {
        Some((an, ap)) if !an.is_null() => algorithm(cx, an, &ap),
        _ => None,
    };
    let plugins = cx.list(&o, "plugins", plugin);
    Some(Decision {
        name,
        description,
        priority,
        tier,
        rules,
        model_refs,
        algorithm,
        plugins,
    })
}

pub(crate) fn algorithm(cx: &mut Ctx, n: &Node, p: &str) -> Option<Algorithm> {
    let mut allowed = vec!["type", "on_error"];
    allowed.extend(ALGORITHM_TYPES);
    let o = cx.obj(n, p, &allowed)?;
    let kind = cx.str_req(&o, "type");
    let on_error = cx.str_opt(&o, "on_error");
    let mut params = None;
    for t in ALGORITHM_TYPES {
        if let Some((bn, bp)) = o.get(t) {
            let v = cx.json(bn, &bp);
            if t == kind {
                if !v.is_object() && !v.is_null() {
                    cx.type_error(bn, &bp, "a mapping");
                }
                params = Some(v);
            } else {
                let pos = cx.spans.key(&bp).unwrap_or(bn.pos);
                cx.error_at(
                    pos,
                    &bp,
                    format!("algorithm.type={kind} requires algorithm.{kind} configuration; found algorithm.{t}"),
                );
            }
        }
    }
    if !kind.is_empty() && !ALGORITHM_TYPES.contains(&kind.as_str()) {
        let (tn, tp) = o.get("type")?;
        let hint = suggest(&kind, &ALGORITHM_TYPES)
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        cx.error_at(
            tn.pos,
            &tp,
            format!("unknown algorithm type {kind:?}{hint}"),
        );
    }
    Some(Algorithm {
        kind,
        on_error,
        params,
    })
}

pub(crate) fn plugin(cx: &mut Ctx, n: &Node, p: &str) -> Option<Plugin> {
    let o = cx.obj(n, p, &["type", "configuration"])?;
    let kind = cx.str_req(&o, "type");
    let configuration = match o.get("configuration") {
        Some((cn, cp)) => {
            let v = cx.json(cn, &cp);
            if !v.is_object() && !v.is_null() {
                cx.type_error(cn, &cp, "a mapping");
            }
            v
        }
        None => Value::Null,
    };
    if !kind.is_empty()
        && !PLUGIN_TYPES.contains(&kind.as_str())
        && let Some((tn, tp)) = o.get("type")
    {
        let hint = suggest(&kind, &PLUGIN_TYPES)
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        cx.error_at(tn.pos, &tp, format!("unknown plugin type {kind:?}{hint}"));
    }
    Some(Plugin {
        kind,
        configuration,
    })
}

fn global(cx: &mut Ctx, n: &Node, p: &str) -> Option<Global> {
    let o = cx.obj(
        n,
        p,
        &[
            "router",
            "services",
            "stores",
            "integrations",
            "model_catalog",
            "modules",
        ],
    )?;
    if let Some((v, kp)) = o.get("modules") {
        let pos = cx.spans.key(&kp).unwrap_or(v.pos);
        cx.error_at(
            pos,
            &kp,
            "`global.modules` moved to `global.model_catalog.modules` in v0.3",
        );
    }
    let section = |cx: &mut Ctx, key: &str| -> Option<Value> {
        let (sn, sp) = o.get(key)?;
        let v = cx.json(sn, &sp);
        if !v.is_object() && !v.is_null() {
            cx.type_error(sn, &sp, "a mapping");
        }
        Some(v)
    };
    let g = Global {
        router: section(cx, "router"),
        services: section(cx, "services"),
        stores: section(cx, "stores"),
        integrations: section(cx, "integrations"),
        model_catalog: section(cx, "model_catalog"),
    };
    Some(g)
}
