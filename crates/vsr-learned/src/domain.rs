//! `domain` (spec §4.6): a linear head over the shared embedding (raised by the vote of its
//! nearest shipped examples when the head carries vote parameters, [`vsr_models::exemplars`])
//! predicts one of the 14 MMLU-Pro labels (top-1); the label is translated to the configured
//! category (through `mmlu_categories`, or the category's own name) and emitted with its
//! probability when that reaches the threshold (default 0.5).
//!
//! A configured domain whose name is no MMLU-Pro label and that lists no `mmlu_categories` is
//! a *custom* domain: it is scored by the calibrated similarity of the prompt to its
//! description (and name). It replaces the head's answer when its similarity reaches the
//! threshold and exceeds the head's top-1 probability.

use std::sync::Arc;

use vsr_models::{Exemplars, Head, ModelError};
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::embedding::prompt_embedding;
use crate::space::{Bank, Space};

/// The labels of the domain head (MMLU-Pro categories).
pub const MMLU_PRO_LABELS: [&str; 14] = vsr_config::SUPPORTED_DOMAINS;

#[derive(Debug, Clone)]
pub struct DomainRule {
    pub name: String,
    pub description: Option<String>,
    pub mmlu_categories: Vec<String>,
}

pub struct DomainFamily {
    space: Arc<Space>,
    head: Head,
    exemplars: Option<Arc<Exemplars>>,
    threshold: f32,
    names: Vec<String>,
    /// Head label index → slot of the configured category it maps to.
    label_slot: Vec<Option<usize>>,
    /// (slot, description bank) of custom domains.
    custom: Vec<(usize, Bank)>,
}

impl DomainFamily {
    pub fn new(
        space: Arc<Space>,
        head: Head,
        rules: &[DomainRule],
        threshold: f32,
    ) -> Result<Self, ModelError> {
        let names: Vec<String> = rules.iter().map(|r| r.name.clone()).collect();
        let label_slot = head
            .labels
            .iter()
            .map(|label| {
                let mapped = rules.iter().position(|r| {
                    r.mmlu_categories
                        .iter()
                        .any(|c| c.trim().eq_ignore_ascii_case(label))
                });
                mapped.or_else(|| {
                    rules.iter().position(|r| {
                        r.mmlu_categories.is_empty() && r.name.trim().eq_ignore_ascii_case(label)
                    })
                })
            })
            .collect();
        let mut custom = Vec::new();
        for (slot, r) in rules.iter().enumerate() {
            let known = head
                .labels
                .iter()
                .any(|l| l.eq_ignore_ascii_case(r.name.trim()));
            if known || !r.mmlu_categories.is_empty() {
                continue;
            }
            let mut texts = vec![r.name.as_str()];
            if let Some(d) = r.description.as_deref().filter(|d| !d.trim().is_empty()) {
                texts.push(d);
            }
            custom.push((slot, space.bank(&texts)?));
        }
        let exemplars = space.exemplars(&head)?;
        Ok(Self {
            space,
            head,
            exemplars,
            threshold,
            names,
            label_slot,
            custom,
        })
    }

    /// Probability per head label (raised by the examples' vote).
    pub fn probabilities(&self, query: &[f32]) -> Vec<f32> {
        self.head
            .probabilities_with(query, self.exemplars.as_deref())
    }

    /// The top-1 label and probability.
    pub fn classify(&self, query: &[f32]) -> Option<(&str, f32)> {
        let p = self.probabilities(query);
        let (i, &best) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
        Some((self.head.labels[i].as_str(), best))
    }
}

impl SignalFamily for DomainFamily {
    fn family(&self) -> Family {
        Family::Domain
    }

    fn signal_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let query = prompt_embedding(ctx, Family::Domain)?;
        let probs = self.probabilities(query);
        let Some((top, p)) = probs
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            return Ok(());
        };
        let mut winner = self.label_slot[top].map(|slot| (slot, p, self.head.labels[top].clone()));
        for (slot, bank) in &self.custom {
            let sim = bank
                .similarities(self.space.calibration(), query)
                .into_iter()
                .fold(0.0f32, f32::max);
            if sim >= self.threshold && winner.as_ref().is_none_or(|w| sim > w.1) {
                winner = Some((*slot, sim, "custom".into()));
            }
        }
        if let Some((slot, conf, label)) = winner
            && conf >= self.threshold
            && let Some(s) = out.get_mut(slot)
        {
            s.value = f64::from(conf);
            s.evidence.push(label);
            s.set_match(f64::from(conf));
        }
        Ok(())
    }
}
