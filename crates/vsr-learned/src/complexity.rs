//! `complexity` (spec §4.5): per rule, s = best calibrated similarity to the hard candidates
//! − best to the easy ones (each −1 without candidates); `hard` above the threshold, `easy`
//! below its negative, else `medium`. Every rule emits exactly one `name:level`; the engine's
//! composer filter (after partitions) then drops levels whose composer is false.

use std::sync::Arc;

use vsr_models::ModelError;
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::embedding::prompt_embedding;
use crate::space::{Bank, Space};

pub const LEVELS: [&str; 3] = ["easy", "medium", "hard"];

#[derive(Debug, Clone)]
pub struct ComplexityRule {
    pub name: String,
    pub threshold: f32,
    pub hard: Vec<String>,
    pub easy: Vec<String>,
}

pub struct ComplexityFamily {
    space: Arc<Space>,
    rules: Vec<(ComplexityRule, Bank, Bank)>,
}

impl ComplexityFamily {
    pub fn new(space: Arc<Space>, rules: Vec<ComplexityRule>) -> Result<Self, ModelError> {
        let rules = rules
            .into_iter()
            .map(|r| {
                let hard: Vec<&str> = r.hard.iter().map(String::as_str).collect();
                let easy: Vec<&str> = r.easy.iter().map(String::as_str).collect();
                let (hb, eb) = (space.bank(&hard)?, space.bank(&easy)?);
                Ok((r, hb, eb))
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Self { space, rules })
    }

    /// (difference, level index) per rule.
    pub fn levels(&self, query: &[f32]) -> Vec<(f32, usize)> {
        let best = |bank: &Bank| {
            bank.similarities(self.space.calibration(), query)
                .into_iter()
                .fold(-1.0f32, f32::max)
        };
        self.rules
            .iter()
            .map(|(r, hard, easy)| {
                let s = best(hard) - best(easy);
                let level = if s > r.threshold {
                    2
                } else if s < -r.threshold {
                    0
                } else {
                    1
                };
                (s, level)
            })
            .collect()
    }
}

impl SignalFamily for ComplexityFamily {
    fn family(&self) -> Family {
        Family::Complexity
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules
            .iter()
            .flat_map(|(r, _, _)| LEVELS.iter().map(move |l| format!("{}:{l}", r.name)))
            .collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let query = prompt_embedding(ctx, Family::Complexity)?;
        for (i, (s, level)) in self.levels(query).into_iter().enumerate() {
            for l in 0..LEVELS.len() {
                if let Some(slot) = out.get_mut(i * LEVELS.len() + l) {
                    slot.value = f64::from(s);
                    if l == level {
                        slot.set_match(1.0);
                    }
                }
            }
        }
        Ok(())
    }
}
