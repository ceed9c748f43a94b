//! Compile: DSL → the `routing:` section of the canonical config, as an ordered generic tree
//! (`serde_json::Value` with insertion order kept), plus a source map from config paths
//! (`routing.decisions[3].rules.conditions[0].name`) to DSL spans.
//!
//! Field blocks are copied as written (every key survives), so compile and decompile are
//! inverse; typing is left to the config validator, whose errors map back through the source map.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value as Json};

use crate::ast::*;
use crate::diag::{Diagnostic, nearest};
use crate::parser::parse;
use crate::span::Span;

/// DSL signal type → `routing.signals` family key, in the order the families are emitted.
pub const SIGNAL_FAMILIES: [(&str, &str); 20] = [
    ("keyword", "keywords"),
    ("embedding", "embeddings"),
    ("domain", "domains"),
    ("fact_check", "fact_check"),
    ("user_feedback", "user_feedbacks"),
    ("reask", "reasks"),
    ("preference", "preferences"),
    ("language", "language"),
    ("context", "context"),
    ("structure", "structure"),
    ("complexity", "complexity"),
    ("modality", "modality"),
    ("authz", "role_bindings"),
    ("jailbreak", "jailbreak"),
    ("pii", "pii"),
    ("kb", "kb"),
    ("conversation", "conversation"),
    ("event", "events"),
    ("metadata", "metadata"),
    ("classifier", "classifiers"),
];

/// The plugin and algorithm types the config accepts: the validator's own lists.
pub use vsr_config::{ALGORITHM_TYPES, PLUGIN_TYPES};

/// Algorithms whose `on_error` lives inside their own block; the others keep it at the top level
/// of `algorithm`. The looper algorithms of upstream HEAD (`fusion`, `workflows`) keep it in
/// their block too, as their configs write it.
pub const ON_ERROR_IN_BLOCK: [&str; 5] = ["confidence", "ratings", "remom", "fusion", "workflows"];

/// Model-reference options with a YAML name of their own.
pub const MODEL_OPTION_KEYS: [(&str, &str); 4] = [
    ("reasoning", "use_reasoning"),
    ("effort", "reasoning_effort"),
    ("lora", "lora_name"),
    ("weight", "weight"),
];

/// Maps config paths to the DSL spans they were compiled from.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    entries: HashMap<String, Span>,
}

impl SourceMap {
    fn insert(&mut self, path: String, span: Span) {
        self.entries.insert(path, span);
    }

    /// The span recorded for exactly this path.
    pub fn get(&self, path: &str) -> Option<Span> {
        self.entries.get(path).copied()
    }

    /// The span of `path`, or of its nearest recorded ancestor (a validator may report a path
    /// below what the DSL wrote, e.g. a defaulted field). Returns the path that matched.
    pub fn lookup<'a>(&self, path: &'a str) -> Option<(&'a str, Span)> {
        let mut p = path;
        loop {
            if let Some(s) = self.entries.get(p) {
                return Some((p, *s));
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every recorded path, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Span)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

/// The result of a successful compile.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The `routing` section: `modelCards`, `signals`, `projections`, `decisions`, `strategy`.
    pub routing: Json,
    /// The top-level `entrypoints` list (ENTRYPOINT blocks); empty when there are none.
    pub entrypoints: Vec<Json>,
    /// The top-level `recipes` list (RECIPE blocks): `{name, description?, routing{signals,
    /// projections, decisions, strategy}}`; empty when there are none.
    pub recipes: Vec<Json>,
    pub source_map: SourceMap,
    /// Warnings (undefined references, routes without a model, …); errors make compile fail.
    pub warnings: Vec<Diagnostic>,
    /// TEST blocks, which do not compile to config.
    pub tests: Vec<TestBlock>,
}

impl Compiled {
    /// The routing section as a YAML document with the key `routing:`, followed by
    /// `entrypoints:` and `recipes:` when the program declares any.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&Json::Object(self.sections())).unwrap_or_default()
    }

    /// The config sections the DSL owns, in canonical order: `routing`, then `entrypoints` and
    /// `recipes` when non-empty.
    pub fn sections(&self) -> Map<String, Json> {
        let mut doc = Map::new();
        doc.insert("routing".into(), self.routing.clone());
        if !self.entrypoints.is_empty() {
            doc.insert("entrypoints".into(), Json::Array(self.entrypoints.clone()));
        }
        if !self.recipes.is_empty() {
            doc.insert("recipes".into(), Json::Array(self.recipes.clone()));
        }
        doc
    }
}

/// The routing strategies a profile may name (`""` means the inherited default).
pub const ROUTING_STRATEGIES: [&str; 3] = ["", "priority", "confidence"];

pub fn routing_to_yaml(routing: &Json) -> String {
    let mut doc = Map::new();
    doc.insert("routing".into(), routing.clone());
    serde_yaml::to_string(&Json::Object(doc)).unwrap_or_default()
}

/// Parses and compiles. Fails with every error (parse errors stop before compiling); warnings
/// come back in [`Compiled::warnings`], or among the errors when compile fails.
pub fn compile(src: &str) -> Result<Compiled, Vec<Diagnostic>> {
    let (ast, diags) = parse(src);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    compile_ast(&ast)
}

pub fn compile_ast(ast: &Ast) -> Result<Compiled, Vec<Diagnostic>> {
    let mut c = Compiler {
        prefix: "routing".into(),
        ..Compiler::default()
    };
    let (routing, entrypoints, recipes) = c.run(ast);
    let mut diags = c.diags;
    diags.sort_by_key(|d| (d.span.start, d.severity));
    // Lowered decision trees repeat earlier conditions; report each finding once.
    diags.dedup_by(|a, b| a.span == b.span && a.message == b.message);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    Ok(Compiled {
        routing,
        entrypoints,
        recipes,
        source_map: c.map,
        warnings: diags,
        tests: ast
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Test(t) => Some(t.clone()),
                _ => None,
            })
            .collect(),
    })
}

#[derive(Default)]
struct Compiler {
    diags: Vec<Diagnostic>,
    map: SourceMap,
    /// The config path of the profile being compiled: `routing` or `recipes[i].routing`.
    prefix: String,
}

struct Template<'a> {
    plugin_type: String,
    body: &'a FieldBlock,
}

/// A route after DECISION_TREE lowering.
struct LoweredRoute<'a> {
    name: Cow<'a, Name>,
    options: &'a [Opt],
    description: Option<&'a Name>,
    priority: Option<(i64, Span)>,
    tier: Option<(i64, Span)>,
    /// Borrowed for a ROUTE; built for a DECISION_TREE branch (which also negates earlier ones).
    when: Option<Cow<'a, Expr>>,
    models: Vec<&'a ModelRef>,
    algorithm: Option<&'a AlgoSpec>,
    plugins: Vec<&'a PluginRef>,
    /// `FOR … IN …` and `EMIT …` items (`candidateIterations`, `emits`).
    iterations: Vec<&'a ForLoop>,
    emits: Vec<&'a EmitDecl>,
    span: Span,
    /// A DECISION_TREE branch (which reports a missing MODEL as an error of its own).
    from_tree: bool,
}

