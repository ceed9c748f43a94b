//! `config migrate`: rewrite a config written for the March 2026 schema (canonical v0.3 as the
//! AMD playbook ships it) so that the August 2026 schema accepts it with the same meaning
//! wherever the two can say the same thing, and report every change.
//!
//! The August schema keeps `version: v0.3` and mostly adds keys, so most March files need no
//! edit. What August renames or rejects is rewritten here:
//! - decision plugin aliases `semantic-cache`, `semantic_cache`, `response-cache` →
//!   `response_cache`; `global.stores.semantic_cache` → `global.stores.response_cache`;
//! - `algorithm.type` must be lower case;
//! - the per-decision learning algorithms (`elo`, `rl_driven`, `gmtrouter`, `bandit`,
//!   `personalization`, `session_aware`) and their blocks are gone (they moved to
//!   `global.router.learning`): the block is removed, so the decision selects statically;
//! - `global.router.model_selection.{elo, session_aware, model_switch_gate, lookup_tables}` and
//!   a `method` naming a removed algorithm are rejected: removed.
//!
//! What cannot be rewritten without changing behaviour is reported for review instead: a
//! decision with no rules or an empty AND never matched in March and matches every request
//! (confidence 0) in August; duplicate plugin types after alias normalisation are rejected.
//!
//! The rewrite works on the YAML tree, so comments and formatting are not kept (the report says
//! so); key order is.

use serde_yaml::{Mapping, Value};

/// What one change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A key or value renamed to its August name; meaning unchanged.
    Renamed,
    /// A value rewritten to the form August accepts; meaning unchanged.
    Rewritten,
    /// A key August rejects, removed; the report says what replaces it.
    Removed,
    /// Left as it is, but August reads it differently: a person should look.
    Review,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Renamed => "renamed",
            ChangeKind::Rewritten => "rewritten",
            ChangeKind::Removed => "removed",
            ChangeKind::Review => "review",
        }
    }
}

/// One entry of the migration report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// The YAML path in the input, as diagnostics write it (`routing.decisions[3].algorithm`).
    pub path: String,
    pub kind: ChangeKind,
    pub message: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<9} {}: {}",
            self.kind.as_str(),
            self.path,
            self.message
        )
    }
}

/// The migrated config and what changed.
#[derive(Debug, Clone)]
pub struct Migration {
    /// The August-schema YAML.
    pub yaml: String,
    /// Every change and review note, in document order.
    pub changes: Vec<Change>,
}

impl Migration {
    /// Whether the file needed any edit (review notes alone leave it unchanged).
    pub fn edited(&self) -> bool {
        self.changes.iter().any(|c| c.kind != ChangeKind::Review)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{origin}:{line}:{column}: not YAML: {message}")]
    Yaml {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{origin}: not a canonical v0.3 config (no `routing` or `global` section); migrate reads the March 2026 v0.3 layout"
    )]
    NotCanonical { origin: String },
    #[error("{origin}: {path}: {message}")]
    Conflict {
        origin: String,
        path: String,
        message: String,
    },
    #[error("{origin}: cannot write the migrated YAML: {message}")]
    Emit { origin: String, message: String },
}

/// Plugin type names August normalises to `response_cache`.
const CACHE_PLUGIN_ALIASES: &[&str] = &["semantic-cache", "semantic_cache", "response-cache"];

/// Decision algorithms August removed, with where their job went.
const REMOVED_ALGORITHMS: &[(&str, &str)] = &[
    ("elo", "global.router.learning.adaptation"),
    ("rl_driven", "global.router.learning.adaptation"),
    ("gmtrouter", "global.router.learning.adaptation"),
    ("bandit", "global.router.learning.adaptation"),
    ("personalization", "global.router.learning.adaptation"),
    ("session_aware", "global.router.learning.protection"),
];

/// `global.router.model_selection` blocks August rejects.
const REMOVED_SELECTION_KEYS: &[&str] =
    &["elo", "session_aware", "model_switch_gate", "lookup_tables"];

