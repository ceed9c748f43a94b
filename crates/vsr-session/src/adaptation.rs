//! Router-learning adaptation (`routing_sampling`, head-delta §12.5): after the decision picks
//! a model, score every candidate model by what the router has learned about it and propose
//! the best one.
//!
//! A candidate's predicted quality is a Beta posterior: a prior from its model card's
//! `quality_score` (weight 2; 0.5 without one), plus the `good_fit` and `underpowered` verdicts
//! clients posted for it (`/v1/router/outcomes`). From that the score subtracts its cost
//! (share of the dearest candidate's rate), its `overprovisioned` and `failed` shares, and its
//! latency, and adds its prompt-cache hit rate — all learned per decision, with the tier and
//! the whole router as fallbacks. With sampling the quality is a Beta draw (exploration);
//! a model never observed ("cold") is tried first. Otherwise the posterior mean is used and
//! the decision's own pick stays unless another candidate beats it by the candidate set's
//! margin plus its extra cost.
//!
//! [`Adapter`] is built from one config generation and is pure; [`Experience`] is what was
//! learned, kept for the process's life (across reloads).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Beta, Distribution};
use vsr_config::{AdaptationMode, CandidateSet, Config, DEFAULT_RECIPE};

use crate::policy::effective_mode;

/// Weight of the quality prior (as upstream).
const SEED_WEIGHT: f64 = 2.0;
/// Smoothing of the response telemetry averages.
const EWMA_ALPHA: f64 = 0.2;
/// Most remembered (decision, tier, model) entries; beyond it new entries are not learned.
const MAX_ENTRIES: usize = 50_000;

/// A model adaptation may serve, with the reasoning its model ref asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The provider model (`modelRefs[].model`).
    pub model: String,
    /// What requests are sent to: the LoRA when the ref names one, else the model.
    pub target: String,
    pub use_reasoning: bool,
    /// The ref's effort, else the providers' default (only with reasoning on).
    pub effort: Option<String>,
}

/// Where an observation is learned: the decision (scoped by its recipe) and its tier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExperienceKey {
    /// `decision` in the default profile, `recipe/decision` in a named recipe.
    pub decision: String,
    pub tier: u32,
}

impl ExperienceKey {
    /// The key of a decision of `recipe` (`None`: the default profile).
    pub fn new(recipe: Option<&str>, decision: &str, tier: u32) -> ExperienceKey {
        let decision = match recipe_key(recipe).as_str() {
            "" => decision.to_string(),
            r => format!("{r}/{decision}"),
        };
        ExperienceKey { decision, tier }
    }

    /// The keys an observation updates: the decision's, its tier's, the router's.
    fn scopes(&self) -> Vec<(String, u32)> {
        let mut keys = vec![(self.decision.clone(), self.tier)];
        if !self.decision.is_empty() {
            keys.push((String::new(), self.tier));
        }
        if self.tier != 0 {
            keys.push((String::new(), 0));
        }
        keys
    }
}

/// A client's verdict on a routed answer (`/v1/router/outcomes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    GoodFit,
    Underpowered,
    Overprovisioned,
    Failed,
}

impl Verdict {
    pub fn parse(s: &str) -> Option<Verdict> {
        Some(match s.trim() {
            "good_fit" => Verdict::GoodFit,
            "underpowered" => Verdict::Underpowered,
            "overprovisioned" => Verdict::Overprovisioned,
            "failed" => Verdict::Failed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::GoodFit => "good_fit",
            Verdict::Underpowered => "underpowered",
            Verdict::Overprovisioned => "overprovisioned",
            Verdict::Failed => "failed",
        }
    }
}

/// What one served response tells about its model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observation {
    /// Seconds until the answer was complete.
    pub latency_s: Option<f64>,
    /// Cached prompt tokens ÷ prompt tokens.
    pub cache_hit_ratio: Option<f64>,
    /// [`vsr_config::Pricing::input_cost_multiplier`].
    pub input_cost_multiplier: Option<f64>,
    /// The provider failed (429 or 5xx).
    pub failed: bool,
}

/// What was learned about one model in one scope.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ModelExperience {
    pub good_fit: u64,
    pub underpowered: u64,
    pub overprovisioned: u64,
    pub failed: u64,
    pub latency_ewma: f64,
    pub cache_hit_ewma: f64,
    pub input_cost_ewma: f64,
    /// Whether anything was ever observed (a model without is "cold").
    pub observed: bool,
}

