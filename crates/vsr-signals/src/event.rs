//! The `event` family (head-delta §7): event types, severities, action codes and urgency
//! words found in the text as whole words, case-insensitively. Each configured criterion
//! counts once; a rule matches when at least one is satisfied, with confidence
//! 0.5 + 0.5 · satisfied / configured.

use regex::Regex;

use crate::family::{Family, SignalError, SignalFamily};
use crate::request::RequestContext;
use crate::set::SignalResult;

/// Severities the family knows; others in a rule are ignored (as the original does).
pub const SEVERITIES: [&str; 4] = ["critical", "high", "medium", "low"];

/// Urgency words of the `temporal` criterion (`.` in two of them is a wildcard, as upstream).
const TEMPORAL: &str = r"urgent|immediate|asap|deadline|time.sensitive|now|critical.window";

/// One compiled rule: one alternation per configured criterion.
pub struct EventRule {
    pub name: String,
    criteria: Vec<(&'static str, Regex)>,
}

/// A whole-word, case-insensitive alternation of literal terms (`None` for no terms).
fn literal_words(terms: &[String]) -> Result<Option<Regex>, String> {
    let alts: Vec<String> = terms
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(regex::escape)
        .collect();
    if alts.is_empty() {
        return Ok(None);
    }
    words(&alts.join("|")).map(Some)
}

fn words(alternation: &str) -> Result<Regex, String> {
    Regex::new(&format!(r"(?i)\b(?:{alternation})\b")).map_err(|e| e.to_string())
}

impl EventRule {
    pub fn from_config(e: &vsr_config::EventSignal) -> Result<Self, String> {
        let mut criteria = Vec::new();
        if let Some(r) = literal_words(&e.event_types)? {
            criteria.push(("event_types", r));
        }
        let severities: Vec<String> = e
            .severities
            .iter()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| SEVERITIES.contains(&s.as_str()))
            .collect();
        if let Some(r) = literal_words(&severities)? {
            criteria.push(("severities", r));
        }
        if let Some(r) = literal_words(&e.action_codes)? {
            criteria.push(("action_codes", r));
        }
        if e.temporal == Some(true) {
            criteria.push(("temporal", words(TEMPORAL)?));
        }
        Ok(Self {
            name: e.name.clone(),
            criteria,
        })
    }

    /// The satisfied criteria (with what matched) and the number configured.
    pub fn evaluate(&self, text: &str) -> (Vec<String>, usize) {
        let hits = self
            .criteria
            .iter()
            .filter_map(|(what, re)| re.find(text).map(|m| format!("{what}:{}", m.as_str())))
            .collect();
        (hits, self.criteria.len())
    }
}

/// The compiled event family.
pub struct EventFamily {
    rules: Vec<EventRule>,
}

impl EventFamily {
    pub fn new(rules: Vec<EventRule>) -> Self {
        Self { rules }
    }
}

impl SignalFamily for EventFamily {
    fn family(&self) -> Family {
        Family::Event
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let text = crate::text::bounded_text(ctx.text());
        for (rule, slot) in self.rules.iter().zip(out.iter_mut()) {
            let (hits, configured) = rule.evaluate(&text);
            if configured > 0 && !hits.is_empty() {
                slot.set_match(0.5 + 0.5 * hits.len() as f64 / configured as f64);
                slot.value = hits.len() as f64;
                slot.evidence = hits;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RequestView;

    fn rule(types: &[&str], severities: &[&str], codes: &[&str], temporal: bool) -> EventRule {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        EventRule::from_config(&vsr_config::EventSignal {
            name: "e".into(),
            event_types: s(types),
            severities: s(severities),
            action_codes: s(codes),
            temporal: Some(temporal),
            ..Default::default()
        })
        .expect("compiles")
    }

    fn run(rule: EventRule, text: &str) -> SignalResult {
        let view = RequestView::from_text(text);
        let ctx = RequestContext::new(&view);
        let mut out = vec![SignalResult::unmatched("e".into())];
        EventFamily::new(vec![rule])
            .evaluate(&ctx, &mut out)
            .expect("evaluates");
        out.remove(0)
    }

    #[test]
    fn confidence_grows_with_satisfied_criteria() {
        let r = run(
            rule(&["outage"], &["Critical", "bogus"], &["INC-42"], true),
            "Critical OUTAGE in eu-west, ticket inc-42, needs attention now",
        );
        assert!(r.matched);
        assert_eq!(r.confidence, 1.0);
        let r = run(
            rule(&["outage"], &["high"], &[], false),
            "an outage was seen",
        );
        assert!(r.matched);
        assert_eq!(r.confidence, 0.75);
    }

    #[test]
    fn words_need_boundaries_and_terms_are_literal() {
        assert!(!run(rule(&["outage"], &[], &[], false), "outages happen").matched);
        assert!(!run(rule(&["a.b"], &[], &[], false), "axb").matched);
        assert!(run(rule(&["a.b"], &[], &[], false), "see a.b here").matched);
        assert!(run(rule(&[], &[], &[], true), "it is time-sensitive").matched);
        // Nothing configured (only unknown severities): never matches.
        assert!(!run(rule(&[" "], &["severe"], &[], false), "severe").matched);
    }
}
