//! BERT-family sequence classifiers (Hugging Face `BertForSequenceClassification` exports:
//! `config.json`, `model.safetensors`, `tokenizer.json`): the `[CLS]` state through the pooler
//! (dense + tanh, when the export has one) and the classification layer, softmaxed. This is
//! the runtime of `local` classifier signals (head-delta §9). Built with the `bert` feature;
//! without it [`SequenceClassifier::load`] says so.

use std::path::Path;

use crate::error::ModelError;

#[cfg(feature = "bert")]
pub use imp::SequenceClassifier;

/// Without the `bert` feature no classifier can be loaded (the type has no values).
#[cfg(not(feature = "bert"))]
pub enum SequenceClassifier {}

#[cfg(not(feature = "bert"))]
impl SequenceClassifier {
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        Err(ModelError::InvalidSource {
            spec: dir.display().to_string(),
            reason: "a local sequence classifier needs a build with the `bert` feature \
                     (`cargo build -p vllm-sr --features bert`)"
                .into(),
        })
    }

    pub fn num_labels(&self) -> usize {
        match *self {}
    }

    pub fn scores(&self, _text: &str) -> Result<Vec<f32>, ModelError> {
        match *self {}
    }
}

#[cfg(feature = "bert")]
mod imp {
    use super::*;

    use candle_core::{DType, Device, Module, Tensor};
    use candle_nn::{Linear, VarBuilder, linear};
    use candle_transformers::models::bert::{BertModel, Config};
    use tokenizers::Tokenizer;

    use crate::bert::BERT_FILES;

    /// A loaded classifier.
    pub struct SequenceClassifier {
        model: BertModel,
        pooler: Option<Linear>,
        classifier: Linear,
        tokenizer: Tokenizer,
        num_labels: usize,
        max_tokens: usize,
    }

    /// The classification head's size: `id2label`'s entries, else `num_labels`, else 2.
    fn num_labels(config: &serde_json::Value) -> usize {
        config["id2label"]
            .as_object()
            .map(|m| m.len())
            .filter(|n| *n > 0)
            .or_else(|| config["num_labels"].as_u64().map(|n| n as usize))
            .unwrap_or(2)
    }

    impl SequenceClassifier {
        /// Loads the classifier in `dir`.
        pub fn load(dir: &Path) -> Result<Self, ModelError> {
            for f in BERT_FILES {
                if !dir.join(f).is_file() {
                    return Err(ModelError::Missing {
                        path: dir.join(f),
                        hint: "a sequence classifier directory needs config.json, \
                               model.safetensors and tokenizer.json"
                            .into(),
                    });
                }
            }
            let cpath = dir.join("config.json");
            let text = std::fs::read_to_string(&cpath).map_err(|e| ModelError::io(&cpath, e))?;
            let raw: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| ModelError::format(&cpath, e.to_string()))?;
            let config: Config = serde_json::from_value(raw.clone())
                .map_err(|e| ModelError::format(&cpath, e.to_string()))?;
            let labels = num_labels(&raw);
            let tpath = dir.join("tokenizer.json");
            let mut tokenizer = Tokenizer::from_file(&tpath)
                .map_err(|e| ModelError::format(&tpath, e.to_string()))?;
            tokenizer.with_padding(None);
            let wpath = dir.join("model.safetensors");
            // SAFETY: the file is memory-mapped read-only and not modified while mapped.
            let vb = unsafe {
                VarBuilder::from_mmaped_safetensors(&[&wpath], DType::F32, &Device::Cpu)
            }?;
            let model = BertModel::load(vb.clone(), &config)?;
            let h = config.hidden_size;
            // Exports name the pooler under `bert.` (HF) or at the top; some have none.
            let pooler = ["bert.pooler.dense", "pooler.dense"]
                .iter()
                .find(|p| vb.contains_tensor(&format!("{p}.weight")))
                .map(|p| linear(h, h, vb.pp(p)))
                .transpose()?;
            let classifier = linear(h, labels, vb.pp("classifier"))
                .map_err(|e| ModelError::format(&wpath, format!("no classification layer: {e}")))?;
            Ok(SequenceClassifier {
                model,
                pooler,
                classifier,
                tokenizer,
                num_labels: labels,
                max_tokens: config.max_position_embeddings,
            })
        }

