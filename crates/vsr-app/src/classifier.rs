//! The full router behind the proxy's [`Classifier`]: heuristic and learned families, with the
//! prompt embedding computed through the encoder's bounded queue ([`EncoderHandle`]) — a full
//! queue answers 429 instead of piling up.

use std::sync::Arc;

use vsr_engine::{EvalMode, RoutingResult};
use vsr_learned::{BuildError, Router, Routers};
use vsr_models::{EncoderHandle, ModelError};
use vsr_server::{Classifier, ClassifyError};
use vsr_signals::RequestView;

use crate::models::{ENCODER_KNOB, Models};
use crate::router::{MissingModel, build_router};

pub struct LearnedClassifier {
    router: Routers,
    handle: Option<EncoderHandle>,
}

impl LearnedClassifier {
    /// Builds the router for `cfg`; fails (naming the rules and the model) when a rule needs
    /// an encoder that is not loaded, and when `cfg` names another encoder than the one this
    /// process loaded (switching encoders needs a restart).
    pub fn new(cfg: &vsr_config::Config, models: &Models) -> Result<Self, String> {
        let wanted = cfg.global_settings().embedding_model;
        if wanted != models.spec {
            let show = |s: &Option<String>| {
                s.as_deref()
                    .map_or_else(|| "(built-in default)".to_string(), |s| format!("`{s}`"))
            };
            return Err(format!(
                "{ENCODER_KNOB} changed from {} to {}: the encoder is loaded once per process; \
                 restart vllm-sr serve to switch it",
                show(&models.spec),
                show(&wanted)
            ));
        }
        let built = build_router(cfg, &models.set, MissingModel::Refuse).map_err(|e| {
            let prefix = match &e {
                BuildError::InRecipe { recipe, .. } => format!("recipe `{recipe}`: "),
                _ => String::new(),
            };
            match e.root() {
                BuildError::ModelRequired { rules, .. } if models.spec.is_some() => format!(
                    "{prefix}these rules need the sentence encoder `{}` ({ENCODER_KNOB}), which \
                     could not be loaded ({}): {}",
                    models.spec.as_deref().unwrap_or_default(),
                    models.load_error.as_deref().unwrap_or("unknown error"),
                    rules.join(", ")
                ),
                _ => e.to_string(),
            }
        })?;
        Ok(Self {
            router: built.router,
            handle: models.handle.clone(),
        })
    }

    /// The routers of every profile (the default one and one per named recipe).
    pub fn routers(&self) -> &Routers {
        &self.router
    }

    /// The default profile's router.
    pub fn router(&self) -> &Router {
        self.router.default_router()
    }

    fn profile(&self, recipe: Option<&str>) -> Result<&Router, ClassifyError> {
        self.router.get(recipe).ok_or_else(|| {
            ClassifyError::InvalidInput(format!("unknown recipe `{}`", recipe.unwrap_or_default()))
        })
    }

    /// The prompt embedding, once, through the bounded queue; only when a family that `mode`
    /// evaluates reads it.
    fn embedding(
        &self,
        router: &Router,
        view: &RequestView,
        mode: EvalMode,
    ) -> Result<Option<Arc<[f32]>>, ClassifyError> {
        if view.text.trim().is_empty() || !router.needs_embedding(mode) {
            return Ok(None);
        }
        let Some(handle) = &self.handle else {
            return Ok(None);
        };
        let embedded =
            tracing::debug_span!("embed").in_scope(|| handle.embed_blocking(&[view.text.as_ref()]));
        match embedded {
            Ok(mut v) => Ok(v.pop().map(Arc::from)),
            Err(e @ ModelError::Overloaded { .. }) => Err(ClassifyError::Overloaded(e.to_string())),
            Err(e) => {
                // The learned families then match nothing; heuristics still route.
                tracing::warn!(error = %e, "prompt embedding failed; learned signals off for this request");
                Ok(None)
            }
        }
    }

    fn route_view(
        &self,
        recipe: Option<&str>,
        view: &RequestView,
        mode: EvalMode,
    ) -> Result<RoutingResult, ClassifyError> {
        let router = self.profile(recipe)?;
        let embedding = self.embedding(router, view, mode)?;
        Ok(router.route_with_embedding(view, embedding, mode))
    }
}

impl Classifier for LearnedClassifier {
    fn route(
        &self,
        recipe: Option<&str>,
        view: &RequestView,
    ) -> Result<RoutingResult, ClassifyError> {
        self.route_view(recipe, view, EvalMode::Routing)
    }

    fn eval(
        &self,
        recipe: Option<&str>,
        view: &RequestView,
    ) -> Result<RoutingResult, ClassifyError> {
        self.route_view(recipe, view, EvalMode::All)
    }
}
