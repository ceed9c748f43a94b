//! The compiled router: signals → projections → decision, with a trace.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use vsr_signals::{
    Family, FamilySet, RequestContext, RequestView, SignalCatalog, SignalFamily, SignalSet,
};

use crate::algorithms::{AlgorithmTrace, ModelFacts};
use crate::decision::{Candidate, Decision, DecisionSpec, ModelRef, Strategy, select};
use crate::projection::{
    Mapping, MappingSpec, Partition, PartitionSpec, ProjectionError, Score, ScoreSpec,
};
use crate::result::{
    DecisionTrace, DecisionsTrace, LeafTrace, ProjectionsTrace, Reasoning, RoutingResult, Timing,
};
use crate::rule::{Node, RuleNode, leaf_outcome};

/// A complexity rule's composer: its levels survive only when the tree matches.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposerSpec {
    /// The complexity rule name (its signals are `rule:easy|medium|hard`).
    pub rule: String,
    pub tree: RuleNode,
}

/// Which signals to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvalMode {
    /// Only families that decisions (or the scores behind referenced projections) need.
    #[default]
    Routing,
    /// Every family with an evaluator (the eval API and CLI), with a full decision trace.
    All,
}

/// Why an engine cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error("decision `{0}` is declared more than once")]
    DuplicateDecision(String),
    #[error("{0} signals are computed by the engine and cannot have an evaluator")]
    ReservedFamily(Family),
    #[error("signal family `{family}`: {message}")]
    Family { family: Family, message: String },
}

/// Collects the parts of an [`Engine`].
#[derive(Default)]
pub struct EngineBuilder {
    families: Vec<Box<dyn SignalFamily>>,
    declared: Vec<(Family, Vec<String>)>,
    partitions: Vec<PartitionSpec>,
    scores: Vec<ScoreSpec>,
    mappings: Vec<MappingSpec>,
    composers: Vec<ComposerSpec>,
    decisions: Vec<DecisionSpec>,
    strategy: Strategy,
    default_model: String,
    reasoning_families: HashMap<String, String>,
    default_reasoning_effort: Option<String>,
    recipe: Option<String>,
    /// Empty ANDs in decision rules match with confidence 0 (upstream HEAD, August configs).
    empty_and_matches: bool,
    /// What model-selection algorithms know about each model.
    model_facts: ModelFacts,
}

impl EngineBuilder {
    /// Quality and price per model, read by decision algorithms such as `multi_factor`.
    pub fn model_facts(mut self, facts: ModelFacts) -> Self {
        self.model_facts = facts;
        self
    }

    /// Makes an empty AND in a decision's rules match every request with confidence 0, as
    /// upstream HEAD does (August-2026 configs); off, it never matches (March).
    pub fn empty_and_matches(mut self, on: bool) -> Self {
        self.empty_and_matches = on;
        self
    }

    /// The named recipe this engine routes for (copied into every [`RoutingResult`]); unset
    /// for the default profile.
    pub fn recipe(mut self, name: Option<String>) -> Self {
        self.recipe = name;
        self
    }

    /// Adds a family evaluator (its names become that family's signals). A later evaluator of
    /// the same family replaces an earlier one (e.g. a learned one over a declaration).
    pub fn family(mut self, f: Box<dyn SignalFamily>) -> Self {
        self.families.push(f);
        self
    }

    /// Declares the signal names of a family that has no evaluator yet (its signals stay
    /// unmatched unless supplied, e.g. by [`Engine::decide`]).
    pub fn declare<S: Into<String>>(
        mut self,
        family: Family,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.declared
            .push((family, names.into_iter().map(Into::into).collect()));
        self
    }

    pub fn partition(mut self, p: PartitionSpec) -> Self {
        self.partitions.push(p);
        self
    }

    pub fn score(mut self, s: ScoreSpec) -> Self {
        self.scores.push(s);
        self
    }

    pub fn mapping(mut self, m: MappingSpec) -> Self {
        self.mappings.push(m);
        self
    }

    pub fn composer(mut self, c: ComposerSpec) -> Self {
        self.composers.push(c);
        self
    }

    pub fn decision(mut self, d: DecisionSpec) -> Self {
        self.decisions.push(d);
        self
    }

    pub fn strategy(mut self, s: Strategy) -> Self {
        self.strategy = s;
        self
    }

    pub fn default_model(mut self, m: impl Into<String>) -> Self {
        self.default_model = m.into();
        self
    }

    /// The reasoning family of a model (by model name).
    pub fn reasoning_family(mut self, model: impl Into<String>, family: impl Into<String>) -> Self {
        self.reasoning_families.insert(model.into(), family.into());
        self
    }

    pub fn default_reasoning_effort(mut self, effort: Option<String>) -> Self {
        self.default_reasoning_effort = effort;
        self
    }