/// Migrates March-schema config text; `origin` names it in errors.
pub fn migrate_str(src: &str, origin: &str) -> Result<Migration, MigrateError> {
    let mut root: Value = serde_yaml::from_str(src).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        MigrateError::Yaml {
            origin: origin.to_string(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    let Some(top) = root.as_mapping_mut() else {
        return Err(MigrateError::NotCanonical {
            origin: origin.to_string(),
        });
    };
    if top.get("routing").is_none() && top.get("global").is_none() {
        return Err(MigrateError::NotCanonical {
            origin: origin.to_string(),
        });
    }
    let mut m = Migrator {
        origin,
        changes: Vec::new(),
    };
    if let Some(routing) = top.get_mut("routing").and_then(Value::as_mapping_mut) {
        m.profile(routing, "routing")?;
    }
    if let Some(recipes) = top.get_mut("recipes").and_then(Value::as_sequence_mut) {
        for (i, r) in recipes.iter_mut().enumerate() {
            if let Some(routing) = r.get_mut("routing").and_then(Value::as_mapping_mut) {
                m.profile(routing, &format!("recipes[{i}].routing"))?;
            }
        }
    }
    if let Some(global) = top.get_mut("global").and_then(Value::as_mapping_mut) {
        m.global(global)?;
    }
    let yaml = serde_yaml::to_string(&root).map_err(|e| MigrateError::Emit {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    Ok(Migration {
        yaml,
        changes: m.changes,
    })
}

struct Migrator<'a> {
    origin: &'a str,
    changes: Vec<Change>,
}

impl Migrator<'_> {
    fn note(&mut self, path: String, kind: ChangeKind, message: impl Into<String>) {
        self.changes.push(Change {
            path,
            kind,
            message: message.into(),
        });
    }

    fn profile(&mut self, routing: &mut Mapping, path: &str) -> Result<(), MigrateError> {
        let Some(decisions) = routing
            .get_mut("decisions")
            .and_then(Value::as_sequence_mut)
        else {
            return Ok(());
        };
        for (i, d) in decisions.iter_mut().enumerate() {
            if let Some(d) = d.as_mapping_mut() {
                self.decision(d, &format!("{path}.decisions[{i}]"));
            }
        }
        Ok(())
    }

    fn decision(&mut self, d: &mut Mapping, path: &str) {
        let name = d
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        match d.get("rules") {
            None | Some(Value::Null) => self.note(
                format!("{path}.rules"),
                ChangeKind::Review,
                format!(
                    "decision `{name}` has no rules: it never matched in March; in August it matches every request with confidence 0 (a fallback)"
                ),
            ),
            Some(r) if is_empty_and(r) => self.note(
                format!("{path}.rules"),
                ChangeKind::Review,
                format!(
                    "decision `{name}` has an empty AND: it never matched in March; in August it matches every request with confidence 0"
                ),
            ),
            _ => {}
        }
        if let Some(plugins) = d.get_mut("plugins").and_then(Value::as_sequence_mut) {
            let mut seen: Vec<String> = Vec::new();
            for (j, p) in plugins.iter_mut().enumerate() {
                let ppath = format!("{path}.plugins[{j}].type");
                let Some(ty) = p.get_mut("type") else {
                    continue;
                };
                if let Some(old) = ty.as_str().map(str::to_string) {
                    if CACHE_PLUGIN_ALIASES.contains(&old.as_str()) {
                        *ty = Value::from("response_cache");
                        self.note(
                            ppath.clone(),
                            ChangeKind::Renamed,
                            format!("plugin type `{old}` → `response_cache`"),
                        );
                    }
                    let now = ty.as_str().unwrap_or_default().to_string();
                    if seen.contains(&now) {
                        self.note(
                            ppath,
                            ChangeKind::Review,
                            format!(
                                "decision `{name}` has two `{now}` plugins; August rejects duplicate plugin types: keep one"
                            ),
                        );
                    }
                    seen.push(now);
                }
            }
        }
        self.algorithm(d, path, &name);
    }

    fn algorithm(&mut self, d: &mut Mapping, path: &str, name: &str) {
        let apath = format!("{path}.algorithm");
        let Some(alg) = d.get_mut("algorithm").and_then(Value::as_mapping_mut) else {
            return;
        };
        let ty = alg.get("type").and_then(Value::as_str).map(str::to_string);
        if let Some(ty) = &ty {
            let lower = ty.to_ascii_lowercase();
            if let Some((_, home)) = REMOVED_ALGORITHMS.iter().find(|(a, _)| *a == lower) {
                d.remove("algorithm");
                self.note(
                    apath,
                    ChangeKind::Removed,
                    format!(
                        "algorithm `{lower}` on decision `{name}` was removed in August (its job moved to `{home}`, off by default); the decision now selects statically among its modelRefs"
                    ),
                );
                return;
            }
            if lower != *ty {
                alg.insert(Value::from("type"), Value::from(lower.clone()));
                self.note(
                    format!("{apath}.type"),
                    ChangeKind::Rewritten,
                    format!("algorithm type `{ty}` → `{lower}` (August requires lower case)"),
                );
            }
        }
        // Blocks of removed algorithms inside another algorithm (e.g. `elo:` beside `type: hybrid`).
        for (removed, home) in REMOVED_ALGORITHMS {
            if alg.remove(*removed).is_some() {
                self.note(
                    format!("{apath}.{removed}"),
                    ChangeKind::Removed,
                    format!("the `{removed}` block is rejected in August (moved to `{home}`)"),
                );
            }
        }
    }

    fn global(&mut self, global: &mut Mapping) -> Result<(), MigrateError> {
        if let Some(stores) = global.get_mut("stores").and_then(Value::as_mapping_mut)
            && stores.contains_key("semantic_cache")
        {
            if stores.contains_key("response_cache") {
                return Err(MigrateError::Conflict {
                    origin: self.origin.to_string(),
                    path: "global.stores".into(),
                    message: "both `semantic_cache` and `response_cache` are set; keep one (August reads `response_cache`)".into(),
                });
            }
            rename_key(stores, "semantic_cache", "response_cache");
            self.note(
                "global.stores.semantic_cache".into(),
                ChangeKind::Renamed,
                "`global.stores.semantic_cache` → `global.stores.response_cache`",
            );
        }
        let Some(sel) = global
            .get_mut("router")
            .and_then(Value::as_mapping_mut)
            .and_then(|r| r.get_mut("model_selection"))
            .and_then(Value::as_mapping_mut)
        else {
            return Ok(());
        };
        let base = "global.router.model_selection";
        for key in REMOVED_SELECTION_KEYS {
            if sel.remove(*key).is_some() {
                self.note(
                    format!("{base}.{key}"),
                    ChangeKind::Removed,
                    format!(
                        "`{key}` is rejected in August (session and rating state moved to `global.router.learning`)"
                    ),
                );
            }
        }
        let method = sel
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(method) = method
            && REMOVED_ALGORITHMS
                .iter()
                .any(|(a, _)| a.eq_ignore_ascii_case(&method))
        {
            sel.remove("method");
            self.note(
                format!("{base}.method"),
                ChangeKind::Removed,
                format!(
                    "method `{method}` was removed in August; the default selection method applies"
                ),
            );
        }
        Ok(())
    }
}

/// `{operator: AND, conditions: []}` (or an empty mapping): a rule tree with nothing in it.
fn is_empty_and(rules: &Value) -> bool {
    let Some(m) = rules.as_mapping() else {
        return false;
    };
    let has_leaf = m.contains_key("type") || m.contains_key("name");
    let empty_conditions = match m.get("conditions") {
        None | Some(Value::Null) => true,
        Some(Value::Sequence(s)) => s.is_empty(),
        Some(_) => false,
    };
    let op_and = match m.get("operator") {
        None => true,
        Some(v) => v.as_str().is_some_and(|o| o.eq_ignore_ascii_case("and")),
    };
    !has_leaf && empty_conditions && op_and
}

/// Renames a key in place, keeping its position.
fn rename_key(m: &mut Mapping, from: &str, to: &str) {
    let entries: Vec<(Value, Value)> = std::mem::take(m).into_iter().collect();
    for (k, v) in entries {
        if k.as_str() == Some(from) {
            m.insert(Value::from(to), v);
        } else {
            m.insert(k, v);
        }
    }
}

/// Keys and values of `src` that the August schema rejects or renames: what [`migrate_str`]
/// rewrites. Empty for a file that needs no edit (used by the tests and `config migrate
/// --check`).
pub fn august_violations(src: &str) -> Result<Vec<Change>, MigrateError> {
    Ok(migrate_str(src, "-")?
        .changes
        .into_iter()
        .filter(|c| c.kind != ChangeKind::Review)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARCH: &str = r#"version: v0.3
routing:
  decisions:
    - name: a
      rules: {operator: AND, conditions: [{type: keyword, name: k}]}
      modelRefs: [{model: m}]
      algorithm: {type: ELO, elo: {k_factor: 32}}
      plugins:
        - {type: semantic-cache, configuration: {enabled: true}}
    - name: b
      rules: {operator: AND, conditions: []}
      algorithm: {type: Static}
      modelRefs: [{model: m}]
    - name: c
      rules: {operator: OR, conditions: [{type: keyword, name: k}]}
      algorithm: {type: hybrid, elo: {k_factor: 1}}
      modelRefs: [{model: m}]
      plugins:
        - {type: response_cache}
        - {type: semantic_cache}
global:
  stores:
    semantic_cache: {enabled: false}
  router:
    model_selection: {method: elo, elo: {}, lookup_tables: {}, enabled: true}
"#;

    #[test]
    fn march_constructs_are_rewritten_and_reported() {
        let m = migrate_str(MARCH, "t.yaml").unwrap();
        let v: Value = serde_yaml::from_str(&m.yaml).unwrap();
        let d = &v["routing"]["decisions"];
        assert!(d[0].get("algorithm").is_none(), "{}", m.yaml);
        assert_eq!(d[0]["plugins"][0]["type"], Value::from("response_cache"));
        assert_eq!(d[1]["algorithm"]["type"], Value::from("static"));
        assert_eq!(d[2]["algorithm"]["type"], Value::from("hybrid"));
        assert!(d[2]["algorithm"].get("elo").is_none());
        assert!(v["global"]["stores"].get("semantic_cache").is_none());
        assert_eq!(
            v["global"]["stores"]["response_cache"]["enabled"],
            Value::from(false)
        );
        let sel = &v["global"]["router"]["model_selection"];
        assert!(sel.get("method").is_none() && sel.get("elo").is_none());
        assert_eq!(sel["enabled"], Value::from(true));
        let reviews: Vec<&str> = m
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Review)
            .map(|c| c.path.as_str())
            .collect();
        assert_eq!(
            reviews,
            [
                "routing.decisions[1].rules",
                "routing.decisions[2].plugins[1].type"
            ]
        );
        // A second pass finds nothing left to change.
        assert!(august_violations(&m.yaml).unwrap().is_empty());
    }

    #[test]
    fn bad_input_is_a_precise_error() {
        let e = migrate_str("routing: [\n  a: b", "x.yaml").unwrap_err();
        assert!(e.to_string().starts_with("x.yaml:"), "{e}");
        let e = migrate_str("default_model: a\n", "x.yaml").unwrap_err();
        assert!(matches!(e, MigrateError::NotCanonical { .. }), "{e}");
        let both = "global:\n  stores:\n    semantic_cache: {}\n    response_cache: {}\n";
        let e = migrate_str(both, "x.yaml").unwrap_err();
        assert!(e.to_string().contains("global.stores"), "{e}");
    }
}
