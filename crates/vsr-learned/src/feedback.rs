//! `user_feedback` (spec §4.8): four labels (`satisfied`, `wrong_answer`,
//! `need_clarification`, `want_different`) from our shipped EN/ZH example set
//! (`data/user_feedback.tsv`) scored as prototypes on the current message only. Below the
//! threshold (default 0.7) the label becomes `satisfied`. Only configured names are emitted.
//!
//! Feedback usually leads a follow-up ("That's wrong. Now explain …"), and the rest of the
//! message dilutes it in a whole-message embedding; so when the message has more than one
//! sentence and the first one is short (≤ [`LEAD_MAX_CHARS`]), that sentence is classified too
//! (one extra encoder pass), and the stronger non-`satisfied` verdict of the two wins.

use std::sync::Arc;

use vsr_models::ModelError;
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::prototypes::{PrototypeClassifier, parse_examples};
use crate::space::Space;

pub const SATISFIED: &str = "satisfied";

/// Longest lead sentence classified on its own: feedback leads are short ("That's wrong.").
pub const LEAD_MAX_CHARS: usize = 64;
pub const EXAMPLES: &str = include_str!("../data/user_feedback.tsv");

pub struct FeedbackFamily {
    space: Arc<Space>,
    classifier: PrototypeClassifier,
    threshold: f32,
    names: Vec<String>,
    /// Evaluate only when the conversation has an earlier assistant answer (August-2026
    /// configs; head-delta §11).
    after_answer_only: bool,
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
            after_answer_only: false,
        })
    }

    /// Evaluates only requests with an earlier assistant turn with text when `on`.
    pub fn after_answer_only(mut self, on: bool) -> Self {
        self.after_answer_only = on;
        self
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

/// The first sentence of a multi-sentence message (`None` for a single sentence).
pub fn first_sentence(text: &str) -> Option<&str> {
    let text = text.trim();
    let end = text.char_indices().find_map(|(i, c)| {
        matches!(c, '.' | '!' | '?' | ';' | '。' | '！' | '？' | '；').then(|| i + c.len_utf8())
    })?;
    let (head, rest) = text.split_at(end);
    let rest = rest.trim_start_matches(|c: char| {
        c.is_whitespace() || matches!(c, '.' | '!' | '?' | '。' | '！' | '？')
    });
    (!rest.trim().is_empty() && !head.trim().is_empty()).then_some(head)
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
        if self.after_answer_only && !ctx.view().has_assistant_turn() {
            return Ok(());
        }
        let (label, p) = match ctx.embedding() {
            _ if ctx.text().trim().is_empty() => (SATISFIED.to_string(), 0.0),
            Some(q) => {
                let whole = self.predict(q);
                let lead = first_sentence(ctx.text())
                    .filter(|s| s.chars().count() <= LEAD_MAX_CHARS)
                    .and_then(|s| self.space.embed_query(s).ok())
                    .map(|v| self.predict(&v));
                match lead {
                    Some(l) if l.0 != SATISFIED && (whole.0 == SATISFIED || l.1 > whole.1) => l,
                    _ => whole,
                }
            }
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
    fn first_sentence_only_for_several_sentences() {
        assert_eq!(
            first_sentence("That's wrong. Fix it."),
            Some("That's wrong.")
        );
        assert_eq!(first_sentence("不对！请重新回答。"), Some("不对！"));
        assert_eq!(first_sentence("What is 2 + 2?"), None);
        assert_eq!(first_sentence("Wait!!! ok"), Some("Wait!"));
        assert_eq!(first_sentence("no punctuation"), None);
    }

    #[test]
    fn labels_are_normalised() {
        assert_eq!(normalise("SAT"), "satisfied");
        assert_eq!(normalise("WRONG_ANSWER"), "wrong_answer");
        assert_eq!(normalise("need_clarification"), "need_clarification");
    }
}
