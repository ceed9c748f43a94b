//! Projections: partitions prune competing domain/embedding matches, scores add weighted
//! signals up, mappings turn a score into a named band that decisions reference as
//! `type: projection`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vsr_signals::bounds::sigmoid;
use vsr_signals::{Bounds, Family, SignalCatalog, SignalSet};

/// How a partition resolves several matched members (the config's `semantics`).
pub use vsr_config::vocab::PartitionSemantics;

/// A partition over domain or embedding signals.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSpec {
    pub name: String,
    pub semantics: PartitionSemantics,
    /// Softmax temperature (values ≤ 0 read as 1).
    pub temperature: f64,
    pub members: Vec<String>,
    /// Member that becomes matched (confidence 1) when no member matched.
    pub default: Option<String>,
}

/// Where a score input's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueSource {
    /// `match` when matched (default 1), `miss` otherwise.
    #[default]
    Binary,
    /// The signal's confidence when matched, `miss` otherwise.
    Confidence,
    /// The signal's raw value (a count, a density, a token count), matched or not.
    Raw,
}

/// One weighted input of a score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreInputSpec {
    pub kind: String,
    pub name: String,
    pub weight: f64,
    pub value_source: ValueSource,
    /// Value when matched (binary source); default 1.
    pub match_value: Option<f64>,
    /// Value when not matched; default 0.
    pub miss_value: Option<f64>,
}

/// A weighted sum of signals.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSpec {
    pub name: String,
    pub inputs: Vec<ScoreInputSpec>,
}

/// One output band of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct BandSpec {
    pub name: String,
    pub bounds: Bounds,
}

/// Threshold bands over a score; the first band that holds is emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSpec {
    pub name: String,
    pub source: String,
    /// Slope of the sigmoid-distance calibration (default 12).
    pub slope: Option<f64>,
    pub outputs: Vec<BandSpec>,
}

/// Default slope of the sigmoid-distance calibration.
pub const DEFAULT_SLOPE: f64 = 12.0;

pub(crate) struct Partition {
    name: Arc<str>,
    semantics: PartitionSemantics,
    temperature: f64,
    /// The family the members belong to, and their slots in declaration order.
    family: Family,
    members: Vec<usize>,
    default: Option<usize>,
}

pub(crate) struct ScoreInput {
    label: Arc<str>,
    family: Family,
    slot: Option<usize>,
    weight: f64,
    source: ValueSource,
    match_value: f64,
    miss_value: f64,
}

pub(crate) struct Score {
    name: Arc<str>,
    inputs: Vec<ScoreInput>,
}

pub(crate) struct Band {
    bounds: Bounds,
    slot: usize,
}

pub(crate) struct Mapping {
    name: Arc<str>,
    source: usize,
    source_name: Arc<str>,
    slope: f64,
    bands: Vec<Band>,
}

/// Problems that make a projection unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProjectionError {
    #[error("partition `{partition}`: members must all be domain or all be embedding signals")]
    MixedPartition { partition: String },
    #[error("partition `{partition}`: default `{default}` is not one of its members")]
    DefaultNotMember { partition: String, default: String },
    #[error("score `{score}`: unknown input type `{kind}`")]
    UnknownInputType { score: String, kind: String },
    #[error("score `{score}`: input `{name}` is a projection; scores read signals only")]
    ProjectionInput { score: String, name: String },
    #[error("mapping `{mapping}`: unknown source score `{source_score}`")]
    UnknownSource {
        mapping: String,
        source_score: String,
    },
    #[error("mapping `{mapping}`: output `{output}` has no bound")]
    UnboundedBand { mapping: String, output: String },
}

