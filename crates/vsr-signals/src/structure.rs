//! The `structure` family: counts, existence, density and ordered sequences of markers.

use regex::{Regex, RegexBuilder};

use crate::bounds::{Bounds, sigmoid};
use crate::family::{Family, SignalError, SignalFamily};
use crate::request::RequestContext;
use crate::set::SignalResult;
use crate::text::{count_words, find_word, text_units};

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    /// 1 when the source occurs at all.
    Exists,
    /// Number of occurrences.
    Count,
    /// Occurrences per multilingual text unit.
    Density,
    /// 1 when some marker sequence occurs in order.
    Sequence,
}

/// What is counted.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// Non-overlapping matches of a regular expression.
    Regex { pattern: String },
    /// Word-bounded occurrences of any of the keywords, summed.
    KeywordSet { keywords: Vec<String> },
    /// Marker lists that must occur in order.
    Sequence { sequences: Vec<Vec<String>> },
}

/// One structure rule as written in the config.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureRuleSpec {
    pub name: String,
    pub feature: FeatureKind,
    pub source: SourceSpec,
    pub case_sensitive: bool,
    /// Empty: matched when the value is above 0.
    pub predicate: Bounds,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StructureError {
    #[error("structure rule `{rule}`: invalid regex: {message}")]
    Regex { rule: String, message: String },
    #[error("structure rule `{rule}`: {message}")]
    Invalid { rule: String, message: String },
}

enum Source {
    Regex(Regex),
    Keywords(Vec<String>),
    Sequences(Vec<Vec<String>>),
}

struct Rule {
    name: String,
    feature: FeatureKind,
    source: Source,
    case_sensitive: bool,
    predicate: Bounds,
}

/// The compiled structure family.
pub struct StructureFamily {
    rules: Vec<Rule>,
}

impl StructureFamily {
    pub fn new(specs: &[StructureRuleSpec]) -> Result<Self, StructureError> {
        let rules = specs.iter().map(compile).collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }
}

fn compile(spec: &StructureRuleSpec) -> Result<Rule, StructureError> {
    let invalid = |message: &str| StructureError::Invalid {
        rule: spec.name.clone(),
        message: message.into(),
    };
    let fold = |s: &String| {
        if spec.case_sensitive {
            s.clone()
        } else {
            s.to_lowercase()
        }
    };
    let source = match &spec.source {
        SourceSpec::Regex { pattern } => Source::Regex(
            RegexBuilder::new(pattern)
                .case_insensitive(!spec.case_sensitive)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| StructureError::Regex {
                    rule: spec.name.clone(),
                    message: e.to_string(),
                })?,
        ),
        SourceSpec::KeywordSet { keywords } => {
            // A keyword listed twice (or as "json" and "JSON" under case folding) counts once.
            let mut ks: Vec<String> = keywords
                .iter()
                .map(fold)
                .filter(|k| !k.is_empty())
                .collect();
            ks.sort();
            ks.dedup();
            if ks.is_empty() {
                return Err(invalid("keyword_set source has no keywords"));
            }
            Source::Keywords(ks)
        }
        SourceSpec::Sequence { sequences } => {
            if sequences.is_empty() || sequences.iter().any(|s| s.len() < 2) {
                return Err(invalid("every sequence needs at least 2 markers"));
            }
            Source::Sequences(
                sequences
                    .iter()
                    .map(|s| s.iter().map(fold).collect())
                    .collect(),
            )
        }
    };
    if spec.feature == FeatureKind::Sequence && !matches!(source, Source::Sequences(_)) {
        return Err(invalid("feature `sequence` needs a `sequence` source"));
    }
    if spec.feature == FeatureKind::Exists && !spec.predicate.is_empty() {
        return Err(invalid("feature `exists` takes no predicate"));
    }
    let p = spec.predicate;
    if (p.gt.is_some() && p.gte.is_some()) || (p.lt.is_some() && p.lte.is_some()) {
        return Err(invalid("set at most one of gt/gte and one of lt/lte"));
    }
    Ok(Rule {
        name: spec.name.clone(),
        feature: spec.feature,
        source,
        case_sensitive: spec.case_sensitive,
        predicate: spec.predicate,
    })
}

