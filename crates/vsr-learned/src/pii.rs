//! `pii` (spec §4.12) on the rule- and checksum-based recognisers of `vsr-pii` and, when it
//! is installed, the Rampart token classifier (`vllm-sr models fetch rampart`): a rule fires
//! when some finding with confidence ≥ its threshold has a type its `pii_types_allowed` does
//! not list. The denied types and their spans (`TYPE@start..end`, byte offsets into the
//! evaluation text; history findings as `TYPE@history[i]`) are the evidence.
//!
//! The classifier runs only inside [`PiiFamily::evaluate`], which the engine calls only when a
//! decision (or `EvalMode::All`) needs a pii signal; without the model the rules work alone.

use std::sync::{Arc, OnceLock};

use vsr_models::rampart::{ENTITIES, EntityClasses};
use vsr_models::{EntitySpan, RAMPART_ID, Rampart, catalog};
use vsr_pii::{DetectOptions, PiiMatch, PiiType, denied_types, detect};
use vsr_signals::text::bounded_slices;
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

/// Token probability below which the classifier's tokens count as outside any entity (the
/// package's own default); rule thresholds then apply to the span's lowest probability.
pub const MODEL_MIN_SCORE: f32 = 0.5;

/// The PII type a Rampart entity counts as, `None` for entities left to the rules or not
/// personal: URLs name sites, and the model's ID, tax, bank and routing numbers overlap the
/// checksum-validated rules (it also tags Chinese phones and ID numbers `TAX_ID`).
pub fn rampart_type(entity: &str) -> Option<PiiType> {
    Some(match entity {
        "GIVEN_NAME" | "SURNAME" => PiiType::Person,
        "EMAIL" => PiiType::EmailAddress,
        "PHONE" => PiiType::PhoneNumber,
        "BUILDING_NUMBER" | "STREET_NAME" | "SECONDARY_ADDRESS" => PiiType::StreetAddress,
        "CITY" | "STATE" => PiiType::Location,
        "ZIP_CODE" => PiiType::ZipCode,
        "DRIVERS_LICENSE" => PiiType::UsDriverLicense,
        _ => return None,
    })
}

/// [`rampart_type`] as the classifier's entity classes (named by config type name), so a
/// token's probability of being, say, a person sums over given name and surname.
fn rampart_classes() -> EntityClasses {
    ENTITIES.map(|e| rampart_type(e).map(PiiType::as_config_name))
}

/// The classifier's spans (classes named by [`rampart_type`]) as findings: neighbouring
/// spans of one type with only spaces or commas between them (a given name and surname, a
/// number and a street) become one finding with the lower confidence.
pub fn model_matches(text: &str, spans: &[EntitySpan]) -> Vec<PiiMatch> {
    let mut out: Vec<(PiiType, usize, usize, f32)> = Vec::new();
    for s in spans {
        let Some(kind) = PiiType::from_config_name(s.label) else {
            continue;
        };
        if let Some(last) = out.last_mut()
            && last.0 == kind
            && last.2 <= s.start
            && text
                .get(last.2..s.start)
                .is_some_and(|gap| gap.chars().all(|c| c.is_whitespace() || c == ','))
        {
            last.2 = s.end;
            last.3 = last.3.min(s.score);
            continue;
        }
        out.push((kind, s.start, s.end, s.score));
    }
    let writer_capitalises = text.chars().any(char::is_uppercase);
    out.into_iter()
        .filter(|(kind, start, end, _)| {
            !(writer_capitalises
                && matches!(kind, PiiType::Person | PiiType::Location)
                && text.get(*start..*end).is_some_and(is_lower_case_word))
        })
        .filter_map(|(kind, start, end, score)| PiiMatch::new(text, kind, start, end, score))
        .collect()
}

/// Whether a span has cased letters and none of them upper case. The classifier is uncased,
/// so it cannot see that "spring" or "caching" is not a proper noun; in a text whose writer
/// uses capitals, a person or place written all in lower case is taken as an ordinary word.
/// (A text without any capitals keeps every finding: its writer does not mark names.)
fn is_lower_case_word(span: &str) -> bool {
    let mut cased = span
        .chars()
        .filter(|c| c.is_lowercase() || c.is_uppercase());
    cased.next().is_some() && !span.chars().any(char::is_uppercase)
}

