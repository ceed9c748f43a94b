//! `embedding`: rules of candidate sentences, scored by calibrated similarity to the prompt
//! (spec §4.2): aggregate per rule (`max`/`any` floored at 0, or `mean`), keep the hard
//! matches (score ≥ the rule's threshold), else — with soft matching — the rules at or above
//! `min_score_threshold`; sort by score (ties by name) and emit the first `top_k`.

use std::sync::Arc;

use vsr_models::ModelError;
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::space::{Bank, Space};

/// How a rule's candidate similarities become one score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// The best candidate, floored at 0 (`max`, `any`, and unknown methods).
    Max,
    /// The mean over candidates.
    Mean,
}

impl Aggregation {
    /// `any` scores as `max` (the threshold then decides); unset is `max`.
    pub fn from_config(method: Option<vsr_config::AggregationMethod>) -> Self {
        match method {
            Some(vsr_config::AggregationMethod::Mean) => Aggregation::Mean,
            Some(vsr_config::AggregationMethod::Max | vsr_config::AggregationMethod::Any)
            | None => Aggregation::Max,
        }
    }

    pub fn apply(self, sims: &[f32]) -> f32 {
        match self {
            Aggregation::Max => sims.iter().copied().fold(0.0, f32::max),
            Aggregation::Mean if sims.is_empty() => 0.0,
            Aggregation::Mean => sims.iter().sum::<f32>() / sims.len() as f32,
        }
    }
}

/// One configured rule.
#[derive(Debug, Clone)]
pub struct EmbeddingRule {
    pub name: String,
    pub threshold: f32,
    pub aggregation: Aggregation,
    pub candidates: Vec<String>,
}

/// Selection knobs from `global.model_catalog.embeddings.semantic.embedding_config`.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    /// Rules emitted at most (0 = all).
    pub top_k: usize,
    pub soft_matching: bool,
    pub min_score_threshold: f32,
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            top_k: 1,
            soft_matching: true,
            min_score_threshold: 0.5,
        }
    }
}

pub struct EmbeddingFamily {
    space: Arc<Space>,
    rules: Vec<(EmbeddingRule, Bank)>,
    selection: Selection,
}

impl EmbeddingFamily {
    pub fn new(
        space: Arc<Space>,
        rules: Vec<EmbeddingRule>,
        selection: Selection,
    ) -> Result<Self, ModelError> {
        let rules = rules
            .into_iter()
            .map(|r| {
                let texts: Vec<&str> = r.candidates.iter().map(String::as_str).collect();
                let bank = space.bank(&texts)?;
                Ok((r, bank))
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Self {
            space,
            rules,
            selection,
        })
    }

    /// Every rule's aggregated calibrated score, in declaration order (`None` for a rule
    /// without candidates).
    pub fn scores(&self, query: &[f32]) -> Vec<Option<f32>> {
        self.rules
            .iter()
            .map(|(r, bank)| {
                (!bank.is_empty()).then(|| {
                    r.aggregation
                        .apply(&bank.similarities(self.space.calibration(), query))
                })
            })
            .collect()
    }

    /// Which rules are emitted for these scores, as (rule index, score), best first.
    pub fn select(&self, scores: &[Option<f32>]) -> Vec<(usize, f32)> {
        let scored = || {
            scores
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|s| (i, s)))
        };
        let mut kept: Vec<(usize, f32)> = scored()
            .filter(|&(i, s)| s >= self.rules[i].0.threshold)
            .collect();
        if kept.is_empty() && self.selection.soft_matching {
            kept = scored()
                .filter(|&(_, s)| s >= self.selection.min_score_threshold)
                .collect();
        }
        kept.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.rules[a.0].0.name.cmp(&self.rules[b.0].0.name))
        });
        if self.selection.top_k > 0 {
            kept.truncate(self.selection.top_k);
        }
        kept
    }
}

impl SignalFamily for EmbeddingFamily {
    fn family(&self) -> Family {
        Family::Embedding
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|(r, _)| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let query = prompt_embedding(ctx, Family::Embedding)?;
        let scores = self.scores(query);
        for (slot, score) in out.iter_mut().zip(&scores) {
            slot.value = f64::from(score.unwrap_or(0.0));
        }
        for (i, score) in self.select(&scores) {
            if let Some(slot) = out.get_mut(i) {
                slot.set_match(f64::from(score));
            }
        }
        Ok(())
    }
}

/// The request's prompt embedding, or the error a family reports without one.
pub(crate) fn prompt_embedding<'c>(
    ctx: &'c RequestContext<'_>,
    family: Family,
) -> Result<&'c [f32], SignalError> {
    if ctx.text().trim().is_empty() {
        return Err(SignalError::new(family, "empty text"));
    }
    ctx.embedding()
        .ok_or_else(|| SignalError::new(family, "no prompt embedding (encoder unavailable)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_floors_max_at_zero() {
        assert_eq!(Aggregation::Max.apply(&[-0.3, -0.1]), 0.0);
        assert_eq!(Aggregation::Max.apply(&[0.2, 0.7]), 0.7);
        assert!((Aggregation::Mean.apply(&[0.2, 0.6]) - 0.4).abs() < 1e-6);
        use vsr_config::AggregationMethod as A;
        assert_eq!(Aggregation::from_config(Some(A::Any)), Aggregation::Max);
        assert_eq!(Aggregation::from_config(None), Aggregation::Max);
        assert_eq!(Aggregation::from_config(Some(A::Mean)), Aggregation::Mean);
    }
}