    pub fn build(self) -> Result<Engine, BuildError> {
        let mut catalog = SignalCatalog::new();
        for (family, names) in &self.declared {
            catalog.declare(*family, names);
        }
        let mut evaluators: Vec<Option<Box<dyn SignalFamily>>> =
            (0..Family::COUNT).map(|_| None).collect();
        for f in self.families {
            let family = f.family();
            if family == Family::Projection {
                return Err(BuildError::ReservedFamily(family));
            }
            catalog.declare(family, f.signal_names());
            evaluators[family.index()] = Some(f);
        }
        catalog.declare(
            Family::Projection,
            self.mappings
                .iter()
                .flat_map(|m| m.outputs.iter().map(|o| o.name.clone())),
        );

        let mut partitions = Vec::new();
        for p in &self.partitions {
            if let Some(p) = Partition::compile(p, &catalog)? {
                partitions.push(p);
            }
        }
        // Domain partitions run before embedding ones; declaration order within a family.
        partitions.sort_by_key(|p| p.family() != Family::Domain);
        let scores: Vec<Score> = self
            .scores
            .iter()
            .map(|s| Score::compile(s, &catalog))
            .collect::<Result<_, _>>()?;
        let mappings: Vec<Mapping> = self
            .mappings
            .iter()
            .map(|m| Mapping::compile(m, &scores, &catalog))
            .collect::<Result<_, _>>()?;

        let composer_allow = |f: Family| f != Family::Complexity && f != Family::Projection;
        let composers = self
            .composers
            .iter()
            .map(|c| {
                let prefix = format!("{}:", c.rule);
                let slots = catalog
                    .names(Family::Complexity)
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.starts_with(&prefix))
                    .map(|(i, _)| i)
                    .collect();
                (slots, Node::compile(&c.tree, &catalog, &composer_allow))
            })
            .collect::<Vec<(Vec<usize>, Node)>>();

        let mut decisions: Vec<Decision> = Vec::with_capacity(self.decisions.len());
        for d in &self.decisions {
            if decisions.iter().any(|x| *x.name == d.name) {
                return Err(BuildError::DuplicateDecision(d.name.clone()));
            }
            decisions.push(Decision {
                name: Arc::from(d.name.as_str()),
                priority: d.priority,
                tier: d.tier,
                node: if self.empty_and_matches {
                    Node::compile(
                        &d.rules.clone().with_matching_empty_and(),
                        &catalog,
                        &|_| true,
                    )
                } else {
                    Node::compile(&d.rules, &catalog, &|_| true)
                },
                model_refs: d.model_refs.clone(),
                fast_response: d.fast_response.as_deref().map(Arc::from),
                algorithm: d.algorithm.clone(),
            });
        }

        let (required, required_slots) = required(&decisions, &scores, &mappings, &composers);
        Ok(Engine {
            catalog,
            evaluators,
            partitions,
            composers,
            scores,
            mappings,
            decisions,
            strategy: self.strategy,
            default_model: self.default_model,
            reasoning_families: self.reasoning_families,
            default_reasoning_effort: self.default_reasoning_effort,
            recipe: self.recipe,
            model_facts: self.model_facts,
            required,
            required_slots,
        })
    }
}

/// Families the routing path must compute: those of decision leaves, those feeding the scores
/// behind projection outputs that decisions reference, and those of composers of complexity
/// rules when complexity is needed.
fn required(
    decisions: &[Decision],
    scores: &[Score],
    mappings: &[Mapping],
    composers: &[(Vec<usize>, Node)],
) -> (FamilySet, Vec<(Family, usize)>) {
    let mut set = FamilySet::EMPTY;
    let mut slots: Vec<(Family, usize)> = Vec::new();
    let mut visit = |leaf: &crate::rule::Leaf, set: &mut FamilySet| {
        if let Some(f) = leaf.family {
            set.insert(f);
            if let Some(s) = leaf.slot {
                slots.push((f, s));
            }
        }
    };
    for d in decisions {
        d.node.for_each_leaf(&mut |leaf| visit(leaf, &mut set));
    }
    if set.contains(Family::Complexity) {
        for (_, node) in composers {
            node.for_each_leaf(&mut |leaf| visit(leaf, &mut set));
        }
    }
    let outputs: Vec<usize> = slots
        .iter()
        .filter(|(f, _)| *f == Family::Projection)
        .map(|(_, s)| *s)
        .collect();
    for m in mappings {
        if m.output_slots().any(|s| outputs.contains(&s)) {
            let score = &scores[m.source()];
            score.families().for_each(|f| set.insert(f));
            slots.extend(score.input_slots());
        }
    }
    slots.sort();
    slots.dedup();
    (set, slots)
}

