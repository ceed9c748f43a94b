//! `vsr-config`: the canonical v0.3 configuration (`version`, `listeners`, `providers`,
//! `routing`, `global`), its loader and its validator.
//!
//! [`load_str`] / [`load_file`] parse the YAML with positions, map it onto the typed [`Config`]
//! while collecting every problem, then run the cross-reference and range checks of
//! [`validate`]. Every problem is a [`Diagnostic`] with the origin, `line:column` and the YAML
//! path, written `routing.decisions[3].rules.conditions[0].name` (keys joined with `.`, list
//! indices as `[i]`). Errors fail the load ([`ConfigError`]); warnings come back in
//! [`Loaded::warnings`].
//!
//! [`Config::to_yaml`] exports the model back to YAML; loading the export gives an equal
//! `Config`.

mod decode;
pub mod diag;
mod dialect;
mod export;
pub mod external;
pub mod global;
pub mod kb;
pub mod looper;
pub mod migrate;
pub mod model;
pub mod probes;
pub mod secrets;
pub mod units;
mod usage;
pub mod validate;
pub mod vocab;
mod yaml;

use std::path::Path;

pub use decode::SpanIndex;
pub use diag::{ConfigError, Diagnostic, Severity};
pub use kb::{KbManifest, KnowledgeBase};
pub use model::*;
pub use usage::Usage;
pub use yaml::Pos;

/// A successfully loaded config and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
    /// Where each YAML path is in the source (for tools that point at config elements).
    pub spans: SpanIndex,
}

/// Loads and validates a config file. The origin in diagnostics is the path as given.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
    let origin = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        origin: origin.clone(),
        source,
    })?;
    load_str(&src, &origin)
}

/// Loads and validates config text; `origin` names it in diagnostics (usually the file path).
pub fn load_str(src: &str, origin: &str) -> Result<Loaded, ConfigError> {
    let (config, spans, diags) = check_str(src, origin);
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(ConfigError::Invalid { diagnostics: diags });
    }
    Ok(Loaded {
        config: config.unwrap_or_default(),
        warnings: diags,
        spans,
    })
}

/// Parses and validates without failing: the best-effort config (absent when the YAML itself
/// cannot be read), the span index and every diagnostic, errors first in source order, then
/// warnings in source order.
pub fn check_str(src: &str, origin: &str) -> (Option<Config>, SpanIndex, Vec<Diagnostic>) {
    let mut cx = decode::Ctx::new(origin);
    let root = match yaml::parse(src) {
        Ok(Some(root)) => root,
        Ok(None) => {
            cx.error_at(Pos { line: 1, column: 1 }, "", "the file is empty");
            return (None, cx.spans, cx.diags);
        }
        Err(errors) => {
            for e in errors {
                cx.error_at(e.pos, &e.path, e.message);
            }
            return (None, cx.spans, cx.diags);
        }
    };
    let config = decode::config(&mut cx, &root);
    validate::validate(&config, &mut cx);
    let mut diags = cx.diags;
    diags.sort_by_key(|a| (a.severity, a.line, a.column));
    diags.dedup();
    (Some(config), cx.spans, diags)
}

impl Config {
    /// Exports the config as canonical v0.3 YAML. Loading the result yields an equal `Config`.
    pub fn to_yaml(&self) -> String {
        export::to_yaml(self)
    }

    /// The provider model with this name.
    pub fn model(&self, name: &str) -> Option<&ProviderModel> {
        self.providers.models.iter().find(|m| m.name == name)
    }

    /// The routing model card with this name.
    pub fn model_card(&self, name: &str) -> Option<&ModelCard> {
        self.routing.model_cards.iter().find(|m| m.name == name)
    }

    /// `providers.defaults.default_model`.
    pub fn default_model(&self) -> Option<&str> {
        self.providers.defaults.default_model.as_deref()
    }

    pub fn decision(&self, name: &str) -> Option<&Decision> {
        self.routing.decisions.iter().find(|d| d.name == name)
    }

    /// Decisions in declaration order.
    pub fn decisions(&self) -> impl Iterator<Item = &Decision> {
        self.routing.decisions.iter()
    }

    /// Every declared signal as (type, name), see [`Signals::iter`].
    pub fn signals(&self) -> impl Iterator<Item = (SignalType, &str)> {
        self.routing.signals.iter()
    }

    /// The reasoning family of a provider model, resolved through `providers.defaults`.
    pub fn reasoning_family(&self, model: &str) -> Option<&ReasoningFamily> {
        let fam = self.model(model)?.reasoning_family.as_deref()?;
        self.providers.defaults.reasoning_families.get(fam)
    }

    /// The effective `global` settings: the router defaults with this file's overrides merged on
    /// top.
    pub fn effective_global(&self) -> serde_json::Value {
        global::effective(self.global.as_ref())
    }

    /// The routing-relevant `global` knobs with defaults applied.
    pub fn global_settings(&self) -> global::GlobalSettings {
        global::GlobalSettings::from_effective(&self.effective_global())
    }

    /// The recipe an entrypoint claims the request model `model` for (compared trimmed and
    /// case-sensitively); `None` when no entrypoint names it. [`DEFAULT_RECIPE`] means the
    /// default profile.
    pub fn entrypoint_recipe(&self, model: &str) -> Option<&str> {
        let model = model.trim();
        self.entrypoints
            .iter()
            .find(|e| e.model_names.iter().any(|n| n.trim() == model))
            .map(|e| e.recipe.as_str())
    }

    /// The named recipes, routed beside the default profile: every `recipes[]` entry except
    /// one named [`DEFAULT_RECIPE`] (which backs the default profile).
    pub fn named_recipes(&self) -> impl Iterator<Item = &Recipe> {
        self.recipes.iter().filter(|r| r.name != DEFAULT_RECIPE)
    }

    /// The config one routing profile runs on: `None` (or [`DEFAULT_RECIPE`]) → the default
    /// profile, i.e. the top-level `routing`, or `recipes[default]` in the recipes-only
    /// layout; `Some(name)` → that recipe's signals, projections and decisions over the shared
    /// `modelCards`. Its `routing.strategy` is the effective one (the recipe's, else the
    /// top-level one; `global.router.strategy` applies when both are unset) and it has no
    /// `recipes` or `entrypoints`. `None` when no such recipe exists.
    pub fn profile(&self, recipe: Option<&str>) -> Option<Config> {
        let name = recipe.unwrap_or(DEFAULT_RECIPE);
        let found = self.recipes.iter().find(|r| r.name == name);
        let routing = match found {
            Some(r) => Routing {
                model_cards: self.routing.model_cards.clone(),
                strategy: r.routing.strategy.or(self.routing.strategy),
                ..r.routing.clone()
            },
            None if name == DEFAULT_RECIPE => self.routing.clone(),
            None => return None,
        };
        Some(Config {
            version: self.version.clone(),
            listeners: self.listeners.clone(),
            providers: self.providers.clone(),
            routing,
            entrypoints: Vec::new(),
            recipes: Vec::new(),
            global: self.global.clone(),
        })
    }
}

/// The name of the default routing profile (what auto model names route with).
pub const DEFAULT_RECIPE: &str = "default";