impl Partition {
    pub fn compile(
        spec: &PartitionSpec,
        catalog: &SignalCatalog,
    ) -> Result<Option<Self>, ProjectionError> {
        // Domain first, as the original applies partitions to domains before embeddings.
        let pick = [Family::Domain, Family::Embedding]
            .into_iter()
            .find_map(|family| {
                let slots: Vec<usize> = spec
                    .members
                    .iter()
                    .filter_map(|m| catalog.position(family, m))
                    .collect();
                (slots.len() >= 2).then_some((family, slots))
            });
        let Some((family, members)) = pick else {
            // Fewer than two known members: nothing to partition.
            return Ok(None);
        };
        if members.len() != spec.members.len() {
            return Err(ProjectionError::MixedPartition {
                partition: spec.name.clone(),
            });
        }
        let default = match &spec.default {
            Some(d) => Some(
                spec.members
                    .iter()
                    .position(|m| m == d)
                    .map(|i| members[i])
                    .ok_or_else(|| ProjectionError::DefaultNotMember {
                        partition: spec.name.clone(),
                        default: d.clone(),
                    })?,
            ),
            None => None,
        };
        Ok(Some(Self {
            name: Arc::from(spec.name.as_str()),
            semantics: spec.semantics,
            temperature: if spec.temperature > 0.0 {
                spec.temperature
            } else {
                1.0
            },
            family,
            members,
            default,
        }))
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// Applies the partition in place and describes what happened.
    pub fn apply(&self, set: &mut SignalSet) -> PartitionTrace {
        let mut trace = PartitionTrace {
            name: self.name.clone(),
            family: self.family,
            contenders: Vec::new(),
            winner: None,
            confidence: 0.0,
            defaulted: false,
        };
        let fam = set.family(self.family);
        let contenders: Vec<(usize, f64)> = self
            .members
            .iter()
            .filter_map(|&slot| {
                fam.signals
                    .get(slot)
                    .filter(|s| s.matched)
                    .map(|s| (slot, s.confidence))
            })
            .collect();
        let evaluated = fam.evaluated && fam.error.is_none();
        trace.contenders = contenders
            .iter()
            .map(|&(slot, _)| fam.signals[slot].name.clone())
            .collect();
        match contenders.as_slice() {
            [] => {
                // Only a family that actually ran can have "nothing matched".
                if let (true, Some(d)) = (evaluated, self.default)
                    && let Some(s) = set.slot_mut(self.family, d)
                {
                    s.set_match(1.0);
                    s.evidence = vec![format!("default of partition {}", self.name)];
                    trace.winner = Some(s.name.clone());
                    trace.confidence = 1.0;
                    trace.defaulted = true;
                }
            }
            [(slot, conf)] => {
                trace.winner = Some(set.family(self.family).signals[*slot].name.clone());
                trace.confidence = *conf;
            }
            many => {
                // Highest confidence wins; ties go to the earlier member.
                let mut best = many[0];
                for &c in &many[1..] {
                    if c.1 > best.1 {
                        best = c;
                    }
                }
                let confidence = match self.semantics {
                    PartitionSemantics::Exclusive => best.1,
                    PartitionSemantics::SoftmaxExclusive => {
                        let max = best.1;
                        let total: f64 = many
                            .iter()
                            .map(|c| ((c.1 - max) / self.temperature).exp())
                            .sum();
                        1.0 / total
                    }
                };
                for &(slot, _) in many {
                    if let Some(s) = set.slot_mut(self.family, slot) {
                        if slot == best.0 {
                            s.set_match(confidence);
                            trace.winner = Some(s.name.clone());
                        } else {
                            s.clear_match();
                        }
                    }
                }
                trace.confidence = confidence;
            }
        }
        trace
    }
}

impl Score {
    pub fn compile(spec: &ScoreSpec, catalog: &SignalCatalog) -> Result<Self, ProjectionError> {
        let inputs = spec
            .inputs
            .iter()
            .map(|i| {
                let family =
                    Family::parse(&i.kind).ok_or_else(|| ProjectionError::UnknownInputType {
                        score: spec.name.clone(),
                        kind: i.kind.clone(),
                    })?;
                if family == Family::Projection {
                    return Err(ProjectionError::ProjectionInput {
                        score: spec.name.clone(),
                        name: i.name.clone(),
                    });
                }
                Ok(ScoreInput {
                    label: Arc::from(format!("{}:{}", family.as_str(), i.name)),
                    family,
                    slot: catalog.position(family, &i.name),
                    weight: i.weight,
                    source: i.value_source,
                    match_value: i.match_value.unwrap_or(1.0),
                    miss_value: i.miss_value.unwrap_or(0.0),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            name: Arc::from(spec.name.as_str()),
            inputs,
        })
    }

    /// Families this score reads.
    pub fn families(&self) -> impl Iterator<Item = Family> + '_ {
        self.inputs.iter().map(|i| i.family)
    }

    /// The signal slots this score reads (inputs naming unknown signals are left out).
    pub fn input_slots(&self) -> impl Iterator<Item = (Family, usize)> + '_ {
        self.inputs
            .iter()
            .filter_map(|i| i.slot.map(|s| (i.family, s)))
    }

