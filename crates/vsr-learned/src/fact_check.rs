//! `fact_check` (spec §4.7): two labels, `needs_fact_check` and `no_fact_check_needed`,
//! from our shipped EN/ZH example set (`data/fact_check.tsv`) scored as prototypes. A
//! `needs_fact_check` prediction below the threshold (default 0.6) flips to "not needed".
//! Only names configured as rules are emitted; empty text is "not needed".

use std::sync::Arc;

use vsr_models::ModelError;
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::prototypes::{PrototypeClassifier, parse_examples};
use crate::space::Space;

pub const NEEDS: &str = "needs_fact_check";
pub const NOT_NEEDED: &str = "no_fact_check_needed";

/// The shipped labelled examples.
pub const EXAMPLES: &str = include_str!("../data/fact_check.tsv");

pub struct FactCheckFamily {
    space: Arc<Space>,
    classifier: PrototypeClassifier,
    threshold: f32,
    names: Vec<String>,
}

impl FactCheckFamily {
    pub fn new(space: Arc<Space>, names: Vec<String>, threshold: f32) -> Result<Self, ModelError> {
        let examples = parse_examples(EXAMPLES).map_err(|msg| ModelError::Format {
            path: "data/fact_check.tsv".into(),
            msg,
        })?;
        let classifier = PrototypeClassifier::new(&space, &examples)?;
        Ok(Self {
            space,
            classifier,
            threshold,
            names,
        })
    }

    /// The label for an embedding, and P(needs).
    pub fn predict(&self, query: &[f32]) -> (&'static str, f32) {
        let probs = self.classifier.probabilities(&self.space, query);
        let p_needs = self
            .classifier
            .labels()
            .iter()
            .position(|l| l == NEEDS)
            .map_or(0.0, |i| probs[i]);
        let label = if p_needs >= 0.5 && p_needs >= self.threshold {
            NEEDS
        } else {
            NOT_NEEDED
        };
        (label, p_needs)
    }
}

impl SignalFamily for FactCheckFamily {
    fn family(&self) -> Family {
        Family::FactCheck
    }

    fn signal_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let (label, p) = match ctx.embedding() {
            _ if ctx.text().trim().is_empty() => (NOT_NEEDED, 0.0),
            Some(q) => self.predict(q),
            None => {
                return Err(SignalError::new(
                    Family::FactCheck,
                    "no prompt embedding (encoder unavailable)",
                ));
            }
        };
        for slot in out.iter_mut() {
            slot.value = f64::from(p);
            if &*slot.name == label {
                slot.set_match(1.0);
            }
        }
        Ok(())
    }
}
