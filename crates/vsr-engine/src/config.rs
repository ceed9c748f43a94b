//! Compiling a loaded [`vsr_config::Config`] into an [`Engine`].
//!
//! The heuristic families (keyword, structure, context, language) get their evaluators here.
//! Learned families are declared by name only; their evaluators come from `vsr-models` through
//! [`EngineBuilder::family`] (see [`Engine::builder_from_config`]). Until then their signals
//! never match on the routing path, and tests supply them with [`Engine::decide`].

use crate::algorithms::{ModelFacts, Selector};
use vsr_config as cfg;
use vsr_signals::{
    Bounds, ContextFamily, ContextRuleSpec, ConversationFamily, ConversationRule, EventFamily,
    EventRule, Family, FeatureKind, KeywordFamily, KeywordMethod, KeywordRuleSpec, LanguageFamily,
    MetadataFamily, MetadataRule, SourceSpec, StructureFamily, StructureRuleSpec,
};

use crate::decision::{DecisionSpec, ModelRef};
use crate::engine::{BuildError, ComposerSpec, Engine, EngineBuilder};
use crate::projection::{
    BandSpec, MappingSpec, PartitionSpec, ScoreInputSpec, ScoreSpec, ValueSource,
};
use crate::rule::RuleNode;

/// Complexity levels every complexity rule emits one of.
/// A `fast_response` plugin's answer when its configuration gives no `message`.
pub const DEFAULT_FAST_RESPONSE: &str = "This request was answered by the router.";

pub const COMPLEXITY_LEVELS: [&str; 3] = ["easy", "medium", "hard"];

impl Engine {
    /// An engine for a config with the heuristic families only.
    pub fn from_config(config: &cfg::Config) -> Result<Engine, BuildError> {
        Self::builder_from_config(config)?.build()
    }

    /// A builder preloaded from a config, to which learned family evaluators can be added.
    pub fn builder_from_config(config: &cfg::Config) -> Result<EngineBuilder, BuildError> {
        Self::builder_for_profile(config, config.uses_head_schema())
    }

    /// [`Self::builder_from_config`] for one routing profile of a config that is an August-2026
    /// one (`head`, [`cfg::Config::uses_head_schema`] of the whole file) or not: August
    /// profiles get upstream HEAD's rule semantics (an empty AND matches with confidence 0)
    /// and fire every matching keyword rule unless `global.router.keyword_match` says otherwise.
    pub fn builder_for_profile(
        config: &cfg::Config,
        head: bool,
    ) -> Result<EngineBuilder, BuildError> {
        let signals = &config.routing.signals;
        let family_err = |family: Family| {
            move |e: &dyn std::fmt::Display| BuildError::Family {
                family,
                message: e.to_string(),
            }
        };
        let mut b = Engine::builder().empty_and_matches(head);
        let global = config.global_settings();
        let keyword_match_written = config
            .global
            .as_ref()
            .and_then(|g| g.router.as_ref())
            .is_some_and(|r| r.get("keyword_match").is_some());
        let keyword_match = if head && !keyword_match_written {
            cfg::vocab::KeywordMatch::All
        } else {
            global.keyword_match
        };

        let keywords: Vec<KeywordRuleSpec> = signals
            .keywords
            .iter()
            .map(|k| keyword_spec(k, head))
            .collect();
        if !keywords.is_empty() {
            let f = KeywordFamily::new(&keywords)
                .map_err(|e| family_err(Family::Keyword)(&e))?
                .with_match(keyword_match);
            b = b.family(Box::new(f));
        }
        if !signals.structure.is_empty() {
            let specs = signals
                .structure
                .iter()
                .map(structure_spec)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| family_err(Family::Structure)(&e))?;
            let f = StructureFamily::new(&specs).map_err(|e| family_err(Family::Structure)(&e))?;
            b = b.family(Box::new(f));
        }
        if !signals.context.is_empty() {
            let specs: Vec<ContextRuleSpec> = signals
                .context
                .iter()
                .map(|c| ContextRuleSpec {
                    name: c.name.clone(),
                    min_tokens: c.min_tokens.unwrap_or(0),
                    max_tokens: c.max_tokens,
                })
                .collect();
            b = b.family(Box::new(
                ContextFamily::new(&specs).with_envelope_floor(head),
            ));
        }
        if !signals.language.is_empty() {
            b = b.family(Box::new(
                LanguageFamily::new(signals.language.iter().map(|l| &l.name))
                    .with_thresholds(signals.language.iter().map(|l| l.threshold).collect()),
            ));
        }