    /// The score and the inputs that contributed (non-zero terms only).
    pub fn compute(&self, set: &SignalSet) -> ScoreTrace {
        let mut value = 0.0;
        let mut terms = Vec::new();
        for i in &self.inputs {
            let signal = i.slot.and_then(|s| set.slot(i.family, s));
            let matched = signal.is_some_and(|s| s.matched);
            let v = match i.source {
                ValueSource::Binary if matched => i.match_value,
                ValueSource::Confidence if matched => signal.map_or(1.0, |s| {
                    if s.confidence > 0.0 {
                        s.confidence
                    } else {
                        1.0
                    }
                }),
                ValueSource::Raw => signal.map_or(0.0, |s| s.value),
                _ => i.miss_value,
            };
            let contribution = i.weight * v;
            if contribution != 0.0 {
                value += contribution;
                terms.push(ScoreTerm {
                    signal: i.label.clone(),
                    weight: i.weight,
                    value: v,
                    contribution,
                });
            }
        }
        ScoreTrace {
            name: self.name.clone(),
            value,
            terms,
        }
    }
}

impl Mapping {
    pub fn compile(
        spec: &MappingSpec,
        scores: &[Score],
        catalog: &SignalCatalog,
    ) -> Result<Self, ProjectionError> {
        let source = scores
            .iter()
            .position(|s| *s.name == spec.source)
            .ok_or_else(|| ProjectionError::UnknownSource {
                mapping: spec.name.clone(),
                source_score: spec.source.clone(),
            })?;
        let bands = spec
            .outputs
            .iter()
            .map(|o| {
                if o.bounds.is_empty() {
                    return Err(ProjectionError::UnboundedBand {
                        mapping: spec.name.clone(),
                        output: o.name.clone(),
                    });
                }
                Ok(Band {
                    bounds: o.bounds,
                    // The catalog declares every output, so the slot exists.
                    slot: catalog
                        .position(Family::Projection, &o.name)
                        .unwrap_or(usize::MAX),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            name: Arc::from(spec.name.as_str()),
            source,
            source_name: Arc::from(spec.source.as_str()),
            slope: spec.slope.filter(|s| *s > 0.0).unwrap_or(DEFAULT_SLOPE),
            bands,
        })
    }

    pub fn source(&self) -> usize {
        self.source
    }

    /// Output slots of this mapping.
    pub fn output_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.bands.iter().map(|b| b.slot)
    }

    /// Emits the first band that holds for the score, with confidence σ(slope·d) where d is the
    /// distance to the band's nearest bound.
    pub fn apply(&self, score: f64, set: &mut SignalSet) -> MappingTrace {
        let mut trace = MappingTrace {
            name: self.name.clone(),
            source: self.source_name.clone(),
            score,
            output: None,
            confidence: 0.0,
        };
        if let Some(band) = self.bands.iter().find(|b| b.bounds.holds(score)) {
            let d = band.bounds.nearest_distance(score).unwrap_or(0.0);
            let confidence = sigmoid(self.slope * d);
            if let Some(s) = set.slot_mut(Family::Projection, band.slot) {
                s.set_match(confidence);
                s.value = score;
                trace.output = Some(s.name.clone());
                trace.confidence = confidence;
            }
        }
        trace
    }
}

/// What a partition did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionTrace {
    pub name: Arc<str>,
    pub family: Family,
    /// Members that matched before the partition.
    pub contenders: Vec<Arc<str>>,
    pub winner: Option<Arc<str>>,
    pub confidence: f64,
    /// The default member was synthesized because nothing matched.
    pub defaulted: bool,
}

/// One non-zero term of a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreTerm {
    /// `type:name`.
    pub signal: Arc<str>,
    pub weight: f64,
    pub value: f64,
    pub contribution: f64,
}

/// A score's value and how it was reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreTrace {
    pub name: Arc<str>,
    pub value: f64,
    pub terms: Vec<ScoreTerm>,
}