/// The compiled router. Immutable and shareable across threads; every method is synchronous.
pub struct Engine {
    catalog: SignalCatalog,
    evaluators: Vec<Option<Box<dyn SignalFamily>>>,
    partitions: Vec<Partition>,
    composers: Vec<(Vec<usize>, Node)>,
    scores: Vec<Score>,
    mappings: Vec<Mapping>,
    decisions: Vec<Decision>,
    strategy: Strategy,
    default_model: String,
    reasoning_families: HashMap<String, String>,
    default_reasoning_effort: Option<String>,
    recipe: Option<String>,
    model_facts: ModelFacts,
    required: FamilySet,
    required_slots: Vec<(Family, usize)>,
}

impl Engine {
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The named recipe this engine routes for; `None` for the default profile.
    pub fn recipe(&self) -> Option<&str> {
        self.recipe.as_deref()
    }

    /// Every signal name per family.
    pub fn catalog(&self) -> &SignalCatalog {
        &self.catalog
    }

    /// Families the routing path computes (see [`EvalMode::Routing`]).
    pub fn required_families(&self) -> FamilySet {
        self.required
    }

    /// The signals the routing path reads (decision leaves, inputs of the scores behind
    /// referenced projection outputs, composer leaves), as `(family, name)` in family order.
    /// Projection outputs are included; they are computed by the engine, not by a family.
    pub fn required_signals(&self) -> Vec<(Family, &str)> {
        self.required_slots
            .iter()
            .filter_map(|&(f, s)| self.catalog.names(f).get(s).map(|n| (f, &**n)))
            .collect()
    }

    /// Families that have an evaluator.
    pub fn available_families(&self) -> FamilySet {
        Family::ALL
            .into_iter()
            .filter(|f| self.evaluators[f.index()].is_some())
            .collect()
    }

    /// Families that routing needs but that have no evaluator (their signals never match).
    pub fn missing_families(&self) -> FamilySet {
        let available = self.available_families();
        self.required
            .iter()
            .filter(|f| *f != Family::Projection && !available.contains(*f))
            .collect()
    }

    /// Decision names in declaration order.
    pub fn decision_names(&self) -> impl Iterator<Item = &str> {
        self.decisions.iter().map(|d| &*d.name)
    }

    /// Model refs of a decision.
    pub fn model_refs(&self, decision: &str) -> Option<&[ModelRef]> {
        self.decisions
            .iter()
            .find(|d| &*d.name == decision)
            .map(|d| d.model_refs.as_slice())
    }

    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    /// Leaves that name no known signal, as `decision: type:name` (they can never match).
    pub fn unresolved_leaves(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in &self.decisions {
            d.node.for_each_leaf(&mut |l| {
                if l.slot.is_none() {
                    out.push(format!("{}: {}:{}", d.name, l.kind, l.name));
                }
            });
        }
        out
    }

    /// A signal set with every signal unmatched and no family evaluated.
    pub fn empty_signals(&self) -> SignalSet {
        SignalSet::empty(&self.catalog)
    }

    /// Routes a plain text (no history).
    pub fn route_text(&self, text: &str, mode: EvalMode) -> RoutingResult {
        let view = RequestView::from_text(text);
        self.route(&RequestContext::new(&view), mode)
    }

    /// Computes signals, projections and the decision for one request.
    pub fn route(&self, ctx: &RequestContext<'_>, mode: EvalMode) -> RoutingResult {
        let start = Instant::now();
        let families = match mode {
            EvalMode::Routing => self.required,
            EvalMode::All => FamilySet::all(),
        };
        // Debug spans: disabled (a callsite check) unless traces are exported.
        let signals =
            tracing::debug_span!("signals").in_scope(|| self.evaluate_signals(ctx, families));
        let signals_ns = elapsed_ns(start);
        let mut result = self.decide(signals, mode == EvalMode::All);
        result.timing.signals_ns = signals_ns;
        result
    }

    /// Runs the evaluators of the given families (those that exist). Empty text evaluates
    /// only the families that read the request's structure, not its text (conversation,
    /// metadata): a request with only metadata still routes.
    pub fn evaluate_signals(&self, ctx: &RequestContext<'_>, families: FamilySet) -> SignalSet {
        let mut set = self.empty_signals();
        let no_text = ctx.text().trim().is_empty();
        for family in families.iter() {
            if no_text && !matches!(family, Family::Conversation | Family::Metadata) {
                continue;
            }
            let Some(eval) = &self.evaluators[family.index()] else {
                continue;
            };
            let t = Instant::now();
            let slot = set.family_mut(family);
            if let Err(e) = eval.evaluate(ctx, &mut slot.signals) {
                tracing::warn!(family = %family, error = %e, "signal family failed; treated as no match");
                slot.signals.iter_mut().for_each(|s| s.clear_match());
                slot.error = Some(e.message);
            }
            slot.evaluated = true;
            slot.elapsed_ns = elapsed_ns(t);
        }
        set
    }

