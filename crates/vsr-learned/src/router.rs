//! Assembly: a config plus the available models → an engine with the heuristic and learned
//! families, and a [`Router`] that embeds each prompt at most once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use vsr_config::Config;
use vsr_config::global::GlobalSettings;
use vsr_engine::{Engine, EvalMode, RoutingResult};
use vsr_models::{Calibration, Encoder, Head, ModelError, ModelSource, UseM3, catalog};
use vsr_signals::{Family, FamilySet, RequestContext, RequestView};

use crate::complexity::{ComplexityFamily, ComplexityRule};
use crate::domain::{DomainFamily, DomainRule};
use crate::embedding::{Aggregation, EmbeddingFamily, EmbeddingRule, Selection};
use crate::fact_check::FactCheckFamily;
use crate::feedback::FeedbackFamily;
use crate::jailbreak::{JailbreakFamily, JailbreakMethod, JailbreakRule};
use crate::kb::{KbClassifier, KbFamily, KbMetricFamily, KbRule, KbSet};
use crate::pii::{PiiDetector, PiiFamily, PiiRule};
use crate::preference::{PreferenceFamily, PreferenceRule};
use crate::reask::{ReaskFamily, ReaskRule};
use crate::space::Space;

/// Families whose evaluator reads the prompt embedding.
pub const EMBEDDING_FAMILIES: [Family; 10] = [
    Family::Reask,
    Family::Kb,
    Family::KbMetric,
    Family::Embedding,
    Family::Complexity,
    Family::Preference,
    Family::Domain,
    Family::FactCheck,
    Family::UserFeedback,
    Family::Jailbreak,
];

/// The models a router can use: the shared encoder space and the heads trained on it.
#[derive(Clone, Default)]
pub struct ModelSet {
    pub space: Option<Arc<Space>>,
    pub domain_head: Option<Head>,
    pub jailbreak_head: Option<Head>,
    /// Whether pii signals skip the token classifier even when it is installed (a rules-only
    /// baseline); by default they use it when `vllm-sr models fetch rampart` installed it.
    pub pii_rules_only: bool,
}

impl ModelSet {
    /// No models: only rule families that need none can be built.
    pub fn none() -> Self {
        Self::default()
    }

    /// An encoder with the calibration and heads shipped for it (identity calibration and no
    /// heads for an encoder we ship nothing for). `cache_dir` persists exemplar embeddings.
    pub fn from_encoder(encoder: Arc<dyn Encoder>, cache_dir: Option<PathBuf>) -> Self {
        let id = encoder.model_id().to_string();
        let calibration = Calibration::shipped(&id).unwrap_or_else(|| Calibration::identity(&id));
        let space = Arc::new(Space::new(encoder, calibration, cache_dir));
        Self {
            space: Some(space),
            domain_head: Head::shipped(&id, "domain"),
            jailbreak_head: Head::shipped(&id, "jailbreak"),
            pii_rules_only: false,
        }
    }

    /// The default encoder (USE-m3) if it is installed (see `vllm-sr models fetch`), with the
    /// embedding cache in `<model dir>/cache`. `Ok(None)` when it is not installed.
    pub fn discover() -> Result<Option<Self>, ModelError> {
        let Some(dir) = catalog::find_model(catalog::DEFAULT_MODEL) else {
            return Ok(None);
        };
        let encoder = UseM3::load(&dir)?;
        Ok(Some(Self::from_encoder(
            Arc::new(encoder),
            Some(dir.join("cache")),
        )))
    }

    /// The same models with another similarity calibration (e.g. one fitted for a site).
    pub fn with_calibration(
        mut self,
        calibration: Calibration,
        cache_dir: Option<PathBuf>,
    ) -> Self {
        if let Some(space) = &self.space {
            self.space = Some(Arc::new(Space::new(
                space.encoder().clone(),
                calibration,
                cache_dir,
            )));
        }
        self
    }

    /// The encoder id, if any.
    pub fn model_id(&self) -> Option<&str> {
        self.space.as_ref().map(|s| s.encoder().model_id())
    }
}