        if !signals.conversation.is_empty() {
            let rules = signals
                .conversation
                .iter()
                .map(ConversationRule::from_config)
                .collect();
            b = b.family(Box::new(ConversationFamily::new(rules)));
        }
        if !signals.events.is_empty() {
            let rules = signals
                .events
                .iter()
                .map(EventRule::from_config)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| family_err(Family::Event)(&e))?;
            b = b.family(Box::new(EventFamily::new(rules)));
        }
        if !signals.metadata.is_empty() {
            let rules = signals
                .metadata
                .iter()
                .map(MetadataRule::from_config)
                .collect();
            b = b.family(Box::new(MetadataFamily::new(rules)));
        }

        // Learned families: names only.
        b = b
            .declare(
                Family::Embedding,
                signals.embeddings.iter().map(|s| s.name.clone()),
            )
            .declare(Family::Domain, domain_names(config))
            .declare(
                Family::FactCheck,
                signals.fact_check.iter().map(|s| s.name.clone()),
            )
            .declare(
                Family::UserFeedback,
                signals.user_feedbacks.iter().map(|s| s.name.clone()),
            )
            .declare(
                Family::Preference,
                signals.preferences.iter().map(|s| s.name.clone()),
            )
            .declare(
                Family::Modality,
                signals.modality.iter().map(|s| s.name.clone()),
            )
            .declare(
                Family::Authz,
                signals.role_bindings.iter().map(|s| s.name.clone()),
            )
            .declare(
                Family::Jailbreak,
                signals.jailbreak.iter().map(|s| s.name.clone()),
            )
            .declare(Family::Pii, signals.pii.iter().map(|s| s.name.clone()))
            .declare(
                Family::Complexity,
                signals.complexity.iter().flat_map(|c| {
                    COMPLEXITY_LEVELS
                        .iter()
                        .map(move |l| format!("{}:{l}", c.name))
                }),
            );
        for c in &signals.complexity {
            if let Some(tree) = &c.composer {
                b = b.composer(ComposerSpec {
                    rule: c.name.clone(),
                    tree: rule_node(tree),
                });
            }
        }

        let p = &config.routing.projections;
        for part in &p.partitions {
            b = b.partition(PartitionSpec {
                name: part.name.clone(),
                semantics: part.semantics,
                temperature: part.temperature.unwrap_or(1.0),
                members: part.members.clone(),
                default: part.default.clone(),
            });
        }
        for s in &p.scores {
            b = b.score(ScoreSpec {
                name: s.name.clone(),
                inputs: s
                    .inputs
                    .iter()
                    .map(|i| ScoreInputSpec {
                        kind: i.kind.as_str().to_string(),
                        name: score_input_name(i),
                        weight: i.weight,
                        value_source: match i.value_source {
                            Some(cfg::ValueSource::Confidence) => ValueSource::Confidence,
                            // A kb_metric input reads the metric's value, whatever it says.
                            _ if i.kind == cfg::SignalType::KbMetric => ValueSource::Raw,
                            Some(cfg::ValueSource::Raw) => ValueSource::Raw,
                            _ => ValueSource::Binary,
                        },
                        match_value: i.match_value,
                        miss_value: i.miss,
                    })
                    .collect(),
            });
        }
        for m in &p.mappings {
            b = b.mapping(MappingSpec {
                name: m.name.clone(),
                source: m.source.clone(),
                slope: Some(m.slope()),
                outputs: m
                    .outputs
                    .iter()
                    .map(|o| BandSpec {
                        name: o.name.clone(),
                        bounds: bounds(&o.bounds),
                    })
                    .collect(),
            });
        }

        for d in &config.routing.decisions {
            b = b.decision(DecisionSpec {
                name: d.name.clone(),
                description: d.description.clone(),
                priority: d.priority,
                tier: d.tier,
                rules: if d.fallback {
                    RuleNode::Fallback
                } else {
                    rule_node(&d.rules)
                },
                model_refs: d.model_refs.iter().map(ModelRef::from).collect(),
                fast_response: d
                    .plugins
                    .iter()
                    .find(|p| p.kind == "fast_response")
                    .map(|p| {
                        p.configuration
                            .get("message")
                            .and_then(|m| m.as_str())
                            .unwrap_or(DEFAULT_FAST_RESPONSE)
                            .to_string()
                    }),
                algorithm: d
                    .algorithm
                    .as_ref()
                    .and_then(|a| Selector::from_config(&a.kind, a.params.as_ref())),
            });
        }
        b = b.model_facts(ModelFacts::from_config(config));

        b = b
            .strategy(config.routing.strategy.unwrap_or(global.strategy))
            .default_model(config.default_model().unwrap_or_default())
            .default_reasoning_effort(config.providers.defaults.default_reasoning_effort.clone());
        for m in &config.providers.models {
            if let Some(f) = &m.reasoning_family {
                b = b.reasoning_family(m.name.clone(), f.clone());
            }
        }
        Ok(b)
    }
}

