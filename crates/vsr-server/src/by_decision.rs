//! Per-decision settings of every routing profile (the top-level routing and each recipe),
//! looked up by the routing result's (recipe, decision).

use std::collections::HashMap;

use vsr_config::{Config, Decision};

/// Values built from decisions, keyed by (recipe, decision); the default profile is "".
#[derive(Debug, Clone)]
pub struct ByDecision<T>(HashMap<(String, String), T>);

impl<T> Default for ByDecision<T> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<T> ByDecision<T> {
    /// `of` for every decision of every profile; decisions it returns `None` for are left out.
    pub fn from_config(cfg: &Config, of: impl Fn(&Decision) -> Option<T>) -> Self {
        let profiles = std::iter::once(("", &cfg.routing.decisions)).chain(
            cfg.recipes
                .iter()
                .map(|r| (r.name.as_str(), &r.routing.decisions)),
        );
        let mut out = HashMap::new();
        for (recipe, decisions) in profiles {
            for d in decisions {
                if let Some(v) = of(d) {
                    out.insert((recipe.to_string(), d.name.clone()), v);
                }
            }
        }
        Self(out)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, recipe: Option<&str>, decision: &str) -> Option<&T> {
        if self.0.is_empty() {
            return None;
        }
        let recipe = recipe
            .filter(|r| *r != vsr_config::DEFAULT_RECIPE)
            .unwrap_or("");
        self.0.get(&(recipe.to_string(), decision.to_string()))
    }
}