impl Rule {
    /// The source's count and the evidence behind it.
    fn count(&self, text: &str, lowered: &str) -> (usize, Vec<String>) {
        let hay = if self.case_sensitive { text } else { lowered };
        match &self.source {
            // The regex folds case itself, so it reads the original text.
            Source::Regex(re) => (re.find_iter(text).count(), Vec::new()),
            Source::Keywords(ks) => {
                let mut evidence = Vec::new();
                let mut n = 0;
                for k in ks {
                    let c = count_words(hay, k);
                    if c > 0 {
                        n += c;
                        evidence.push(format!("{k}×{c}"));
                    }
                }
                (n, evidence)
            }
            Source::Sequences(seqs) => match seqs.iter().find(|s| in_order(hay, s)) {
                Some(s) => (1, vec![s.join(" → ")]),
                None => (0, Vec::new()),
            },
        }
    }
}

/// Whether the markers occur in order, each on word boundaries, each after the previous one.
fn in_order(hay: &str, markers: &[String]) -> bool {
    let mut pos = 0;
    for m in markers {
        match find_word(hay, m, pos) {
            Some((_, end)) => pos = end,
            None => return false,
        }
    }
    true
}

impl SignalFamily for StructureFamily {
    fn family(&self) -> Family {
        Family::Structure
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let text = ctx.text();
        if text.trim().is_empty() {
            return Ok(());
        }
        let mut units: Option<usize> = None;
        for (rule, result) in self.rules.iter().zip(out.iter_mut()) {
            let (count, evidence) = rule.count(text, ctx.lowered());
            let value = match rule.feature {
                FeatureKind::Count => count as f64,
                FeatureKind::Exists | FeatureKind::Sequence => f64::from(u8::from(count > 0)),
                FeatureKind::Density => {
                    let u = *units.get_or_insert_with(|| text_units(text));
                    if u == 0 { 0.0 } else { count as f64 / u as f64 }
                }
            };
            result.value = value;
            if let Some(c) = predicate_confidence(&rule.predicate, value) {
                result.set_match(c);
                result.evidence = evidence;
            }
        }
        Ok(())
    }
}

