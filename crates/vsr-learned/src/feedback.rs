//! `user_feedback` (spec §4.8): four labels (`satisfied`, `wrong_answer`,
//! `need_clarification`, `want_different`) from our shipped EN/ZH example set
//! (`data/user_feedback.tsv`) scored as prototypes on the current message only. Below the
//! threshold (default 0.7) the label becomes `satisfied`. Only configured names are emitted.

use std::sync::Arc;

use vsr_models::ModelError;
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::prototypes::{PrototypeClassifier, parse_examples};
use crate::space::Space;

pub const SATISFIED: &str = "satisfied";
pub const EXAMPLES: &str = include_str!("../data/user_feedback.tsv");

pub struct FeedbackFamily {
    space: Arc<Space>,
    classifier: PrototypeClassifier,
    threshold: f32,
    names: Vec<String>,
}

impl FeedbackFamily {
    pub fn new(space: Arc<Space>, names: Vec<String>, threshold: f32) -> Result<Self, ModelError> {
        let examples = parse_examples(EXAMPLES).map_err(|msg| ModelError::Format {
            path: "data/user_feedback.tsv".into(),
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

    /// The label for an embedding (after the threshold) and the argmax probability.
    pub fn predict(&self, query: &[f32]) -> (String, f32) {
        match self.classifier.predict(&self.space, query) {
            Some((label, p)) if p >= self.threshold => (normalise(label), p),
            Some((_, p)) => (SATISFIED.into(), p),
            None => (SATISFIED.into(), 0.0),
        }
    }
}

/// Label normalisation of the original (`SAT` → `satisfied`, upper-case ids lower-cased).
pub fn normalise(label: &str) -> String {
    match label.trim().to_ascii_uppercase().as_str() {
        "SAT" | "SATISFIED" => SATISFIED.into(),
        other => other.to_ascii_lowercase(),
    }
}

impl SignalFamily for FeedbackFamily {
    fn family(&self) -> Family {
        Family::UserFeedback
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
            _ if ctx.text().trim().is_empty() => (SATISFIED.to_string(), 0.0),
            Some(q) => self.predict(q),
            None => {
                return Err(SignalError::new(
                    Family::UserFeedback,
                    "no prompt embedding (encoder unavailable)",
                ));
            }
        };
        for slot in out.iter_mut() {
            if *slot.name == *label {
                slot.value = f64::from(p);
                slot.set_match(1.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_normalised() {
        assert_eq!(normalise("SAT"), "satisfied");
        assert_eq!(normalise("WRONG_ANSWER"), "wrong_answer");
        assert_eq!(normalise("need_clarification"), "need_clarification");
    }
}
