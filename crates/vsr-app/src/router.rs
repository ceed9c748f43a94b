//! Building the router for a config: the one place that decides what happens when a rule
//! needs the encoder and none is loaded.

use vsr_engine::Engine;
use vsr_learned::{BuildError, ModelSet, Router, Routers};

/// What to do when rules need a sentence encoder that is not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingModel {
    /// Refuse the config (the server: a router must not silently stop matching rules).
    Refuse,
    /// Route on the heuristic families only; those rules never match (CLI tools).
    HeuristicsOnly,
}

/// The built routers (one per routing profile) and, when they run without their learned
/// families, why.
pub struct RouterBuild {
    pub router: Routers,
    pub degraded: Option<String>,
}

/// The routers for `config` over `models` (heuristic and learned families): the default
/// profile's and one per named recipe, sharing the encoder and the model catalog.
pub fn build_router(
    config: &vsr_config::Config,
    models: &ModelSet,
    missing: MissingModel,
) -> Result<RouterBuild, BuildError> {
    let mut degraded: Option<String> = None;
    let mut one = |recipe: Option<&str>| -> Result<Router, BuildError> {
        let built = match vsr_learned::build_recipe_router(config, recipe, models) {
            Err(e @ BuildError::ModelRequired { .. })
                if missing == MissingModel::HeuristicsOnly =>
            {
                let why = match recipe {
                    Some(r) => format!("recipe `{r}`: {e}; these signals never match in this run"),
                    None => format!("{e}; these signals never match in this run"),
                };
                tracing::warn!("{why}");
                degraded.get_or_insert(why);
                let scoped = config
                    .profile(recipe)
                    .ok_or_else(|| BuildError::UnknownRecipe(recipe.unwrap_or_default().into()))?;
                let engine = Engine::builder_from_config(&scoped)?
                    .recipe(recipe.map(String::from))
                    .build()?;
                Ok(Router::without_models(engine))
            }
            other => other,
        };
        built.map_err(|e| match recipe {
            Some(r) => BuildError::InRecipe {
                recipe: r.to_string(),
                source: Box::new(e),
            },
            None => e,
        })
    };
    let default = one(None)?;
    let recipes = config
        .named_recipes()
        .map(|r| one(Some(&r.name)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RouterBuild {
        router: Routers::new(default, recipes, config),
        degraded,
    })
}

/// The encoder for a CLI run: the one the config names, else the installed default; none
/// (with a warning) when it cannot be loaded.
pub(crate) fn cli_models(config: &vsr_config::Config) -> ModelSet {
    match ModelSet::for_config(config) {
        Ok(found) => found.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot load the sentence encoder");
            ModelSet::none()
        }
    }
}

impl RouterBuild {
    /// The router for a CLI tool (`eval`, `probes`, `dsl test`): learned families when the
    /// encoder is installed, else heuristics only.
    pub fn for_cli(config: &vsr_config::Config) -> Result<Self, BuildError> {
        build_router(config, &cli_models(config), MissingModel::HeuristicsOnly)
    }
}