/// Matched when every bound holds (no bounds: value above 0). Confidence grows with the
/// distance d to the first present bound (gt, gte, lt, lte): max(0.5, σ(4d)); 1 without bounds.
pub fn predicate_confidence(predicate: &Bounds, value: f64) -> Option<f64> {
    if predicate.is_empty() {
        return (value > 0.0).then_some(1.0);
    }
    if !predicate.holds(value) {
        return None;
    }
    let bound = predicate.present().next().unwrap_or(value);
    Some(sigmoid(4.0 * (value - bound).abs()).max(0.5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RequestView;

    fn spec(
        name: &str,
        feature: FeatureKind,
        source: SourceSpec,
        predicate: Bounds,
    ) -> StructureRuleSpec {
        StructureRuleSpec {
            name: name.into(),
            feature,
            source,
            case_sensitive: false,
            predicate,
        }
    }

    fn regex(p: &str) -> SourceSpec {
        SourceSpec::Regex { pattern: p.into() }
    }

    fn eval(specs: &[StructureRuleSpec], text: &str) -> Vec<SignalResult> {
        let fam = StructureFamily::new(specs).expect("valid rules");
        let view = RequestView::from_text(text);
        let ctx = RequestContext::new(&view);
        let mut out: Vec<SignalResult> = fam
            .signal_names()
            .into_iter()
            .map(|n| SignalResult::unmatched(n.into()))
            .collect();
        fam.evaluate(&ctx, &mut out).expect("evaluates");
        out
    }

    fn gte(v: f64) -> Bounds {
        Bounds {
            gte: Some(v),
            ..Bounds::default()
        }
    }

    #[test]
    fn count_with_gte_and_confidence_curve() {
        let s = [spec("excl", FeatureKind::Count, regex("[!！]"), gte(2.0))];
        assert!(!eval(&s, "Hi!")[0].matched);
        let r = &eval(&s, "Hi!!")[0];
        assert_eq!((r.matched, r.value, r.confidence), (true, 2.0, 0.5));
        let r = &eval(&s, "Hi!！!")[0];
        assert!((r.confidence - sigmoid(4.0)).abs() < 1e-12);
    }

    #[test]
    fn predicates_gt_lt_lte() {
        let gt = Bounds {
            gt: Some(1.0),
            ..Bounds::default()
        };
        let lt = Bounds {
            lt: Some(2.0),
            ..Bounds::default()
        };
        let lte = Bounds {
            lte: Some(1.0),
            ..Bounds::default()
        };
        let q = regex(r"\?");
        let s = [
            spec("gt", FeatureKind::Count, q.clone(), gt),
            spec("lt", FeatureKind::Count, q.clone(), lt),
            spec("lte", FeatureKind::Count, q, lte),
        ];
        let r = eval(&s, "a? b?");
        assert_eq!(
            [r[0].matched, r[1].matched, r[2].matched],
            [true, false, false]
        );
        let r = eval(&s, "a?");
        assert_eq!(
            [r[0].matched, r[1].matched, r[2].matched],
            [false, true, true]
        );
    }

    #[test]
    fn exists_without_predicate() {
        let s = [spec(
            "num",
            FeatureKind::Exists,
            regex(r"(?m)^\s*\d+\.\s+"),
            Bounds::default(),
        )];
        assert!(eval(&s, "Steps:\n1. install\n2. run")[0].matched);
        assert!(!eval(&s, "version 1.2 works")[0].matched);
        assert_eq!(eval(&s, "Steps:\n1. install")[0].confidence, 1.0);
    }

    #[test]
    fn density_uses_multilingual_units() {
        let lt = Bounds {
            lt: Some(0.05),
            ..Bounds::default()
        };
        let s = [spec("low_q", FeatureKind::Density, regex("[?？]"), lt)];
        // 1 question mark over 5 units = 0.2: not low.
        let r = &eval(&s, "Who are you? Answer briefly.")[0];
        assert!(!r.matched && (r.value - 0.2).abs() < 1e-12);
        assert!(eval(&s, "Explain how induction cooktops work.")[0].matched);
        // 13 CJK units, one question mark.
        let r = &eval(&s, "水的化学式是什么？请简短回答。")[0];
        assert!((r.value - 1.0 / 13.0).abs() < 1e-12);
    }

    #[test]
    fn keyword_set_counts_bounded_and_deduplicated() {
        let gt = Bounds {
            gt: Some(0.08),
            ..Bounds::default()
        };
        let source = SourceSpec::KeywordSet {
            keywords: vec!["json".into(), "JSON".into(), "table".into(), "表格".into()],
        };
        let s = [spec("fmt", FeatureKind::Density, source, gt)];
        let r = &eval(&s, "Return JSON and a table")[0];
        assert!((r.value - 2.0 / 5.0).abs() < 1e-12);
        assert!(r.matched);
        let r = &eval(&s, "jsonify the tables and reports here please")[0];
        assert_eq!(r.value, 0.0);
        assert!((eval(&s, "用表格")[0].value - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn sequences_in_order_on_word_boundaries() {
        let source = SourceSpec::Sequence {
            sequences: vec![
                vec!["first".into(), "then".into()],
                vec!["先".into(), "再".into()],
            ],
        };
        let s = [spec(
            "seq",
            FeatureKind::Sequence,
            source,
            Bounds::default(),
        )];
        assert!(eval(&s, "First do this, then that")[0].matched);
        assert!(!eval(&s, "then first")[0].matched);
        assert!(!eval(&s, "firstly we strengthen it")[0].matched);
        assert!(eval(&s, "先查一下再回答")[0].matched);
    }

    #[test]
    fn empty_text_matches_nothing() {
        let lt = Bounds {
            lt: Some(0.05),
            ..Bounds::default()
        };
        let s = [spec("low_q", FeatureKind::Density, regex(r"\?"), lt)];
        assert!(!eval(&s, "  ")[0].matched);
    }

    #[test]
    fn invalid_rules_are_rejected() {
        let bad_regex = spec("r", FeatureKind::Count, regex("("), Bounds::default());
        assert!(matches!(
            StructureFamily::new(&[bad_regex]),
            Err(StructureError::Regex { .. })
        ));
        let exists_pred = spec("e", FeatureKind::Exists, regex("x"), gte(1.0));
        assert!(StructureFamily::new(&[exists_pred]).is_err());
        let seq_wrong = spec("s", FeatureKind::Sequence, regex("x"), Bounds::default());
        assert!(StructureFamily::new(&[seq_wrong]).is_err());
        let short = SourceSpec::Sequence {
            sequences: vec![vec!["only".into()]],
        };
        assert!(
            StructureFamily::new(&[spec("s", FeatureKind::Count, short, Bounds::default())])
                .is_err()
        );
        let both = Bounds {
            gt: Some(1.0),
            gte: Some(1.0),
            ..Bounds::default()
        };
        assert!(StructureFamily::new(&[spec("b", FeatureKind::Count, regex("x"), both)]).is_err());
    }
}
