//! What the proxy needs from the router, as a small trait: the proxy builds the request's
//! [`RequestView`] (one function, `RequestView::from_messages`) and the classifier answers
//! with the engine's [`RoutingResult`], which then feeds the headers, the metrics, the eval
//! API and the replay record unchanged. [`FallbackClassifier`] sends every auto request to
//! `providers.defaults.default_model`.

use vsr_engine::RoutingResult;
use vsr_signals::RequestView;

use crate::settings::ProxySettings;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClassifyError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("classification failed: {0}")]
    Failed(String),
    /// The classifier's model queue is full: the proxy answers 429 instead of queueing.
    #[error("classifier overloaded: {0}")]
    Overloaded(String),
}

pub trait Classifier: Send + Sync {
    /// Routes one chat request with the profile `recipe` (`None`: the default profile; a name:
    /// that recipe, chosen by an entrypoint model name). Runs on a blocking thread; may be
    /// slow (model inference). An unknown recipe is [`ClassifyError::InvalidInput`].
    fn route(
        &self,
        recipe: Option<&str>,
        request: &RequestView,
    ) -> Result<RoutingResult, ClassifyError>;

    /// Routes one request with every family evaluated (`POST /api/v1/eval`, surface spec
    /// §3.1).
    fn eval(
        &self,
        recipe: Option<&str>,
        request: &RequestView,
    ) -> Result<RoutingResult, ClassifyError>;
}

/// Routes every request to the default model, without a decision. Stands in for the engine.
pub struct FallbackClassifier {
    default_model: String,
}

impl FallbackClassifier {
    pub fn new(settings: &ProxySettings) -> Self {
        let default_model = settings
            .default_model
            .clone()
            .or_else(|| settings.models.keys().next().cloned())
            .unwrap_or_default();
        Self { default_model }
    }

    fn result(&self) -> Result<RoutingResult, ClassifyError> {
        if self.default_model.is_empty() {
            return Err(ClassifyError::Failed("no models configured".into()));
        }
        Ok(RoutingResult::fallback(
            self.default_model.clone(),
            "no classifier configured; default model",
        ))
    }
}

impl Classifier for FallbackClassifier {
    fn route(
        &self,
        _recipe: Option<&str>,
        _request: &RequestView,
    ) -> Result<RoutingResult, ClassifyError> {
        self.result()
    }

    fn eval(
        &self,
        _recipe: Option<&str>,
        _request: &RequestView,
    ) -> Result<RoutingResult, ClassifyError> {
        self.result()
    }
}