        pub fn num_labels(&self) -> usize {
            self.num_labels
        }

        /// The label probabilities for `text`, in the model's label order.
        pub fn scores(&self, text: &str) -> Result<Vec<f32>, ModelError> {
            let enc = self
                .tokenizer
                .encode(text, true)
                .map_err(|e| ModelError::format("tokenizer.json", e.to_string()))?;
            let mut ids = enc.get_ids().to_vec();
            ids.truncate(self.max_tokens.max(1));
            let n = ids.len();
            let ids = Tensor::from_vec(ids, (1, n), &self.model.device)?;
            let types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &types, None)?; // (1, n, h)
            let mut cls = hidden.narrow(1, 0, 1)?.squeeze(1)?; // (1, h)
            if let Some(p) = &self.pooler {
                cls = p.forward(&cls)?.tanh()?;
            }
            let logits = self.classifier.forward(&cls)?.squeeze(0)?;
            let probs = candle_nn::ops::softmax(&logits, 0)?;
            Ok(probs.to_vec1::<f32>()?)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use candle_nn::VarMap;

        /// A tiny random BERT classifier with its bias set so label 1 always wins.
        fn tiny(dir: &Path) {
            let config = serde_json::json!({
                "vocab_size": 8, "hidden_size": 8, "num_hidden_layers": 1,
                "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu",
                "hidden_dropout_prob": 0.0, "max_position_embeddings": 16,
                "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
                "pad_token_id": 0, "model_type": "bert",
                "id2label": {"0": "safe", "1": "toxic"}
            });
            std::fs::write(dir.join("config.json"), config.to_string()).expect("config");
            let tokenizer = serde_json::json!({
                "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
                "normalizer": {"type": "BertNormalizer", "clean_text": true,
                    "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
                "pre_tokenizer": {"type": "BertPreTokenizer"},
                "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]},
                "decoder": null,
                "model": {"type": "WordPiece", "unk_token": "[UNK]",
                    "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                    "vocab": {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[UNK]": 3,
                        "hello": 4, "world": 5, "bad": 6, "words": 7}}
            });
            std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).expect("tokenizer");
            let cfg: Config = serde_json::from_value(config).expect("bert config");
            let mut map = VarMap::new();
            let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
            BertModel::load(vb.pp("bert"), &cfg).expect("random bert");
            linear(8, 8, vb.pp("bert.pooler.dense")).expect("pooler");
            linear(8, 2, vb.pp("classifier")).expect("classifier");
            map.set_one(
                "classifier.bias",
                Tensor::new(&[-8f32, 8.0], &Device::Cpu).expect("bias"),
            )
            .expect("set bias");
            map.save(dir.join("model.safetensors")).expect("save");
        }

        #[test]
        fn a_hugging_face_classifier_export_scores_its_labels() {
            let dir = std::env::temp_dir().join(format!("vsr-seqcls-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("dir");
            tiny(&dir);
            let c = SequenceClassifier::load(&dir).expect("loads");
            assert_eq!(c.num_labels(), 2);
            for text in ["hello world", "bad words", "unknown tokens here"] {
                let s = c.scores(text).expect("scores");
                assert_eq!(s.len(), 2);
                assert!((s[0] + s[1] - 1.0).abs() < 1e-5, "{s:?}");
                assert!(s[1] > 0.99, "the bias decides: {s:?}");
            }
            std::fs::remove_file(dir.join("tokenizer.json")).expect("rm");
            assert!(matches!(
                SequenceClassifier::load(&dir),
                Err(ModelError::Missing { .. })
            ));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
