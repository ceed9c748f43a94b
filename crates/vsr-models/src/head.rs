//! Classifier heads over a sentence embedding: a linear layer followed by a softmax
//! (several labels) or a sigmoid (one binary label).
//!
//! Heads are small JSON files trained by `examples/train_heads.rs` and shipped under
//! `crates/vsr-models/heads/` (see docs/models.md for data and accuracies).
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// How scores are turned into probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// Mutually exclusive labels: softmax over one row per label.
    Softmax,
    /// One binary label (`labels[0]` = the positive class): sigmoid of one row.
    Logistic,
}

/// A trained linear head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Head {
    pub name: String,
    pub kind: HeadKind,
    /// Encoder the head was trained on (its embeddings are the only valid input).
    pub model: String,
    pub labels: Vec<String>,
    /// One row of `dim` weights per output (per label; one row for logistic).
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
    /// Training provenance and held-out metrics (free-form, for humans).
    #[serde(default)]
    pub metrics: serde_json::Value,
}

/// A head's answer for one embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Index into `labels` of the most likely label (for logistic: 0 when p ≥ 0.5).
    pub best: usize,
    /// Probability per label (logistic: one value, the positive class).
    pub probs: Vec<f32>,
}

const SHIPPED: &[(&str, &str)] = &[
    ("domain", include_str!("../heads/domain.json")),
    ("jailbreak", include_str!("../heads/jailbreak.json")),
];

impl Head {
    /// Parses and checks a head.
    pub fn from_json(text: &str, origin: &Path) -> Result<Self, ModelError> {
        let h: Head =
            serde_json::from_str(text).map_err(|e| ModelError::format(origin, e.to_string()))?;
        h.validate().map_err(|m| ModelError::format(origin, m))?;
        Ok(h)
    }

    /// Reads a head file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// A head shipped with the crate (`domain`, `jailbreak`), if it exists and was
    /// trained (an untrained placeholder has no weights).
    pub fn shipped(name: &str) -> Option<Self> {
        let (_, text) = SHIPPED.iter().find(|(n, _)| *n == name)?;
        let h = Self::from_json(text, Path::new(name)).ok()?;
        (!h.weights.is_empty()).then_some(h)
    }

    /// Input width.
    pub fn dim(&self) -> usize {
        self.weights.first().map_or(0, Vec::len)
    }

    fn validate(&self) -> Result<(), String> {
        let rows = match self.kind {
            HeadKind::Softmax => self.labels.len(),
            HeadKind::Logistic => 1,
        };
        if self.weights.is_empty() {
            return Ok(()); // placeholder before training
        }
        if self.weights.len() != rows || self.bias.len() != rows {
            return Err(format!(
                "head `{}` needs {rows} weight rows and biases, has {} and {}",
                self.name,
                self.weights.len(),
                self.bias.len()
            ));
        }
        let dim = self.dim();
        if dim == 0 || self.weights.iter().any(|r| r.len() != dim) {
            return Err(format!("head `{}` has ragged weight rows", self.name));
        }
        Ok(())
    }

    /// Applies the head to one embedding.
    pub fn predict(&self, embedding: &[f32]) -> Result<Prediction, ModelError> {
        if embedding.len() != self.dim() {
            return Err(ModelError::format(
                Path::new(&self.name),
                format!(
                    "embedding has {} values, head expects {}",
                    embedding.len(),
                    self.dim()
                ),
            ));
        }
        let logits: Vec<f32> = self
            .weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| w.iter().zip(embedding).map(|(a, x)| a * x).sum::<f32>() + b)
            .collect();
        Ok(match self.kind {
            HeadKind::Logistic => {
                let p = 1.0 / (1.0 + (-logits[0]).exp());
                Prediction {
                    best: usize::from(p < 0.5),
                    probs: vec![p],
                }
            }
            HeadKind::Softmax => {
                let probs = softmax(&logits);
                let best = probs
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i);
                Prediction { best, probs }
            }
        })
    }
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(kind: HeadKind, labels: &[&str], weights: Vec<Vec<f32>>, bias: Vec<f32>) -> Head {
        Head {
            name: "t".into(),
            kind,
            model: "toy".into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            weights,
            bias,
            metrics: serde_json::Value::Null,
        }
    }

    #[test]
    fn softmax_head_picks_the_highest_logit() {
        let h = head(
            HeadKind::Softmax,
            &["a", "b"],
            vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            vec![0.0, 0.0],
        );
        let p = h.predict(&[0.2, 0.9]).unwrap();
        assert_eq!(p.best, 1);
        assert!((p.probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(h.predict(&[1.0]).is_err(), "wrong width is an error");
    }

    #[test]
    fn logistic_head_gives_the_positive_probability() {
        let h = head(
            HeadKind::Logistic,
            &["jailbreak"],
            vec![vec![2.0]],
            vec![-1.0],
        );
        let p = h.predict(&[0.5]).unwrap();
        assert!((p.probs[0] - 0.5).abs() < 1e-6);
        assert!(h.predict(&[3.0]).unwrap().probs[0] > 0.99);
    }

    #[test]
    fn malformed_heads_are_rejected() {
        let bad = r#"{"name":"x","kind":"softmax","model":"m","labels":["a","b"],"weights":[[1.0]],"bias":[0.0]}"#;
        assert!(Head::from_json(bad, Path::new("x.json")).is_err());
    }

    #[test]
    fn shipped_heads_parse() {
        for (name, text) in SHIPPED {
            Head::from_json(text, Path::new(name)).unwrap();
        }
    }
}
