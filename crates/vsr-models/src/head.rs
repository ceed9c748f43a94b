//! Classifier heads over a sentence embedding: a linear layer, a temperature, then a softmax
//! (several labels) or a sigmoid (one binary label), and the trainer that fits them.
//!
//! Heads are small JSON files trained by `examples/train_heads.rs` (run through
//! `scripts/train_heads.sh`) and shipped per encoder as `heads/<model_id>-<name>.json`; see
//! docs/models.md for their data and held-out accuracies.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::exemplars::{Exemplars, VoteParams};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub name: String,
    pub kind: HeadKind,
    /// Encoder the head was trained on (its `model_id`; its embeddings are the only valid input).
    pub model: String,
    pub labels: Vec<String>,
    /// One row of `dim` weights per output (per label; one row for logistic).
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
    /// Logits are divided by this before the softmax/sigmoid. Fitted on held-out data by the
    /// trainer so that "probability ≥ threshold" means what it says; never changes the top-1.
    #[serde(default = "unit_temperature")]
    pub temperature: f32,
    /// Training provenance and held-out metrics (free-form, for humans).
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// Optional hidden layer (ReLU) between the embedding and the output rows; the rows then
    /// read its units. Absent: a linear head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Layer>,
    /// Optional nearest-neighbour vote over the head's shipped examples
    /// ([`crate::exemplars`]), fitted by the trainer on held-out prompts. Absent: the head alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vote: Option<VoteParams>,
}

/// A dense layer: one row of input weights and one bias per unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
}

impl Layer {
    /// ReLU of the layer's units for input `x`.
    fn relu(&self, x: &[f32]) -> Vec<f32> {
        self.weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| (dot(w, x) + b).max(0.0))
            .collect()
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn unit_temperature() -> f32 {
    1.0
}

/// A head's answer for one embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Index into `labels` of the most likely label (for logistic: 0 when p ≥ 0.5).
    pub best: usize,
    /// Probability per label (logistic: one value, the positive class).
    pub probs: Vec<f32>,
}