/// A mapping's band for this request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingTrace {
    pub name: Arc<str>,
    /// The score the mapping reads.
    pub source: Arc<str>,
    pub score: f64,
    /// The emitted output; `None` when the score falls between bands.
    pub output: Option<Arc<str>>,
    pub confidence: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> SignalCatalog {
        let mut c = SignalCatalog::new();
        c.declare(Family::Domain, ["law", "math", "other"]);
        c.declare(Family::Embedding, ["e1", "e2"]);
        c.declare(Family::Keyword, ["k"]);
        c.declare(Family::Structure, ["s"]);
        c.declare(Family::Projection, ["low", "mid", "high"]);
        c
    }

    fn partition(semantics: PartitionSemantics, temperature: f64) -> Partition {
        let spec = PartitionSpec {
            name: "p".into(),
            semantics,
            temperature,
            members: vec!["law".into(), "math".into(), "other".into()],
            default: Some("other".into()),
        };
        Partition::compile(&spec, &catalog())
            .expect("valid")
            .expect("applies")
    }

    fn domains(matches: &[(&str, f64)]) -> SignalSet {
        let mut s = SignalSet::empty(&catalog());
        s.family_mut(Family::Domain).evaluated = true;
        for (n, c) in matches {
            s.set_match(Family::Domain, n, *c);
        }
        s
    }

    #[test]
    fn partition_synthesizes_default_when_nothing_matched() {
        let p = partition(PartitionSemantics::SoftmaxExclusive, 0.1);
        let mut s = domains(&[]);
        let t = p.apply(&mut s);
        assert!(t.defaulted && s.is_matched(Family::Domain, "other"));
        // A family that did not run gets no default.
        let mut s = SignalSet::empty(&catalog());
        assert!(!p.apply(&mut s).defaulted);
        assert!(!s.is_matched(Family::Domain, "other"));
    }

    #[test]
    fn partition_keeps_a_single_contender() {
        let p = partition(PartitionSemantics::SoftmaxExclusive, 0.1);
        let mut s = domains(&[("math", 0.7)]);
        let t = p.apply(&mut s);
        assert_eq!(t.winner.as_deref(), Some("math"));
        assert_eq!(
            s.get(Family::Domain, "math").map(|r| r.confidence),
            Some(0.7)
        );
        assert!(!s.is_matched(Family::Domain, "other"));
    }

    #[test]
    fn softmax_partition_rescores_the_winner_and_drops_the_rest() {
        let p = partition(PartitionSemantics::SoftmaxExclusive, 0.1);
        let mut s = domains(&[("law", 0.6), ("math", 0.8)]);
        p.apply(&mut s);
        assert!(!s.is_matched(Family::Domain, "law"));
        let c = s.get(Family::Domain, "math").map_or(0.0, |r| r.confidence);
        let expected = 1.0 / (1.0 + ((0.6f64 - 0.8) / 0.1).exp());
        assert!((c - expected).abs() < 1e-12);
    }

    #[test]
    fn exclusive_partition_keeps_raw_confidence_and_ties_go_first() {
        let p = partition(PartitionSemantics::Exclusive, 1.0);
        let mut s = domains(&[("law", 0.8), ("math", 0.8)]);
        let t = p.apply(&mut s);
        assert_eq!(t.winner.as_deref(), Some("law"));
        assert_eq!(
            s.get(Family::Domain, "law").map(|r| r.confidence),
            Some(0.8)
        );
        assert!(!s.is_matched(Family::Domain, "math"));
    }

    #[test]
    fn partition_validation() {
        let mixed = PartitionSpec {
            name: "m".into(),
            semantics: PartitionSemantics::Exclusive,
            temperature: 1.0,
            members: vec!["law".into(), "math".into(), "e1".into()],
            default: None,
        };
        assert!(matches!(
            Partition::compile(&mixed, &catalog()),
            Err(ProjectionError::MixedPartition { .. })
        ));
        let bad_default = PartitionSpec {
            members: vec!["e1".into(), "e2".into()],
            default: Some("law".into()),
            ..mixed
        };
        assert!(matches!(
            Partition::compile(&bad_default, &catalog()),
            Err(ProjectionError::DefaultNotMember { .. })
        ));
    }

    fn input(kind: &str, name: &str, weight: f64, source: ValueSource) -> ScoreInputSpec {
        ScoreInputSpec {
            kind: kind.into(),
            name: name.into(),
            weight,
            value_source: source,
            match_value: None,
            miss_value: None,
        }
    }

    #[test]
    fn score_value_sources() {
        let spec = ScoreSpec {
            name: "sc".into(),
            inputs: vec![
                input("keyword", "k", 0.5, ValueSource::Binary),
                input("domain", "law", 1.0, ValueSource::Confidence),
                input("structure", "s", 0.1, ValueSource::Raw),
                ScoreInputSpec {
                    miss_value: Some(-0.2),
                    ..input("domain", "math", 1.0, ValueSource::Binary)
                },
                ScoreInputSpec {
                    match_value: Some(3.0),
                    ..input("keyword", "k", 1.0, ValueSource::Binary)
                },
            ],
        };
        let score = Score::compile(&spec, &catalog()).expect("valid");
        let mut s = SignalSet::empty(&catalog());
        s.set_match(Family::Keyword, "k", 0.3);
        s.set_match(Family::Domain, "law", 0.9);
        if let Some(r) = s.get_mut(Family::Structure, "s") {
            r.value = 4.0; // raw value counts even when unmatched
        }
        let t = score.compute(&s);
        let expected = 0.5 + 0.9 + 0.4 - 0.2 + 3.0;
        assert!((t.value - expected).abs() < 1e-12, "{t:?}");
        assert_eq!(t.terms.len(), 5);
    }

    #[test]
    fn score_rejects_projection_and_unknown_inputs() {
        let bad = ScoreSpec {
            name: "sc".into(),
            inputs: vec![input("projection", "low", 1.0, ValueSource::Binary)],
        };
        assert!(matches!(
            Score::compile(&bad, &catalog()),
            Err(ProjectionError::ProjectionInput { .. })
        ));
        let bad = ScoreSpec {
            name: "sc".into(),
            inputs: vec![input("vibes", "x", 1.0, ValueSource::Binary)],
        };
        assert!(matches!(
            Score::compile(&bad, &catalog()),
            Err(ProjectionError::UnknownInputType { .. })
        ));
    }

    fn mapping(slope: Option<f64>) -> (Vec<Score>, Mapping) {
        let scores = vec![
            Score::compile(
                &ScoreSpec {
                    name: "sc".into(),
                    inputs: vec![],
                },
                &catalog(),
            )
            .expect("ok"),
        ];
        let b = |name: &str, bounds: Bounds| BandSpec {
            name: name.into(),
            bounds,
        };
        let spec = MappingSpec {
            name: "m".into(),
            source: "sc".into(),
            slope,
            outputs: vec![
                b(
                    "low",
                    Bounds {
                        lt: Some(0.2),
                        ..Bounds::default()
                    },
                ),
                b(
                    "mid",
                    Bounds {
                        gte: Some(0.2),
                        lt: Some(0.5),
                        ..Bounds::default()
                    },
                ),
                // Overlaps "mid" on purpose: the first band wins.
                b(
                    "high",
                    Bounds {
                        gte: Some(0.4),
                        lte: Some(0.9),
                        ..Bounds::default()
                    },
                ),
            ],
        };
        let m = Mapping::compile(&spec, &scores, &catalog()).expect("valid");
        (scores, m)
    }

    #[test]
    fn mapping_first_band_wins_with_sigmoid_distance() {
        let (_, m) = mapping(Some(10.0));
        let mut s = SignalSet::empty(&catalog());
        let t = m.apply(0.45, &mut s);
        assert_eq!(t.output.as_deref(), Some("mid"));
        assert!((t.confidence - sigmoid(10.0 * 0.05)).abs() < 1e-12);
        assert!(!s.is_matched(Family::Projection, "high"));
        let mut s = SignalSet::empty(&catalog());
        assert_eq!(m.apply(0.2, &mut s).confidence, 0.5); // exactly on a bound
    }

    #[test]
    fn mapping_gaps_emit_nothing_and_default_slope_is_12() {
        let (_, m) = mapping(None);
        let mut s = SignalSet::empty(&catalog());
        assert!(m.apply(0.95, &mut s).output.is_none());
        let t = m.apply(0.0, &mut s);
        assert!((t.confidence - sigmoid(12.0 * 0.2)).abs() < 1e-12);
    }

    #[test]
    fn mapping_validation() {
        let scores: Vec<Score> = vec![];
        let spec = MappingSpec {
            name: "m".into(),
            source: "nope".into(),
            slope: None,
            outputs: vec![],
        };
        assert!(matches!(
            Mapping::compile(&spec, &scores, &catalog()),
            Err(ProjectionError::UnknownSource { .. })
        ));
        let scores = vec![
            Score::compile(
                &ScoreSpec {
                    name: "sc".into(),
                    inputs: vec![],
                },
                &catalog(),
            )
            .expect("ok"),
        ];
        let spec = MappingSpec {
            name: "m".into(),
            source: "sc".into(),
            slope: None,
            outputs: vec![BandSpec {
                name: "low".into(),
                bounds: Bounds::default(),
            }],
        };
        assert!(matches!(
            Mapping::compile(&spec, &scores, &catalog()),
            Err(ProjectionError::UnboundedBand { .. })
        ));
    }
}