fn ewma(previous: f64, observed: f64) -> f64 {
    if observed < 0.0 || !observed.is_finite() {
        previous
    } else if previous <= 0.0 {
        observed
    } else {
        previous * (1.0 - EWMA_ALPHA) + observed * EWMA_ALPHA
    }
}

/// What the router learned, per (decision, tier, model); process-wide, shared by every config
/// generation.
#[derive(Debug, Default)]
pub struct Experience {
    entries: Mutex<HashMap<(String, u32, String), ModelExperience>>,
}

impl Experience {
    fn update(&self, key: &ExperienceKey, model: &str, f: impl Fn(&mut ModelExperience)) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for (decision, tier) in key.scopes() {
            let k = (decision, tier, model.to_string());
            if !entries.contains_key(&k) && entries.len() >= MAX_ENTRIES {
                continue;
            }
            let e = entries.entry(k).or_default();
            f(e);
            e.observed = true;
        }
    }

    /// Counts a verdict: `score` ≥ 1 counts ⌊score⌋ times, anything less once.
    pub fn record_outcome(&self, key: &ExperienceKey, model: &str, verdict: Verdict, score: f64) {
        let n = if score >= 1.0 { score as u64 } else { 1 };
        self.update(key, model, |e| match verdict {
            Verdict::GoodFit => e.good_fit += n,
            Verdict::Underpowered => e.underpowered += n,
            Verdict::Overprovisioned => e.overprovisioned += n,
            Verdict::Failed => e.failed += n,
        });
    }

    /// Folds one served response into the model's averages.
    pub fn record_response(&self, key: &ExperienceKey, model: &str, o: &Observation) {
        self.update(key, model, |e| {
            if let Some(l) = o.latency_s.filter(|l| *l > 0.0) {
                e.latency_ewma = ewma(e.latency_ewma, l);
            }
            if let Some(c) = o.cache_hit_ratio {
                e.cache_hit_ewma = ewma(e.cache_hit_ewma, c.clamp(0.0, 1.0));
            }
            if let Some(m) = o.input_cost_multiplier {
                e.input_cost_ewma = ewma(e.input_cost_ewma, m.clamp(0.0, 1.0));
            }
            if o.failed {
                e.failed += 1;
            }
        });
    }

    /// The most specific experience with the model: the decision's, else its tier's, else the
    /// router's; nothing learned reads as the default.
    pub fn snapshot(&self, key: &ExperienceKey, model: &str) -> ModelExperience {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        key.scopes()
            .into_iter()
            .find_map(|(d, t)| entries.get(&(d, t, model.to_string())).copied())
            .unwrap_or_default()
    }
}

/// Adaptation as one decision configures it.
#[derive(Debug, Clone, PartialEq)]
struct DecisionAdaptation {
    mode: AdaptationMode,
    candidate_set: CandidateSet,
    key: ExperienceKey,
    /// The candidates of its candidate set, in order.
    candidates: Vec<Candidate>,
}

/// What adaptation did with one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Adaptation {
    /// The decision's effective adaptation mode (`apply` or `observe`).
    pub mode: AdaptationMode,
    /// `keep_base` (the decision's pick stays), `propose_switch`, `observe`.
    pub action: &'static str,
    /// `base_best`, `cold_start`, `sampled_win`, `posterior_win`, `observe_only`,
    /// `candidate_set_empty`.
    pub reason: &'static str,
    pub candidate_set: CandidateSet,
    /// The decision's own pick.
    pub base_model: String,
    /// The model adaptation proposes (under `observe`: would propose).
    pub proposal: String,
    /// Whether the quality was a random draw (exploration) rather than the posterior mean.
    pub sampled: bool,
    /// Every candidate's score, best first.
    pub scores: Vec<(String, f64)>,
    /// The candidate to serve instead of the base pick (`apply` and a different winner).
    pub switch_to: Option<Candidate>,
    /// Where this request's telemetry and outcomes are learned.
    pub key: ExperienceKey,
}

/// One candidate's score and its parts.
#[derive(Debug, Clone, PartialEq)]
struct Scored {
    target: String,
    score: f64,
    cost_penalty: f64,
    cold: bool,
}

