//! Decompile: the `routing:` tree → DSL. The inverse of [`crate::compile`]: every key of a
//! signal, projection, model card, plugin configuration and algorithm block is written out, so
//! compile(decompile(x)) == x up to the few shapes listed in docs/compatibility.md.

use std::fmt::Write as _;

use serde_json::{Map, Value as Json};
use thiserror::Error;

use crate::compile::{MODEL_OPTION_KEYS, ON_ERROR_IN_BLOCK, SIGNAL_FAMILIES};
use crate::format::format;
use crate::lexer::{is_ident, quote};

#[derive(Debug, Error, PartialEq)]
pub enum DecompileError {
    #[error("{path}: {message}")]
    Unrepresentable { path: String, message: String },
    #[error("decompiled DSL does not parse (a bug): {0}")]
    Internal(String),
}

fn unrep<T>(path: &str, message: impl Into<String>) -> Result<T, DecompileError> {
    Err(DecompileError::Unrepresentable {
        path: path.to_string(),
        message: message.into(),
    })
}

/// Decompiles a `routing` section (`modelCards`, `signals`, `projections`, `decisions`,
/// `strategy`) to DSL in the formatter's canonical layout.
pub fn decompile(routing: &Json) -> Result<String, DecompileError> {
    let mut out = String::new();
    profile_dsl(routing, "routing", true, &mut out)?;
    finish(&out)
}

/// Decompiles the sections of a config the DSL owns: `routing`, `entrypoints` (ENTRYPOINT blocks)
/// and `recipes` (RECIPE blocks). Other top-level keys (version, listeners, providers, global)
/// have no DSL form and are ignored.
pub fn decompile_config(doc: &Json) -> Result<String, DecompileError> {
    let mut out = String::new();
    if let Some(r) = doc.get("routing") {
        profile_dsl(r, "routing", true, &mut out)?;
    }
    if let Some(eps) = doc.get("entrypoints") {
        let Json::Array(list) = eps else {
            return unrep("entrypoints", "must be a list");
        };
        if !list.is_empty() {
            banner(&mut out, "ENTRYPOINTS");
        }
        for (i, e) in list.iter().enumerate() {
            let path = format!("entrypoints[{i}]");
            let Json::Object(m) = e else {
                return unrep(&path, "must be a mapping");
            };
            for k in m.keys() {
                if !matches!(k.as_str(), "model_names" | "recipe") {
                    return unrep(&format!("{path}.{k}"), "has no DSL form");
                }
            }
            out.push_str("ENTRYPOINT {\n");
            block_fields(m, &[], &path, &mut out)?;
            out.push_str("}\n\n");
        }
    }
    if let Some(recipes) = doc.get("recipes") {
        let Json::Array(list) = recipes else {
            return unrep("recipes", "must be a list");
        };
        for (i, r) in list.iter().enumerate() {
            let path = format!("recipes[{i}]");
            let Json::Object(m) = r else {
                return unrep(&path, "must be a mapping");
            };
            let Some(Json::String(name)) = m.get("name") else {
                return unrep(&format!("{path}.name"), "a string name is required");
            };
            let mut head = format!("RECIPE {}", name_dsl(name));
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("name" | "routing", _) => {}
                    ("description", Json::String(d)) => {
                        head.push_str(&format!(" (description = {})", quote(d)));
                    }
                    _ => return unrep(&format!("{path}.{k}"), "has no DSL form"),
                }
            }
            banner(&mut out, &format!("RECIPE {name}"));
            let _ = writeln!(out, "{head} {{");
            if let Some(routing) = m.get("routing") {
                profile_dsl(routing, &format!("{path}.routing"), false, &mut out)?;
            }
            out.push_str("}\n\n");
        }
    }
    finish(&out)
}

