//! Validation glue: merge the compiled routing into a base config, run the config loader's
//! validator on the result and map each of its findings back to the DSL through the source map.

use serde_json::{Map, Value as Json, json};

use crate::compile::{Compiled, compile};
use crate::diag::Diagnostic;
use crate::span::Span;

/// The routing keys the DSL owns. A base config's values for these are replaced (or dropped when
/// the DSL has none); any other key under the base's `routing` is kept.
pub const DSL_ROUTING_KEYS: [&str; 5] = [
    "modelCards",
    "signals",
    "projections",
    "decisions",
    "strategy",
];

/// The top-level keys the DSL owns besides `routing` (ENTRYPOINT and RECIPE blocks); a base
/// config's values are replaced, or dropped when the DSL declares none.
pub const DSL_TOP_KEYS: [&str; 2] = ["entrypoints", "recipes"];

/// Where a merged config came from, for diagnostics outside the routing section.
const MERGED_ORIGIN: &str = "merged config";

/// A full config built from DSL source.
#[derive(Debug, Clone)]
pub struct Built {
    /// The merged config as YAML.
    pub yaml: String,
    pub compiled: Compiled,
    /// Warnings of the DSL compiler and of the config validator.
    pub warnings: Vec<Diagnostic>,
}

/// Compiles `src`, merges the routing into `base` (YAML text of a full config) or, without one,
/// into [`default_base`], and validates the result. Fails with every error, mapped to DSL spans.
pub fn build(src: &str, base: Option<&str>) -> Result<Built, Vec<Diagnostic>> {
    let compiled = compile(src)?;
    let base = match base {
        Some(text) => parse_base(text)?,
        None => default_base_for(&compiled),
    };
    let merged = merge_compiled(base, &compiled);
    let yaml = serde_yaml::to_string(&merged).unwrap_or_default();
    let (_, _, found) = vsr_config::check_str(&yaml, MERGED_ORIGIN);
    let mut diags = compiled.warnings.clone();
    diags.extend(found.iter().map(|d| map_back(d, &compiled)));
    diags.sort_by_key(|d| (d.severity, d.span.line == 0, d.span.start));
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    Ok(Built {
        yaml,
        compiled,
        warnings: diags,
    })
}

/// Every diagnostic for `src` (errors and warnings): parse, compile and config validation.
pub fn check(src: &str, base: Option<&str>) -> Vec<Diagnostic> {
    match build(src, base) {
        Ok(b) => b.warnings,
        Err(d) => d,
    }
}

fn parse_base(text: &str) -> Result<Json, Vec<Diagnostic>> {
    let bad = |msg: String| vec![Diagnostic::error(Span::default(), msg)];
    let v: Json = serde_yaml::from_str(text).map_err(|e| bad(format!("base config: {e}")))?;
    if !v.is_object() {
        return Err(bad("base config: the document must be a mapping".into()));
    }
    Ok(v)
}

/// The base used when none is given: version, one listener, and a provider entry per model (cards
/// and referenced models) pointing at a local vLLM (`127.0.0.1:8000`), the first being the
/// default model.
pub fn default_base(routing: &Json) -> Json {
    default_base_with(routing, &[])
}

/// [`default_base`] for a compiled program: models referenced by recipe routes count too.
pub fn default_base_for(c: &Compiled) -> Json {
    let recipe_routings: Vec<&Json> = c.recipes.iter().filter_map(|r| r.get("routing")).collect();
    default_base_with(&c.routing, &recipe_routings)
}

fn default_base_with(routing: &Json, recipes: &[&Json]) -> Json {
    // Every model the routing names: the cards, then models only referenced by decisions.
    let mut names: Vec<&str> = Vec::new();
    let cards = routing.get("modelCards").and_then(Json::as_array);
    for c in cards.into_iter().flatten() {
        if let Some(n) = c.get("name").and_then(Json::as_str) {
            names.push(n);
        }
    }
    let decisions = std::iter::once(routing)
        .chain(recipes.iter().copied())
        .filter_map(|r| r.get("decisions").and_then(Json::as_array));
    for d in decisions.flatten() {
        let refs = d.get("modelRefs").and_then(Json::as_array);
        for r in refs.into_iter().flatten() {
            if let Some(n) = r.get("model").and_then(Json::as_str)
                && !names.contains(&n)
            {
                names.push(n);
            }
        }
    }
    let models: Vec<Json> = names
        .iter()
        .map(|n| {
            json!({
                "name": n,
                "provider_model_id": n,
                "backend_refs": [{"name": "primary", "endpoint": "127.0.0.1:8000", "protocol": "http"}],
            })
        })
        .collect();
    let mut providers = Map::new();
    if let Some(first) = names.first() {
        providers.insert("defaults".into(), json!({"default_model": first}));
    }
    providers.insert("models".into(), Json::Array(models));
    json!({
        "version": "v0.3",
        "listeners": [{"name": "http-8899", "address": "0.0.0.0", "port": 8899, "timeout": "300s"}],
        "providers": Json::Object(providers),
    })
}

/// Puts the compiled routing into `base`, replacing the keys the DSL owns.
pub fn merge(mut base: Json, routing: &Json) -> Json {
    let Json::Object(root) = &mut base else {
        return base;
    };
    let mut merged = match root.shift_remove("routing") {
        Some(Json::Object(m)) => m,
        _ => Map::new(),
    };
    for k in DSL_ROUTING_KEYS {
        merged.shift_remove(k);
    }
    if let Json::Object(r) = routing {
        for (k, v) in r {
            merged.insert(k.clone(), v.clone());
        }
    }
    root.insert("routing".into(), Json::Object(merged));
    base
}

/// Puts every section of a compiled program into `base`: the routing keys as [`merge`] does, and
/// `entrypoints` / `recipes` (replaced, or removed when the program has none), keeping the
/// canonical top-level order (version, listeners, providers, routing, entrypoints, recipes, …).
pub fn merge_compiled(base: Json, c: &Compiled) -> Json {
    let mut base = merge(base, &c.routing);
    let Json::Object(root) = &mut base else {
        return base;
    };
    for k in DSL_TOP_KEYS {
        root.shift_remove(k);
    }
    let mut out = Map::new();
    for (k, v) in std::mem::take(root) {
        let is_routing = k == "routing";
        out.insert(k, v);
        if is_routing {
            if !c.entrypoints.is_empty() {
                out.insert("entrypoints".into(), Json::Array(c.entrypoints.clone()));
            }
            if !c.recipes.is_empty() {
                out.insert("recipes".into(), Json::Array(c.recipes.clone()));
            }
        }
    }
    Json::Object(out)
}

/// A config diagnostic as a DSL diagnostic: at the DSL span of its path (or the nearest ancestor
/// the DSL wrote); paths outside the routing section keep no position.
fn map_back(d: &vsr_config::Diagnostic, compiled: &Compiled) -> Diagnostic {
    let span = compiled
        .source_map
        .lookup(&d.path)
        .map(|(_, s)| s)
        .unwrap_or_default();
    let message = if span.line == 0 && !d.path.is_empty() {
        format!("{} (config path {})", d.message, d.path)
    } else {
        d.message.clone()
    };
    let mut out = match d.severity {
        vsr_config::Severity::Error => Diagnostic::error(span, message),
        vsr_config::Severity::Warning => Diagnostic::warning(span, message),
    };
    if !d.path.is_empty() {
        out.path = Some(d.path.clone());
    }
    out
}