/// Heads shipped with the crate: (encoder model id, head name, JSON).
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
    (
        "e5-small",
        "domain",
        include_str!("../heads/e5-small-domain.json"),
    ),
    (
        "e5-small",
        "jailbreak",
        include_str!("../heads/e5-small-jailbreak.json"),
    ),
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

    /// The head `name` (`domain`, `jailbreak`) shipped for encoder `model`, if any.
    pub fn shipped(model: &str, name: &str) -> Option<Self> {
        let (_, _, text) = SHIPPED.iter().find(|(m, n, _)| *m == model && *n == name)?;
        Self::from_json(text, Path::new(name)).ok()
    }

    /// Input width.
    pub fn dim(&self) -> usize {
        match &self.hidden {
            Some(h) => h.weights.first().map_or(0, Vec::len),
            None => self.rows_width(),
        }
    }

    /// Width the output rows read (the hidden units, or the input).
    fn rows_width(&self) -> usize {
        self.weights.first().map_or(0, Vec::len)
    }

    /// Index of `label`.
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }

    fn validate(&self) -> Result<(), String> {
        let rows = match self.kind {
            HeadKind::Softmax => self.labels.len(),
            HeadKind::Logistic => 1,
        };
        if self.labels.is_empty() || (self.kind == HeadKind::Logistic && self.labels.len() != 1) {
            return Err(format!(
                "head `{}`: a softmax head needs labels, a logistic head exactly one",
                self.name
            ));
        }
        if self.weights.len() != rows || self.bias.len() != rows {
            return Err(format!(
                "head `{}` needs {rows} weight rows and biases, has {} and {}",
                self.name,
                self.weights.len(),
                self.bias.len()
            ));
        }
        let width = self.rows_width();
        if width == 0 || self.weights.iter().any(|r| r.len() != width) {
            return Err(format!("head `{}` has ragged weight rows", self.name));
        }
        if let Some(h) = &self.hidden {
            let dim = self.dim();
            if h.weights.len() != width
                || h.bias.len() != width
                || dim == 0
                || h.weights.iter().any(|r| r.len() != dim)
            {
                return Err(format!(
                    "head `{}`: the hidden layer needs {width} rows of equal width and {width} biases",
                    self.name
                ));
            }
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(format!(
                "head `{}`: temperature must be positive, is {}",
                self.name, self.temperature
            ));
        }
        if let Some(v) = &self.vote {
            v.validate()
                .map_err(|m| format!("head `{}`: {m}", self.name))?;
        }
        Ok(())
    }

    fn logits(&self, x: &[f32]) -> Vec<f32> {
        let units;
        let x = match &self.hidden {
            Some(h) => {
                units = h.relu(x);
                &units[..]
            }
            None => x,
        };
        self.weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| (dot(w, x) + b) / self.temperature)
            .collect()
    }

    /// Probability per label (logistic: one value, the positive class).
    fn probs(&self, x: &[f32]) -> Vec<f32> {
        let logits = self.logits(x);
        match self.kind {
            HeadKind::Logistic => vec![1.0 / (1.0 + (-logits[0]).exp())],
            HeadKind::Softmax => softmax(&logits),
        }
    }

    /// Applies the head to one embedding; a width other than [`Self::dim`] is an error.
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
        let probs = self.probs(embedding);
        let best = match self.kind {
            HeadKind::Logistic => usize::from(probs[0] < 0.5),
            HeadKind::Softmax => probs
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i),
        };
        Ok(Prediction { best, probs })
    }

    /// Probability per label, uniform when the width does not fit (the router only pairs a
    /// head with the encoder it was trained on, so that means "no information").
    pub fn probabilities(&self, embedding: &[f32]) -> Vec<f32> {
        match self.predict(embedding) {
            Ok(p) => p.probs,
            Err(_) => {
                let k = self.weights.len().max(1);
                vec![1.0 / k as f32; k]
            }
        }
    }

    /// Probability per label raised by the nearest-neighbour vote of `exemplars`
    /// ([`Exemplars::blend`]), when the head has vote parameters (else
    /// [`Self::probabilities`]).
    pub fn probabilities_with(&self, embedding: &[f32], exemplars: Option<&Exemplars>) -> Vec<f32> {
        let mut probs = self.probabilities(embedding);
        if let (Some(params), Some(ex)) = (&self.vote, exemplars) {
            ex.blend(&mut probs, embedding, params);
        }
        probs
    }

    /// Probability of `label` (0 when the head has no such label).
    pub fn probability(&self, embedding: &[f32], label: &str) -> f32 {
        self.label_index(label)
            .and_then(|i| self.probabilities(embedding).get(i).copied())
            .unwrap_or(0.0)
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

/// Per-class loss weights: `n / (classes × count)` when `balanced` (1 for an absent class),
/// else 1.
fn class_weights(ys: &[usize], classes: usize, balanced: bool) -> Vec<f32> {
    let mut counts = vec![0f32; classes];
    for &y in ys {
        counts[y] += 1.0;
    }
    let n = ys.len().max(1) as f32;
    counts
        .iter()
        .map(|&c| {
            if !balanced || c == 0.0 {
                1.0
            } else {
                n / (classes as f32 * c)
            }
        })
        .collect()
}

/// Fits a head by full-batch gradient descent with momentum on cross entropy, from zero weights, temperature 1.
/// `ys` are class indices as [`Prediction::best`] gives them: a label index for softmax; for
/// logistic (one label) 0 = the positive label, 1 = not. Deterministic: same data, same head.
pub fn train(
    name: &str,
    model: &str,
    kind: HeadKind,
    labels: &[String],
    xs: &[Vec<f32>],
    ys: &[usize],
    opts: &TrainOptions,
) -> Head {
    let (rows, classes) = match kind {
        HeadKind::Softmax => (labels.len(), labels.len()),
        HeadKind::Logistic => (1, 2),
    };
    let dim = xs.first().map_or(0, Vec::len);
    let n = xs.len().max(1) as f32;
    let class_w = class_weights(ys, classes, opts.balanced);
    let mut head = Head {
        name: name.to_string(),
        kind,
        model: model.to_string(),
        labels: labels.to_vec(),
        weights: vec![vec![0f32; dim]; rows],
        bias: vec![0f32; rows],
        temperature: 1.0,
        metrics: serde_json::Value::Null,
        hidden: None,
        vote: None,
    };
    // Momentum per parameter: a row's weights, then its bias.
    let mut m = vec![vec![0f32; dim + 1]; rows];
    for _ in 0..opts.epochs {
        let mut grad = vec![vec![0f32; dim + 1]; rows];
        for (x, &y) in xs.iter().zip(ys) {
            let p = head.probs(x);
            for (r, g) in grad.iter_mut().enumerate() {
                // d(loss)/d(logit of row r); for logistic the row scores the positive class.
                let target = match kind {
                    HeadKind::Softmax => f32::from(u8::from(r == y)),
                    HeadKind::Logistic => f32::from(u8::from(y == 0)),
                };
                let e = class_w[y] * (p[r] - target);
                for (gj, xj) in g.iter_mut().zip(x) {
                    *gj += e * xj;
                }
                g[dim] += e;
            }
        }
        for r in 0..rows {
            for j in 0..=dim {
                let param = if j < dim {
                    &mut head.weights[r][j]
                } else {
                    &mut head.bias[r]
                };
                let g = grad[r][j] / n + if j < dim { opts.l2 * *param } else { 0.0 };
                m[r][j] = 0.9 * m[r][j] + g;
                *param -= opts.learning_rate * m[r][j];
            }
        }
    }
    head
}

/// Training settings for [`train_mlp`].
#[derive(Debug, Clone)]
pub struct MlpOptions {
    /// Hidden units (ReLU).
    pub hidden: usize,
    pub epochs: usize,
    /// Adam step size.
    pub learning_rate: f32,
    /// L2 penalty on the weights (added to their gradients).
    pub weight_decay: f32,
    /// Examples per update.
    pub batch: usize,
    /// Seeds the initial weights and the shuffling (same seed and data, same head).
    pub seed: u64,
    /// Weight classes inversely to their frequency (balanced loss).
    pub balanced: bool,
}

/// SplitMix64: a small deterministic generator for initialisation and shuffling.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 1.0) / (1u64 << 24) as f32
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// Adam state of one parameter block.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(n: usize) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One step on `params` with gradient `grad` (`decay`: L2 added to it); `t` counts from 1.
    fn step(&mut self, params: &mut [f32], grad: &[f32], lr: f32, decay: f32, t: i32) {
        let (b1, b2) = (0.9f32, 0.999f32);
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            let g = g + decay * *p;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
        }
    }
}

