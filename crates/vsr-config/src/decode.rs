//! Maps the positioned YAML tree onto the typed model, collecting every problem instead of
//! stopping at the first: unknown fields, wrong types, missing required fields. Each value's
//! position is recorded under its YAML path so that later checks can point at it too.

mod head;

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::Value;

use crate::diag::{Diagnostic, Severity, join_index, join_key};
use crate::model::*;
use crate::units;
use crate::vocab::{LeafOnError, Vocab};
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

/// Decodes one record, naming each field once: `field: "key" => reader`, where the reader is a
/// [`Ctx`] method called as `cx.reader(&obj, "key", args…)` (`reader::<T>(args…)` for a
/// turbofish) and `or value` stands in when the field is absent. The keys are the record's
/// allowed keys (any other gets "unknown field" with a did-you-mean), and the fields are read in
/// the order written, which is the order of their same-position diagnostics. `also EXTRA, |o|
/// { … }` admits the keys in `EXTRA` too (legacy or ignored keys) and runs the block on the
/// opened mapping before the reads. Evaluates to `Option<Type>`: `None` when the node is not a
/// mapping (already reported).
macro_rules! record {
    ($cx:ident, $n:expr, $p:expr, $ty:ident { $($body:tt)* }) => {
        record!(@open $cx, $n, $p, [], |_o| {}, $ty { $($body)* })
    };
    ($cx:ident, $n:expr, $p:expr, also $extra:expr, |$o:ident| $pre:block, $ty:ident {
        $($body:tt)*
    }) => {
        record!(@open $cx, $n, $p, [$extra], |$o| $pre, $ty { $($body)* })
    };
    (@open $cx:ident, $n:expr, $p:expr, [$($extra:expr)?], |$o:ident| $pre:block, $ty:ident {
        $($field:ident: $key:literal => $read:ident $(::<$t:ty>)? $(($($arg:expr),* $(,)?))?
            $(or $def:expr)?),+ $(,)?
    }) => {{
        let allowed: Vec<&str> = [&[$($key),+][..] $(, $extra)?].concat();
        match $cx.obj($n, $p, &allowed) {
            None => None,
            Some(obj) => {
                let $o = &obj;
                $pre
                Some($ty {
                    $($field: $cx.$read $(::<$t>)? (&obj, $key $($(, $arg)*)?) $(.unwrap_or($def))?),+
                })
            }
        }
    }};
}