/// Adaptation for one config generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Adapter {
    /// `(recipe or "", decision)` → its adaptation; absent: `bypass`.
    decisions: HashMap<(String, String), DecisionAdaptation>,
    /// Model card `quality_score`s (> 0).
    quality: HashMap<String, f64>,
    /// `prompt_per_1m + completion_per_1m` per provider model.
    rates: HashMap<String, f64>,
}

fn recipe_key(recipe: Option<&str>) -> String {
    recipe
        .filter(|r| *r != DEFAULT_RECIPE)
        .unwrap_or("")
        .to_string()
}

impl Adapter {
    /// The adapter of a validated config; `None` unless `global.router.learning.enabled` and
    /// `adaptation.enabled`.
    pub fn from_config(config: &Config) -> Option<Adapter> {
        let settings = config.global_settings().learning;
        if !settings.adaptation_active() {
            return None;
        }
        let served: HashSet<&str> = config
            .providers
            .models
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        let default_effort = config.providers.defaults.default_reasoning_effort.clone();
        let candidate = |r: &vsr_config::ModelRef| Candidate {
            model: r.model.clone(),
            target: r.lora_name.clone().unwrap_or_else(|| r.model.clone()),
            use_reasoning: r.use_reasoning.unwrap_or(false),
            effort: r
                .use_reasoning
                .unwrap_or(false)
                .then(|| {
                    r.reasoning_effort
                        .clone()
                        .or_else(|| default_effort.clone())
                })
                .flatten(),
        };
        // Only models the router can serve are candidates.
        let eligible = |list: Vec<Candidate>| -> Vec<Candidate> {
            let mut seen = HashSet::new();
            list.into_iter()
                .filter(|c| served.contains(c.model.as_str()))
                .filter(|c| seen.insert(c.target.clone()))
                .collect()
        };
        let profiles = std::iter::once(None)
            .chain(config.named_recipes().map(|r| Some(r.name.clone())))
            .collect::<Vec<_>>();
        // `global`: the default model, every decision's refs, every provider model (sorted).
        let mut global: Vec<Candidate> = Vec::new();
        let plain = |m: &str| Candidate {
            model: m.to_string(),
            target: m.to_string(),
            use_reasoning: false,
            effort: None,
        };
        if let Some(m) = config.default_model() {
            global.push(plain(m));
        }
        let mut per_profile = Vec::new();
        for recipe in profiles {
            let Some(p) = config.profile(recipe.as_deref()) else {
                continue;
            };
            for d in &p.routing.decisions {
                global.extend(d.model_refs.iter().map(candidate));
            }
            per_profile.push((recipe, p));
        }
        let mut names: Vec<&str> = served.iter().copied().collect();
        names.sort_unstable();
        global.extend(names.into_iter().map(plain));
        let global = eligible(global);

        let mut decisions = HashMap::new();
        for (recipe, p) in &per_profile {
            for d in &p.routing.decisions {
                let a = d.adaptations.as_ref();
                let over = a.and_then(|a| a.adaptation.as_ref());
                let mode = effective_mode(a.and_then(|a| a.mode), over.and_then(|o| o.mode));
                if mode == AdaptationMode::Bypass {
                    continue;
                }
                let set = over
                    .and_then(|o| o.candidate_set)
                    .unwrap_or(settings.candidate_set);
                let candidates = match set {
                    CandidateSet::Tier if d.tier > 0 => eligible(
                        p.routing
                            .decisions
                            .iter()
                            .filter(|o| o.tier == d.tier)
                            .flat_map(|o| o.model_refs.iter().map(candidate))
                            .collect(),
                    ),
                    CandidateSet::Global => global.clone(),
                    _ => eligible(d.model_refs.iter().map(candidate).collect()),
                };
                decisions.insert(
                    (recipe.clone().unwrap_or_default(), d.name.clone()),
                    DecisionAdaptation {
                        mode,
                        candidate_set: set,
                        key: ExperienceKey::new(recipe.as_deref(), &d.name, d.tier),
                        candidates,
                    },
                );
            }
        }
        let quality = config
            .routing
            .model_cards
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.quality_score.filter(|q| *q > 0.0)?)))
            .collect();
        let rates = config
            .providers
            .models
            .iter()
            .map(|m| {
                let rate = m.pricing.as_ref().map(|p| p.rate_sum()).unwrap_or(0.0);
                (m.name.clone(), rate.max(0.0))
            })
            .collect();
        Some(Adapter {
            decisions,
            quality,
            rates,
        })
    }

    fn rule(&self, recipe: Option<&str>, decision: &str) -> Option<&DecisionAdaptation> {
        self.decisions
            .get(&(recipe_key(recipe), decision.to_string()))
    }

    /// Whether adaptation may replace `decision`'s pick on a live request (its mode is
    /// `apply`): the eval API then cannot preview the model (§12.2).
    pub fn may_change(&self, recipe: Option<&str>, decision: &str) -> bool {
        self.rule(recipe, decision)
            .is_some_and(|r| r.mode == AdaptationMode::Apply && r.candidates.len() > 1)
    }

    /// Where `decision`'s responses are learned; `None` when it bypasses adaptation.
    pub fn key(&self, recipe: Option<&str>, decision: &str) -> Option<&ExperienceKey> {
        self.rule(recipe, decision).map(|r| &r.key)
    }

    /// The learning key of a decision for an outcome about it, whatever its mode (outcomes
    /// about bypassed decisions still teach the tier and router scopes).
    pub fn outcome_key(&self, recipe: Option<&str>, decision: &str, tier: u32) -> ExperienceKey {
        self.key(recipe, decision)
            .cloned()
            .unwrap_or_else(|| ExperienceKey::new(recipe, decision, tier))
    }

    /// Runs adaptation for a request that `decision` routed to `base` (a model ref target).
    /// `sampling_allowed`: false when session protection holds the conversation (then the
    /// posterior mean is used, no exploration). `seed` seeds the draws (random per request on
    /// the data plane). `None` when the decision bypasses adaptation.
    pub fn adapt(
        &self,
        experience: &Experience,
        recipe: Option<&str>,
        decision: &str,
        base: &str,
        sampling_allowed: bool,
        seed: u64,
    ) -> Option<Adaptation> {
        let rng = &mut StdRng::seed_from_u64(seed);
        let rule = self.rule(recipe, decision)?;
        let mut out = Adaptation {
            mode: rule.mode,
            action: "keep_base",
            reason: "candidate_set_empty",
            candidate_set: rule.candidate_set,
            base_model: base.to_string(),
            proposal: base.to_string(),
            sampled: false,
            scores: Vec::new(),
            switch_to: None,
            key: rule.key.clone(),
        };
        if rule.candidates.is_empty() {
            return Some(out);
        }
        let sampled = rule.mode == AdaptationMode::Apply && sampling_allowed;
        let max_rate = rule
            .candidates
            .iter()
            .map(|c| self.rate(&c.model))
            .fold(0.0, f64::max);
        let k = match rule.candidate_set {
            CandidateSet::Decision => 0.04,
            CandidateSet::Tier => 0.06,
            CandidateSet::Global => 0.10,
        };
        let mut scored: Vec<Scored> = rule
            .candidates
            .iter()
            .map(|c| {
                let e = experience.snapshot(&rule.key, &c.target);
                let q = match self.quality.get(&c.model) {
                    Some(q) if e.good_fit + e.underpowered == 0 => q.clamp(0.0, 1.0),
                    _ => 0.5,
                };
                let alpha = SEED_WEIGHT * q + e.good_fit as f64 + 1.0;
                let beta = SEED_WEIGHT * (1.0 - q) + e.underpowered as f64 + 1.0;
                let predicted = if sampled {
                    Beta::new(alpha, beta)
                        .map(|b| b.sample(rng))
                        .unwrap_or(alpha / (alpha + beta))
                } else {
                    alpha / (alpha + beta)
                };
                let cost_penalty = if max_rate > 0.0 {
                    k * (self.rate(&c.model) / max_rate).clamp(0.0, 1.0)
                } else {
                    0.0
                } + 0.03 * e.input_cost_ewma.clamp(0.0, 1.0);
                let total = (e.good_fit + e.underpowered + e.overprovisioned + e.failed + 1) as f64;
                let mut score = predicted
                    - cost_penalty
                    - 0.03 * e.overprovisioned as f64 / total
                    - 0.10 * e.failed as f64 / total
                    - 0.02 * e.latency_ewma.clamp(0.0, 1.0)
                    + 0.02 * e.cache_hit_ewma.clamp(0.0, 1.0);
                if c.target == base {
                    score += 0.001;
                }
                Scored {
                    target: c.target.clone(),
                    score,
                    cost_penalty,
                    cold: !e.observed,
                }
            })
            .collect();
        scored.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.target.cmp(&b.target))
        });
        let base_scored = scored.iter().find(|s| s.target == base);
        let top = &scored[0];
        let mut winner = top;
        if let Some(b) = base_scored
            && top.target != base
        {
            let margin = match rule.candidate_set {
                CandidateSet::Decision => 0.0,
                CandidateSet::Tier => 0.03,
                CandidateSet::Global => 0.08,
            } + (top.cost_penalty - b.cost_penalty).max(0.0);
            if top.score < b.score + margin {
                winner = b;
            }
        }
        let cold = sampled.then(|| scored.iter().find(|s| s.cold)).flatten();
        if let Some(c) = cold {
            winner = c;
        }
        out.sampled = sampled;
        out.proposal = winner.target.clone();
        out.scores = scored.iter().map(|s| (s.target.clone(), s.score)).collect();
        (out.action, out.reason) = if rule.mode == AdaptationMode::Observe {
            ("observe", "observe_only")
        } else if winner.target == base {
            ("keep_base", "base_best")
        } else if cold.is_some() {
            ("propose_switch", "cold_start")
        } else if sampled {
            ("propose_switch", "sampled_win")
        } else {
            ("propose_switch", "posterior_win")
        };
        if rule.mode == AdaptationMode::Apply && winner.target != base {
            out.switch_to = rule
                .candidates
                .iter()
                .find(|c| c.target == winner.target)
                .cloned();
        }
        Some(out)
    }

    fn rate(&self, model: &str) -> f64 {
        self.rates.get(model).copied().unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
version: v0.3
listeners: [{name: http, address: 0.0.0.0, port: 8899}]
providers:
  defaults: {default_model: small}
  models:
    - name: small
      pricing: {prompt_per_1m: 0.1, completion_per_1m: 0.1}
      backend_refs: [{endpoint: "127.0.0.1:1"}]
    - name: big
      pricing: {prompt_per_1m: 1.0, completion_per_1m: 1.0}
      backend_refs: [{endpoint: "127.0.0.1:1"}]
    - name: other
      backend_refs: [{endpoint: "127.0.0.1:1"}]
routing:
  modelCards:
    - {name: small, quality_score: 0.6}
    - {name: big, quality_score: 0.9}
    - {name: other}
  signals:
    keywords:
      - {name: k, operator: OR, keywords: [x]}
  decisions:
    - name: pair
      priority: 10
      tier: 2
      rules: {operator: AND, conditions: [{type: keyword, name: k}]}
      modelRefs: [{model: small}, {model: big, use_reasoning: true}]
    - name: solo
      priority: 5
      tier: 2
      rules: {operator: AND, conditions: [{type: keyword, name: k}]}
      modelRefs: [{model: other}]
    - name: guarded
      priority: 1
      rules: {operator: AND, conditions: [{type: keyword, name: k}]}
      modelRefs: [{model: small}, {model: big}]
      adaptations: {mode: bypass}
    - name: watched
      priority: 1
      rules: {operator: AND, conditions: [{type: keyword, name: k}]}
      modelRefs: [{model: small}, {model: big}]
      adaptations: {adaptation: {mode: observe}}
global:
  router:
    learning:
      enabled: true
      adaptation: {enabled: true, candidate_set: decision}
"#;

    fn adapter(yaml: &str) -> Adapter {
        let loaded = vsr_config::load_str(yaml, "t.yaml").expect("config");
        Adapter::from_config(&loaded.config).expect("adaptation on")
    }

    fn rng() -> u64 {
        7
    }

    #[test]
    fn off_unless_learning_and_adaptation_are_enabled() {
        let off = CONFIG.replace("enabled: true,", "enabled: false,");
        let loaded = vsr_config::load_str(&off, "t.yaml").expect("config");
        assert!(Adapter::from_config(&loaded.config).is_none());
    }

    #[test]
    fn without_sampling_the_posterior_keeps_the_cheaper_pick_unless_outcomes_say_otherwise() {
        let a = adapter(CONFIG);
        let exp = Experience::default();
        // Priors 0.6 vs 0.9: big's mean (2*0.9+1)/(2+2)=0.70 minus cost 0.04 beats small's
        // 0.55 - 0.004 + 0.001 by more than big's extra cost: it is proposed.
        let out = a
            .adapt(&exp, None, "pair", "small", false, rng())
            .expect("adapts");
        assert_eq!(out.proposal, "big");
        assert_eq!(out.reason, "posterior_win");
        let to = out.switch_to.expect("switch");
        assert!(to.use_reasoning, "the chosen ref's reasoning travels");
        // Underpowered verdicts on big turn it around.
        for _ in 0..6 {
            exp.record_outcome(&out.key, "big", Verdict::Underpowered, 1.0);
        }
        let again = a
            .adapt(&exp, None, "pair", "small", false, rng())
            .expect("adapts");
        assert_eq!(again.proposal, "small");
        assert_eq!((again.action, again.reason), ("keep_base", "base_best"));
        assert!(again.switch_to.is_none());
    }

    #[test]
    fn sampling_tries_each_cold_model_first() {
        let a = adapter(CONFIG);
        let exp = Experience::default();
        let key = a.key(None, "pair").expect("key").clone();
        // small is observed (warm); big never was: it is tried while cold.
        exp.record_response(
            &key,
            "small",
            &Observation {
                latency_s: Some(0.2),
                ..Observation::default()
            },
        );
        let out = a
            .adapt(&exp, None, "pair", "small", true, rng())
            .expect("adapts");
        assert!(out.sampled);
        assert_eq!((out.proposal.as_str(), out.reason), ("big", "cold_start"));
    }

    #[test]
    fn bypass_observe_and_single_candidates() {
        let a = adapter(CONFIG);
        let exp = Experience::default();
        assert!(
            a.adapt(&exp, None, "guarded", "small", true, rng())
                .is_none()
        );
        assert!(!a.may_change(None, "guarded"));
        let watched = a
            .adapt(&exp, None, "watched", "small", true, rng())
            .expect("observed");
        assert_eq!(watched.action, "observe");
        assert!(watched.switch_to.is_none() && !watched.sampled);
        assert!(!a.may_change(None, "watched"));
        let solo = a
            .adapt(&exp, None, "solo", "other", true, rng())
            .expect("adapts");
        assert_eq!(solo.proposal, "other");
        assert!(!a.may_change(None, "solo") && a.may_change(None, "pair"));
    }

    #[test]
    fn tier_and_global_candidate_sets() {
        let tier = adapter(&CONFIG.replace("candidate_set: decision", "candidate_set: tier"));
        let exp = Experience::default();
        let out = tier
            .adapt(&exp, None, "solo", "other", false, rng())
            .expect("adapts");
        let mut names: Vec<_> = out.scores.iter().map(|(m, _)| m.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["big", "other", "small"], "tier 2's refs");
        let global = adapter(&CONFIG.replace("candidate_set: decision", "candidate_set: global"));
        let out = global
            .adapt(&exp, None, "watched", "small", false, rng())
            .expect("adapts");
        assert_eq!(out.scores.len(), 3);
    }

    #[test]
    fn outcomes_and_telemetry_teach_the_decision_tier_and_router_scopes() {
        let exp = Experience::default();
        let key = ExperienceKey::new(Some("r1"), "d", 3);
        exp.record_outcome(&key, "m", Verdict::GoodFit, 2.7);
        assert_eq!(exp.snapshot(&key, "m").good_fit, 2);
        let sibling = ExperienceKey::new(Some("r1"), "other", 3);
        assert_eq!(exp.snapshot(&sibling, "m").good_fit, 2, "tier fallback");
        let elsewhere = ExperienceKey::new(None, "x", 1);
        assert_eq!(exp.snapshot(&elsewhere, "m").good_fit, 2, "router fallback");
        exp.record_response(
            &key,
            "m",
            &Observation {
                latency_s: Some(1.0),
                failed: true,
                ..Observation::default()
            },
        );
        exp.record_response(
            &key,
            "m",
            &Observation {
                latency_s: Some(2.0),
                ..Observation::default()
            },
        );
        let e = exp.snapshot(&key, "m");
        assert!((e.latency_ewma - 1.2).abs() < 1e-9, "{}", e.latency_ewma);
        assert_eq!(e.failed, 1);
        assert!(e.observed);
        assert_eq!(
            Verdict::parse("overprovisioned"),
            Some(Verdict::Overprovisioned)
        );
        assert_eq!(Verdict::parse("great"), None);
    }
}
