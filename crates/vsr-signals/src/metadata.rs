//! The `metadata` family (head-delta §8): tests on the request's top-level `metadata`
//! object (`equals`, `in`, `exists`). The object is untrusted client input: it routes, it
//! never authorises.

use crate::family::{Family, SignalError, SignalFamily};
use crate::request::RequestContext;
use crate::set::SignalResult;

/// What a rule asks of its key.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataTest {
    Equals(String),
    In(Vec<String>),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetadataRule {
    pub name: String,
    pub key: String,
    pub test: MetadataTest,
}

impl MetadataRule {
    /// The rule of a config entry (validation guarantees exactly one predicate; an entry
    /// without one reads as `exists: true`).
    pub fn from_config(m: &vsr_config::MetadataSignal) -> Self {
        let p = &m.predicate;
        let test = if let Some(v) = &p.equals {
            MetadataTest::Equals(v.clone())
        } else if let Some(vs) = &p.any_of {
            MetadataTest::In(vs.clone())
        } else {
            MetadataTest::Exists(p.exists.unwrap_or(true))
        };
        Self {
            name: m.name.clone(),
            key: m.key.clone(),
            test,
        }
    }

    pub fn holds(&self, value: Option<&str>) -> bool {
        match (&self.test, value) {
            (MetadataTest::Equals(want), Some(v)) => v == want,
            (MetadataTest::In(list), Some(v)) => list.iter().any(|w| w == v),
            (MetadataTest::Exists(flag), v) => v.is_some() == *flag,
            _ => false,
        }
    }
}

pub struct MetadataFamily {
    rules: Vec<MetadataRule>,
}

impl MetadataFamily {
    pub fn new(rules: Vec<MetadataRule>) -> Self {
        Self { rules }
    }
}

impl SignalFamily for MetadataFamily {
    fn family(&self) -> Family {
        Family::Metadata
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let md = &ctx.view().metadata;
        for (rule, slot) in self.rules.iter().zip(out.iter_mut()) {
            if rule.holds(md.get(&rule.key).map(String::as_str)) {
                slot.set_match(1.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{RequestView, parse_metadata};
    use serde_json::json;

    #[test]
    fn equals_in_and_exists() {
        let md = parse_metadata(Some(&json!({"tier": "gold", "team": "ml"}))).expect("valid");
        let view = RequestView::from_text("").with_metadata(md);
        let ctx = RequestContext::new(&view);
        let rule = |name: &str, key: &str, test| MetadataRule {
            name: name.into(),
            key: key.into(),
            test,
        };
        let fam = MetadataFamily::new(vec![
            rule("a", "tier", MetadataTest::Equals("gold".into())),
            rule("b", "tier", MetadataTest::Equals("Gold".into())),
            rule(
                "c",
                "team",
                MetadataTest::In(vec!["ops".into(), "ml".into()]),
            ),
            rule("d", "region", MetadataTest::Exists(false)),
            rule("e", "region", MetadataTest::Exists(true)),
        ]);
        let mut out: Vec<SignalResult> = fam
            .signal_names()
            .into_iter()
            .map(|n| SignalResult::unmatched(n.into()))
            .collect();
        fam.evaluate(&ctx, &mut out).expect("evaluates");
        let matched: Vec<bool> = out.iter().map(|s| s.matched).collect();
        assert_eq!(matched, [true, false, true, true, false]);
    }

    #[test]
    fn bad_metadata_is_refused_with_the_key() {
        let e = parse_metadata(Some(&json!({"n": 5}))).unwrap_err();
        assert_eq!(e, "field metadata.n must be string");
        assert!(parse_metadata(Some(&json!([1]))).is_err());
        let many: serde_json::Map<String, serde_json::Value> =
            (0..33).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(parse_metadata(Some(&serde_json::Value::Object(many))).is_err());
        assert!(parse_metadata(Some(&json!({"k": "x".repeat(1025)}))).is_err());
        assert!(parse_metadata(Some(&json!({"": "x"}))).is_err());
        assert!(parse_metadata(None).expect("absent").is_empty());
        assert!(parse_metadata(Some(&json!(null))).expect("null").is_empty());
    }
}
