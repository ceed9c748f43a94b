//! `preference`, contrastive mode (spec §4.9): each rule's support is its description plus
//! its examples; its score is the best calibrated similarity (floor 0). Only the best rule
//! can fire, and only if it reaches its own threshold (when > 0).

use std::sync::Arc;

use vsr_models::ModelError;
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::embedding::prompt_embedding;
use crate::space::{Bank, Space};

#[derive(Debug, Clone)]
pub struct PreferenceRule {
    pub name: String,
    pub threshold: f32,
    /// Description first (if any), then the examples.
    pub support: Vec<String>,
}

pub struct PreferenceFamily {
    space: Arc<Space>,
    rules: Vec<(PreferenceRule, Bank)>,
}

impl PreferenceFamily {
    pub fn new(space: Arc<Space>, rules: Vec<PreferenceRule>) -> Result<Self, ModelError> {
        let rules = rules
            .into_iter()
            .map(|r| {
                let texts: Vec<&str> = r
                    .support
                    .iter()
                    .map(String::as_str)
                    .filter(|t| !t.trim().is_empty())
                    .collect();
                let bank = space.bank(&texts)?;
                Ok((r, bank))
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Self { space, rules })
    }

    pub fn scores(&self, query: &[f32]) -> Vec<f32> {
        self.rules
            .iter()
            .map(|(_, bank)| {
                bank.similarities(self.space.calibration(), query)
                    .into_iter()
                    .fold(0.0f32, f32::max)
            })
            .collect()
    }
}

impl SignalFamily for PreferenceFamily {
    fn family(&self) -> Family {
        Family::Preference
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|(r, _)| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let query = prompt_embedding(ctx, Family::Preference)?;
        let scores = self.scores(query);
        for (slot, s) in out.iter_mut().zip(&scores) {
            slot.value = f64::from(*s);
        }
        // Best rule; ties go to the earlier declaration (the original's order is undefined).
        let best = scores
            .iter()
            .enumerate()
            .fold(None::<(usize, f32)>, |acc, (i, &s)| match acc {
                Some((_, b)) if b >= s => acc,
                _ => Some((i, s)),
            });
        if let Some((i, s)) = best {
            let threshold = self.rules[i].0.threshold;
            if (threshold <= 0.0 || s >= threshold)
                && let Some(slot) = out.get_mut(i)
            {
                // The original stores no confidence for preference: reads as 1.0.
                slot.set_match(1.0);
            }
        }
        Ok(())
    }
}