    /// Applies projections and chooses a decision for precomputed signals. With `full_trace`
    /// every decision's leaves are traced; otherwise only those of matched decisions.
    pub fn decide(&self, mut signals: SignalSet, full_trace: bool) -> RoutingResult {
        let t = Instant::now();
        let projections =
            tracing::debug_span!("projections").in_scope(|| self.project(&mut signals));
        let projections_ns = elapsed_ns(t);

        let decision_span = tracing::debug_span!("decision").entered();
        let t = Instant::now();
        let mut evaluated = Vec::with_capacity(self.decisions.len());
        let mut candidates = Vec::new();
        for d in &self.decisions {
            let o = d.node.eval(&signals);
            let mut trace = DecisionTrace {
                name: d.name.clone(),
                tier: d.tier,
                priority: d.priority,
                matched: o.matched,
                confidence: o.confidence,
                matched_rules: Vec::new(),
                leaves: Vec::new(),
            };
            if o.matched {
                d.node.matched_rules(&signals, &mut trace.matched_rules);
                candidates.push(Candidate {
                    name: &d.name,
                    tier: d.tier,
                    priority: d.priority,
                    confidence: o.confidence,
                });
            }
            if o.matched || full_trace {
                d.node.for_each_leaf(&mut |l| {
                    let lo = leaf_outcome(l, &signals);
                    trace.leaves.push(LeafTrace {
                        signal: l.label.clone(),
                        matched: lo.matched,
                        confidence: lo.confidence,
                        known: l.slot.is_some(),
                    });
                });
            }
            evaluated.push(trace);
        }
        let chosen = select(&candidates, self.strategy);
        let decisions_ns = elapsed_ns(t);
        drop(decision_span);

        let (decision, confidence, reason) = match &chosen {
            Some((w, why)) => (Some(w.name.to_string()), w.confidence, why.clone()),
            None => (
                None,
                0.0,
                format!(
                    "no decision matched; default model `{}`",
                    self.default_model
                ),
            ),
        };
        let winner = decision
            .as_deref()
            .and_then(|n| self.decisions.iter().find(|d| *d.name == *n));
        let mut model_refs = winner.map(|d| d.model_refs.clone()).unwrap_or_default();
        // The decision's algorithm orders the refs (the chosen one first); refusing every
        // ref sends the request to the default model.
        let mut algorithm: Option<AlgorithmTrace> = None;
        if let Some(selector) = winner.and_then(|d| d.algorithm.as_ref()) {
            let (ordered, trace) = selector.select(&model_refs, &self.model_facts);
            model_refs = ordered.unwrap_or_default();
            algorithm = Some(trace);
        }
        let (model, reasoning) = match model_refs.first() {
            Some(r) => (
                r.target().to_string(),
                Reasoning::of_ref(
                    r,
                    self.default_reasoning_effort.as_deref(),
                    self.reasoning_families.get(&r.model).cloned(),
                ),
            ),
            None => (self.default_model.clone(), Reasoning::default()),
        };
        let fast_response = chosen.as_ref().and_then(|(w, _)| {
            self.decisions
                .iter()
                .find(|d| *d.name == *w.name)
                .and_then(|d| d.fast_response.clone())
        });
        RoutingResult {
            recipe: self.recipe.clone(),
            is_default: decision.is_none() || model_refs.is_empty(),
            fast_response,
            decision: decision.clone(),
            confidence,
            model,
            model_refs,
            algorithm,
            reasoning,
            signals,
            projections,
            decisions: DecisionsTrace {
                strategy: self.strategy,
                evaluated,
                winner: decision,
                reason,
            },
            timing: Timing {
                signals_ns: 0,
                projections_ns,
                decisions_ns,
            },
            prompt_embedding: None,
        }
    }

    /// Partitions, then composers, then scores and mappings, in place (part of
    /// [`Engine::decide`]; public for benchmarks and tools).
    pub fn project(&self, signals: &mut SignalSet) -> ProjectionsTrace {
        let partitions = self.partitions.iter().map(|p| p.apply(signals)).collect();
        for (slots, node) in &self.composers {
            if !node.eval(signals).matched {
                for &s in slots {
                    if let Some(r) = signals.slot_mut(Family::Complexity, s) {
                        r.clear_match();
                    }
                }
            }
        }
        let scores: Vec<_> = self.scores.iter().map(|s| s.compute(signals)).collect();
        let mappings = self
            .mappings
            .iter()
            .map(|m| m.apply(scores[m.source()].value, signals))
            .collect();
        signals.family_mut(Family::Projection).evaluated = true;
        ProjectionsTrace {
            partitions,
            scores,
            mappings,
        }
    }
}

fn elapsed_ns(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
