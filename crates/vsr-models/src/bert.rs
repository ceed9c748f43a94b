//! BERT-family sentence encoders (MiniLM, e5, …) from a local Hugging Face style directory:
//! `config.json`, `model.safetensors`, `tokenizer.json`. Mean pooling over the tokens and
//! L2 normalisation, as sentence-transformers does. Built with the `bert` feature.
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

use crate::encoder::Encoder;
use crate::error::ModelError;

/// Files a BERT model directory must hold.
pub const BERT_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// A BERT-family encoder on candle.
pub struct BertEncoder {
    model: BertModel,
    tokenizer: Tokenizer,
    id: String,
    checksum: String,
    dim: usize,
    max_tokens: usize,
    /// Prepended to every text (e5 models expect `"query: "`).
    prefix: String,
}

impl BertEncoder {
    /// Loads the model in `dir`, naming it `id`. `prefix` is prepended to every input.
    pub fn load(dir: &Path, id: &str, prefix: &str) -> Result<Self, ModelError> {
        for f in BERT_FILES {
            if !dir.join(f).is_file() {
                return Err(ModelError::Missing {
                    path: dir.join(f),
                    hint: "a BERT model directory needs config.json, model.safetensors and tokenizer.json".into(),
                });
            }
        }
        let cpath = dir.join("config.json");
        let text = std::fs::read_to_string(&cpath).map_err(|e| ModelError::io(&cpath, e))?;
        let config: Config =
            serde_json::from_str(&text).map_err(|e| ModelError::format(&cpath, e.to_string()))?;
        let tpath = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tpath).map_err(|e| ModelError::format(&tpath, e.to_string()))?;
        // Some exports pin fixed-length padding; pooling over pads would skew every vector.
        tokenizer.with_padding(None);
        let wpath = dir.join("model.safetensors");
        // SAFETY: the file is memory-mapped read-only and not modified while mapped.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&wpath], DType::F32, &Device::Cpu) }?;
        let model = BertModel::load(vb, &config)?;
        let checksum = crate::catalog::model_checksum(dir, &BERT_FILES)?;
        Ok(BertEncoder {
            model,
            tokenizer,
            id: id.to_string(),
            checksum,
            dim: config.hidden_size,
            max_tokens: config.max_position_embeddings,
            prefix: prefix.to_string(),
        })
    }

    fn embed_one(&self, text: &str) -> Result<Vec<f32>, ModelError> {
        let input = format!("{}{text}", self.prefix);
        let enc = self
            .tokenizer
            .encode(input, true)
            .map_err(|e| ModelError::Format {
                path: "tokenizer.json".into(),
                msg: e.to_string(),
            })?;
        let mut ids = enc.get_ids().to_vec();
        ids.truncate(self.max_tokens);
        let n = ids.len();
        let ids = Tensor::from_vec(ids, (1, n), &self.model.device)?;
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &types, None)?; // (1, n, dim)
        let pooled = (hidden.sum(1)? / n as f64)?;
        let norm = pooled
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        Ok(pooled.broadcast_div(&norm)?.squeeze(0)?.to_vec1::<f32>()?)
    }
}

impl Encoder for BertEncoder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        texts.iter().map(|t| self.embed_one(t)).collect()
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn model_id(&self) -> &str {
        &self.id
    }

    fn checksum(&self) -> &str {
        &self.checksum
    }
}