/// The recognisers a pii family runs: the rules, and the token classifier when loaded.
#[derive(Clone, Default)]
pub struct PiiDetector {
    model: Option<Arc<Rampart>>,
}

impl std::fmt::Debug for PiiDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiDetector")
            .field("model", &self.model.is_some())
            .finish()
    }
}

impl PiiDetector {
    /// The rules alone.
    pub fn rules_only() -> Self {
        Self { model: None }
    }

    /// The rules and `model`.
    pub fn with_model(model: Arc<Rampart>) -> Self {
        Self { model: Some(model) }
    }

    /// The rules and the installed classifier, loaded once per process; when it is not
    /// installed (or fails to load) the rules alone, with one warning.
    pub fn installed() -> Self {
        static MODEL: OnceLock<Option<Arc<Rampart>>> = OnceLock::new();
        let model = MODEL.get_or_init(|| {
            let Some(dir) = catalog::find_model(RAMPART_ID) else {
                tracing::warn!(
                    "the PII token classifier is not installed (vllm-sr models fetch rampart): \
                     pii signals use the rules only (no names or addresses without a cue)"
                );
                return None;
            };
            let t = std::time::Instant::now();
            match Rampart::load(&dir) {
                Ok(m) => {
                    tracing::info!(
                        dir = %dir.display(),
                        elapsed_ms = t.elapsed().as_millis() as u64,
                        "PII token classifier loaded"
                    );
                    Some(Arc::new(m))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "PII token classifier failed to load; pii signals use the rules only");
                    None
                }
            }
        });
        Self {
            model: model.clone(),
        }
    }

    pub fn has_model(&self) -> bool {
        self.model.is_some()
    }

    /// Every finding in `text`, non-overlapping and sorted by start. A classifier error
    /// (never expected on valid UTF-8) leaves the rules' findings, with a warning.
    pub fn detect(&self, text: &str) -> Vec<PiiMatch> {
        let rules = detect(text, &DetectOptions::default());
        let Some(model) = &self.model else {
            return rules;
        };
        // The classifier costs about 0.1 ms a character on a CPU, so it reads the stretches
        // the semantic families read (at most 2048 characters: head, middle, tail); the
        // rules scan the whole text.
        let classes = rampart_classes();
        let spans: Result<Vec<EntitySpan>, _> = bounded_slices(text)
            .into_iter()
            .map(|(offset, part)| {
                model
                    .class_spans(part, MODEL_MIN_SCORE, &classes)
                    .map(|spans| {
                        spans
                            .into_iter()
                            .map(|mut s| {
                                s.start += offset;
                                s.end += offset;
                                s
                            })
                            .collect::<Vec<_>>()
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|parts| parts.concat());
        match spans {
            Ok(spans) => {
                // Rule findings checked a format (and often a checksum); the model's
                // probabilities are on another scale, so it only adds what they did not
                // cover (it reads a cued SSN as a phone number, say).
                let extra: Vec<PiiMatch> = model_matches(text, &spans)
                    .into_iter()
                    .filter(|m| !rules.iter().any(|r| r.start < m.end && m.start < r.end))
                    .collect();
                vsr_pii::merge(rules.into_iter().chain(extra))
            }
            Err(e) => {
                tracing::warn!(error = %e, "PII token classifier failed; rules only for this text");
                rules
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct PiiRule {
    pub name: String,
    pub threshold: f32,
    pub allowed: Vec<PiiType>,
    pub include_history: bool,
}

pub struct PiiFamily {
    rules: Vec<PiiRule>,
    detector: PiiDetector,
    /// `include_history` reads earlier user turns too (August configs).
    prior_user_turns: bool,
}

impl PiiFamily {
    /// The family for `rules`; the recognisers' patterns are compiled here (once per
    /// process), so the first request does not pay for it.
    pub fn new(rules: Vec<PiiRule>, detector: PiiDetector) -> Self {
        static WARM: std::sync::Once = std::sync::Once::new();
        WARM.call_once(|| {
            vsr_pii::warm_up();
        });
        Self {
            rules,
            detector,
            prior_user_turns: false,
        }
    }

    /// `include_history` as upstream reads it since August 2026: earlier user turns count too.
    pub fn with_prior_user_turns(mut self, on: bool) -> Self {
        self.prior_user_turns = on;
        self
    }

    /// Parses `pii_types_allowed`; unknown names are ignored with a warning (they can deny
    /// nothing that the recognisers report).
    pub fn allowed_types(rule: &str, names: &[String]) -> Vec<PiiType> {
        names
            .iter()
            .filter_map(|n| match PiiType::from_config_name(n) {
                Some(t) => Some(t),
                None => {
                    tracing::warn!(rule, name = %n, "unknown PII type in pii_types_allowed");
                    None
                }
            })
            .collect()
    }
}

impl SignalFamily for PiiFamily {
    fn family(&self) -> Family {
        Family::Pii
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let found: Arc<Vec<PiiMatch>> = ctx.artefact("pii.matches", |t| self.detector.detect(t));
        let history: Vec<Vec<PiiMatch>> = if self.rules.iter().any(|r| r.include_history) {
            ctx.view()
                .include_history_texts(self.prior_user_turns)
                .into_iter()
                .map(|t| self.detector.detect(t))
                .collect()
        } else {
            Vec::new()
        };
        for (rule, slot) in self.rules.iter().zip(out.iter_mut()) {
            let mut denied = denied_types(&found, rule.threshold, &rule.allowed);
            let mut evidence: Vec<String> = found
                .iter()
                .filter(|m| denied.contains(&m.kind) && m.confidence >= rule.threshold)
                .map(|m| format!("{}@{}..{}", m.kind.as_config_name(), m.start, m.end))
                .collect();
            if rule.include_history {
                for (i, h) in history.iter().enumerate() {
                    for t in denied_types(h, rule.threshold, &rule.allowed) {
                        evidence.push(format!("{}@history[{i}]", t.as_config_name()));
                        denied.push(t);
                    }
                }
            }
            slot.value = denied.len() as f64;
            if !denied.is_empty() {
                slot.evidence = evidence;
                slot.set_match(1.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lower_case_spans_are_ordinary_words() {
        assert!(super::is_lower_case_word("spring"));
        assert!(!super::is_lower_case_word("Kyoto"));
        assert!(!super::is_lower_case_word("van Dijk"));
        assert!(!super::is_lower_case_word("张伟"));
        assert!(!super::is_lower_case_word("42"));
    }

    use super::*;

    fn span(label: &'static str, start: usize, end: usize, score: f32) -> EntitySpan {
        EntitySpan {
            label,
            start,
            end,
            score,
        }
    }

    #[test]
    fn neighbouring_parts_of_one_type_become_one_finding() {
        let text = "Mail Ada Lovelace at 12 Elm Road, Leeds or http://x.io";
        let found = model_matches(
            text,
            &[
                span("PERSON", 5, 8, 0.99),
                span("PERSON", 9, 17, 0.9),
                span("STREET_ADDRESS", 21, 23, 0.95),
                span("STREET_ADDRESS", 24, 32, 0.97),
                span("GPE", 34, 39, 0.8),
                span("URL", 43, 54, 0.99),
            ],
        );
        let got: Vec<_> = found
            .iter()
            .map(|m| (m.kind, m.as_str(text), m.confidence))
            .collect();
        assert_eq!(
            got,
            [
                (PiiType::Person, "Ada Lovelace", 0.9),
                (PiiType::StreetAddress, "12 Elm Road", 0.95),
                (PiiType::Location, "Leeds", 0.8),
            ]
        );
    }

    #[test]
    fn entities_map_to_config_types_and_urls_are_not_reported() {
        let classes = rampart_classes();
        let class = |e: &str| classes[ENTITIES.iter().position(|x| *x == e).unwrap()];
        assert_eq!(class("SURNAME"), Some("PERSON"));
        assert_eq!(class("STREET_NAME"), Some("STREET_ADDRESS"));
        assert_eq!(class("STATE"), Some("GPE"));
        assert_eq!(class("URL"), None);
        assert_eq!(class("TAX_ID"), None);
    }
}
