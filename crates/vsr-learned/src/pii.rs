//! `pii` (spec §4.12) on the rule- and checksum-based recognisers of `vsr-pii`: a rule fires
//! when some finding with confidence ≥ its threshold has a type its `pii_types_allowed` does
//! not list. The denied types and their spans (`TYPE@start..end`, byte offsets into the
//! evaluation text; history findings as `TYPE@history[i]`) are the evidence. No model needed.

use std::sync::Arc;

use vsr_pii::{DetectOptions, PiiMatch, PiiType, denied_types, detect};
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::jailbreak::HISTORY_ROLES;

#[derive(Debug, Clone)]
pub struct PiiRule {
    pub name: String,
    pub threshold: f32,
    pub allowed: Vec<PiiType>,
    pub include_history: bool,
}

pub struct PiiFamily {
    rules: Vec<PiiRule>,
}

impl PiiFamily {
    /// The family for `rules`; the recognisers' patterns are compiled here (once per
    /// process), so the first request does not pay for it.
    pub fn new(rules: Vec<PiiRule>) -> Self {
        static WARM: std::sync::Once = std::sync::Once::new();
        WARM.call_once(|| {
            vsr_pii::warm_up();
        });
        Self { rules }
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
        let found: Arc<Vec<PiiMatch>> =
            ctx.artefact("pii.matches", |t| detect(t, &DetectOptions::default()));
        let history: Vec<Vec<PiiMatch>> = if self.rules.iter().any(|r| r.include_history) {
            ctx.view()
                .history_texts(&HISTORY_ROLES)
                .map(|t| detect(t, &DetectOptions::default()))
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