fn finish(out: &str) -> Result<String, DecompileError> {
    format(out).map_err(|d| {
        DecompileError::Internal(
            d.iter()
                .map(|d| format!("{}:{}: {}", d.span.line, d.span.col, d.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// One routing profile at `path`; `cards` says whether `modelCards` may appear (top level only).
fn profile_dsl(
    routing: &Json,
    path: &str,
    cards_allowed: bool,
    out: &mut String,
) -> Result<(), DecompileError> {
    let Json::Object(root) = routing else {
        return unrep(path, "must be a mapping");
    };
    for key in root.keys() {
        let ok = match key.as_str() {
            "signals" | "projections" | "decisions" | "strategy" => true,
            "modelCards" => cards_allowed,
            _ => false,
        };
        if !ok {
            return unrep(&format!("{path}.{key}"), "has no DSL form");
        }
    }
    if let Some(st) = root.get("strategy") {
        let st = match st {
            Json::String(st) if crate::compile::ROUTING_STRATEGIES.contains(&st.as_str()) => st,
            _ => {
                return unrep(
                    &format!("{path}.strategy"),
                    "must be \"priority\" or \"confidence\"",
                );
            }
        };
        banner(out, "ROUTING PROFILE");
        let _ = write!(out, "ROUTING {{\n  strategy: {}\n}}\n\n", quote(st));
    }
    if let Some(signals) = root.get("signals") {
        banner(out, "SIGNALS");
        signals_dsl(signals, &format!("{path}.signals"), out)?;
    }
    if let Some(p) = root.get("projections") {
        banner(out, "PROJECTIONS");
        projections_dsl(p, &format!("{path}.projections"), out)?;
    }
    if let Some(cards) = root.get("modelCards") {
        banner(out, "MODELS");
        let Json::Array(cards) = cards else {
            return unrep(&format!("{path}.modelCards"), "must be a list");
        };
        for (i, c) in cards.iter().enumerate() {
            named_block("MODEL", c, &format!("{path}.modelCards[{i}]"), out)?;
        }
    }
    if let Some(decisions) = root.get("decisions") {
        banner(out, "ROUTES");
        let Json::Array(list) = decisions else {
            return unrep(&format!("{path}.decisions"), "must be a list");
        };
        for (i, d) in list.iter().enumerate() {
            decision_dsl(d, &format!("{path}.decisions[{i}]"), out)?;
        }
    }
    Ok(())
}

/// Decompiles YAML text: a full config (its `routing`, `entrypoints` and `recipes` sections are
/// used; version, listeners, providers and global have no DSL form) or a bare routing fragment.
pub fn decompile_yaml(text: &str) -> Result<String, DecompileError> {
    let doc: Json = serde_yaml::from_str(text).map_err(|e| DecompileError::Unrepresentable {
        path: String::new(),
        message: format!("not valid YAML: {e}"),
    })?;
    if doc.get("routing").is_some() || doc.get("recipes").is_some() {
        decompile_config(&doc)
    } else {
        decompile(&doc)
    }
}

fn banner(out: &mut String, title: &str) {
    let rule = "=".repeat(77);
    let _ = write!(out, "# {rule}\n# {title}\n# {rule}\n\n");
}

fn name_dsl(s: &str) -> String {
    if is_ident(s) { s.to_string() } else { quote(s) }
}

fn key_dsl(s: &str) -> String {
    name_dsl(s)
}

/// A value in DSL syntax; `None` for null (an absent value).
fn value_dsl(v: &Json, path: &str) -> Result<Option<String>, DecompileError> {
    Ok(Some(match v {
        Json::Null => return Ok(None),
        Json::Bool(b) => b.to_string(),
        Json::String(s) => quote(s),
        Json::Number(n) => number_dsl(n, path)?,
        Json::Array(items) => {
            let mut parts = Vec::new();
            for (i, it) in items.iter().enumerate() {
                match value_dsl(it, &format!("{path}[{i}]"))? {
                    Some(s) => parts.push(s),
                    None => {
                        return unrep(&format!("{path}[{i}]"), "a null list item has no DSL form");
                    }
                }
            }
            format!("[{}]", parts.join(", "))
        }
        Json::Object(m) => {
            let parts = fields_inline(m, path)?;
            if parts.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
    }))
}

fn fields_inline(m: &Map<String, Json>, path: &str) -> Result<Vec<String>, DecompileError> {
    let mut parts = Vec::new();
    for (k, v) in m {
        if let Some(s) = value_dsl(v, &format!("{path}.{k}"))? {
            parts.push(format!("{}: {s}", key_dsl(k)));
        }
    }
    Ok(parts)
}

/// Integers as integers; floats always with a fractional part and never in exponent form, so
/// they lex back as floats of the same value.
fn number_dsl(n: &serde_json::Number, path: &str) -> Result<String, DecompileError> {
    if let Some(i) = n.as_i64() {
        return Ok(i.to_string());
    }
    if n.is_u64() {
        return unrep(path, format!("integer {n} is larger than the DSL allows"));
    }
    let Some(f) = n.as_f64() else {
        return unrep(path, "not a number");
    };
    let s = format!("{f}");
    Ok(if s.contains('.') { s } else { format!("{s}.0") })
}

fn block_fields(
    m: &Map<String, Json>,
    skip: &[&str],
    path: &str,
    out: &mut String,
) -> Result<(), DecompileError> {
    let mut any = false;
    for (k, v) in m {
        if skip.contains(&k.as_str()) {
            continue;
        }
        if let Some(s) = value_dsl(v, &format!("{path}.{k}"))? {
            let _ = writeln!(out, "  {}: {s}", key_dsl(k));
            any = true;
        }
    }
    let _ = any;
    Ok(())
}

/// `KEYWORD … name { fields }` for an object with a `name`.
fn named_block(head: &str, v: &Json, path: &str, out: &mut String) -> Result<(), DecompileError> {
    let Json::Object(m) = v else {
        return unrep(path, "must be a mapping");
    };
    let Some(Json::String(name)) = m.get("name") else {
        return unrep(&format!("{path}.name"), "a string name is required");
    };
    let _ = writeln!(out, "{head} {} {{", name_dsl(name));
    block_fields(m, &["name"], path, out)?;
    out.push_str("}\n\n");
    Ok(())
}

fn signals_dsl(v: &Json, base: &str, out: &mut String) -> Result<(), DecompileError> {
    let Json::Object(families) = v else {
        return unrep(base, "must be a mapping");
    };
    for (family, list) in families {
        let path = format!("{base}.{family}");
        let Some((dsl_type, _)) = SIGNAL_FAMILIES.iter().find(|(_, k)| k == family) else {
            return unrep(&path, "unknown signal family");
        };
        let Json::Array(list) = list else {
            return unrep(&path, "must be a list");
        };
        for (i, s) in list.iter().enumerate() {
            named_block(
                &format!("SIGNAL {dsl_type}"),
                s,
                &format!("{path}[{i}]"),
                out,
            )?;
        }
    }
    Ok(())
}

fn projections_dsl(v: &Json, base: &str, out: &mut String) -> Result<(), DecompileError> {
    let Json::Object(kinds) = v else {
        return unrep(base, "must be a mapping");
    };
    for (kind, list) in kinds {
        let path = format!("{base}.{kind}");
        let dsl = match kind.as_str() {
            "partitions" => "partition",
            "scores" => "score",
            "mappings" => "mapping",
            _ => return unrep(&path, "unknown projection kind"),
        };
        let Json::Array(list) = list else {
            return unrep(&path, "must be a list");
        };
        for (i, p) in list.iter().enumerate() {
            named_block(
                &format!("PROJECTION {dsl}"),
                p,
                &format!("{path}[{i}]"),
                out,
            )?;
        }
    }
    Ok(())
}

fn decision_dsl(v: &Json, path: &str, out: &mut String) -> Result<(), DecompileError> {
    let Json::Object(m) = v else {
        return unrep(path, "must be a mapping");
    };
    let Some(Json::String(name)) = m.get("name") else {
        return unrep(&format!("{path}.name"), "a string name is required");
    };
    let mut body_keys = vec![
        "name",
        "priority",
        "tier",
        "rules",
        "modelRefs",
        "algorithm",
        "plugins",
    ];
    // `candidateIterations` and `emits` in the body (FOR / EMIT) when the syntax says exactly
    // what they hold; otherwise they stay route options.
    let ref_models: Vec<&str> = match m.get("modelRefs") {
        Some(Json::Array(refs)) => refs.iter().filter_map(|r| r["model"].as_str()).collect(),
        _ => Vec::new(),
    };
    let fors = m
        .get("candidateIterations")
        .and_then(|v| for_items(v, &ref_models));
    if fors.is_some() {
        body_keys.push("candidateIterations");
    }
    let emits = match m.get("emits") {
        Some(v) => emit_items(v, &format!("{path}.emits"))?,
        None => None,
    };
    if emits.is_some() {
        body_keys.push("emits");
    }
    let mut opts = Vec::new();
    for (k, v) in m {
        if body_keys.contains(&k.as_str()) {
            continue;
        }
        if !is_ident(k) {
            return unrep(
                &format!("{path}.{k}"),
                "a route option name must be an identifier",
            );
        }
        if let Some(s) = value_dsl(v, &format!("{path}.{k}"))? {
            opts.push(format!("{k} = {s}"));
        }
    }
    let _ = write!(out, "ROUTE {}", name_dsl(name));
    if !opts.is_empty() {
        let _ = write!(out, " ({})", opts.join(" "));
    }
    out.push_str(" {\n");
    for key in ["priority", "tier"] {
        match m.get(key) {
            None | Some(Json::Null) => {}
            Some(Json::Number(n)) if n.is_i64() => {
                let _ = writeln!(out, "  {} {n}", key.to_uppercase());
            }
            Some(_) => return unrep(&format!("{path}.{key}"), "must be an integer"),
        }
    }
    if let Some(rules) = m.get("rules") {
        let rp = format!("{path}.rules");
        if let Some(w) = when_dsl(rules, &rp)? {
            let _ = writeln!(out, "  WHEN {w}");
        }
    }
    if let Some(refs) = m.get("modelRefs") {
        let Json::Array(refs) = refs else {
            return unrep(&format!("{path}.modelRefs"), "must be a list");
        };
        let mut parts = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            parts.push(model_ref_dsl(r, &format!("{path}.modelRefs[{i}]"))?);
        }
        if !parts.is_empty() {
            let _ = writeln!(out, "  MODEL {}", parts.join(", "));
        }
    }
    for line in fors.iter().flatten().chain(emits.iter().flatten()) {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(a) = m.get("algorithm") {
        algorithm_dsl(a, &format!("{path}.algorithm"), out)?;
    }
    if let Some(p) = m.get("plugins") {
        let Json::Array(list) = p else {
            return unrep(&format!("{path}.plugins"), "must be a list");
        };
        for (i, p) in list.iter().enumerate() {
            plugin_dsl(p, &format!("{path}.plugins[{i}]"), out)?;
        }
    }
    out.push_str("}\n\n");
    Ok(())
}

/// `candidateIterations` as `FOR` lines, when each is what the syntax compiles to: a variable
/// identifier, source `decision.candidates` or a list of bare models already on the route,
/// outputs `[{type: model, value: <variable>}]`.
fn for_items(v: &Json, ref_models: &[&str]) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    for it in v.as_array()? {
        let o = it.as_object()?;
        let var = o.get("variable")?.as_str().filter(|v| is_ident(v))?;
        if o.keys()
            .any(|k| !matches!(k.as_str(), "variable" | "source" | "models" | "outputs"))
        {
            return None;
        }
        let source = match o.get("source")?.as_str()? {
            "decision.candidates" if o.get("models").is_none() => "decision.candidates".to_string(),
            "models" => {
                let models = o.get("models")?.as_array()?;
                let mut names = Vec::new();
                for mo in models {
                    let mo = mo.as_object()?;
                    let name = mo.get("model")?.as_str()?;
                    if mo.len() != 1 || !ref_models.contains(&name) {
                        return None;
                    }
                    names.push(quote(name));
                }
                format!("[{}]", names.join(", "))
            }
            _ => return None,
        };
        let outputs = o.get("outputs")?.as_array()?;
        let all_var = !outputs.is_empty()
            && outputs.iter().all(|out| {
                out.as_object().is_some_and(|x| {
                    x.len() == 2
                        && x.get("type") == Some(&Json::from("model"))
                        && x.get("value") == Some(&Json::from(var))
                })
            });
        if !all_var {
            return None;
        }
        let vars = vec![var; outputs.len()].join(", ");
        lines.push(format!("FOR {var} IN {source} {{ MODEL {vars} }}"));
    }
    Some(lines)
}

/// `emits` as `EMIT kind { … }` lines, when each is `{kind, <kind>: {fields}}`.
fn emit_items(v: &Json, path: &str) -> Result<Option<Vec<String>>, DecompileError> {
    let Some(list) = v.as_array() else {
        return Ok(None);
    };
    let mut lines = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let Some(o) = e.as_object() else {
            return Ok(None);
        };
        let Some(kind) = o.get("kind").and_then(Json::as_str).filter(|k| is_ident(k)) else {
            return Ok(None);
        };
        let Some(Json::Object(body)) = o.get(kind) else {
            return Ok(None);
        };
        if o.len() != 2 {
            return Ok(None);
        }
        let parts = fields_inline(body, &format!("{path}[{i}].{kind}"))?;
        lines.push(format!("EMIT {kind} {{ {} }}", parts.join(", ")));
    }
    Ok(Some(lines))
}

fn model_ref_dsl(v: &Json, path: &str) -> Result<String, DecompileError> {
    let Json::Object(m) = v else {
        return unrep(path, "must be a mapping");
    };
    let Some(Json::String(model)) = m.get("model") else {
        return unrep(&format!("{path}.model"), "a string model name is required");
    };
    let mut opts = Vec::new();
    for (k, v) in m {
        if k == "model" {
            continue;
        }
        let p = format!("{path}.{k}");
        let dsl_key = match MODEL_OPTION_KEYS.iter().find(|(_, y)| y == k) {
            Some((d, _)) => (*d).to_string(),
            None => {
                // A key spelled like a DSL option would come back under another name.
                if MODEL_OPTION_KEYS.iter().any(|(d, y)| d == k && d != y) || k == "param_size" {
                    return unrep(&p, "this key collides with a DSL model option");
                }
                if !is_ident(k) {
                    return unrep(&p, "an option name must be an identifier");
                }
                k.clone()
            }
        };
        if let Some(s) = value_dsl(v, &p)? {
            opts.push(format!("{dsl_key} = {s}"));
        }
    }
    Ok(if opts.is_empty() {
        quote(model)
    } else {
        format!("{} ({})", quote(model), opts.join(", "))
    })
}

/// The WHEN expression of a rule tree; `None` for match-all (an AND without conditions).
fn when_dsl(rules: &Json, path: &str) -> Result<Option<String>, DecompileError> {
    if let Json::Object(m) = rules
        && m.get("operator").and_then(Json::as_str) == Some("AND")
    {
        let conds = match m.get("conditions") {
            None | Some(Json::Null) => return Ok(None),
            Some(Json::Array(c)) => c,
            Some(_) => return unrep(&format!("{path}.conditions"), "must be a list"),
        };
        if conds.is_empty() {
            return Ok(None);
        }
        let mut parts = Vec::new();
        for (i, c) in conds.iter().enumerate() {
            parts.push(rule_dsl(c, &format!("{path}.conditions[{i}]"), Ctx::And)?);
        }
        return Ok(Some(parts.join(" AND ")));
    }
    rule_dsl(rules, path, Ctx::Top).map(Some)
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    And,
    Or,
    Not,
}

fn rule_dsl(v: &Json, path: &str, ctx: Ctx) -> Result<String, DecompileError> {
    let Json::Object(m) = v else {
        return unrep(path, "a rule must be a mapping");
    };
    if let Some(op) = m.get("operator") {
        let Some(op) = op.as_str() else {
            return unrep(&format!("{path}.operator"), "must be a string");
        };
        let conds: &[Json] = match m.get("conditions") {
            Some(Json::Array(c)) => c,
            None | Some(Json::Null) => &[],
            Some(_) => return unrep(&format!("{path}.conditions"), "must be a list"),
        };
        let kids = |ctx: Ctx| -> Result<Vec<String>, DecompileError> {
            conds
                .iter()
                .enumerate()
                .map(|(i, c)| rule_dsl(c, &format!("{path}.conditions[{i}]"), ctx))
                .collect()
        };
        return match op {
            "NOT" => {
                if conds.len() != 1 {
                    return unrep(path, "NOT needs exactly one condition");
                }
                Ok(format!("NOT {}", kids(Ctx::Not)?.remove(0)))
            }
            "AND" | "OR" => {
                if conds.is_empty() {
                    return unrep(path, format!("an empty {op} inside a rule has no DSL form"));
                }
                if conds.len() == 1 {
                    // AND[x] and OR[x] mean x.
                    return rule_dsl(&conds[0], &format!("{path}.conditions[0]"), ctx);
                }
                let (own, sep) = if op == "AND" {
                    (Ctx::And, " AND ")
                } else {
                    (Ctx::Or, " OR ")
                };
                let text = kids(own)?.join(sep);
                // Parentheses where precedence needs them, and around a nested operator of the
                // same kind (which would otherwise merge into its parent).
                let parens = match ctx {
                    Ctx::Top => false,
                    Ctx::Not => true,
                    Ctx::And => true,
                    Ctx::Or => op == "OR",
                };
                Ok(if parens { format!("({text})") } else { text })
            }
            other => unrep(
                &format!("{path}.operator"),
                format!("unknown operator `{other}`"),
            ),
        };
    }
    let (Some(Json::String(t)), Some(Json::String(n))) = (m.get("type"), m.get("name")) else {
        return unrep(
            path,
            "a rule is either {operator, conditions} or {type, name}",
        );
    };
    if !is_ident(t) {
        return unrep(
            &format!("{path}.type"),
            "a signal type must be an identifier",
        );
    }
    let mut fields = String::new();
    for (k, v) in m {
        match k.as_str() {
            "type" | "name" => {}
            "label" | "predicate" | "on_error" => {
                if let Some(text) = value_dsl(v, &format!("{path}.{k}"))? {
                    fields.push_str(&format!(", {k}: {text}"));
                }
            }
            _ => {
                return unrep(
                    &format!("{path}.{k}"),
                    "a signal reference has only `type`, `name`, `label`, `predicate` and `on_error`",
                );
            }
        }
    }
    Ok(format!("{t}({}{fields})", quote(n)))
}

/// `ALGORITHM type (top-level keys) { block }`. `on_error` is written in the body where compile
/// puts a body `on_error` (inside the block for confidence/ratings/remom, at the top level for the
/// others) and as a header option otherwise.
fn algorithm_dsl(v: &Json, path: &str, out: &mut String) -> Result<(), DecompileError> {
    let Json::Object(m) = v else {
        return unrep(path, "must be a mapping");
    };
    let Some(Json::String(t)) = m.get("type") else {
        return unrep(&format!("{path}.type"), "a string type is required");
    };
    if !is_ident(t) {
        return unrep(&format!("{path}.type"), "must be an identifier");
    }
    let in_block = ON_ERROR_IN_BLOCK.contains(&t.as_str());
    let mut fields: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    let mut has_body = false;
    if let Some(b) = m.get(t.as_str()) {
        let p = format!("{path}.{t}");
        let Json::Object(b) = b else {
            return unrep(&p, "must be a mapping");
        };
        has_body = true;
        for (bk, bv) in b {
            if bk == "on_error" && !in_block {
                return unrep(
                    &format!("{p}.on_error"),
                    "on_error of this algorithm is written at the top level of `algorithm`",
                );
            }
            if let Some(s) = value_dsl(bv, &format!("{p}.{bk}"))? {
                fields.push(format!("{}: {s}", key_dsl(bk)));
            }
        }
    }
    for (k, v) in m {
        if k == "type" || k == t {
            continue;
        }
        let p = format!("{path}.{k}");
        let Some(s) = value_dsl(v, &p)? else { continue };
        if k == "on_error" && !in_block {
            has_body = true;
            fields.push(format!("on_error: {s}"));
        } else if is_ident(k) {
            options.push(format!("{k} = {s}"));
        } else {
            return unrep(&p, "an option name must be an identifier");
        }
    }
    let _ = write!(out, "  ALGORITHM {t}");
    if !options.is_empty() {
        let _ = write!(out, " ({})", options.join(", "));
    }
    if has_body {
        out.push_str(" {\n");
        for f in fields {
            let _ = writeln!(out, "    {f}");
        }
        out.push_str("  }\n");
    } else {
        out.push('\n');
    }
    Ok(())
}

fn plugin_dsl(v: &Json, path: &str, out: &mut String) -> Result<(), DecompileError> {
    let Json::Object(m) = v else {
        return unrep(path, "must be a mapping");
    };
    let Some(Json::String(t)) = m.get("type") else {
        return unrep(&format!("{path}.type"), "a string type is required");
    };
    for k in m.keys() {
        if k != "type" && k != "configuration" {
            return unrep(
                &format!("{path}.{k}"),
                "a plugin has only `type` and `configuration`",
            );
        }
    }
    match m.get("configuration") {
        None | Some(Json::Null) => {
            let _ = writeln!(out, "  PLUGIN {}", name_dsl(t));
        }
        Some(Json::Object(c)) => {
            let _ = writeln!(out, "  PLUGIN {} {{", name_dsl(t));
            let cp = format!("{path}.configuration");
            for (k, v) in c {
                if let Some(s) = value_dsl(v, &format!("{cp}.{k}"))? {
                    let _ = writeln!(out, "    {}: {s}", key_dsl(k));
                }
            }
            out.push_str("  }\n");
        }
        Some(_) => return unrep(&format!("{path}.configuration"), "must be a mapping"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;
    use serde_json::json;

    fn when(rules: Json) -> String {
        let r =
            json!({"decisions": [{"name": "r", "rules": rules, "modelRefs": [{"model": "m"}]}]});
        let dsl = decompile(&r).unwrap_or_else(|e| panic!("{e}"));
        dsl.lines()
            .find_map(|l| l.trim().strip_prefix("WHEN ").map(str::to_string))
            .unwrap_or_default()
    }

    fn leaf(n: &str) -> Json {
        json!({"type": "domain", "name": n})
    }

    #[test]
    fn rendering_of_conditions() {
        assert_eq!(
            when(json!({"operator": "AND", "conditions": [leaf("a"), leaf("b")]})),
            "domain(\"a\") AND domain(\"b\")"
        );
        assert_eq!(
            when(json!({"operator": "OR", "conditions": [leaf("a"), leaf("b")]})),
            "domain(\"a\") OR domain(\"b\")"
        );
        assert_eq!(
            when(json!({"operator": "NOT", "conditions": [leaf("a")]})),
            "NOT domain(\"a\")"
        );
        // NOT over a compound keeps its parentheses (upstream drops them).
        let not_and = json!({"operator": "NOT", "conditions": [
            {"operator": "AND", "conditions": [leaf("a"), leaf("b")]}]});
        assert_eq!(
            when(not_and.clone()),
            "NOT (domain(\"a\") AND domain(\"b\"))"
        );
        let r =
            json!({"decisions": [{"name": "r", "rules": not_and, "modelRefs": [{"model": "m"}]}]});
        let back = compile(&decompile(&r).unwrap_or_default()).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(
            back.routing["decisions"][0]["rules"],
            r["decisions"][0]["rules"]
        );
    }

    #[test]
    fn nested_same_operator_survives() {
        let rules = json!({"operator": "AND", "conditions": [leaf("a"),
            {"operator": "AND", "conditions": [leaf("b"), leaf("c")]}]});
        let r =
            json!({"decisions": [{"name": "r", "rules": rules, "modelRefs": [{"model": "m"}]}]});
        let dsl = decompile(&r).unwrap_or_default();
        let back = compile(&dsl).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(
            back.routing["decisions"][0]["rules"],
            r["decisions"][0]["rules"]
        );
    }

    #[test]
    fn payloads_and_floats_round_trip() {
        let r = json!({
            "modelCards": [{"name": "m", "quality_score": 1.0, "loras": [{"name": "x"}]}],
            "signals": {"structure": [{"name": "s", "feature": {"type": "count",
                "source": {"type": "regex", "pattern": "[?]\\d"}}, "predicate": {"gte": 4}}]},
            "decisions": [{"name": "r", "description": "d \"q\"", "priority": 3, "tier": 1,
                "rules": {"operator": "AND", "conditions": []},
                "modelRefs": [{"model": "m", "use_reasoning": true, "reasoning_effort": "high",
                    "lora_name": "x", "weight": 0.5, "reasoning_description": "r"}],
                "algorithm": {"type": "confidence", "confidence": {"threshold": 0.000001,
                    "hybrid_weights": {"logprob_weight": 0.6}, "on_error": "skip"}},
                "plugins": [{"type": "header_mutation", "configuration": {"add": [{"name": "X-A", "value": "b"}],
                    "delete": ["X-Debug"]}}, {"type": "semantic-cache"},
                    {"type": "rag", "configuration": {}}]}]
        });
        let dsl = decompile(&r).unwrap_or_else(|e| panic!("{e}"));
        let back = compile(&dsl).unwrap_or_else(|d| panic!("{d:?}\n{dsl}"));
        assert_eq!(back.routing, r, "{dsl}");
        assert_eq!(
            back.routing["modelCards"][0]["quality_score"].as_f64(),
            Some(1.0)
        );
        assert!(back.routing["modelCards"][0]["quality_score"].is_f64());
    }

    #[test]
    fn unrepresentable_shapes_are_errors() {
        let r = json!({"strategy": "x"});
        assert!(decompile(&r).is_err());
        let r = json!({"learning": {}});
        assert!(decompile(&r).is_err());
        let r = json!({"strategy": "confidence"});
        let dsl = decompile(&r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(compile(&dsl).map(|c| c.routing).ok(), Some(r));
        let r =
            json!({"decisions": [{"name": "r", "rules": {"operator": "XOR", "conditions": []}}]});
        assert!(decompile(&r).is_err());
    }
}