/// Why a router cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Engine(#[from] vsr_engine::BuildError),
    #[error(
        "these rules need the sentence encoder `{model}`, which is not installed (run `vllm-sr models fetch`): {}",
        rules.join(", ")
    )]
    ModelRequired { model: String, rules: Vec<String> },
    #[error("rule `{rule}` needs the {head} head, which is not shipped for encoder `{model}`")]
    HeadMissing {
        rule: String,
        head: &'static str,
        model: String,
    },
    #[error("building the {family} signal: {source}")]
    Model {
        family: Family,
        #[source]
        source: ModelError,
    },
    #[error("unknown recipe `{0}`")]
    UnknownRecipe(String),
    /// A named recipe's router could not be built.
    #[error("recipe `{recipe}`: {source}")]
    InRecipe {
        recipe: String,
        #[source]
        source: Box<BuildError>,
    },
}

impl BuildError {
    /// The error itself, under any [`BuildError::InRecipe`] wrapping.
    pub fn root(&self) -> &BuildError {
        match self {
            BuildError::InRecipe { source, .. } => source.root(),
            e => e,
        }
    }
}

/// One router per routing profile, over the same models: the default profile (auto model
/// names) and each named recipe (selected by entrypoint model names).
pub struct Routers {
    default: Router,
    recipes: Vec<Router>,
    /// Entrypoint model name → recipe (`default` for the default profile).
    entrypoints: Vec<(String, String)>,
}

impl Routers {
    /// The default profile's router alone.
    pub fn single(default: Router) -> Self {
        Self {
            default,
            recipes: Vec::new(),
            entrypoints: Vec::new(),
        }
    }

    /// The default router, the named recipes' routers (built with their recipe name) and the
    /// config's entrypoints.
    pub fn new(default: Router, recipes: Vec<Router>, config: &Config) -> Self {
        let entrypoints = config
            .entrypoints
            .iter()
            .flat_map(|e| {
                e.model_names
                    .iter()
                    .map(|n| n.trim())
                    .filter(|n| !n.is_empty())
                    .map(move |n| (n.to_string(), e.recipe.clone()))
            })
            .collect();
        Self {
            default,
            recipes,
            entrypoints,
        }
    }

    /// The default profile's router.
    pub fn default_router(&self) -> &Router {
        &self.default
    }

    /// The router of a profile: `None` or `default` → the default one.
    pub fn get(&self, recipe: Option<&str>) -> Option<&Router> {
        match recipe.filter(|r| *r != vsr_config::DEFAULT_RECIPE) {
            None => Some(&self.default),
            Some(name) => self
                .recipes
                .iter()
                .find(|r| r.engine().recipe() == Some(name)),
        }
    }

    /// The recipe an entrypoint claims `model` for (`default` names the default profile).
    pub fn entrypoint_recipe(&self, model: &str) -> Option<&str> {
        let model = model.trim();
        self.entrypoints
            .iter()
            .find(|(n, _)| n == model)
            .map(|(_, r)| r.as_str())
    }

    /// Every router: the default one first, then the recipes in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = &Router> {
        std::iter::once(&self.default).chain(self.recipes.iter())
    }
}

/// Per-request wall time, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteTiming {
    /// Encoding the prompt (tokenise + encoder forward); 0 when no family needed it.
    pub embed_ns: u64,
    /// Everything after the embedding: signal families, projections, decisions.
    pub engine_ns: u64,
}

/// A routing engine with its learned families, and the encoder that feeds them.
pub struct Router {
    engine: Engine,
    space: Option<Arc<Space>>,
    embedding_families: FamilySet,
    /// A decision of this profile caches answers by meaning: every prompt is embedded (once)
    /// for the response cache, even when no signal family reads the embedding.
    embed_for_cache: bool,
    /// An August-2026 config ([`Config::uses_head_schema`]): the prompt is embedded as its
    /// bounded semantic text.
    head: bool,
}