impl Compiler {
    fn err(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, msg));
    }

    fn warn(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(span, msg));
    }

    fn run(&mut self, ast: &Ast) -> (Json, Vec<Json>, Vec<Json>) {
        // The model catalog is top level only and shared by every recipe.
        let mut cards: Vec<Json> = Vec::new();
        let mut card_index: HashMap<String, usize> = HashMap::new();
        for item in &ast.items {
            if let Item::Model(m) = item {
                let path = format!("routing.modelCards[{}]", cards.len());
                if card_index.contains_key(&m.name.value) {
                    self.err(
                        m.name.span,
                        format!("MODEL `{}` is declared twice", m.name.value),
                    );
                    continue;
                }
                card_index.insert(m.name.value.clone(), cards.len());
                cards.push(self.named_object(&m.name, &m.body, &path));
            }
        }
        let declared_models = cards.len();

        let mut cat = Catalog {
            cards,
            index: card_index,
            declared: declared_models,
        };
        let profile = self.scope(&ast.items, &mut cat, None);

        let mut recipes = Vec::new();
        let mut recipe_names: HashMap<String, Span> = HashMap::new();
        for item in &ast.items {
            let Item::Recipe(r) = item else { continue };
            let n = &r.name.value;
            if n.trim().is_empty() || n.trim() != n {
                self.err(
                    r.name.span,
                    "a RECIPE name must be non-empty and have no surrounding whitespace",
                );
                continue;
            }
            if n == "default" {
                self.diags.push(
                    Diagnostic::error(
                        r.name.span,
                        "RECIPE \"default\" is a duplicate: the top-level routing profile is the default recipe",
                    )
                    .with_suggestion("declare the default profile's blocks at the top level"),
                );
                continue;
            }
            if let Some(prev) = recipe_names.get(n) {
                let msg = format!("RECIPE `{n}` is already declared at line {}", prev.line);
                self.err(r.name.span, msg);
                continue;
            }
            recipe_names.insert(n.clone(), r.name.span);
            if recipes.is_empty() {
                self.map.insert("recipes".into(), r.header);
            }
            let path = format!("recipes[{}]", recipes.len());
            self.map.insert(path.clone(), r.header);
            self.map.insert(format!("{path}.name"), r.name.span);
            let mut m = Map::new();
            m.insert("name".into(), Json::String(n.clone()));
            let mut header_strategy = None;
            for o in &r.options {
                match o.key.value.as_str() {
                    "description" => match o.value.kind.as_str() {
                        Some(d) => {
                            self.map.insert(format!("{path}.description"), o.span);
                            m.insert("description".into(), Json::String(d.to_string()));
                        }
                        None => {
                            self.err(o.value.span, "RECIPE option `description` must be a string")
                        }
                    },
                    "strategy" => header_strategy = Some(o),
                    other => {
                        let mut d = Diagnostic::error(
                            o.key.span,
                            format!(
                                "unknown RECIPE option `{other}`; expected `description` or `strategy`"
                            ),
                        );
                        if let Some(s) = nearest(other, ["description", "strategy"]) {
                            d = d.with_suggestion(format!("did you mean `{s}`?"));
                        }
                        self.diags.push(d);
                    }
                }
            }
            self.prefix = format!("{path}.routing");
            self.map.insert(self.prefix.clone(), r.header);
            let routing = self.scope(&r.items, &mut cat, header_strategy);
            self.prefix = "routing".into();
            let what = format!("RECIPE \"{n}\": ");
            m.insert("routing".into(), routing);
            recipes.push(Json::Object(m));
            // Errors inside a recipe name it (warnings too, so a list of findings reads well).
            for d in self.diags.iter_mut() {
                if d.span.start >= r.span.start
                    && d.span.end <= r.span.end
                    && !d.message.starts_with("RECIPE ")
                {
                    d.message.insert_str(0, &what);
                }
            }
        }

        let entrypoints = self.entrypoints(ast, &recipe_names);

        let mut routing = Map::new();
        if !cat.cards.is_empty() {
            routing.insert("modelCards".into(), Json::Array(cat.cards));
        }
        if let Json::Object(p) = profile {
            routing.extend(p);
        }
        (Json::Object(routing), entrypoints, recipes)
    }

    /// ENTRYPOINT blocks → `entrypoints[]`. Only string items of `model_names` are kept.
    fn entrypoints(&mut self, ast: &Ast, recipes: &HashMap<String, Span>) -> Vec<Json> {
        let mut out = Vec::new();
        let mut claimed: HashMap<String, Span> = HashMap::new();
        for item in &ast.items {
            let Item::Entrypoint(e) = item else { continue };
            let path = format!("entrypoints[{}]", out.len());
            if out.is_empty() {
                self.map.insert("entrypoints".into(), e.keyword);
            }
            self.map.insert(path.clone(), e.span);
            let mut names: Option<(Vec<Json>, Span)> = None;
            let mut recipe: Option<(String, Span)> = None;
            for f in &e.body.fields {
                match f.key.value.as_str() {
                    "model_names" => {
                        let ValueKind::Array(items) = &f.value.kind else {
                            self.err(
                                f.value.span,
                                "ENTRYPOINT model_names must be an array of strings",
                            );
                            continue;
                        };
                        let mut list = Vec::new();
                        for it in items {
                            let Some(n) = (match &it.kind {
                                ValueKind::Str(s) => Some(s.as_str()),
                                _ => None,
                            }) else {
                                self.warn(it.span, "ENTRYPOINT model_names keeps only strings; this item is dropped");
                                continue;
                            };
                            let n = n.trim();
                            if n.is_empty() {
                                self.err(it.span, "ENTRYPOINT model name must not be empty");
                                continue;
                            }
                            if let Some(prev) = claimed.get(n) {
                                let msg = format!(
                                    "model name \"{n}\" is already mapped by the ENTRYPOINT at line {}",
                                    prev.line
                                );
                                self.err(it.span, msg);
                                continue;
                            }
                            claimed.insert(n.to_string(), it.span);
                            self.map
                                .insert(format!("{path}.model_names[{}]", list.len()), it.span);
                            list.push(Json::String(n.to_string()));
                        }
                        names = Some((list, f.span));
                    }
                    "recipe" => match f.value.kind.as_str() {
                        Some(r) => recipe = Some((r.to_string(), f.value.span)),
                        None => self.err(f.value.span, "ENTRYPOINT recipe must be a recipe name"),
                    },
                    other => {
                        let mut d = Diagnostic::warning(
                            f.key.span,
                            format!("unknown ENTRYPOINT field `{other}` is ignored"),
                        );
                        if let Some(s) = nearest(other, ["model_names", "recipe"]) {
                            d = d.with_suggestion(format!("did you mean `{s}`?"));
                        }
                        self.diags.push(d);
                    }
                }
            }
            let Some((list, list_span)) = names.filter(|(l, _)| !l.is_empty()) else {
                self.err(
                    e.keyword,
                    "ENTRYPOINT requires a non-empty model_names array",
                );
                continue;
            };
            let Some((r, rspan)) = recipe else {
                self.err(e.keyword, "ENTRYPOINT requires recipe");
                continue;
            };
            if r != "default" && !recipes.contains_key(&r) {
                let mut d =
                    Diagnostic::error(rspan, format!("ENTRYPOINT names unknown recipe `{r}`"));
                let known = recipes.keys().map(String::as_str).chain(["default"]);
                if let Some(s) = nearest(&r, known) {
                    d = d.with_suggestion(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
                continue;
            }
            self.map.insert(format!("{path}.model_names"), list_span);
            self.map.insert(format!("{path}.recipe"), rspan);
            let mut m = Map::new();
            m.insert("model_names".into(), Json::Array(list));
            m.insert("recipe".into(), Json::String(r));
            out.push(Json::Object(m));
        }
        out
    }

    /// One routing profile (the top level, or a RECIPE body): signals, projections, decisions and
    /// strategy, compiled at [`Self::prefix`]. Models come from the shared catalog.
    fn scope(&mut self, items: &[Item], cat: &mut Catalog, header_strategy: Option<&Opt>) -> Json {
        let prefix = self.prefix.clone();
        let templates = self.templates(items);

        let mut families: HashMap<&'static str, Vec<Json>> = HashMap::new();
        let mut declared: HashMap<(String, String), Span> = HashMap::new();
        for item in items {
            if let Item::Signal(s) = item {
                self.signal(s, &mut families, &mut declared);
            }
        }

        let mut projections: [(&str, Vec<Json>); 3] = [
            ("partitions", vec![]),
            ("scores", vec![]),
            ("mappings", vec![]),
        ];
        let mut projection_names: HashMap<(String, String), Span> = HashMap::new();
        let mut outputs: HashSet<String> = HashSet::new();
        for item in items {
            if let Item::Projection(p) = item {
                self.projection(p, &mut projections, &mut projection_names, &mut outputs);
            }
        }

        let mut strategy: Option<(String, Span)> = None;
        if let Some(o) = header_strategy {
            strategy = self.strategy_value(&o.value).map(|v| (v, o.span));
        }
        for item in items {
            let Item::Routing(r) = item else { continue };
            let mut found = false;
            for f in &r.body.fields {
                if f.key.value == "strategy" {
                    found = true;
                    if let Some(v) = self.strategy_value(&f.value) {
                        strategy = Some((v, f.span));
                    }
                } else {
                    let mut d = Diagnostic::warning(
                        f.key.span,
                        format!("unknown ROUTING field `{}` is ignored", f.key.value),
                    );
                    if let Some(s) = nearest(&f.key.value, ["strategy"]) {
                        d = d.with_suggestion(format!("did you mean `{s}`?"));
                    }
                    self.diags.push(d);
                }
            }
            if !found {
                self.err(r.keyword, "ROUTING requires strategy");
            }
        }

        let routes = self.routes(items);
        let known = Symbols {
            signals: &declared,
            outputs: &outputs,
        };
        let mut decisions = Vec::new();
        let mut route_names: HashMap<String, Span> = HashMap::new();
        for r in &routes {
            if let Some(prev) = route_names.get(&r.name.value) {
                let msg = format!(
                    "route `{}` is already declared at line {}",
                    r.name.value, prev.line
                );
                self.err(r.name.span, msg);
                continue;
            }
            route_names.insert(r.name.value.clone(), r.name.span);
            let path = format!("{prefix}.decisions[{}]", decisions.len());
            let d = self.decision(
                r,
                &path,
                &templates,
                &known,
                &mut cat.cards,
                &mut cat.index,
                cat.declared,
            );
            decisions.push(d);
        }
        for item in items {
            if let Item::Test(t) = item {
                for case in &t.cases {
                    if case.query.trim().is_empty() {
                        self.warn(case.span, format!("TEST {}: empty query", t.name.value));
                    }
                    if !route_names.contains_key(&case.expected_route.value) {
                        let mut d = Diagnostic::warning(
                            case.expected_route.span,
                            format!(
                                "TEST {} expects route `{}`, which is not declared",
                                t.name.value, case.expected_route.value
                            ),
                        );
                        if let Some(s) = nearest(
                            &case.expected_route.value,
                            route_names.keys().map(String::as_str),
                        ) {
                            d = d.with_suggestion(format!("did you mean `{s}`?"));
                        }
                        self.diags.push(d);
                    }
                }
            }
        }

        let mut routing = Map::new();
        let mut signals = Map::new();
        for (_, key) in SIGNAL_FAMILIES {
            if let Some(list) = families.remove(key) {
                signals.insert(key.into(), Json::Array(list));
            }
        }
        if !signals.is_empty() {
            routing.insert("signals".into(), Json::Object(signals));
        }
        let mut proj = Map::new();
        for (key, list) in projections {
            if !list.is_empty() {
                proj.insert(key.into(), Json::Array(list));
            }
        }
        if !proj.is_empty() {
            routing.insert("projections".into(), Json::Object(proj));
        }
        if !decisions.is_empty() {
            routing.insert("decisions".into(), Json::Array(decisions));
        }
        if let Some((v, span)) = strategy {
            self.map.insert(format!("{prefix}.strategy"), span);
            routing.insert("strategy".into(), Json::String(v));
        }
        Json::Object(routing)
    }

    /// A `strategy` value: `priority`, `confidence` or `""`.
    fn strategy_value(&mut self, v: &Value) -> Option<String> {
        let Some(s) = v.kind.as_str() else {
            self.err(v.span, "strategy must be \"priority\" or \"confidence\"");
            return None;
        };
        if ROUTING_STRATEGIES.contains(&s) {
            return Some(s.to_string());
        }
        let mut d = Diagnostic::error(
            v.span,
            format!("routing.strategy must be \"priority\" or \"confidence\", got \"{s}\""),
        );
        if let Some(n) = nearest(s, ["priority", "confidence"]) {
            d = d.with_suggestion(format!("did you mean `{n}`?"));
        }
        self.diags.push(d);
        None
    }

    fn templates<'a>(&mut self, items: &'a [Item]) -> HashMap<String, Template<'a>> {
        let mut out: HashMap<String, Template<'a>> = HashMap::new();
        for item in items {
            let Item::Plugin(p) = item else { continue };
            if out.contains_key(&p.name.value) {
                self.err(
                    p.name.span,
                    format!("PLUGIN template `{}` is declared twice", p.name.value),
                );
                continue;
            }
            let Some(plugin_type) = self.plugin_type(&p.plugin_type) else {
                continue;
            };
            out.insert(
                p.name.value.clone(),
                Template {
                    plugin_type,
                    body: &p.body,
                },
            );
        }
        out
    }

    /// The canonical plugin type for a DSL plugin type, or an error.
    fn plugin_type(&mut self, t: &Name) -> Option<String> {
        if t.value == "semantic_cache" {
            return Some("semantic-cache".into());
        }
        if PLUGIN_TYPES.contains(&t.value.as_str()) {
            return Some(t.value.clone());
        }
        let mut d = Diagnostic::error(t.span, format!("unknown plugin type `{}`", t.value));
        if let Some(s) = nearest(&t.value, PLUGIN_TYPES) {
            d = d.with_suggestion(format!("did you mean `{s}`?"));
        } else {
            d = d.with_suggestion(format!("known plugin types: {}", PLUGIN_TYPES.join(", ")));
        }
        self.diags.push(d);
        None
    }

    fn signal(
        &mut self,
        s: &SignalDecl,
        families: &mut HashMap<&'static str, Vec<Json>>,
        declared: &mut HashMap<(String, String), Span>,
    ) {
        let Some((_, family)) = SIGNAL_FAMILIES
            .iter()
            .find(|(t, _)| *t == s.signal_type.value)
        else {
            let mut d = Diagnostic::error(
                s.signal_type.span,
                format!("unknown signal type `{}`", s.signal_type.value),
            );
            if let Some(n) = nearest(
                &s.signal_type.value,
                SIGNAL_FAMILIES.iter().map(|(t, _)| *t),
            ) {
                d = d.with_suggestion(format!("did you mean `{n}`?"));
            }
            self.diags.push(d);
            return;
        };
        let key = (s.signal_type.value.clone(), s.name.value.clone());
        if let Some(prev) = declared.get(&key) {
            let msg = format!(
                "signal {}(\"{}\") is already declared at line {}",
                key.0, key.1, prev.line
            );
            self.err(s.name.span, msg);
            return;
        }
        declared.insert(key, s.name.span);
        let list = families.entry(family).or_default();
        if list.is_empty() {
            // Family-wide diagnostics point at the first signal of the family.
            self.map.insert(
                format!("{}.signals.{family}", self.prefix),
                s.signal_type.span,
            );
        }
        let path = format!("{}.signals.{family}[{}]", self.prefix, list.len());
        let obj = self.named_object(&s.name, &s.body, &path);
        families.entry(family).or_default().push(obj);
    }

    fn projection(
        &mut self,
        p: &ProjectionDecl,
        lists: &mut [(&str, Vec<Json>); 3],
        names: &mut HashMap<(String, String), Span>,
        outputs: &mut HashSet<String>,
    ) {
        let idx = match p.projection_type.value.as_str() {
            "partition" => 0,
            "score" => 1,
            _ => 2,
        };
        let key = (p.projection_type.value.clone(), p.name.value.clone());
        if let Some(prev) = names.get(&key) {
            let msg = format!(
                "PROJECTION {} `{}` is already declared at line {}",
                key.0, key.1, prev.line
            );
            self.err(p.name.span, msg);
            return;
        }
        names.insert(key, p.name.span);
        let path = format!(
            "{}.projections.{}[{}]",
            self.prefix,
            lists[idx].0,
            lists[idx].1.len()
        );
        let mut obj = self.named_object(&p.name, &p.body, &path);
        if let Json::Object(m) = &mut obj {
            // The config has no default for the method; the DSL does (as upstream).
            let default = match idx {
                1 => Some("weighted_sum"),
                2 => Some("threshold_bands"),
                _ => None,
            };
            if let Some(def) = default
                && !m.contains_key("method")
            {
                m.insert("method".into(), Json::String(def.into()));
                self.map.insert(format!("{path}.method"), p.name.span);
            }
            if idx == 2
                && let Some(Json::Array(outs)) = m.get("outputs")
            {
                for o in outs {
                    if let Some(n) = o.get("name").and_then(Json::as_str) {
                        outputs.insert(n.to_string());
                    }
                }
            }
        }
        lists[idx].1.push(obj);
    }

    /// `{name, …fields}` for SIGNAL, PROJECTION and MODEL blocks.
    fn named_object(&mut self, name: &Name, body: &FieldBlock, path: &str) -> Json {
        self.map.insert(path.to_string(), name.span);
        self.map.insert(format!("{path}.name"), name.span);
        let mut m = Map::new();
        m.insert("name".into(), Json::String(name.value.clone()));
        for f in &body.fields {
            if f.key.value == "name" {
                self.err(
                    f.key.span,
                    "`name` is given in the block header and cannot be a field",
                );
                continue;
            }
        }
        let rest: Vec<&Field> = body
            .fields
            .iter()
            .filter(|f| f.key.value != "name")
            .collect();
        self.fields_into(&rest, path, &mut m);
        Json::Object(m)
    }

    fn fields_into(&mut self, fields: &[&Field], path: &str, m: &mut Map<String, Json>) {
        for f in fields {
            let p = format!("{path}.{}", f.key.value);
            if m.contains_key(&f.key.value) {
                self.warn(
                    f.key.span,
                    format!("field `{}` is given twice; the last one wins", f.key.value),
                );
            }
            let v = self.value_below(&f.value, &p);
            self.map.insert(p, f.span);
            m.insert(f.key.value.clone(), v);
        }
    }

    /// The JSON of a value, recording the spans of `path` and everything below it.
    fn value(&mut self, v: &Value, path: &str) -> Json {
        self.map.insert(path.to_string(), v.span);
        self.value_below(v, path)
    }

    /// Like [`Self::value`] but without recording `path` itself (the caller records a wider span,
    /// e.g. the whole `key: value` field).
    fn value_below(&mut self, v: &Value, path: &str) -> Json {
        match &v.kind {
            ValueKind::Str(s) | ValueKind::Ident(s) => Json::String(s.clone()),
            ValueKind::Int(i, _) => Json::from(*i),
            ValueKind::Float(f, _) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                .unwrap_or(Json::Null),
            ValueKind::Bool(b) => Json::Bool(*b),
            ValueKind::Array(items) => Json::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| self.value(it, &format!("{path}[{i}]")))
                    .collect(),
            ),
            ValueKind::Object(fields) => {
                let mut m = Map::new();
                let refs: Vec<&Field> = fields.iter().collect();
                self.fields_into(&refs, path, &mut m);
                Json::Object(m)
            }
        }
    }

    /// ROUTE declarations, or DECISION_TREE branches lowered to routes (the two cannot be mixed).
    fn routes<'a>(&mut self, items: &'a [Item]) -> Vec<LoweredRoute<'a>> {
        let first_route = items.iter().find_map(|i| match i {
            Item::Route(r) => Some(r.header),
            _ => None,
        });
        let trees: Vec<&DecisionTree> = items
            .iter()
            .filter_map(|i| match i {
                Item::DecisionTree(t) => Some(t),
                _ => None,
            })
            .collect();
        if let (Some(route), Some(tree)) = (first_route, trees.first()) {
            let span = if tree.span.start > route.start {
                tree.name.span
            } else {
                route
            };
            self.err(
                span,
                "DECISION_TREE declarations cannot be mixed with ROUTE declarations in the same program",
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for item in items {
            if let Item::Route(r) = item {
                let mut lr = LoweredRoute {
                    name: Cow::Borrowed(&r.name),
                    options: &r.options,
                    description: None,
                    priority: None,
                    tier: None,
                    when: None,
                    models: Vec::new(),
                    algorithm: None,
                    plugins: Vec::new(),
                    iterations: Vec::new(),
                    emits: Vec::new(),
                    span: r.header,
                    from_tree: false,
                };
                self.route_items(&mut lr, &r.items);
                out.push(lr);
            }
        }
        for (t, tree) in trees.iter().enumerate() {
            let mut earlier: Vec<&Expr> = Vec::new();
            for (i, b) in tree.branches.iter().enumerate() {
                let mut conj: Vec<Expr> = Vec::new();
                if let Some(c) = &b.condition {
                    match c {
                        Expr::And { children, .. } => conj.extend(children.iter().cloned()),
                        other => conj.push(other.clone()),
                    }
                }
                for e in &earlier {
                    conj.push(Expr::Not {
                        child: Box::new((*e).clone()),
                        span: e.span(),
                    });
                }
                let when = match conj.len() {
                    0 => None,
                    1 => conj.pop(),
                    _ => Some(Expr::And {
                        span: conj[0].span(),
                        children: conj,
                    }),
                };
                let mut lr = LoweredRoute {
                    name: Cow::Owned(Name {
                        value: format!("{}__branch_{:02}", tree.name.value, i + 1),
                        quoted: false,
                        span: b.span,
                    }),
                    options: &[],
                    description: None,
                    priority: Some((1_000_000 - 1000 * t as i64 - i as i64, b.span)),
                    tier: None,
                    when: when.map(Cow::Owned),
                    models: Vec::new(),
                    algorithm: None,
                    plugins: Vec::new(),
                    iterations: Vec::new(),
                    emits: Vec::new(),
                    span: b.span,
                    from_tree: true,
                };
                self.route_items(&mut lr, &b.items);
                if lr.models.is_empty() {
                    self.err(
                        b.span,
                        format!(
                            "DECISION_TREE \"{}\" branch {} must declare at least one MODEL",
                            tree.name.value,
                            i + 1
                        ),
                    );
                }
                if let Some(c) = &b.condition {
                    earlier.push(c);
                }
                out.push(lr);
            }
        }
        out
    }

    fn route_items<'a>(&mut self, lr: &mut LoweredRoute<'a>, items: &'a [RouteItem]) {
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        let mut once = |this: &mut Self, kw: &'static str, span: Span| {
            if let Some(prev) = seen.insert(kw, span) {
                this.warn(
                    span,
                    format!(
                        "{kw} is given twice (first at line {}); the last one wins",
                        prev.line
                    ),
                );
            }
        };
        for it in items {
            match &it.kind {
                RouteItemKind::Priority(n) => {
                    once(self, "PRIORITY", it.span);
                    lr.priority = Some((n.value, it.span));
                }
                RouteItemKind::Tier(n) => {
                    once(self, "TIER", it.span);
                    lr.tier = Some((n.value, it.span));
                }
                RouteItemKind::When(e) => {
                    once(self, "WHEN", it.span);
                    lr.when = Some(Cow::Borrowed(e));
                }
                RouteItemKind::Model(refs) => lr.models.extend(refs.iter()),
                RouteItemKind::Algorithm(a) => {
                    once(self, "ALGORITHM", it.span);
                    lr.algorithm = Some(a);
                }
                RouteItemKind::Plugin(p) => lr.plugins.push(p),
                RouteItemKind::Name(n) => {
                    lr.name = Cow::Borrowed(n);
                }
                RouteItemKind::Description(d) => {
                    once(self, "DESCRIPTION", it.span);
                    lr.description = Some(d);
                }
                RouteItemKind::For(f) => {
                    // A literal model list also lists its models on the route.
                    if let ForSource::Models(refs) = &f.source {
                        for r in refs {
                            if !lr.models.iter().any(|m| m.model.value == r.model.value) {
                                lr.models.push(r);
                            }
                        }
                    }
                    lr.iterations.push(f);
                }
                RouteItemKind::Emit(e) => {
                    if lr.emits.iter().any(|x| x.kind.value == e.kind.value) {
                        self.err(
                            e.kind.span,
                            format!(
                                "EMIT {} is given twice; a kind may appear once per route",
                                e.kind.value
                            ),
                        );
                    } else {
                        lr.emits.push(e);
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn decision(
        &mut self,
        r: &LoweredRoute<'_>,
        path: &str,
        templates: &HashMap<String, Template<'_>>,
        known: &Symbols<'_>,
        cards: &mut Vec<Json>,
        card_index: &mut HashMap<String, usize>,
        declared_models: usize,
    ) -> Json {
        let mut m = Map::new();
        self.map.insert(path.to_string(), r.span);
        self.map.insert(format!("{path}.name"), r.name.span);
        m.insert("name".into(), Json::String(r.name.value.clone()));
        for o in r.options {
            if o.key.value == "description" && o.value.kind.as_str().is_none() {
                self.err(o.value.span, "route option `description` must be a string");
                continue;
            }
            if matches!(
                o.key.value.as_str(),
                "name" | "priority" | "tier" | "rules" | "modelRefs" | "algorithm" | "plugins"
            ) {
                self.err(
                    o.key.span,
                    format!(
                        "`{}` cannot be a route option; use the route body",
                        o.key.value
                    ),
                );
                continue;
            }
            let p = format!("{path}.{}", o.key.value);
            let v = self.value_below(&o.value, &p);
            self.map.insert(p, o.span);
            m.insert(o.key.value.clone(), v);
        }
        if let Some(d) = &r.description {
            self.map.insert(format!("{path}.description"), d.span);
            m.insert("description".into(), Json::String(d.value.clone()));
        }
        if let Some((p, span)) = r.priority {
            if p < 0 {
                self.err(span, format!("PRIORITY must be >= 0, got {p}"));
            }
            self.map.insert(format!("{path}.priority"), span);
            m.insert("priority".into(), Json::from(p));
        }
        if let Some((t, span)) = r.tier {
            if t < 0 {
                self.err(span, format!("TIER must be >= 0, got {t}"));
            }
            self.map.insert(format!("{path}.tier"), span);
            m.insert("tier".into(), Json::from(t));
        }
        let rules_path = format!("{path}.rules");
        let rules = match &r.when {
            None => {
                // Upstream compiles a missing WHEN to an empty AND and calls it match-all, but
                // the runtime never matches an empty AND; say so rather than leave a dead route.
                self.diags.push(
                    Diagnostic::warning(
                        r.name.span,
                        format!(
                            "route `{}` has no WHEN: its empty condition never matches at runtime",
                            r.name.value
                        ),
                    )
                    .with_suggestion(
                        "requests that match no route already go to providers.defaults.default_model; add a WHEN or remove the route",
                    ),
                );
                self.map.insert(rules_path.clone(), r.span);
                let mut n = Map::new();
                n.insert("operator".into(), Json::String("AND".into()));
                n.insert("conditions".into(), Json::Array(vec![]));
                Json::Object(n)
            }
            Some(e) => {
                let e: &Expr = e;
                self.check_refs(e, known);
                let mut inner = e;
                while let Expr::Paren { inner: i, .. } = inner {
                    inner = i;
                }
                if let Expr::Signal { .. } = inner {
                    self.map.insert(rules_path.clone(), e.span());
                    let leaf = self.rule(inner, &format!("{rules_path}.conditions[0]"));
                    let mut n = Map::new();
                    n.insert("operator".into(), Json::String("AND".into()));
                    n.insert("conditions".into(), Json::Array(vec![leaf]));
                    Json::Object(n)
                } else {
                    self.rule(e, &rules_path)
                }
            }
        };
        m.insert("rules".into(), rules);

        if r.models.is_empty() {
            if !r.from_tree {
                self.warn(
                    r.name.span,
                    format!("route `{}` has no MODEL", r.name.value),
                );
            }
        } else {
            let mut refs = Vec::new();
            for (i, mr) in r.models.iter().enumerate() {
                let p = format!("{path}.modelRefs[{i}]");
                refs.push(self.model_ref(mr, &p, cards, card_index, declared_models));
            }
            m.insert("modelRefs".into(), Json::Array(refs));
        }
        if !r.iterations.is_empty() {
            let mut list = Vec::new();
            for (i, f) in r.iterations.iter().enumerate() {
                let p = format!("{path}.candidateIterations[{i}]");
                self.map.insert(p.clone(), f.span);
                let mut it = Map::new();
                it.insert("variable".into(), Json::String(f.variable.value.clone()));
                match &f.source {
                    ForSource::Named(n) if n.value == "decision.candidates" => {
                        it.insert("source".into(), Json::String(n.value.clone()));
                    }
                    ForSource::Named(n) => self.err(
                        n.span,
                        format!(
                            "unknown FOR source `{}`: expected `decision.candidates` or a `[…]` model list",
                            n.value
                        ),
                    ),
                    ForSource::Models(refs) => {
                        it.insert("source".into(), Json::String("models".into()));
                        let models = refs
                            .iter()
                            .map(|r| serde_json::json!({"model": r.model.value}))
                            .collect();
                        it.insert("models".into(), Json::Array(models));
                    }
                }
                if f.outputs.is_empty() {
                    self.err(f.span, "a FOR body needs `MODEL <variable>`");
                }
                let outputs = f
                    .outputs
                    .iter()
                    .map(|o| {
                        if o.model.value != f.variable.value {
                            self.warn(
                                o.model.span,
                                format!(
                                    "MODEL {} in a FOR over `{}` does not name the variable",
                                    o.model.value, f.variable.value
                                ),
                            );
                        }
                        serde_json::json!({"type": "model", "value": o.model.value})
                    })
                    .collect::<Vec<_>>();
                it.insert("outputs".into(), Json::Array(outputs));
                list.push(Json::Object(it));
            }
            m.insert("candidateIterations".into(), Json::Array(list));
        }
        if !r.emits.is_empty() {
            let mut list = Vec::new();
            for (i, e) in r.emits.iter().enumerate() {
                let p = format!("{path}.emits[{i}]");
                self.map.insert(p.clone(), e.kind.span);
                if e.kind.value != "retention" {
                    self.err(
                        e.kind.span,
                        format!("unknown EMIT kind `{}`: expected `retention`", e.kind.value),
                    );
                }
                let mut body = Map::new();
                for f in &e.body.fields {
                    let fp = format!("{p}.{}.{}", e.kind.value, f.key.value);
                    let v = self.value(&f.value, &fp);
                    body.insert(f.key.value.clone(), v);
                }
                let mut em = Map::new();
                em.insert("kind".into(), Json::String(e.kind.value.clone()));
                em.insert(e.kind.value.clone(), Json::Object(body));
                list.push(Json::Object(em));
            }
            m.insert("emits".into(), Json::Array(list));
        }
        if let Some(a) = &r.algorithm {
            let p = format!("{path}.algorithm");
            if let Some(v) = self.algorithm(a, &p) {
                m.insert("algorithm".into(), v);
            }
        }
        if !r.plugins.is_empty() {
            let mut list = Vec::new();
            for (i, pr) in r.plugins.iter().enumerate() {
                let p = format!("{path}.plugins[{i}]");
                if let Some(v) = self.plugin(pr, &p, templates) {
                    list.push(v);
                }
            }
            m.insert("plugins".into(), Json::Array(list));
        }
        Json::Object(m)
    }

    fn rule(&mut self, e: &Expr, path: &str) -> Json {
        let mut n = Map::new();
        match e {
            Expr::Paren { inner, .. } => return self.rule(inner, path),
            Expr::Signal {
                signal_type,
                name,
                fields,
                span,
            } => {
                self.map.insert(path.to_string(), *span);
                self.map.insert(format!("{path}.type"), signal_type.span);
                self.map.insert(format!("{path}.name"), name.span);
                n.insert("type".into(), Json::String(signal_type.value.clone()));
                n.insert("name".into(), Json::String(name.value.clone()));
                // The leaf fields HEAD copies; others are ignored, as HEAD does.
                for f in fields.iter().flat_map(|f| f.iter()) {
                    let key = f.key.value.as_str();
                    if matches!(key, "label" | "predicate" | "on_error") {
                        let fp = format!("{path}.{key}");
                        let v = self.value(&f.value, &fp);
                        n.insert(key.into(), v);
                    }
                }
                return Json::Object(n);
            }
            _ => {}
        }
        self.map.insert(path.to_string(), e.span());
        self.map.insert(format!("{path}.operator"), e.span());
        let (op, children): (&str, Vec<&Expr>) = match e {
            Expr::And { children, .. } => ("AND", children.iter().collect()),
            Expr::Or { children, .. } => ("OR", children.iter().collect()),
            Expr::Not { child, .. } => ("NOT", vec![child.as_ref()]),
            Expr::Paren { .. } | Expr::Signal { .. } => unreachable!("handled above"),
        };
        let conds = children
            .iter()
            .enumerate()
            .map(|(i, c)| self.rule(c, &format!("{path}.conditions[{i}]")))
            .collect();
        n.insert("operator".into(), Json::String(op.into()));
        n.insert("conditions".into(), Json::Array(conds));
        Json::Object(n)
    }

    fn check_refs(&mut self, e: &Expr, known: &Symbols<'_>) {
        let mut found: Vec<Diagnostic> = Vec::new();
        e.for_each_signal(&mut |t, n| {
            if t.value == "projection" {
                if !known.outputs.contains(&n.value) {
                    let mut d = Diagnostic::warning(
                        n.span,
                        format!(
                            "projection(\"{}\") is not an output of any PROJECTION mapping",
                            n.value
                        ),
                    );
                    if let Some(s) = nearest(&n.value, known.outputs.iter().map(String::as_str)) {
                        d = d.with_suggestion(format!("did you mean projection(\"{s}\")?"));
                    }
                    found.push(d);
                }
                return;
            }
            if !SIGNAL_FAMILIES.iter().any(|(st, _)| *st == t.value) {
                let mut d = Diagnostic::error(t.span, format!("unknown signal type `{}`", t.value));
                let all = SIGNAL_FAMILIES
                    .iter()
                    .map(|(s, _)| *s)
                    .chain(["projection"]);
                if let Some(s) = nearest(&t.value, all) {
                    d = d.with_suggestion(format!("did you mean `{s}`?"));
                }
                found.push(d);
                return;
            }
            // A complexity reference names a level: `code_task:hard` refers to `code_task`.
            let base = if t.value == "complexity" {
                n.value.split(':').next().unwrap_or(&n.value)
            } else {
                n.value.as_str()
            };
            if !known
                .signals
                .contains_key(&(t.value.clone(), base.to_string()))
            {
                let mut d = Diagnostic::warning(
                    n.span,
                    format!("signal {}(\"{}\") is not declared", t.value, n.value),
                );
                let same_type = known
                    .signals
                    .keys()
                    .filter(|(ty, _)| *ty == t.value)
                    .map(|(_, name)| name.as_str());
                if let Some(s) = nearest(base, same_type) {
                    d = d.with_suggestion(format!("did you mean {}(\"{s}\")?", t.value));
                } else if let Some((ty, _)) = known.signals.keys().find(|(_, nm)| nm == base) {
                    d = d.with_suggestion(format!(
                        "`{base}` is declared as a {ty} signal: {ty}(\"{base}\")"
                    ));
                }
                found.push(d);
            }
        });
        self.diags.extend(found);
    }

    fn model_ref(
        &mut self,
        mr: &ModelRef,
        path: &str,
        cards: &mut Vec<Json>,
        card_index: &mut HashMap<String, usize>,
        declared_models: usize,
    ) -> Json {
        self.map.insert(path.to_string(), mr.span);
        self.map.insert(format!("{path}.model"), mr.model.span);
        let mut m = Map::new();
        m.insert("model".into(), Json::String(mr.model.value.clone()));
        // Compile writes only the cards that are declared (so decompile → compile is exact); a
        // referenced model without a card is fine for the config, but likely a typo once a
        // catalog exists.
        let card = card_index.get(&mr.model.value).copied();
        if card.is_none() && declared_models > 0 {
            let mut d = Diagnostic::warning(
                mr.model.span,
                format!(
                    "model \"{}\" is not declared in a MODEL block",
                    mr.model.value
                ),
            );
            let declared = card_index.keys().map(String::as_str);
            if let Some(s) = nearest(&mr.model.value, declared) {
                d = d.with_suggestion(format!("did you mean \"{s}\"?"));
            }
            self.diags.push(d);
        }
        for o in &mr.options {
            let key = o.key.value.as_str();
            let ok = match key {
                "reasoning" => matches!(o.value.kind, ValueKind::Bool(_)),
                "effort" | "lora" | "param_size" => o.value.kind.as_str().is_some(),
                "weight" => matches!(o.value.kind, ValueKind::Int(..) | ValueKind::Float(..)),
                _ => true,
            };
            if !ok {
                let want = match key {
                    "reasoning" => "true or false",
                    "weight" => "a number",
                    _ => "a string",
                };
                self.err(o.value.span, format!("model option `{key}` must be {want}"));
                continue;
            }
            if key == "param_size" {
                // The card's param_size; a card is created for it when the model has none.
                let card = match card.or_else(|| card_index.get(&mr.model.value).copied()) {
                    Some(i) => i,
                    None => {
                        let mut c = Map::new();
                        c.insert("name".into(), Json::String(mr.model.value.clone()));
                        self.map.insert(
                            format!("routing.modelCards[{}]", cards.len()),
                            mr.model.span,
                        );
                        card_index.insert(mr.model.value.clone(), cards.len());
                        cards.push(Json::Object(c));
                        cards.len() - 1
                    }
                };
                if let Some(Json::Object(c)) = cards.get_mut(card)
                    && !c.contains_key("param_size")
                {
                    let v = o.value.kind.as_str().unwrap_or_default().to_string();
                    c.insert("param_size".into(), Json::String(v));
                    self.map
                        .insert(format!("routing.modelCards[{card}].param_size"), o.span);
                }
                continue;
            }
            let yaml_key = MODEL_OPTION_KEYS
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(key, |(_, y)| *y);
            let p = format!("{path}.{yaml_key}");
            let v = self.value_below(&o.value, &p);
            self.map.insert(p, o.span);
            m.insert(yaml_key.into(), v);
        }
        Json::Object(m)
    }

    fn algorithm(&mut self, a: &AlgoSpec, path: &str) -> Option<Json> {
        let t = a.algo_type.value.as_str();
        if !ALGORITHM_TYPES.contains(&t) {
            let mut d =
                Diagnostic::error(a.algo_type.span, format!("unknown algorithm type `{t}`"));
            if let Some(s) = nearest(t, ALGORITHM_TYPES) {
                d = d.with_suggestion(format!("did you mean `{s}`?"));
            }
            self.diags.push(d);
            return None;
        }
        self.map.insert(path.to_string(), a.span);
        self.map.insert(format!("{path}.type"), a.algo_type.span);
        let mut m = Map::new();
        m.insert("type".into(), Json::String(t.into()));
        for o in &a.options {
            if o.key.value == "type" || o.key.value == t {
                self.err(
                    o.key.span,
                    format!("`{}` cannot be an ALGORITHM option", o.key.value),
                );
                continue;
            }
            let p = format!("{path}.{}", o.key.value);
            let v = self.value_below(&o.value, &p);
            self.map.insert(p, o.span);
            m.insert(o.key.value.clone(), v);
        }
        let Some(body) = &a.body else {
            return Some(Json::Object(m));
        };
        let in_block = ON_ERROR_IN_BLOCK.contains(&t);
        let (block_fields, top): (Vec<&Field>, Vec<&Field>) = body
            .fields
            .iter()
            .partition(|f| in_block || f.key.value != "on_error");
        if !block_fields.is_empty() || top.is_empty() {
            let bp = format!("{path}.{t}");
            self.map.insert(bp.clone(), body.span);
            let mut b = Map::new();
            self.fields_into(&block_fields, &bp, &mut b);
            m.insert(t.into(), Json::Object(b));
        }
        self.fields_into(&top, path, &mut m);
        Some(Json::Object(m))
    }

    fn plugin(
        &mut self,
        pr: &PluginRef,
        path: &str,
        templates: &HashMap<String, Template<'_>>,
    ) -> Option<Json> {
        let (ptype, base) = match templates.get(&pr.name.value) {
            Some(t) => (t.plugin_type.clone(), Some(t.body)),
            None => (self.plugin_type(&pr.name)?, None),
        };
        self.map.insert(path.to_string(), pr.span);
        self.map.insert(format!("{path}.type"), pr.name.span);
        let mut m = Map::new();
        m.insert("type".into(), Json::String(ptype));
        if base.is_some() || pr.body.is_some() {
            let cp = format!("{path}.configuration");
            self.map
                .insert(cp.clone(), pr.body.as_ref().map_or(pr.span, |b| b.span));
            let mut conf = Map::new();
            // Template fields first; the route's fields override per key.
            let mut fields: Vec<&Field> =
                base.map(|b| b.fields.iter().collect()).unwrap_or_default();
            if let Some(b) = &pr.body {
                for f in &b.fields {
                    if let Some(pos) = fields.iter().position(|x| x.key.value == f.key.value) {
                        fields[pos] = f;
                    } else {
                        fields.push(f);
                    }
                }
            }
            self.fields_into(&fields, &cp, &mut conf);
            m.insert("configuration".into(), Json::Object(conf));
        }
        Some(Json::Object(m))
    }
}

/// The shared model catalog: the cards, their index by name, and how many were declared by MODEL
/// blocks (the rest are created for `param_size` options).
struct Catalog {
    cards: Vec<Json>,
    index: HashMap<String, usize>,
    declared: usize,
}

struct Symbols<'a> {
    signals: &'a HashMap<(String, String), Span>,
    outputs: &'a HashSet<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(src: &str) -> Json {
        let c = compile(src).unwrap_or_else(|d| panic!("{d:?}"));
        c.routing["decisions"][0]["rules"].clone()
    }

    #[test]
    fn leaf_is_wrapped_and_chains_are_nary() {
        assert_eq!(
            rules("ROUTE r { WHEN domain(\"math\") MODEL \"m\" }"),
            json!({"operator": "AND", "conditions": [{"type": "domain", "name": "math"}]})
        );
        let r = rules(
            "ROUTE r { WHEN keyword(\"u\") AND (domain(\"m\") OR embedding(\"a\")) AND NOT domain(\"o\") MODEL \"m\" }",
        );
        assert_eq!(r["operator"], "AND");
        assert_eq!(r["conditions"].as_array().map(Vec::len), Some(3));
        assert_eq!(r["conditions"][2]["operator"], "NOT");
    }

    #[test]
    fn no_when_matches_everything() {
        assert_eq!(
            rules("ROUTE r { MODEL \"m\" }"),
            json!({"operator": "AND", "conditions": []})
        );
    }

    #[test]
    fn templates_merge_with_overrides() {
        let c = compile(
            "PLUGIN my_cache semantic_cache { enabled: true, similarity_threshold: 0.80 }\n\
             ROUTE a { MODEL \"m\" PLUGIN my_cache }\n\
             ROUTE b { MODEL \"m\" PLUGIN my_cache { similarity_threshold: 0.95 } }",
        )
        .unwrap_or_else(|d| panic!("{d:?}"));
        let d = &c.routing["decisions"];
        assert_eq!(d[0]["plugins"][0]["type"], "semantic-cache");
        assert_eq!(
            d[1]["plugins"][0]["configuration"]["similarity_threshold"],
            0.95
        );
        assert_eq!(d[1]["plugins"][0]["configuration"]["enabled"], true);
    }

    #[test]
    fn algorithm_blocks_and_on_error() {
        let c = compile(
            "ROUTE a { MODEL \"m\" ALGORITHM confidence { threshold: 0.5, on_error: \"skip\" } }\n\
             ROUTE b { MODEL \"m\" ALGORITHM elo { k_factor: 32, on_error: \"skip\" } }",
        )
        .unwrap_or_else(|d| panic!("{d:?}"));
        let d = &c.routing["decisions"];
        assert_eq!(d[0]["algorithm"]["confidence"]["on_error"], "skip");
        assert_eq!(d[1]["algorithm"]["on_error"], "skip");
        assert_eq!(d[1]["algorithm"]["elo"]["k_factor"], 32);
    }

    #[test]
    fn unknown_types_are_errors_with_suggestions() {
        for (src, want) in [
            (
                "ROUTE r { MODEL \"m\" PLUGIN totally_unknown_plugin }",
                "unknown plugin type",
            ),
            (
                "ROUTE r { MODEL \"m\" ALGORITHM confidance }",
                "did you mean `confidence`",
            ),
            ("SIGNAL keywrd k { }", "did you mean `keyword`"),
        ] {
            let d = compile(src).err().unwrap_or_default();
            let all = format!("{d:?}");
            assert!(all.contains(want), "{src}: {all}");
        }
    }

    #[test]
    fn decision_tree_lowering() {
        let c = compile(
            "DECISION_TREE t {\n IF jailbreak(\"detector\") { NAME jailbreak_block MODEL \"a\" }\n \
             ELSE IF domain(\"math\") { NAME math_route TIER 2 MODEL \"b\" }\n ELSE { MODEL \"c\" }\n}",
        )
        .unwrap_or_else(|d| panic!("{d:?}"));
        let d = c.routing["decisions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&str> = d.iter().filter_map(|x| x["name"].as_str()).collect();
        assert_eq!(names, ["jailbreak_block", "math_route", "t__branch_03"]);
        let pr: Vec<i64> = d.iter().filter_map(|x| x["priority"].as_i64()).collect();
        assert!(pr[0] > pr[1] && pr[1] > pr[2]);
        assert_eq!(
            d[1]["rules"],
            json!({"operator": "AND", "conditions": [
                {"type": "domain", "name": "math"},
                {"operator": "NOT", "conditions": [{"type": "jailbreak", "name": "detector"}]}]})
        );
        assert_eq!(
            d[2]["rules"]["conditions"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn trees_and_routes_do_not_mix() {
        let d = compile("ROUTE r { MODEL \"m\" }\nDECISION_TREE t { IF a(\"b\") { MODEL \"m\" } ELSE { MODEL \"m\" } }")
            .err()
            .unwrap_or_default();
        assert!(format!("{d:?}").contains("cannot be mixed"));
    }

    #[test]
    fn source_map_points_at_the_leaf() {
        let src = "SIGNAL domain math { }\nROUTE r {\n  WHEN domain(\"math\")\n  MODEL \"m\"\n}";
        let c = compile(src).unwrap_or_else(|d| panic!("{d:?}"));
        let s = c
            .source_map
            .get("routing.decisions[0].rules.conditions[0].name")
            .unwrap_or_default();
        assert_eq!((s.line, s.col), (3, 15));
        let (p, s2) = c
            .source_map
            .lookup("routing.decisions[0].modelRefs[0].use_reasoning")
            .unwrap_or(("", Span::default()));
        assert_eq!(p, "routing.decisions[0].modelRefs[0]");
        assert_eq!(s2.line, 4);
    }
}
