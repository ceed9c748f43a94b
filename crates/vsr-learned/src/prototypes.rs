//! Labelled example sets scored against the prompt embedding: each label's score is its
//! nearest example's calibrated similarity, and a softmax with a temperature turns the
//! scores into probabilities. Used for fact-check and user feedback, for which no trained
//! model ships; the examples are ours (`data/*.tsv`, EN and ZH), written for the labels'
//! meaning and never for a probe.

use vsr_models::ModelError;

use crate::space::{Bank, Space};
use vsr_models::head::softmax;

/// Temperature of the label softmax on the calibrated similarity scale: a 0.1 lead in
/// similarity gives odds of e^2 ≈ 7:1.
pub const TEMPERATURE: f32 = 0.05;

/// A labelled example set, embedded once.
#[derive(Debug, Clone)]
pub struct PrototypeClassifier {
    labels: Vec<String>,
    label_of: Vec<usize>,
    bank: Bank,
}

/// Parses `label<TAB>text` lines (`#` comments and blank lines skipped).
pub fn parse_examples(tsv: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in tsv.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (label, text) = line
            .split_once('\t')
            .ok_or_else(|| format!("line {}: expected `label<TAB>text`", i + 1))?;
        out.push((label.trim().to_string(), text.trim().to_string()));
    }
    Ok(out)
}

impl PrototypeClassifier {
    /// Embeds `examples` (label, text) in `space`. Labels keep first-seen order.
    pub fn new(space: &Space, examples: &[(String, String)]) -> Result<Self, ModelError> {
        let mut labels: Vec<String> = Vec::new();
        let mut label_of = Vec::with_capacity(examples.len());
        for (l, _) in examples {
            let i = match labels.iter().position(|x| x == l) {
                Some(i) => i,
                None => {
                    labels.push(l.clone());
                    labels.len() - 1
                }
            };
            label_of.push(i);
        }
        let texts: Vec<&str> = examples.iter().map(|(_, t)| t.as_str()).collect();
        let bank = space.bank(&texts)?;
        Ok(Self {
            labels,
            label_of,
            bank,
        })
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Per label: the best calibrated similarity of its examples.
    pub fn scores(&self, space: &Space, query: &[f32]) -> Vec<f32> {
        let mut best = vec![f32::NEG_INFINITY; self.labels.len()];
        for (row, s) in self
            .bank
            .similarities(space.calibration(), query)
            .into_iter()
            .enumerate()
        {
            let l = self.label_of[row];
            best[l] = best[l].max(s);
        }
        best
    }

    /// Label probabilities (softmax of [`Self::scores`] at [`TEMPERATURE`]).
    pub fn probabilities(&self, space: &Space, query: &[f32]) -> Vec<f32> {
        let scaled: Vec<f32> = self
            .scores(space, query)
            .into_iter()
            .map(|s| s / TEMPERATURE)
            .collect();
        softmax(&scaled)
    }

    /// The most probable label and its probability.
    pub fn predict(&self, space: &Space, query: &[f32]) -> Option<(&str, f32)> {
        let p = self.probabilities(space, query);
        let (i, &best) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
        Some((self.labels[i].as_str(), best))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_examples_reads_tabs_and_reports_bad_lines() {
        let ok = parse_examples("# c\n\na\tone\nb\t two \n").expect("valid");
        assert_eq!(
            ok,
            vec![("a".into(), "one".into()), ("b".into(), "two".into())]
        );
        let err = parse_examples("a\tone\nno tab here\n").expect_err("invalid");
        assert!(err.contains("line 2"), "{err}");
    }
}