/// Readers for [`record!`] fields that hold a nested value or need a rule of their own.
impl Ctx<'_> {
    /// A nested value decoded by `f` whenever the key is present (a null reads as an empty
    /// mapping there); absent reads as `None`.
    pub fn sub<T>(
        &mut self,
        o: &Obj,
        key: &str,
        f: impl FnOnce(&mut Self, &Node, &str) -> Option<T>,
    ) -> Option<T> {
        let (n, p) = o.get(key)?;
        f(self, n, &p)
    }

    /// Like [`Self::sub`], with the default when absent or not decodable.
    pub fn sub_or_default<T: Default>(
        &mut self,
        o: &Obj,
        key: &str,
        f: impl FnOnce(&mut Self, &Node, &str) -> Option<T>,
    ) -> T {
        self.sub(o, key, f).unwrap_or_default()
    }

    /// A nested value decoded by `f`; absent or null reads as `None`.
    pub fn sub_opt<T>(
        &mut self,
        o: &Obj,
        key: &str,
        f: impl FnOnce(&mut Self, &Node, &str) -> Option<T>,
    ) -> Option<T> {
        match o.get(key) {
            Some((n, p)) if !n.is_null() => f(self, n, &p),
            _ => None,
        }
    }

    /// Like [`Self::sub_opt`], reporting a missing field; the default stands in after an error.
    pub fn sub_req<T: Default>(
        &mut self,
        o: &Obj,
        key: &str,
        f: impl FnOnce(&mut Self, &Node, &str) -> Option<T>,
    ) -> T {
        match o.get(key) {
            Some((n, p)) if !n.is_null() => f(self, n, &p).unwrap_or_default(),
            _ => {
                self.missing(o, key);
                T::default()
            }
        }
    }

    /// A mapping whose keys are names chosen by the user, each value decoded by `f`.
    pub fn named<T>(
        &mut self,
        o: &Obj,
        key: &str,
        mut f: impl FnMut(&mut Self, &Node, &str) -> Option<T>,
    ) -> IndexMap<String, T> {
        let mut out = IndexMap::new();
        if let Some((n, p)) = o.get(key)
            && let Some(m) = self.obj_any(n, &p)
        {
            for (k, v) in m.entries {
                if let Some(t) = f(self, v, &join_key(&p, &k.text)) {
                    out.insert(k.text.clone(), t);
                }
            }
        }
        out
    }

    /// A free-form mapping kept as JSON (positions recorded); absent reads as `None`.
    pub fn json_map(&mut self, o: &Obj, key: &str) -> Option<Value> {
        let (n, p) = o.get(key)?;
        let v = self.json(n, &p);
        if !v.is_object() && !v.is_null() {
            self.type_error(n, &p, "a mapping");
        }
        Some(v)
    }

    /// A required port, 1..=65535 (0 after an error).
    fn port(&mut self, o: &Obj, key: &str) -> u16 {
        if !o.has(key) {
            self.missing(o, key);
        }
        self.int_in::<u16>(o, key, 1, 65535).unwrap_or(0)
    }

    /// `retry_on`: a list, or one comma-separated string.
    fn str_or_csv_list(&mut self, o: &Obj, key: &str) -> Vec<String> {
        match o.get(key) {
            Some((n, p)) => match n.scalar() {
                Some(Scalar::Str(s)) => {
                    self.record(&p, n);
                    s.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                }
                _ => self.str_list(o, key),
            },
            None => Vec::new(),
        }
    }

    /// A decision's `tier`: a non-negative integer, 0 when absent or after an error.
    fn tier(&mut self, o: &Obj, key: &str) -> u32 {
        let Some((n, p)) = o.get(key).filter(|(n, _)| !n.is_null()) else {
            return 0;
        };
        match self.integer(n, &p) {
            Some(t) if t < 0 => {
                self.error_at(n.pos, &p, format!("must be >= 0, got {t}"));
                0
            }
            Some(t) => u32::try_from(t).unwrap_or_else(|_| {
                self.error_at(n.pos, &p, format!("is too large: {t}"));
                0
            }),
            None => 0,
        }
    }

    /// Reports a key that is accepted only to say where it went.
    fn moved(&mut self, o: &Obj, key: &str, message: &str) {
        if let Some((v, kp)) = o.get(key) {
            let pos = self.spans.key(&kp).unwrap_or(v.pos);
            self.error_at(pos, &kp, message);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the schema

const TOP: &[&str] = &[
    "version",
    "listeners",
    "providers",
    "routing",
    "entrypoints",
    "recipes",
    "global",
];

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
    cfg.providers = cx.sub_or_default(&o, "providers", providers);
    cfg.routing = cx.sub_or_default(&o, "routing", routing);
    cfg.entrypoints = cx.list(&o, "entrypoints", |cx, n, p| {
        record!(cx, n, p, Entrypoint {
            model_names: "model_names" => str_list,
            recipe: "recipe" => str_req,
        })
    });
    cfg.recipes = cx.list(&o, "recipes", |cx, n, p| {
        record!(cx, n, p, Recipe {
            name: "name" => str_req,
            description: "description" => str_opt,
            routing: "routing" => sub_req(recipe_routing),
        })
    });
    cfg.global = cx.sub(&o, "global", global);
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
                        "unknown top-level key `{}`: canonical v0.3 has version, listeners, providers, routing, entrypoints, recipes, global{hint}",
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
    record!(cx, n, p, Listener {
        name: "name" => str_req,
        address: "address" => str_req,
        port: "port" => port,
        timeout: "timeout" => duration_opt,
    })
}

/// Keys of `providers` that moved or went away in v0.3.
const PROVIDERS_LEGACY: &[&str] = &[
    "model_targets",
    "backends",
    "auth_profiles",
    "default_model",
    "reasoning_families",
    "default_reasoning_effort",
];

fn providers(cx: &mut Ctx, n: &Node, p: &str) -> Option<Providers> {
    record!(cx, n, p, also PROVIDERS_LEGACY, |o| {
        for key in PROVIDERS_LEGACY {
            let msg = if key.starts_with("default") || *key == "reasoning_families" {
                format!("`providers.{key}` moved to `providers.defaults.{key}` in v0.3")
            } else {
                format!(
                    "`providers.{key}` is no longer supported; use `providers.models[].backend_refs`"
                )
            };
            cx.moved(o, key, &msg);
        }
    }, Providers {
        defaults: "defaults" => sub_or_default(provider_defaults),
        models: "models" => list(provider_model),
    })
}

fn provider_defaults(cx: &mut Ctx, n: &Node, p: &str) -> Option<ProviderDefaults> {
    record!(cx, n, p, ProviderDefaults {
        default_model: "default_model" => str_opt,
        reasoning_families: "reasoning_families" => named(|cx, n, p| {
            record!(cx, n, p, ReasoningFamily {
                kind: "type" => vocab_req,
                parameter: "parameter" => str_req,
            })
        }),
        default_reasoning_effort: "default_reasoning_effort" => str_opt,
    })
}

/// Keys of `providers.models[]` that went to `backend_refs` or `routing.modelCards` in v0.3.
const PROVIDER_MODEL_LEGACY: &[&str] = &[
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

fn provider_model(cx: &mut Ctx, n: &Node, p: &str) -> Option<ProviderModel> {
    record!(cx, n, p, also PROVIDER_MODEL_LEGACY, |o| {
        for key in PROVIDER_MODEL_LEGACY {
            let home = if matches!(*key, "access" | "endpoints" | "access_key") {
                "providers.models[].backend_refs"
            } else {
                "routing.modelCards[]"
            };
            cx.moved(
                o,
                key,
                &format!("`{key}` is no longer supported here; it belongs in `{home}`"),
            );
        }
    }, ProviderModel {
        name: "name" => str_req,
        reasoning_family: "reasoning_family" => str_opt,
        provider_model_id: "provider_model_id" => str_opt,
        api_format: "api_format" => vocab_opt,
        external_model_ids: "external_model_ids" => str_map,
        pricing: "pricing" => sub_opt(|cx, n, p| {
            record!(cx, n, p, Pricing {
                currency: "currency" => str_opt,
                prompt_per_1m: "prompt_per_1m" => f64_opt,
                completion_per_1m: "completion_per_1m" => f64_opt,
                cached_input_per_1m: "cached_input_per_1m" => f64_opt,
                cache_write_per_1m: "cache_write_per_1m" => f64_opt,
            })
        }),
        backend_refs: "backend_refs" => list(backend_ref),
        reliability: "reliability" => sub_opt(reliability),
    })
}

fn backend_ref(cx: &mut Ctx, n: &Node, p: &str) -> Option<BackendRef> {
    record!(cx, n, p, BackendRef {
        name: "name" => str_opt,
        endpoint: "endpoint" => str_opt,
        protocol: "protocol" => vocab_opt,
        weight: "weight" => int_in::<u32>(0, u32::MAX as i64),
        kind: "type" => str_opt,
        base_url: "base_url" => str_opt,
        provider: "provider" => str_opt,
        auth_header: "auth_header" => str_opt,
        auth_prefix: "auth_prefix" => str_opt,
        extra_headers: "extra_headers" => str_map,
        api_version: "api_version" => str_opt,
        chat_path: "chat_path" => str_opt,
        api_key: "api_key" => str_opt,
        api_key_env: "api_key_env" => str_opt,
        tls_ca_file: "tls_ca_file" => str_opt,
    })
}

fn reliability(cx: &mut Ctx, n: &Node, p: &str) -> Option<Reliability> {
    record!(cx, n, p, Reliability {
        lb_policy: "lb_policy" => vocab_opt,
        retry_count: "retry_count" => int_in::<u32>(0, u32::MAX as i64),
        retry_on: "retry_on" => str_or_csv_list,
        consecutive_5xx: "consecutive_5xx" => int_in::<u32>(0, u32::MAX as i64),
        base_ejection_time: "base_ejection_time" => duration_opt,
        max_ejection_percent: "max_ejection_percent" => f64_opt,
        health_check_path: "health_check_path" => str_opt,
        health_check_interval: "health_check_interval" => duration_opt,
        health_check_timeout: "health_check_timeout" => duration_opt,
        per_try_timeout: "per_try_timeout" => duration_opt,
    })
}

fn routing(cx: &mut Ctx, n: &Node, p: &str) -> Option<Routing> {
    record!(cx, n, p, also &["models"], |o| {
        cx.moved(o, "models", "`routing.models` was renamed to `routing.modelCards` in v0.3");
    }, Routing {
        model_cards: "modelCards" => list(model_card),
        strategy: "strategy" => strategy,
        signals: "signals" => sub_or_default(signals),
        projections: "projections" => sub_or_default(projections),
        decisions: "decisions" => list(decision),
    })
}

/// `recipes[].routing`: the routing shape without `modelCards` (the catalog is shared).
fn recipe_routing(cx: &mut Ctx, n: &Node, p: &str) -> Option<Routing> {
    record!(cx, n, p, also &["modelCards", "models"], |o| {
        cx.moved(
            o,
            "modelCards",
            "a recipe cannot declare `modelCards`: the model catalog is shared; declare cards in the top-level `routing.modelCards`",
        );
        cx.moved(o, "models", "a recipe cannot declare models: the model catalog is shared (`routing.modelCards`)");
    }, Routing {
        model_cards: "modelCards" => none,
        strategy: "strategy" => strategy,
        signals: "signals" => sub_or_default(signals),
        projections: "projections" => sub_or_default(projections),
        decisions: "decisions" => list(decision),
    })
}

impl Ctx<'_> {
    /// A field read elsewhere (or only reported): always empty.
    fn none<T: Default>(&mut self, _o: &Obj, _key: &str) -> T {
        T::default()
    }

    /// `routing.strategy`: `priority` or `confidence`; an empty string means unset.
    fn strategy(&mut self, o: &Obj, key: &str) -> Option<Strategy> {
        if let Some((n, _)) = o.get(key)
            && matches!(n.scalar(), Some(Scalar::Str(t)) if t.trim().is_empty())
        {
            return None;
        }
        self.vocab_opt(o, key)
    }

    /// A required closed value kept as an `Option` (absent after an error).
    fn vocab_need<V: Vocab>(&mut self, o: &Obj, key: &str) -> Option<V> {
        if o.get(key).is_none_or(|(n, _)| n.is_null()) {
            self.missing(o, key);
            return None;
        }
        self.vocab_opt(o, key)
    }

    /// A non-negative integer that fits `u32`.
    fn u32_opt(&mut self, o: &Obj, key: &str) -> Option<u32> {
        self.int_in::<u32>(o, key, 0, u32::MAX as i64)
    }

    /// A string list kept as `Some` when the key is present (even empty).
    fn str_list_opt(&mut self, o: &Obj, key: &str) -> Option<Vec<String>> {
        o.has(key).then(|| self.str_list(o, key))
    }
}

fn model_card(cx: &mut Ctx, n: &Node, p: &str) -> Option<ModelCard> {
    record!(cx, n, p, ModelCard {
        name: "name" => str_req,
        param_size: "param_size" => str_opt,
        context_window_size: "context_window_size" => int_in::<u64>(1, i64::MAX),
        description: "description" => str_opt,
        capabilities: "capabilities" => str_list,
        loras: "loras" => list(|cx, n, p| {
            record!(cx, n, p, LoraAdapter {
                name: "name" => str_req,
                description: "description" => str_opt,
            })
        }),
        quality_score: "quality_score" => f64_opt,
        modality: "modality" => str_opt,
        tags: "tags" => str_list,
    })
}

fn signals(cx: &mut Ctx, n: &Node, p: &str) -> Option<Signals> {
    record!(cx, n, p, Signals {
        keywords: "keywords" => list(keyword),
        embeddings: "embeddings" => list(|cx, n, p| {
            record!(cx, n, p, EmbeddingSignal {
                name: "name" => str_req,
                threshold: "threshold" => f64_opt,
                aggregation_method: "aggregation_method" => vocab_opt,
                candidates: "candidates" => str_list,
                description: "description" => str_opt,
                query_modality: "query_modality" => vocab_opt,
            })
        }),
        domains: "domains" => list(|cx, n, p| {
            record!(cx, n, p, DomainSignal {
                name: "name" => str_req,
                description: "description" => str_opt,
                mmlu_categories: "mmlu_categories" => str_list,
                model_scores: "model_scores" => list(|cx, n, p| {
                    record!(cx, n, p, ModelScore {
                        model: "model" => str_req,
                        score: "score" => f64_opt,
                        use_reasoning: "use_reasoning" => bool_opt,
                    })
                }),
            })
        }),
        fact_check: "fact_check" => list(described),
        user_feedbacks: "user_feedbacks" => list(described),
        reasks: "reasks" => list(|cx, n, p| {
            record!(cx, n, p, ReaskSignal {
                name: "name" => str_req,
                description: "description" => str_opt,
                threshold: "threshold" => f64_opt,
                lookback_turns: "lookback_turns" => u32_opt,
            })
        }),
        preferences: "preferences" => list(|cx, n, p| {
            record!(cx, n, p, PreferenceSignal {
                name: "name" => str_req,
                description: "description" => str_opt,
                examples: "examples" => str_list,
                threshold: "threshold" => f64_opt,
            })
        }),
        language: "language" => list(|cx, n, p| {
            record!(cx, n, p, LanguageSignal {
                name: "name" => str_req,
                description: "description" => str_opt,
                threshold: "threshold" => f64_opt,
            })
        }),
        context: "context" => list(|cx, n, p| {
            record!(cx, n, p, ContextSignal {
                name: "name" => str_req,
                min_tokens: "min_tokens" => tokens_opt,
                max_tokens: "max_tokens" => tokens_opt,
                description: "description" => str_opt,
            })
        }),
        structure: "structure" => list(structure),
        complexity: "complexity" => list(complexity),
        modality: "modality" => list(described),
        role_bindings: "role_bindings" => list(|cx, n, p| {
            record!(cx, n, p, RoleBinding {
                name: "name" => str_req,
                description: "description" => str_opt,
                role: "role" => str_req,
                subjects: "subjects" => list(|cx, n, p| {
                    record!(cx, n, p, Subject {
                        kind: "kind" => str_req,
                        name: "name" => str_req,
                    })
                }),
            })
        }),
        jailbreak: "jailbreak" => list(|cx, n, p| {
            record!(cx, n, p, JailbreakSignal {
                name: "name" => str_req,
                method: "method" => vocab_opt,
                threshold: "threshold" => f64_opt,
                include_history: "include_history" => bool_opt,
                description: "description" => str_opt,
                jailbreak_patterns: "jailbreak_patterns" => str_list,
                benign_patterns: "benign_patterns" => str_list,
            })
        }),
        pii: "pii" => list(|cx, n, p| {
            record!(cx, n, p, PiiSignal {
                name: "name" => str_req,
                threshold: "threshold" => f64_opt,
                pii_types_allowed: "pii_types_allowed" => str_list,
                include_history: "include_history" => bool_opt,
                description: "description" => str_opt,
            })
        }),
        kb: "kb" => list(|cx, n, p| {
            record!(cx, n, p, KbSignal {
                name: "name" => str_req,
                description: "description" => str_opt,
                kb: "kb" => str_req,
                target: "target" => sub_req(|cx, n, p| {
                    record!(cx, n, p, KbTarget {
                        kind: "kind" => vocab_need,
                        value: "value" => str_req,
                    })
                }),
                match_mode: "match" => vocab_opt,
            })
        }),
        conversation: "conversation" => list(|cx, n, p| {
            record!(cx, n, p, ConversationSignal {
                name: "name" => str_req,
                description: "description" => str_opt,
                feature: "feature" => sub_req(|cx, n, p| {
                    record!(cx, n, p, ConversationFeature {
                        kind: "type" => vocab_need,
                        source: "source" => sub_req(|cx, n, p| {
                            record!(cx, n, p, ConversationSource {
                                kind: "type" => vocab_need,
                                role: "role" => vocab_opt,
                            })
                        }),
                    })
                }),
                predicate: "predicate" => sub_opt(|cx, n, p| bounds(cx, n, p, &[])),
            })
        }),
        events: "events" => list(|cx, n, p| {
            record!(cx, n, p, EventSignal {
                name: "name" => str_req,
                description: "description" => str_opt,
                event_types: "event_types" => str_list,
                severities: "severities" => str_list,
                action_codes: "action_codes" => str_list,
                temporal: "temporal" => bool_opt,
            })
        }),
        metadata: "metadata" => list(|cx, n, p| {
            record!(cx, n, p, MetadataSignal {
                name: "name" => str_req,
                description: "description" => str_opt,
                key: "key" => str_req,
                predicate: "predicate" => sub_req(|cx, n, p| {
                    record!(cx, n, p, MetadataPredicate {
                        equals: "equals" => str_opt,
                        any_of: "in" => str_list_opt,
                        exists: "exists" => bool_opt,
                    })
                }),
            })
        }),
        classifiers: "classifiers" => list(|cx, n, p| {
            record!(cx, n, p, ClassifierSignal {
                name: "name" => str_req,
                description: "description" => str_opt,
                kind: "type" => vocab_need,
                labels: "labels" => str_list,
                model: "model" => str_opt,
                instructions: "instructions" => str_opt,
                model_path: "model_path" => str_opt,
                use_cpu: "use_cpu" => bool_opt,
            })
        }),
    })
}

fn keyword(cx: &mut Ctx, n: &Node, p: &str) -> Option<KeywordSignal> {
    record!(cx, n, p, KeywordSignal {
        name: "name" => str_req,
        operator: "operator" => vocab_opt,
        method: "method" => vocab_opt,
        keywords: "keywords" => str_list,
        case_sensitive: "case_sensitive" => bool_opt,
        fuzzy_match: "fuzzy_match" => bool_opt,
        fuzzy_threshold: "fuzzy_threshold" => i64_opt,
        bm25_threshold: "bm25_threshold" => f64_opt,
        ngram_threshold: "ngram_threshold" => f64_opt,
        ngram_arity: "ngram_arity" => i64_opt,
        description: "description" => str_opt,
    })
}

fn complexity(cx: &mut Ctx, n: &Node, p: &str) -> Option<ComplexitySignal> {
    fn candidates(cx: &mut Ctx, n: &Node, p: &str) -> Option<ComplexityCandidates> {
        record!(cx, n, p, ComplexityCandidates {
            candidates: "candidates" => str_list,
            image_candidates: "image_candidates" => str_list,
        })
    }
    record!(cx, n, p, ComplexitySignal {
        name: "name" => str_req,
        threshold: "threshold" => f64_opt,
        description: "description" => str_opt,
        composer: "composer" => sub_opt(rule_node),
        hard: "hard" => sub_req(candidates),
        easy: "easy" => sub_req(candidates),
    })
}

fn described(cx: &mut Ctx, n: &Node, p: &str) -> Option<DescribedSignal> {
    record!(cx, n, p, DescribedSignal {
        name: "name" => str_req,
        description: "description" => str_opt,
    })
}

fn structure(cx: &mut Ctx, n: &Node, p: &str) -> Option<StructureSignal> {
    record!(cx, n, p, StructureSignal {
        name: "name" => str_req,
        description: "description" => str_opt,
        feature: "feature" => sub_req(structure_feature),
        predicate: "predicate" => sub_opt(|cx, n, p| bounds(cx, n, p, &[])),
    })
}

fn structure_feature(cx: &mut Ctx, n: &Node, p: &str) -> Option<StructureFeature> {
    record!(cx, n, p, also &["normalize_by"], |o| {
        cx.moved(
            o,
            "normalize_by",
            "`normalize_by` was removed: density features use built-in multilingual text-unit normalization",
        );
    }, StructureFeature {
        kind: "type" => vocab_req,
        source: "source" => sub_req(|cx, n, p| {
            record!(cx, n, p, StructureSource {
                kind: "type" => vocab_req,
                pattern: "pattern" => str_opt,
                keywords: "keywords" => str_list,
                case_sensitive: "case_sensitive" => bool_opt,
                sequences: "sequences" => list(|cx, n, p| Some(cx.str_list_node(n, p))),
            })
        }),
    })
}

fn bounds(cx: &mut Ctx, n: &Node, p: &str, extra: &[&str]) -> Option<Bounds> {
    record!(cx, n, p, also extra, |_o| {}, Bounds {
        gt: "gt" => f64_opt,
        gte: "gte" => f64_opt,
        lt: "lt" => f64_opt,
        lte: "lte" => f64_opt,
    })
}

fn projections(cx: &mut Ctx, n: &Node, p: &str) -> Option<Projections> {
    record!(cx, n, p, Projections {
        partitions: "partitions" => list(|cx, n, p| {
            // `description` is accepted and not kept.
            record!(cx, n, p, also &["description"], |_o| {}, Partition {
                name: "name" => str_req,
                semantics: "semantics" => vocab_req,
                temperature: "temperature" => f64_opt,
                members: "members" => str_list,
                default: "default" => str_opt,
            })
        }),
        scores: "scores" => list(|cx, n, p| {
            record!(cx, n, p, Score {
                name: "name" => str_req,
                method: "method" => vocab_req,
                inputs: "inputs" => list(score_input),
            })
        }),
        mappings: "mappings" => list(|cx, n, p| {
            record!(cx, n, p, Mapping {
                name: "name" => str_req,
                source: "source" => str_req,
                method: "method" => vocab_req,
                calibration: "calibration" => sub_opt(|cx, n, p| {
                    record!(cx, n, p, Calibration {
                        method: "method" => vocab_opt,
                        slope: "slope" => f64_opt,
                    })
                }),
                outputs: "outputs" => list(mapping_output),
            })
        }),
    })
}

/// Hand-written: an input without a known `type` is dropped, and `value_source` has an empty
/// spelling that means unset.
fn score_input(cx: &mut Ctx, n: &Node, p: &str) -> Option<ScoreInput> {
    const KEYS: [&str; 8] = [
        "type",
        "name",
        "kb",
        "metric",
        "weight",
        "value_source",
        "match",
        "miss",
    ];
    let o = cx.obj(n, p, &KEYS)?;
    let kind = signal_type(cx, &o, "type")?;
    let value_source = match o.get("value_source") {
        Some((vn, vp)) if !vn.is_null() => match cx.text(vn, &vp)?.as_str() {
            "" => None,
            "binary" => Some(ValueSource::Binary),
            "confidence" => Some(ValueSource::Confidence),
            "raw" => Some(ValueSource::Raw),
            "score" => Some(ValueSource::Score),
            other => {
                let hint = suggest(other, &["binary", "confidence", "raw", "score"])
                    .map(|s| format!("; did you mean {s:?}?"))
                    .unwrap_or_default();
                cx.error_at(
                    vn.pos,
                    &vp,
                    format!(
                        "unknown value_source {other:?}: expected binary, confidence, raw or score{hint}"
                    ),
                );
                None
            }
        },
        _ => None,
    };
    let (name, kb, metric) = if kind == SignalType::KbMetric {
        if let Some((nn, np)) = o.get("name") {
            let pos = cx.spans.key(&np).unwrap_or(nn.pos);
            cx.error_at(
                pos,
                &np,
                "a kb_metric input reads `kb` and `metric`, not `name`",
            );
        }
        let kb = cx.str_req(&o, "kb");
        let metric = cx.str_req(&o, "metric");
        (String::new(), Some(kb), Some(metric))
    } else {
        for key in ["kb", "metric"] {
            if let Some((kn, kp)) = o.get(key) {
                let pos = cx.spans.key(&kp).unwrap_or(kn.pos);
                cx.error_at(
                    pos,
                    &kp,
                    format!("`{key}` is only allowed on inputs of type kb_metric"),
                );
            }
        }
        (cx.str_req(&o, "name"), None, None)
    };
    Some(ScoreInput {
        kind,
        name,
        kb,
        metric,
        weight: cx.f64_req(&o, "weight"),
        value_source,
        match_value: cx.f64_opt(&o, "match"),
        miss: cx.f64_opt(&o, "miss"),
    })
}

/// Hand-written: the bounds sit beside `name` in the same mapping.
fn mapping_output(cx: &mut Ctx, n: &Node, p: &str) -> Option<MappingOutput> {
    let b = bounds(cx, n, p, &["name"])?;
    let o = cx.obj_quiet(n, p)?;
    Some(MappingOutput {
        name: cx.str_req(&o, "name"),
        bounds: b,
    })
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
    let o = cx.obj(
        n,
        p,
        &[
            "type",
            "name",
            "operator",
            "conditions",
            "label",
            "predicate",
            "on_error",
        ],
    )?;
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
        if kind == Some(SignalType::KbMetric)
            && let Some((tn, tp)) = o.get("type")
        {
            cx.error_at(
                tn.pos,
                &tp,
                "kb_metric is a projection score input, not a rule leaf; use a `kb` signal or a projection",
            );
            return None;
        }
        let label = cx.str_opt(&o, "label");
        let predicate = o
            .get("predicate")
            .and_then(|(pn, pp)| bounds(cx, pn, &pp, &[]))
            .map(LeafPredicate);
        let on_error = cx.vocab_opt::<LeafOnError>(&o, "on_error");
        return kind.map(|kind| {
            RuleNode::Signal(SignalRef {
                kind,
                name,
                label,
                predicate,
                on_error,
            })
        });
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

/// One `modelRefs[]` entry (also `candidateIterations[].models[]`).
fn model_ref(cx: &mut Ctx, n: &Node, p: &str) -> Option<ModelRef> {
    record!(cx, n, p, ModelRef {
        model: "model" => str_req,
        use_reasoning: "use_reasoning" => bool_opt,
        reasoning_effort: "reasoning_effort" => str_opt,
        reasoning_description: "reasoning_description" => str_opt,
        lora_name: "lora_name" => str_opt,
        weight: "weight" => f64_opt,
    })
}

fn decision(cx: &mut Ctx, n: &Node, p: &str) -> Option<Decision> {
    record!(cx, n, p, also &["modelSelectionAlgorithm"], |o| {
        cx.moved(
            o,
            "modelSelectionAlgorithm",
            "`modelSelectionAlgorithm` is no longer supported; use `algorithm`",
        );
    }, Decision {
        name: "name" => str_req,
        description: "description" => str_opt,
        priority: "priority" => i64_opt or 0,
        tier: "tier" => tier,
        rules: "rules" => sub_opt(rule_node) or RuleNode::default(),
        fallback: "rules" => absent,
        model_refs: "modelRefs" => list(model_ref),
        algorithm: "algorithm" => sub_opt(algorithm),
        plugins: "plugins" => list(plugin),
        adaptations: "adaptations" => sub_opt(|cx, n, p| {
            record!(cx, n, p, Adaptations {
                mode: "mode" => vocab_opt,
                adaptation: "adaptation" => sub_opt(|cx, n, p| {
                    record!(cx, n, p, AdaptationOverride {
                        mode: "mode" => vocab_opt,
                        candidate_set: "candidate_set" => vocab_opt,
                    })
                }),
                protection: "protection" => sub_opt(|cx, n, p| {
                    record!(cx, n, p, ProtectionOverride {
                        mode: "mode" => vocab_opt,
                        stability_weight: "stability_weight" => f64_opt,
                        switch_margin: "switch_margin" => f64_opt,
                    })
                }),
            })
        }),
        output_contract: "output_contract" => str_opt,
        output_contract_spec: "output_contract_spec" => json_map,
        emits: "emits" => sub_or_default(head::emits),
        candidate_iterations: "candidateIterations" => list(head::candidate_iteration),
        annotations: "annotations" => sub_opt(head::annotations),
    })
}

impl Ctx<'_> {
    /// Whether the key is absent (or null).
    fn absent(&mut self, o: &Obj, key: &str) -> bool {
        o.get(key).is_none_or(|(n, _)| n.is_null())
    }
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
                } else {
                    head::algorithm_block(cx, t, bn, &bp);
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
            } else {
                head::plugin_configuration(cx, &kind, cn, &cp);
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
    record!(cx, n, p, also &["modules"], |o| {
        cx.moved(o, "modules", "`global.modules` moved to `global.model_catalog.modules` in v0.3");
        global_head(cx, o);
    }, Global {
        router: "router" => json_map,
        services: "services" => json_map,
        stores: "stores" => json_map,
        integrations: "integrations" => json_map,
        model_catalog: "model_catalog" => json_map,
    })
}

/// The typed HEAD sections inside the free-form `global`: `router.learning` and
/// `stores.response_cache` (with its deprecated name `stores.semantic_cache`).
fn global_head(cx: &mut Ctx, o: &Obj) {
    let section = |cx: &mut Ctx, key: &str| {
        let (n, p) = o.get(key)?;
        let inner = cx.obj_quiet(n, &p)?;
        Some(inner)
    };
    if let Some(router) = section(cx, "router")
        && let Some((n, p)) = router.get("learning")
    {
        head::learning(cx, n, &p);
    }
    if let Some(stores) = section(cx, "stores")
        && let Some((n, p)) = stores.get("response_cache")
    {
        if let Some((sn, sp)) = stores.get("semantic_cache") {
            let pos = cx.spans.key(&sp).unwrap_or(sn.pos);
            cx.error_at(
                pos,
                &sp,
                "`global.stores.semantic_cache` is the deprecated name of `global.stores.response_cache`; set only one of them",
            );
        }
        head::response_cache_store(cx, n, &p);
    }
}