/// Fits a softmax head with one ReLU hidden layer by mini-batch Adam on cross entropy
/// (He-initialised from `opts.seed`, temperature 1). `ys` are label indices. Deterministic:
/// same data and options, same head.
pub fn train_mlp(
    name: &str,
    model: &str,
    labels: &[String],
    xs: &[Vec<f32>],
    ys: &[usize],
    opts: &MlpOptions,
) -> Head {
    let (k, units) = (labels.len(), opts.hidden.max(1));
    let dim = xs.first().map_or(0, Vec::len);
    let n = xs.len();
    let class_w = class_weights(ys, k, opts.balanced);
    let mut rng = Rng(opts.seed);
    let scale1 = (2.0 / dim.max(1) as f32).sqrt();
    let scale2 = (1.0 / units as f32).sqrt();
    // Row-major blocks: w1 is units × dim, w2 is k × units.
    let mut w1: Vec<f32> = (0..units * dim).map(|_| rng.normal() * scale1).collect();
    let mut b1 = vec![0f32; units];
    let mut w2: Vec<f32> = (0..k * units).map(|_| rng.normal() * scale2).collect();
    let mut b2 = vec![0f32; k];
    let (mut a_w1, mut a_b1) = (Adam::new(w1.len()), Adam::new(units));
    let (mut a_w2, mut a_b2) = (Adam::new(w2.len()), Adam::new(k));
    let mut order: Vec<usize> = (0..n).collect();
    let mut t = 0i32;
    let (mut h, mut g, mut gh) = (vec![0f32; units], vec![0f32; k], vec![0f32; units]);
    for _ in 0..opts.epochs {
        for i in (1..n).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for batch in order.chunks(opts.batch.max(1)) {
            let (mut g_w1, mut g_b1) = (vec![0f32; w1.len()], vec![0f32; units]);
            let (mut g_w2, mut g_b2) = (vec![0f32; w2.len()], vec![0f32; k]);
            let bn = batch.len() as f32;
            for &i in batch {
                let (x, y) = (&xs[i], ys[i]);
                for (u, hu) in h.iter_mut().enumerate() {
                    *hu = (dot(&w1[u * dim..(u + 1) * dim], x) + b1[u]).max(0.0);
                }
                let logits: Vec<f32> = (0..k)
                    .map(|r| dot(&w2[r * units..(r + 1) * units], &h) + b2[r])
                    .collect();
                let p = softmax(&logits);
                for r in 0..k {
                    g[r] = class_w[y] * (p[r] - f32::from(u8::from(r == y))) / bn;
                    g_b2[r] += g[r];
                    for (gw, hu) in g_w2[r * units..(r + 1) * units].iter_mut().zip(&h) {
                        *gw += g[r] * hu;
                    }
                }
                for (u, ghu) in gh.iter_mut().enumerate() {
                    *ghu = if h[u] > 0.0 {
                        (0..k).map(|r| g[r] * w2[r * units + u]).sum()
                    } else {
                        0.0
                    };
                }
                for (u, &ghu) in gh.iter().enumerate() {
                    if ghu != 0.0 {
                        g_b1[u] += ghu;
                        for (gw, xv) in g_w1[u * dim..(u + 1) * dim].iter_mut().zip(x) {
                            *gw += ghu * xv;
                        }
                    }
                }
            }
            t += 1;
            let (lr, wd) = (opts.learning_rate, opts.weight_decay);
            a_w1.step(&mut w1, &g_w1, lr, wd, t);
            a_b1.step(&mut b1, &g_b1, lr, 0.0, t);
            a_w2.step(&mut w2, &g_w2, lr, wd, t);
            a_b2.step(&mut b2, &g_b2, lr, 0.0, t);
        }
    }
    Head {
        name: name.to_string(),
        kind: HeadKind::Softmax,
        model: model.to_string(),
        labels: labels.to_vec(),
        weights: w2.chunks(units).map(<[f32]>::to_vec).collect(),
        bias: b2,
        temperature: 1.0,
        metrics: serde_json::Value::Null,
        hidden: Some(Layer {
            weights: w1.chunks(dim.max(1)).map(<[f32]>::to_vec).collect(),
            bias: b1,
        }),
        vote: None,
    }
}

