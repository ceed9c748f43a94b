//! Linear softmax heads over the shared prompt embedding (domain, jailbreak), their training
//! (full-batch gradient descent; used by `examples/train_heads.rs`) and the shipped weights.

use serde::{Deserialize, Serialize};

/// `softmax(W·x + b)` over `labels`. Weights are row-major, one row of `dim` per label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearHead {
    /// The encoder the head was trained on (its `model_id`).
    pub model: String,
    pub labels: Vec<String>,
    pub dim: usize,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    /// How the head was trained (data, split, held-out accuracy), for humans.
    #[serde(default)]
    pub provenance: String,
}

/// Heads shipped with the crate, per encoder: (model, head name, JSON).
const SHIPPED: &[(&str, &str, &str)] = &[
    (
        "usem3",
        "domain",
        include_str!("../heads/usem3-domain.json"),
    ),
    (
        "usem3",
        "jailbreak",
        include_str!("../heads/usem3-jailbreak.json"),
    ),
];

impl LinearHead {
    /// Parses and checks a head.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let h: LinearHead = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if h.labels.is_empty()
            || h.weights.len() != h.labels.len() * h.dim
            || h.bias.len() != h.labels.len()
        {
            return Err(format!(
                "head for {}: {} labels, dim {}, {} weights, {} biases do not fit",
                h.model,
                h.labels.len(),
                h.dim,
                h.weights.len(),
                h.bias.len()
            ));
        }
        Ok(h)
    }

    /// The head `name` shipped for encoder `model`, if any.
    pub fn shipped(model: &str, name: &str) -> Option<Self> {
        let (_, _, text) = SHIPPED.iter().find(|(m, n, _)| *m == model && *n == name)?;
        Self::from_json(text).ok()
    }

    /// Class probabilities for one embedding (uniform if the width does not fit).
    pub fn probabilities(&self, x: &[f32]) -> Vec<f32> {
        let k = self.labels.len();
        if x.len() != self.dim {
            return vec![1.0 / k as f32; k];
        }
        let logits: Vec<f32> = (0..k)
            .map(|c| {
                let row = &self.weights[c * self.dim..(c + 1) * self.dim];
                self.bias[c] + row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>()
            })
            .collect();
        softmax(&logits)
    }

    /// Index of `label`.
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Training settings for [`train`].
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    /// L2 penalty on the weights.
    pub l2: f32,
    /// Weight classes inversely to their frequency (balanced loss).
    pub balanced: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            epochs: 300,
            learning_rate: 2.0,
            l2: 1e-4,
            balanced: true,
        }
    }
}

/// Fits a softmax-regression head by full-batch gradient descent with momentum on cross
/// entropy. Deterministic: same data, same head.
pub fn train(
    model: &str,
    labels: &[String],
    xs: &[Vec<f32>],
    ys: &[usize],
    opts: &TrainOptions,
) -> LinearHead {
    let k = labels.len();
    let dim = xs.first().map_or(0, Vec::len);
    let n = xs.len().max(1) as f32;
    let mut counts = vec![0f32; k];
    for &y in ys {
        counts[y] += 1.0;
    }
    let class_w: Vec<f32> = counts
        .iter()
        .map(|&c| {
            if !opts.balanced || c == 0.0 {
                1.0
            } else {
                n / (k as f32 * c)
            }
        })
        .collect();
    let mut w = vec![0f32; k * dim];
    let mut b = vec![0f32; k];
    let mut vw = vec![0f32; k * dim];
    let mut vb = vec![0f32; k];
    let mut head = LinearHead {
        model: model.to_string(),
        labels: labels.to_vec(),
        dim,
        weights: Vec::new(),
        bias: Vec::new(),
        provenance: String::new(),
    };
    for _ in 0..opts.epochs {
        let mut gw = vec![0f32; k * dim];
        let mut gb = vec![0f32; k];
        head.weights.clone_from(&w);
        head.bias.clone_from(&b);
        for (x, &y) in xs.iter().zip(ys) {
            let p = head.probabilities(x);
            let cw = class_w[y];
            for c in 0..k {
                let g = cw * (p[c] - if c == y { 1.0 } else { 0.0 });
                gb[c] += g;
                let row = &mut gw[c * dim..(c + 1) * dim];
                for (r, v) in row.iter_mut().zip(x) {
                    *r += g * v;
                }
            }
        }
        for i in 0..k * dim {
            let g = gw[i] / n + opts.l2 * w[i];
            vw[i] = 0.9 * vw[i] + g;
            w[i] -= opts.learning_rate * vw[i];
        }
        for c in 0..k {
            vb[c] = 0.9 * vb[c] + gb[c] / n;
            b[c] -= opts.learning_rate * vb[c];
        }
    }
    head.weights = w;
    head.bias = b;
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_separates_two_clusters() {
        let xs = vec![
            vec![1.0, 0.0],
            vec![0.9, 0.1],
            vec![0.0, 1.0],
            vec![0.1, 0.9],
        ];
        let ys = vec![0, 0, 1, 1];
        let labels = vec!["a".to_string(), "b".to_string()];
        let h = train("t", &labels, &xs, &ys, &TrainOptions::default());
        assert!(h.probabilities(&[1.0, 0.0])[0] > 0.9);
        assert!(h.probabilities(&[0.0, 1.0])[1] > 0.9);
        let back = LinearHead::from_json(&serde_json::to_string(&h).expect("json")).expect("ok");
        assert_eq!(back.labels, labels);
    }

    #[test]
    fn malformed_heads_are_rejected_and_width_mismatch_is_uniform() {
        assert!(
            LinearHead::from_json(
                r#"{"model":"m","labels":["a"],"dim":2,"weights":[1],"bias":[0]}"#
            )
            .is_err()
        );
        let h = LinearHead::from_json(
            r#"{"model":"m","labels":["a","b"],"dim":1,"weights":[1,-1],"bias":[0,0]}"#,
        )
        .expect("valid");
        assert_eq!(h.probabilities(&[1.0, 2.0]), vec![0.5, 0.5]);
    }
}
