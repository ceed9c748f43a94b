//! Which upstream schema a config is written for. A config that uses any key the March-2026
//! schema does not have (recipes, entrypoints, `routing.strategy`, a HEAD signal family, a
//! decision without rules, `global.model_catalog.kbs`, `global.router.learning`) is an
//! August-2026 ("HEAD") config, and gets HEAD's runtime behaviour where the two differ
//! (docs/compatibility.md lists them); any other config keeps the March behaviour.

use crate::model::{Config, Routing, SignalType};

fn profile_uses_head(r: &Routing) -> bool {
    let s = &r.signals;
    r.strategy.is_some()
        || [
            SignalType::Reask,
            SignalType::Kb,
            SignalType::Conversation,
            SignalType::Event,
            SignalType::Metadata,
            SignalType::Classifier,
        ]
        .into_iter()
        .any(|t| !s.names(t).is_empty())
        || s.language.iter().any(|l| l.threshold.is_some())
        || s.embeddings.iter().any(|e| e.query_modality.is_some())
        || r.decisions
            .iter()
            .any(|d| d.fallback || d.adaptations.is_some())
        || r.projections
            .scores
            .iter()
            .flat_map(|s| &s.inputs)
            .any(|i| i.kind == SignalType::KbMetric || i.kind == SignalType::Projection)
}

impl Config {
    /// Whether this config uses the August-2026 upstream schema (see the module docs).
    pub fn uses_head_schema(&self) -> bool {
        let global = self.global.as_ref();
        !self.recipes.is_empty()
            || !self.entrypoints.is_empty()
            || profile_uses_head(&self.routing)
            || self.recipes.iter().any(|r| profile_uses_head(&r.routing))
            || global
                .and_then(|g| g.model_catalog.as_ref())
                .is_some_and(|m| m.get("kbs").is_some())
            || global
                .and_then(|g| g.router.as_ref())
                .is_some_and(|r| r.get("learning").is_some())
    }
}
