//! Opening an encoder by name or path, whatever its family.
use std::path::Path;
use std::sync::Arc;

use crate::catalog;
use crate::encoder::Encoder;
use crate::error::ModelError;
use crate::usem3::{USEM3_FILES, UseM3};

/// Loads the encoder `source` names: an existing directory (a local path always wins), else
/// a catalog id looked up in the models directories.
pub fn load_encoder(source: &str) -> Result<Arc<dyn Encoder>, ModelError> {
    let path = Path::new(source);
    if path.is_dir() {
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(source)
            .to_string();
        return load_dir(path, &id);
    }
    let spec = catalog::spec(source)?;
    let dir = catalog::find_model(spec.id).ok_or_else(|| ModelError::Missing {
        path: catalog::default_install_dir().join(spec.id),
        hint: format!("run `vllm-sr models fetch {}`", spec.id),
    })?;
    load_dir(&dir, spec.id)
}

/// Loads the model in `dir`, recognising its family by the files it holds.
pub fn load_dir(dir: &Path, id: &str) -> Result<Arc<dyn Encoder>, ModelError> {
    if USEM3_FILES.iter().all(|f| dir.join(f).is_file()) {
        return Ok(Arc::new(UseM3::load(dir)?));
    }
    if dir.join("config.json").is_file() && dir.join("model.safetensors").is_file() {
        return load_bert(dir, id);
    }
    Err(ModelError::format(
        dir,
        "not a model directory: expected weights.npz + sp.model (USE) or config.json + \
         model.safetensors + tokenizer.json (BERT family)",
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
        assert!(err.contains("unknown model"), "{err}");
        let dir = std::env::temp_dir();
        let err = load_dir(&dir, "tmp").err().unwrap().to_string();
        assert!(err.contains("not a model directory"), "{err}");
    }
}