impl Router {
    /// A router over an engine built elsewhere, with no encoder (its learned signals never
    /// match). For tools that keep working without a model, after telling the user why.
    pub fn without_models(engine: Engine) -> Self {
        Self {
            engine,
            space: None,
            embedding_families: FamilySet::EMPTY,
            embed_for_cache: false,
            head: false,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn space(&self) -> Option<&Arc<Space>> {
        self.space.as_ref()
    }

    /// Whether routing in `mode` reads the prompt embedding.
    pub fn needs_embedding(&self, mode: EvalMode) -> bool {
        let families = match mode {
            EvalMode::Routing => self.engine.required_families(),
            EvalMode::All => FamilySet::all(),
        };
        self.space.is_some()
            && (self.embed_for_cache
                || families.iter().any(|f| self.embedding_families.contains(f)))
    }

    /// The prompt embedding for `view` when routing in `mode` needs one (computed once here;
    /// `None` when no family needs it, the text is empty, or the encoder failed — the
    /// families then report the error and match nothing).
    pub fn embed(&self, view: &RequestView, mode: EvalMode) -> Option<Arc<[f32]>> {
        if view.text.trim().is_empty() || !self.needs_embedding(mode) {
            return None;
        }
        let space = self.space.as_ref()?;
        let text = if self.head {
            vsr_signals::text::bounded_text(&view.text)
        } else {
            std::borrow::Cow::Borrowed(view.text.as_str())
        };
        match space.embed_query(&text) {
            Ok(v) => Some(Arc::from(v)),
            Err(e) => {
                tracing::warn!(error = %e, "prompt embedding failed");
                None
            }
        }
    }

    /// Routes one request: embeds the prompt once if needed, then runs the engine.
    pub fn route(&self, view: &RequestView, mode: EvalMode) -> RoutingResult {
        self.route_timed(view, mode).0
    }

    /// [`Router::route`] with the time spent embedding and in the engine.
    pub fn route_timed(&self, view: &RequestView, mode: EvalMode) -> (RoutingResult, RouteTiming) {
        let t = Instant::now();
        let embedding = self.embed(view, mode);
        let embed_ns = elapsed_ns(t);
        let t = Instant::now();
        let result = self.route_with_embedding(view, embedding, mode);
        let engine_ns = elapsed_ns(t);
        (
            result,
            RouteTiming {
                embed_ns,
                engine_ns,
            },
        )
    }

    /// Runs the engine on a prompt embedding computed elsewhere (e.g. through an
    /// `EncoderHandle` on the server's blocking pool).
    pub fn route_with_embedding(
        &self,
        view: &RequestView,
        embedding: Option<Arc<[f32]>>,
        mode: EvalMode,
    ) -> RoutingResult {
        let ctx = match &embedding {
            Some(e) => RequestContext::with_embedding(view, Arc::clone(e)),
            None => RequestContext::new(view),
        };
        let mut result = self.engine.route(&ctx, mode);
        // A family may have computed it lazily through the context.
        result.prompt_embedding = embedding.or_else(|| ctx.embedding().map(Arc::from));
        result
    }
}

fn elapsed_ns(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Builds the engine of `config` with the heuristic families and every learned family the
/// config declares rules for. Exemplar embeddings are computed here, once, batched and
/// through the disk cache. Without an encoder, the build fails only if some rule needs one,
/// and the error lists those rules.
pub fn build_router(config: &Config, models: &ModelSet) -> Result<Router, BuildError> {
    build_recipe_router(config, None, models)
}

/// [`build_router`] for one routing profile of `config` (see [`Config::profile`]): `None` or
/// `default` is the default profile, any other name a recipe of `recipes[]`, whose results
/// then carry that name.
pub fn build_recipe_router(
    config: &Config,
    recipe: Option<&str>,
    models: &ModelSet,
) -> Result<Router, BuildError> {
    let recipe = recipe.filter(|r| *r != vsr_config::DEFAULT_RECIPE);
    let scoped = config
        .profile(recipe)
        .ok_or_else(|| BuildError::UnknownRecipe(recipe.unwrap_or_default().to_string()))?;
    build_profile(&scoped, recipe, models, config.uses_head_schema())
}

fn build_profile(
    config: &Config,
    recipe: Option<&str>,
    models: &ModelSet,
    head: bool,
) -> Result<Router, BuildError> {
    let signals = &config.routing.signals;
    let settings: GlobalSettings = config.global_settings();
    let mut builder = Engine::builder_for_profile(config, head)?.recipe(recipe.map(String::from));

    let needing: Vec<String> = [
        (Family::Embedding, names(&signals.embeddings, |s| &s.name)),
        (Family::Complexity, names(&signals.complexity, |s| &s.name)),
        (Family::Preference, names(&signals.preferences, |s| &s.name)),
        (Family::Domain, names(&signals.domains, |s| &s.name)),
        (Family::FactCheck, names(&signals.fact_check, |s| &s.name)),
        (
            Family::UserFeedback,
            names(&signals.user_feedbacks, |s| &s.name),
        ),
        (Family::Jailbreak, names(&signals.jailbreak, |s| &s.name)),
        (Family::Reask, names(&signals.reasks, |s| &s.name)),
        (Family::Kb, names(&signals.kb, |s| &s.name)),
    ]
    .into_iter()
    .flat_map(|(f, ns)| ns.into_iter().map(move |n| format!("{f}:{n}")))
    .collect();

    let Some(space) = models.space.clone() else {
        if !needing.is_empty() {
            return Err(BuildError::ModelRequired {
                model: catalog::DEFAULT_MODEL.to_string(),
                rules: needing,
            });
        }
        builder = add_pii(builder, config, models, head);
        builder = add_classifiers(builder, config);
        let engine = builder.build()?;
        return Ok(Router {
            engine,
            space: None,
            embedding_families: FamilySet::EMPTY,
            embed_for_cache: false,
            head,
        });
    };
    let model_err = |family: Family| move |source: ModelError| BuildError::Model { family, source };
    let model_id = space.encoder().model_id().to_string();

    if !signals.embeddings.is_empty() {
        let rules = signals
            .embeddings
            .iter()
            .map(|s| EmbeddingRule {
                name: s.name.clone(),
                threshold: s.threshold.unwrap_or(0.0) as f32,
                aggregation: Aggregation::from_config(s.aggregation_method),
                candidates: s.candidates.clone(),
            })
            .collect();
        let selection = Selection {
            top_k: usize::try_from(settings.embedding_top_k).unwrap_or(usize::MAX),
            soft_matching: settings.embedding_soft_matching,
            min_score_threshold: settings.embedding_min_score_threshold as f32,
        };
        let f = EmbeddingFamily::new(space.clone(), rules, selection)
            .map_err(model_err(Family::Embedding))?;
        builder = builder.family(Box::new(f));
    }
    if !signals.complexity.is_empty() {
        let rules = signals
            .complexity
            .iter()
            .map(|c| ComplexityRule {
                name: c.name.clone(),
                threshold: c.threshold.unwrap_or(0.0) as f32,
                hard: c.hard.candidates.clone(),
                easy: c.easy.candidates.clone(),
            })
            .collect();
        let f =
            ComplexityFamily::new(space.clone(), rules).map_err(model_err(Family::Complexity))?;
        builder = builder.family(Box::new(f));
    }
    if !signals.preferences.is_empty() {
        let rules = signals
            .preferences
            .iter()
            .map(|p| PreferenceRule {
                name: p.name.clone(),
                threshold: p.threshold.unwrap_or(0.0) as f32,
                support: p
                    .description
                    .iter()
                    .chain(p.examples.iter())
                    .cloned()
                    .collect(),
            })
            .collect();
        let f =
            PreferenceFamily::new(space.clone(), rules).map_err(model_err(Family::Preference))?;
        builder = builder.family(Box::new(f));
    }
    let domain_rules: Vec<DomainRule> = domain_rules(config);
    if !domain_rules.is_empty() {
        let head = models
            .domain_head
            .clone()
            .ok_or_else(|| BuildError::HeadMissing {
                rule: format!("domain:{}", domain_rules[0].name),
                head: "domain",
                model: model_id.clone(),
            })?;
        let f = DomainFamily::new(
            space.clone(),
            head,
            &domain_rules,
            settings.domain_threshold as f32,
        )
        .map_err(model_err(Family::Domain))?;
        builder = builder.family(Box::new(f));
    }
    if !signals.fact_check.is_empty() {
        let f = FactCheckFamily::new(
            space.clone(),
            names(&signals.fact_check, |s| &s.name),
            positive_or(settings.fact_check_threshold, 0.7) as f32,
        )
        .map_err(model_err(Family::FactCheck))?;
        builder = builder.family(Box::new(f));
    }
    if !signals.user_feedbacks.is_empty() && settings.feedback_enabled {
        let f = FeedbackFamily::new(
            space.clone(),
            names(&signals.user_feedbacks, |s| &s.name),
            positive_or(settings.feedback_threshold, 0.7) as f32,
        )
        .map_err(model_err(Family::UserFeedback))?
        .after_answer_only(head);
        builder = builder.family(Box::new(f));
    }
    if !signals.jailbreak.is_empty() && settings.prompt_guard_enabled {
        let rules: Vec<JailbreakRule> = signals
            .jailbreak
            .iter()
            .map(|j| JailbreakRule {
                name: j.name.clone(),
                // `hybrid` scores with the classifier here (as before); only `contrastive`
                // swaps it for the pattern banks.
                method: if j.method == Some(vsr_config::JailbreakMethod::Contrastive) {
                    JailbreakMethod::Contrastive {
                        jailbreak_patterns: j.jailbreak_patterns.clone(),
                        benign_patterns: j.benign_patterns.clone(),
                    }
                } else {
                    JailbreakMethod::Classifier
                },
                threshold: j.threshold.unwrap_or(0.0) as f32,
                include_history: j.include_history.unwrap_or(false),
            })
            .collect();
        let classifier_rule = rules
            .iter()
            .find(|r| matches!(r.method, JailbreakMethod::Classifier));
        if let Some(r) = classifier_rule
            && models.jailbreak_head.is_none()
        {
            return Err(BuildError::HeadMissing {
                rule: format!("jailbreak:{}", r.name),
                head: "jailbreak",
                model: model_id,
            });
        }
        let f = JailbreakFamily::new(space.clone(), models.jailbreak_head.clone(), rules)
            .map_err(model_err(Family::Jailbreak))?
            .with_prior_user_turns(head);
        builder = builder.family(Box::new(f));
    }
    if !signals.reasks.is_empty() {
        let rules = signals.reasks.iter().map(ReaskRule::from_config).collect();
        builder = builder.family(Box::new(ReaskFamily::new(space.clone(), rules)));
    }
    builder = add_knowledge_bases(builder, config, &space)?;
    builder = add_pii(builder, config, models, head);
    builder = add_classifiers(builder, config);
    space.save_cache();
    let engine = builder.build()?;
    Ok(Router {
        engine,
        space: Some(space),
        embedding_families: EMBEDDING_FAMILIES.into_iter().collect(),
        embed_for_cache: vsr_cache::CacheSettings::from_config(config)
            .profile_needs_embedding(None),
        head,
    })
}

/// The `classifier` family, when the profile declares classifiers.
fn add_classifiers(
    builder: vsr_engine::EngineBuilder,
    config: &Config,
) -> vsr_engine::EngineBuilder {
    let signals = &config.routing.signals.classifiers;
    if signals.is_empty() {
        return builder;
    }
    builder.family(Box::new(crate::classifier::ClassifierFamily::from_config(
        config, signals,
    )))
}

/// The `kb` and `kb_metric` families over the knowledge bases this profile references (by
/// `kb` rules or `kb_metric` score inputs); their prototype banks are built here, once.
fn add_knowledge_bases(
    mut builder: vsr_engine::EngineBuilder,
    config: &Config,
    space: &Arc<Space>,
) -> Result<vsr_engine::EngineBuilder, BuildError> {
    let signals = &config.routing.signals;
    let mut used: Vec<&str> = signals.kb.iter().map(|k| k.kb.as_str()).collect();
    used.extend(
        config
            .routing
            .projections
            .scores
            .iter()
            .flat_map(|s| &s.inputs)
            .filter(|i| i.kind == Family::KbMetric)
            .filter_map(|i| i.kb.as_deref()),
    );
    if used.is_empty() {
        return Ok(builder);
    }
    let catalog: Vec<vsr_config::KnowledgeBase> = config
        .knowledge_bases()
        .into_iter()
        .filter(|k| used.contains(&k.name.as_str()))
        .collect();
    let t = Instant::now();
    let kbs = catalog
        .iter()
        .map(|k| KbClassifier::build(space, k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| BuildError::Model {
            family: Family::Kb,
            source,
        })?;
    tracing::info!(
        knowledge_bases = kbs.len(),
        elapsed_ms = t.elapsed().as_millis() as u64,
        "knowledge-base prototype banks built"
    );
    let set = KbSet::new(space.clone(), kbs);
    let rules = signals
        .kb
        .iter()
        .map(|k| KbRule {
            name: k.name.clone(),
            kb: k.kb.clone(),
            group: k.target.kind == Some(vsr_config::KbTargetKind::Group),
            value: k.target.value.clone(),
            best: k.match_mode == Some(vsr_config::KbMatch::Best),
        })
        .collect();
    builder = builder
        .family(Box::new(KbFamily::new(set.clone(), rules)))
        .family(Box::new(KbMetricFamily::new(set, &catalog)));
    Ok(builder)
}

/// The pii family, with the token classifier unless `models` asks for the rules alone (the
/// model is loaded here, once per process, only when some pii rule is configured).
fn add_pii(
    builder: vsr_engine::EngineBuilder,
    config: &Config,
    models: &ModelSet,
    head: bool,
) -> vsr_engine::EngineBuilder {
    let pii = &config.routing.signals.pii;
    if pii.is_empty() {
        return builder;
    }
    let rules = pii
        .iter()
        .map(|p| PiiRule {
            name: p.name.clone(),
            threshold: p.threshold.unwrap_or(0.0) as f32,
            allowed: PiiFamily::allowed_types(&p.name, &p.pii_types_allowed),
            include_history: p.include_history.unwrap_or(false),
        })
        .collect();
    let detector = if models.pii_rules_only {
        PiiDetector::rules_only()
    } else {
        PiiDetector::installed()
    };
    builder.family(Box::new(
        PiiFamily::new(rules, detector).with_prior_user_turns(head),
    ))
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &String) -> Vec<String> {
    items.iter().map(|i| name(i).clone()).collect()
}

fn positive_or(x: f64, fallback: f64) -> f64 {
    if x > 0.0 { x } else { fallback }
}

/// Configured domains, or — like the original — the domain names that decisions use.
fn domain_rules(config: &Config) -> Vec<DomainRule> {
    let configured = &config.routing.signals.domains;
    if !configured.is_empty() {
        return configured
            .iter()
            .map(|d| DomainRule {
                name: d.name.clone(),
                description: d.description.clone(),
                mmlu_categories: d.mmlu_categories.clone(),
            })
            .collect();
    }
    let mut used: Vec<String> = config
        .routing
        .decisions
        .iter()
        .flat_map(|d| d.rules.leaves())
        .filter(|l| l.kind == vsr_config::SignalType::Domain)
        .map(|l| l.name.clone())
        .collect();
    used.sort();
    used.dedup();
    used.into_iter()
        .map(|name| DomainRule {
            name,
            description: None,
            mmlu_categories: Vec::new(),
        })
        .collect()
}

impl ModelSet {
    /// The encoder in `dir`, whatever its family (USE-m3 or BERT-family), with its embedding
    /// cache in `dir/cache`.
    pub fn load_dir(dir: &std::path::Path) -> Result<Self, ModelError> {
        Self::from_source(&ModelSource::Local(dir.to_path_buf()))
    }

    /// The encoder of a resolved source. Calibration and heads are shipped for USE-m3 and
    /// multilingual-e5-small (`e5-small`): another encoder gets the identity calibration and no heads, so rules that need a head
    /// fail to build with [`BuildError::HeadMissing`]. The embedding cache goes next to a
    /// local model (`<dir>/cache`); for a Hub snapshot, which belongs to the HF cache, into
    /// [`catalog::default_cache_dir`].
    pub fn from_source(source: &ModelSource) -> Result<Self, ModelError> {
        let encoder = vsr_models::load_source(source)?;
        let cache_dir = match source {
            ModelSource::Hub { .. } => catalog::default_cache_dir(),
            _ => source.dir().join("cache"),
        };
        Ok(Self::from_encoder(encoder, Some(cache_dir)))
    }

    /// The encoder `spec` names (a local directory, a catalog id or a Hugging Face repo id;
    /// see [`catalog::resolve_model_source`]), or with `None` the installed default
    /// ([`ModelSet::discover`]). `Ok(None)` only when `spec` is `None` and the default is not
    /// installed; a named model that cannot be resolved or loaded is an error.
    pub fn for_spec(spec: Option<&str>) -> Result<Option<Self>, ModelError> {
        match spec {
            None => Self::discover(),
            Some(spec) => {
                let source = catalog::resolve_model_source(spec, None)?;
                Self::from_source(&source).map(Some)
            }
        }
    }

    /// The encoder `config` selects with `global.model_catalog.embeddings.semantic.model`,
    /// else the installed default (see [`ModelSet::for_spec`]).
    pub fn for_config(config: &Config) -> Result<Option<Self>, ModelError> {
        Self::for_spec(config.global_settings().embedding_model.as_deref())
    }
}

#[cfg(test)]
mod model_set_tests {
    use std::path::PathBuf;

    use super::*;

    fn workspace_models(id: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../models")
            .join(id)
    }

    /// One decision on the `kind` signal `physics`, declared by `signals`.
    fn config(global: &str, signals: &str, kind: &str) -> Config {
        let src = format!(
            "version: v0.3\nproviders:\n  defaults:\n    default_model: small\n  models:\n    - name: small\n      backend_refs:\n        - endpoint: vllm:8000\nrouting:\n  modelCards:\n    - name: small\n  signals:\n{signals}  decisions:\n    - name: science\n      priority: 10\n      rules:\n        operator: OR\n        conditions:\n          - type: {kind}\n            name: physics\n      modelRefs:\n        - model: small\n{global}"
        );
        vsr_config::load_str(&src, "t.yaml")
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    const PHYSICS: &str = "    domains:\n      - name: physics\n        description: physics questions\n        mmlu_categories: [physics]\n";

    #[test]
    fn named_specs_that_do_not_resolve_are_errors_not_fallbacks() {
        let err = ModelSet::for_spec(Some("owner/na me")).err().unwrap();
        assert!(matches!(err, ModelError::InvalidSource { .. }), "{err}");
        let err = ModelSet::for_spec(Some("./no/such/model")).err().unwrap();
        assert!(matches!(err, ModelError::Missing { .. }), "{err}");
        let cfg = config(
            "global:\n  model_catalog:\n    embeddings:\n      semantic:\n        model: ./no/such/model\n",
            PHYSICS,
            "domain",
        );
        let err = ModelSet::for_config(&cfg).err().unwrap().to_string();
        assert!(err.contains("no/such/model"), "{err}");
    }

    #[test]
    fn the_knob_selects_a_local_usem3_dir_with_its_heads() {
        let dir = workspace_models("usem3");
        if !catalog::is_installed(&dir) {
            vsr_testkit::missing("models/usem3 not installed");
            return;
        }
        let global = format!(
            "global:\n  model_catalog:\n    embeddings:\n      semantic:\n        model: {}\n",
            dir.display()
        );
        let cfg = config(&global, PHYSICS, "domain");
        let set = ModelSet::for_config(&cfg).unwrap().unwrap();
        assert_eq!(set.model_id(), Some("usem3"));
        assert!(set.domain_head.is_some() && set.jailbreak_head.is_some());
        assert!(build_router(&cfg, &set).is_ok());
    }

    /// A BERT-family directory loads when vsr-models has its `bert` feature (feature
    /// unification decides for this test binary) and says so clearly when it does not.
    #[test]
    fn a_bert_dir_gets_no_heads_and_head_rules_fail_clearly() {
        let dir = workspace_models("minilm");
        if !dir.join("model.safetensors").is_file() {
            vsr_testkit::missing("models/minilm not installed");
            return;
        }
        match ModelSet::load_dir(&dir) {
            Ok(set) => {
                assert_eq!(set.model_id(), Some("minilm"));
                assert!(set.domain_head.is_none() && set.jailbreak_head.is_none());
                let err = build_router(&config("", PHYSICS, "domain"), &set)
                    .err()
                    .unwrap();
                assert!(
                    matches!(&err, BuildError::HeadMissing { rule, model, .. }
                        if rule == "domain:physics" && model == "minilm"),
                    "{err}"
                );
                // Rules on the embedding alone build on any encoder.
                let embedding = "    embeddings:\n      - name: physics\n        threshold: 0.5\n        candidates: [How fast does light travel?]\n";
                let router = build_router(&config("", embedding, "embedding"), &set).unwrap();
                let view = vsr_signals::RequestView::from_text("What is the speed of light?");
                let routed = router.route(&view, vsr_engine::EvalMode::Routing);
                assert_eq!(routed.decision.as_deref(), Some("science"));
            }
            Err(e) => {
                eprintln!("notice: vsr-models built without `bert`; checking the error only");
                assert!(e.to_string().contains("`bert` feature"), "{e}");
            }
        }
    }
}