/// The signal a score input reads: its `name`, or for `kb_metric` inputs `<kb>:<metric>`
/// lower-cased (the name of that metric in the `kb_metric` family).
pub fn score_input_name(i: &cfg::ScoreInput) -> String {
    if i.kind == cfg::SignalType::KbMetric {
        kb_metric_name(
            i.kb.as_deref().unwrap_or(""),
            i.metric.as_deref().unwrap_or(""),
        )
    } else {
        i.name.clone()
    }
}

/// The `kb_metric` signal name of a knowledge-base metric.
pub fn kb_metric_name(kb: &str, metric: &str) -> String {
    format!("{kb}:{metric}").to_lowercase()
}

/// Configured domains; when none are configured, the domain names decisions use (as the
/// original generates its categories from decision leaves).
fn domain_names(config: &cfg::Config) -> Vec<String> {
    let configured: Vec<String> = config
        .routing
        .signals
        .domains
        .iter()
        .map(|d| d.name.clone())
        .collect();
    if !configured.is_empty() {
        return configured;
    }
    let mut names: Vec<String> = config
        .routing
        .decisions
        .iter()
        .flat_map(|d| d.rules.leaves())
        .filter(|l| l.kind == cfg::SignalType::Domain)
        .map(|l| l.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn keyword_spec(k: &cfg::KeywordSignal, head: bool) -> KeywordRuleSpec {
    KeywordRuleSpec {
        name: k.name.clone(),
        operator: k.operator.unwrap_or_default(),
        keywords: k.keywords.clone(),
        case_sensitive: k.case_sensitive(),
        method: match k.method_kind() {
            cfg::KeywordMethod::Bm25 => KeywordMethod::Bm25,
            cfg::KeywordMethod::Ngram => KeywordMethod::Ngram,
            _ if k.keywords_are_patterns(head) => KeywordMethod::Pattern,
            cfg::KeywordMethod::Regex | cfg::KeywordMethod::Fuzzy => KeywordMethod::Phrase,
        },
        fuzzy_match: k.is_fuzzy(),
        fuzzy_threshold: k.fuzzy_threshold.and_then(|t| u32::try_from(t).ok()),
        bm25_threshold: k.bm25_threshold,
        ngram_threshold: k.ngram_threshold,
        ngram_arity: k.ngram_arity.and_then(|a| usize::try_from(a).ok()),
    }
}

fn structure_spec(s: &cfg::StructureSignal) -> Result<StructureRuleSpec, String> {
    let feature = match s.feature.kind {
        cfg::FeatureType::Exists => FeatureKind::Exists,
        cfg::FeatureType::Count => FeatureKind::Count,
        cfg::FeatureType::Density => FeatureKind::Density,
        cfg::FeatureType::Sequence => FeatureKind::Sequence,
    };
    let src = &s.feature.source;
    let source = match src.kind {
        cfg::SourceType::Regex => SourceSpec::Regex {
            pattern: src.pattern.clone().unwrap_or_default(),
        },
        cfg::SourceType::KeywordSet => SourceSpec::KeywordSet {
            keywords: src.keywords.clone(),
        },
        cfg::SourceType::Sequence => SourceSpec::Sequence {
            sequences: src.sequences.clone(),
        },
    };
    Ok(StructureRuleSpec {
        name: s.name.clone(),
        feature,
        source,
        case_sensitive: src.case_sensitive.unwrap_or(false),
        predicate: s.predicate.as_ref().map(bounds).unwrap_or_default(),
    })
}

fn bounds(b: &cfg::Bounds) -> Bounds {
    Bounds {
        gt: b.gt,
        gte: b.gte,
        lt: b.lt,
        lte: b.lte,
    }
}

/// The engine's rule tree for a config rule tree.
pub fn rule_node(n: &cfg::RuleNode) -> RuleNode {
    match n {
        cfg::RuleNode::Signal(s) => {
            // A classifier leaf reads its label's score, the signal `name:label`.
            let name = match &s.label {
                Some(l) => format!("{}:{l}", s.name),
                None => s.name.clone(),
            };
            match &s.predicate {
                Some(p) => RuleNode::predicate_leaf(
                    s.kind.as_str(),
                    name,
                    bounds(&p.0),
                    s.on_error == Some(cfg::vocab::LeafOnError::Match),
                ),
                None => RuleNode::leaf(s.kind.as_str(), name),
            }
        }
        cfg::RuleNode::And(c) => RuleNode::And(c.iter().map(rule_node).collect()),
        cfg::RuleNode::Or(c) => RuleNode::Or(c.iter().map(rule_node).collect()),
        cfg::RuleNode::Not(c) => RuleNode::Not(vec![rule_node(c)]),
    }
}