/// The temperature (0.25 to 3.25, step 0.05) minimising the mean log-loss of `head` on a
/// labelled held-out set; set it with `head.temperature = t`.
pub fn fit_temperature(head: &Head, xs: &[Vec<f32>], ys: &[usize]) -> f32 {
    let nll = |t: f32| -> f32 {
        let scaled = Head {
            temperature: t,
            ..head.clone()
        };
        xs.iter()
            .zip(ys)
            .map(|(x, &y)| {
                let p = scaled.probs(x);
                let py = match scaled.kind {
                    HeadKind::Softmax => p[y],
                    HeadKind::Logistic if y == 0 => p[0],
                    HeadKind::Logistic => 1.0 - p[0],
                };
                -py.max(1e-9).ln()
            })
            .sum::<f32>()
            / xs.len().max(1) as f32
    };
    (0..=60)
        .map(|i| 0.25 + i as f32 * 0.05)
        .map(|t| (t, nll(t)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(1.0, |(t, _)| t)
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
            temperature: 1.0,
            metrics: serde_json::Value::Null,
            hidden: None,
            vote: None,
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
        assert_eq!(h.probabilities(&[1.0]), vec![0.5, 0.5]);
        assert!((h.probability(&[0.2, 0.9], "b") - p.probs[1]).abs() < 1e-6);
        assert_eq!(h.probability(&[0.2, 0.9], "zzz"), 0.0);
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
        assert!(h.probability(&[3.0], "jailbreak") > 0.99);
    }

    #[test]
    fn temperature_softens_without_changing_the_winner() {
        let mut h = head(
            HeadKind::Softmax,
            &["a", "b"],
            vec![vec![2.0], vec![-2.0]],
            vec![0.0, 0.0],
        );
        let sharp = h.predict(&[1.0]).unwrap();
        h.temperature = 4.0;
        let soft = h.predict(&[1.0]).unwrap();
        assert_eq!(sharp.best, soft.best);
        assert!(soft.probs[0] < sharp.probs[0] && soft.probs[0] > 0.5);
    }

    #[test]
    fn malformed_heads_are_rejected() {
        for bad in [
            r#"{"name":"x","kind":"softmax","model":"m","labels":["a","b"],"weights":[[1.0]],"bias":[0.0]}"#,
            r#"{"name":"x","kind":"softmax","model":"m","labels":["a"],"weights":[[1.0]],"bias":[0.0],"temperature":0}"#,
            r#"{"name":"x","kind":"logistic","model":"m","labels":[],"weights":[[1.0]],"bias":[0.0]}"#,
            r#"{"name":"x","kind":"softmax","model":"m","labels":[],"weights":[],"bias":[]}"#,
        ] {
            assert!(Head::from_json(bad, Path::new("x.json")).is_err(), "{bad}");
        }
    }

    #[test]
    fn training_separates_two_clusters_and_round_trips() {
        let xs = vec![
            vec![1.0, 0.0],
            vec![0.9, 0.1],
            vec![0.0, 1.0],
            vec![0.1, 0.9],
        ];
        let ys = vec![0, 0, 1, 1];
        let labels = vec!["a".to_string(), "b".to_string()];
        let mut h = train(
            "t",
            "toy",
            HeadKind::Softmax,
            &labels,
            &xs,
            &ys,
            &TrainOptions::default(),
        );
        assert!(h.probability(&[1.0, 0.0], "a") > 0.9);
        assert!(h.probability(&[0.0, 1.0], "b") > 0.9);
        h.temperature = fit_temperature(&h, &xs, &ys);
        assert!(h.temperature > 0.0);
        let back =
            Head::from_json(&serde_json::to_string(&h).unwrap(), Path::new("t.json")).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn logistic_training_finds_the_positive_class() {
        let xs = vec![
            vec![1.0, 0.2],
            vec![0.8, 0.0],
            vec![-1.0, 0.1],
            vec![-0.7, 0.3],
        ];
        let ys = vec![0, 0, 1, 1]; // 0 = positive (labels[0])
        let opts = TrainOptions::default();
        let labels = vec!["jailbreak".to_string()];
        let h = train("j", "toy", HeadKind::Logistic, &labels, &xs, &ys, &opts);
        assert!(h.probability(&[1.0, 0.0], "jailbreak") > 0.9);
        assert!(h.probability(&[-1.0, 0.0], "jailbreak") < 0.1);
        assert_eq!(h.predict(&[0.9, 0.1]).unwrap().best, 0);
        // Temperature fitting uses the same class convention.
        let t = fit_temperature(&h, &xs, &ys);
        assert!(
            t <= 1.0,
            "a separable set wants sharper probabilities, got {t}"
        );
    }

    /// XOR: no linear head separates it; one hidden layer does.
    fn xor() -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for (a, b) in [(1.0, 1.0), (-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0)] {
            for j in 0..8 {
                let d = j as f32 * 0.03;
                xs.push(vec![a + d, b - d]);
                ys.push(usize::from(a * b < 0.0));
            }
        }
        (xs, ys)
    }

    fn hits(h: &Head, xs: &[Vec<f32>], ys: &[usize]) -> usize {
        xs.iter()
            .zip(ys)
            .filter(|(x, y)| h.predict(x).unwrap().best == **y)
            .count()
    }

    #[test]
    fn hidden_layer_learns_what_a_linear_head_cannot() {
        let (xs, ys) = xor();
        let labels = vec!["same".to_string(), "differ".to_string()];
        let opts = TrainOptions::default();
        let linear = train("t", "toy", HeadKind::Softmax, &labels, &xs, &ys, &opts);
        assert!(hits(&linear, &xs, &ys) < xs.len(), "XOR is not linear");
        let mlp = MlpOptions {
            hidden: 8,
            epochs: 300,
            learning_rate: 0.05,
            weight_decay: 0.0,
            batch: 8,
            seed: 7,
            balanced: true,
        };
        let h = train_mlp("t", "toy", &labels, &xs, &ys, &mlp);
        assert_eq!(hits(&h, &xs, &ys), xs.len());
        assert_eq!(h.dim(), 2);
        // Deterministic, and the JSON form round-trips with its hidden layer.
        assert_eq!(train_mlp("t", "toy", &labels, &xs, &ys, &mlp), h);
        let back =
            Head::from_json(&serde_json::to_string(&h).unwrap(), Path::new("t.json")).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.predict(&[1.0, -1.0]).unwrap().best, 1);
    }

    #[test]
    fn malformed_hidden_layers_are_rejected() {
        let base = r#""name":"x","kind":"softmax","model":"m","labels":["a","b"],"weights":[[1.0,0.0],[0.0,1.0]],"bias":[0.0,0.0]"#;
        let ok = format!(
            r#"{{{base},"hidden":{{"weights":[[1.0,2.0,3.0],[0.5,0.5,0.5]],"bias":[0.0,0.0]}}}}"#
        );
        let h = Head::from_json(&ok, Path::new("x.json")).unwrap();
        assert_eq!(h.dim(), 3);
        assert!(
            h.predict(&[1.0, 0.0]).is_err(),
            "input width is the hidden layer's"
        );
        for hidden in [
            r#"{"weights":[[1.0,2.0,3.0]],"bias":[0.0]}"#,
            r#"{"weights":[[1.0,2.0,3.0],[0.5,0.5]],"bias":[0.0,0.0]}"#,
            r#"{"weights":[[1.0,2.0,3.0],[0.5,0.5,0.5]],"bias":[0.0]}"#,
            r#"{"weights":[[],[]],"bias":[0.0,0.0]}"#,
        ] {
            let bad = format!(r#"{{{base},"hidden":{hidden}}}"#);
            assert!(Head::from_json(&bad, Path::new("x.json")).is_err(), "{bad}");
        }
    }

    #[test]
    fn shipped_heads_parse_and_fit_their_encoder() {
        for (model, name, text) in SHIPPED {
            let h = Head::from_json(text, Path::new(name)).unwrap();
            assert_eq!(&h.model, model);
            assert_eq!(&h.name, name);
            assert!(Head::shipped(model, name).is_some());
        }
        assert!(Head::shipped("usem3", "nonexistent").is_none());
        assert!(Head::shipped("other-encoder", "domain").is_none());
    }
}
