//! A nearest-neighbour vote over a head's own training examples that can raise the head's
//! probabilities. A linear head extrapolates along directions it learned from the whole
//! training set (a question on personal identity that mentions memories reads as psychology);
//! its nearest labelled examples often know better. The vote's parameters are fitted by the
//! trainer on held-out prompts and stored with the head ([`VoteParams`]); the examples ship
//! with the crate ([`shipped_examples`]) and are embedded once per encoder at start.
use serde::{Deserialize, Serialize};

use crate::encoder::dot;
use crate::head::Head;

/// How the vote is read and how much it weighs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VoteParams {
    /// Nearest examples that vote.
    pub k: usize,
    /// Share of the vote in the blended probabilities (the head keeps `1 - weight`).
    pub weight: f32,
    /// Softmax temperature over the voters' cosines: the nearest weighs most.
    pub temperature: f32,
}

impl VoteParams {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.k == 0 {
            return Err("vote.k must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.weight) {
            return Err(format!(
                "vote.weight must lie in [0, 1], is {}",
                self.weight
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(format!(
                "vote.temperature must be positive, is {}",
                self.temperature
            ));
        }
        Ok(())
    }
}

/// Labelled examples shipped for a head (`label<TAB>text` lines), by head name.
pub fn shipped_examples(head_name: &str) -> Option<&'static str> {
    match head_name {
        "domain" => Some(include_str!("../heads/domain_examples.tsv")),
        _ => None,
    }
}

/// `(label, text)` rows of an examples file; blank lines, `#` comments and lines without a
/// tab are skipped.
pub fn parse_examples(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(l, t)| (l.trim(), t.trim()))
        .collect()
}

/// Embedded examples (unit vectors, row-major) and the head label index of each.
#[derive(Debug, Clone, Default)]
pub struct Exemplars {
    dim: usize,
    data: Vec<f32>,
    labels: Vec<usize>,
}

impl Exemplars {
    /// Rows whose vector width is not `dim` are dropped.
    pub fn new(dim: usize, rows: impl IntoIterator<Item = (Vec<f32>, usize)>) -> Self {
        let mut out = Self {
            dim,
            ..Self::default()
        };
        for (v, label) in rows {
            if v.len() == dim {
                out.data.extend_from_slice(&v);
                out.labels.push(label);
            }
        }
        out
    }

    /// The examples of `text` (an examples file) whose label the head has, as
    /// (text, label index) — what to embed for [`Exemplars::new`].
    pub fn texts_for<'t>(head: &Head, text: &'t str) -> Vec<(&'t str, usize)> {
        parse_examples(text)
            .into_iter()
            .filter_map(|(l, t)| head.label_index(l).map(|i| (t, i)))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The vote over `n_labels` labels of the `k` examples nearest to `x` (a distribution;
    /// `None` without examples or for a width that does not fit).
    pub fn vote(&self, x: &[f32], params: &VoteParams, n_labels: usize) -> Option<Vec<f32>> {
        if self.is_empty() || x.len() != self.dim {
            return None;
        }
        let mut near: Vec<(f32, usize)> = self
            .data
            .chunks_exact(self.dim)
            .zip(&self.labels)
            .map(|(row, &label)| (dot(row, x), label))
            .collect();
        let k = params.k.min(near.len());
        near.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        let near = &near[..k];
        let top = near.iter().map(|n| n.0).fold(f32::NEG_INFINITY, f32::max);
        let mut vote = vec![0.0f32; n_labels];
        let mut total = 0.0;
        for &(cos, label) in near {
            let w = ((cos - top) / params.temperature).exp();
            if let Some(v) = vote.get_mut(label) {
                *v += w;
                total += w;
            }
        }
        (total > 0.0).then(|| vote.iter().map(|v| v / total).collect())
    }

    /// `probs` raised by the vote: each label keeps the larger of the head's probability and
    /// the blend `(1 - weight) * head + weight * vote`. The neighbours can make a label
    /// confident (a prompt close to known examples of it), never talk the head out of a
    /// confident reading: a plain blend dilutes the head wherever neighbours disagree, and
    /// sends specialist prompts under the rule threshold to `other`. The result scores each
    /// label and is read by its top-1; it need not sum to 1. Unchanged without a vote.
    pub fn blend(&self, probs: &mut [f32], x: &[f32], params: &VoteParams) {
        if let Some(vote) = self.vote(x, params, probs.len()) {
            for (p, v) in probs.iter_mut().zip(vote) {
                *p = p.max((1.0 - params.weight) * *p + params.weight * v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(a: f32) -> Vec<f32> {
        vec![a.cos(), a.sin()]
    }

    #[test]
    fn the_nearest_examples_vote_and_raise_the_head_never_lower_it() {
        // Label 0 around angle 0, label 1 around angle 1.5.
        let ex = Exemplars::new(
            2,
            [
                (unit(0.0), 0),
                (unit(0.1), 0),
                (unit(1.5), 1),
                (unit(1.4), 1),
            ],
        );
        let params = VoteParams {
            k: 2,
            weight: 0.5,
            temperature: 0.05,
        };
        let vote = ex.vote(&unit(1.45), &params, 2).expect("vote");
        assert!(vote[1] > 0.99, "{vote:?}");
        // The vote raises the label the neighbours agree on, and never lowers the head's.
        let mut probs = vec![0.6, 0.4];
        ex.blend(&mut probs, &unit(1.45), &params);
        assert_eq!(probs[0], 0.6);
        assert!(probs[1] > 0.69 && probs[1] > probs[0], "{probs:?}");
        // A width that does not fit, or no examples: the head's answer stands.
        let mut probs = vec![0.9, 0.1];
        ex.blend(&mut probs, &[1.0, 0.0, 0.0], &params);
        assert_eq!(probs, vec![0.9, 0.1]);
        Exemplars::default().blend(&mut probs, &unit(1.45), &params);
        assert_eq!(probs, vec![0.9, 0.1]);
        // Neighbours that agree with the head make it surer.
        let mut agreeing = vec![0.9, 0.1];
        ex.blend(&mut agreeing, &unit(0.0), &params);
        assert!(agreeing[0] > 0.9 && agreeing[1] == 0.1, "{agreeing:?}");
        // k larger than the examples: all of them vote.
        let all = VoteParams { k: 10, ..params };
        assert!(ex.vote(&unit(0.05), &all, 2).expect("vote")[0] > 0.9);
    }

    #[test]
    fn bad_vote_parameters_are_named() {
        let ok = VoteParams {
            k: 5,
            weight: 0.35,
            temperature: 0.05,
        };
        assert!(ok.validate().is_ok());
        assert!(
            VoteParams { k: 0, ..ok }
                .validate()
                .unwrap_err()
                .contains("k")
        );
        assert!(
            VoteParams { weight: 1.5, ..ok }
                .validate()
                .unwrap_err()
                .contains("weight")
        );
        assert!(
            VoteParams {
                temperature: 0.0,
                ..ok
            }
            .validate()
            .unwrap_err()
            .contains("temperature")
        );
    }

    #[test]
    fn shipped_domain_examples_parse() {
        let rows = parse_examples(shipped_examples("domain").expect("shipped"));
        assert!(rows.len() > 500);
        assert!(rows.iter().all(|(l, t)| !l.is_empty() && !t.is_empty()));
        assert!(shipped_examples("jailbreak").is_none());
    }
}
