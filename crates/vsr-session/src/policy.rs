//! The keep-or-switch rule (spec §12.4–12.6, in the form documented in docs/sessions.md).
//!
//! Per turn: the turn's own decision picks a model with its confidence. With a remembered
//! previous model that differs, the previous model's *support* this turn is the highest
//! confidence among this turn's matched decisions that list it in their `modelRefs` (0 when
//! none does). The previous model is kept while the conversation has fewer than
//! `min_turns_before_switch` turns, and otherwise unless `own − support ≥ switch_margin`.
//! `session` scope keeps it unconditionally. A conversation idle for `idle_timeout_seconds`
//! (0: never) takes the turn's own pick. A decision's `adaptations` mode `bypass` serves its
//! own pick; `observe` serves it and reports what protection would have done.

use std::collections::{HashMap, HashSet};

use vsr_config::{AdaptationMode, Config, LearningStoreBackend, ProtectionScope};

use crate::store::SessionState;

/// The built-in memory TTL (upstream: 24 h idle) when `state_store.ttl_seconds` is 0.
const DEFAULT_TTL_MS: i64 = 24 * 3600 * 1000;
/// Tolerance when comparing a confidence gap with the margin (confidences are sums of floats).
const EPS: f64 = 1e-9;

/// Where the conversation state lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StoreChoice {
    /// In-process, bounded LRU with TTL.
    Memory,
    /// The replay PostgreSQL database (in `schema` when set), shared by replicas.
    Postgres { url: String, schema: Option<String> },
    /// The database the process's replicas share (`serve --shared-db`) when it has one, else
    /// in-process: resolved by [`crate::Stores`].
    ProcessShared,
}

/// Protection as one decision configures it.
#[derive(Debug, Clone, PartialEq)]
struct DecisionRule {
    mode: AdaptationMode,
    switch_margin: Option<f64>,
    models: Vec<String>,
}

/// One turn as the router decided it on its own.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Turn {
    /// The named recipe that routed it (`None`: default profile).
    pub recipe: Option<String>,
    /// The winning decision (`None`: no decision matched, the default model).
    pub decision: Option<String>,
    /// The model the turn's own decision chose.
    pub model: String,
    /// The winner's confidence.
    pub confidence: f64,
    /// Every matched decision with its confidence.
    pub matched: Vec<(String, f64)>,
    /// Assistant messages in the request (the client's view of the turn count).
    pub turn_index: u64,
}

/// What protection did with a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// First turn seen (or forgotten after the TTL): the turn's own model.
    New,
    /// The turn's own model is the previous one.
    Same,
    /// The previous model was kept against the turn's own decision.
    Kept,
    /// The turn's own decision won: the conversation switched.
    Switched,
    /// Idle past `idle_timeout_seconds`: the turn's own model.
    Expired,
    /// `observe` mode: the turn's own model was served; `reason` says what `apply` would do.
    Observed,
    /// The decision's mode is `bypass`: the turn's own model.
    Bypassed,
    /// The state store failed: the turn's own model (logged).
    Unavailable,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::New => "new",
            Action::Same => "same",
            Action::Kept => "kept",
            Action::Switched => "switched",
            Action::Expired => "expired",
            Action::Observed => "observed",
            Action::Bypassed => "bypassed",
            Action::Unavailable => "unavailable",
        }
    }
}

/// The result of one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The public conversation id (16 hex characters).
    pub session_id: String,
    pub action: Action,
    /// The model to serve.
    pub model: String,
    /// The model the turn's own decision chose.
    pub own_model: String,
    /// Why (`min_turns`, `margin`, `session_scope`, or for a switch `margin_met`); for
    /// `observed`, the reason `apply` would have kept the previous model.
    pub reason: Option<&'static str>,
    /// The conversation's turns including this one.
    pub turns: u64,
}

impl Outcome {
    /// The turn's own model served because protection could not run (for example the store is
    /// down).
    pub fn unavailable(session_id: String, own_model: &str) -> Outcome {
        Outcome {
            session_id,
            action: Action::Unavailable,
            model: own_model.to_string(),
            own_model: own_model.to_string(),
            reason: None,
            turns: 0,
        }
    }
}

/// Session protection for one config generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub scope: ProtectionScope,
    pub session_header: String,
    pub conversation_header: String,
    pub idle_timeout_ms: i64,
    pub min_turns_before_switch: u64,
    pub switch_margin: f64,
    ttl_ms: i64,
    store: StoreChoice,
    /// `(recipe or "", decision)` → its rule.
    decisions: HashMap<(String, String), DecisionRule>,
    /// Configured model aliases (a remembered model that left the config is not kept).
    models: HashSet<String>,
}

/// A component's (adaptation's, protection's) effective mode under its decision's mode: the
/// decision's when the component sets none; `observe` never turns into `apply`.
pub(crate) fn effective_mode(
    d: Option<AdaptationMode>,
    component: Option<AdaptationMode>,
) -> AdaptationMode {
    match (d, component) {
        (d, None) => d.unwrap_or(AdaptationMode::Apply),
        (Some(AdaptationMode::Observe), Some(AdaptationMode::Apply)) => AdaptationMode::Observe,
        (_, Some(c)) => c,
    }
}

impl Policy {
    /// The policy of a validated config; `None` unless `global.router.learning.enabled` and
    /// `protection.enabled`. `shared_db` is where replicas share state: the replay PostgreSQL
    /// (URL, schema) when `services.router_replay.store_backend` is `postgres`.
    pub fn from_config(config: &Config) -> Option<Policy> {
        let g = config.global_settings();
        let l = &g.learning;
        if !l.protection_active() {
            return None;
        }
        let rr = &g.router_replay;
        let shared = (rr.store_backend == vsr_config::StoreBackend::Postgres).then(|| {
            StoreChoice::Postgres {
                url: rr.postgres.url(),
                schema: rr.postgres.table_name.clone(),
            }
        });
        let store = match l.store_backend {
            Some(LearningStoreBackend::Local) => StoreChoice::Memory,
            // The replay PostgreSQL, else the replicas' `--shared-db`, else in-process. Redis
            // is not built (validation warns).
            Some(LearningStoreBackend::Postgres | LearningStoreBackend::Redis) | None => {
                shared.unwrap_or(StoreChoice::ProcessShared)
            }
        };
        let mut decisions = HashMap::new();
        let profiles = std::iter::once(None)
            .chain(config.named_recipes().map(|r| Some(r.name.clone())))
            .collect::<Vec<_>>();
        for recipe in profiles {
            let Some(p) = config.profile(recipe.as_deref()) else {
                continue;
            };
            for d in &p.routing.decisions {
                let a = d.adaptations.as_ref();
                let prot = a.and_then(|a| a.protection.as_ref());
                let rule = DecisionRule {
                    mode: effective_mode(a.and_then(|a| a.mode), prot.and_then(|p| p.mode)),
                    switch_margin: prot.and_then(|p| p.switch_margin),
                    models: d.model_refs.iter().map(|m| m.model.clone()).collect(),
                };
                decisions.insert((recipe.clone().unwrap_or_default(), d.name.clone()), rule);
            }
        }
        Some(Policy {
            scope: l.scope,
            session_header: l.session_header.to_ascii_lowercase(),
            conversation_header: l.conversation_header.to_ascii_lowercase(),
            idle_timeout_ms: (l.idle_timeout_seconds * 1000.0) as i64,
            min_turns_before_switch: l.min_turns_before_switch,
            switch_margin: l.switch_margin,
            ttl_ms: match l.store_ttl_seconds {
                0 => DEFAULT_TTL_MS,
                s => (s as i64).saturating_mul(1000),
            },
            store,
            decisions,
            models: config
                .providers
                .models
                .iter()
                .map(|m| m.name.clone())
                .collect(),
        })
    }

    /// Where this policy's state lives.
    pub fn store_choice(&self) -> &StoreChoice {
        &self.store
    }

    /// How long an untouched conversation is remembered.
    pub fn ttl_ms(&self) -> i64 {
        self.ttl_ms
    }

    /// Whether protection may replace `decision`'s pick on a live request (its effective mode is
    /// `apply`): the eval API then cannot preview the model (head-delta §12.2).
    pub fn may_change(&self, recipe: Option<&str>, decision: &str) -> bool {
        let recipe = recipe.filter(|r| *r != vsr_config::DEFAULT_RECIPE);
        self.rule(recipe, decision)
            .is_some_and(|r| r.mode == AdaptationMode::Apply)
    }

    fn rule(&self, recipe: Option<&str>, decision: &str) -> Option<&DecisionRule> {
        self.decisions
            .get(&(recipe.unwrap_or("").to_string(), decision.to_string()))
    }

    /// The previous model's support this turn: the best confidence among matched decisions
    /// that list it.
    fn support(&self, turn: &Turn, model: &str) -> f64 {
        turn.matched
            .iter()
            .filter(|(d, _)| {
                self.rule(turn.recipe.as_deref(), d)
                    .is_some_and(|r| r.models.iter().any(|m| m == model))
            })
            .map(|(_, c)| *c)
            .fold(0.0, f64::max)
    }

    /// Decides one turn from the conversation's previous state (`None`: unknown) and returns
    /// the outcome with the state to store.
    pub fn decide(
        &self,
        prev: Option<&SessionState>,
        turn: &Turn,
        now_ms: i64,
    ) -> (Outcome, SessionState) {
        let rule = turn
            .decision
            .as_deref()
            .and_then(|d| self.rule(turn.recipe.as_deref(), d));
        let mode = rule.map(|r| r.mode).unwrap_or(AdaptationMode::Apply);
        let margin = rule
            .and_then(|r| r.switch_margin)
            .unwrap_or(self.switch_margin);
        let own = turn.model.as_str();
        let turns = prev.map_or(0, |p| p.turns);
        // Would `apply` keep the previous model, and why?
        let (action, keep_reason): (Action, Option<&'static str>) = match prev {
            None => (Action::New, None),
            Some(p) if p.model == own => (Action::Same, None),
            Some(p) if !self.models.contains(&p.model) => (Action::Switched, Some("previous_gone")),
            Some(p)
                if self.idle_timeout_ms > 0 && now_ms - p.last_seen_ms >= self.idle_timeout_ms =>
            {
                (Action::Expired, None)
            }
            Some(p) => {
                if self.scope == ProtectionScope::Session {
                    (Action::Kept, Some("session_scope"))
                } else if turns.max(turn.turn_index) < self.min_turns_before_switch {
                    (Action::Kept, Some("min_turns"))
                } else if turn.confidence - self.support(turn, &p.model) + EPS >= margin {
                    (Action::Switched, Some("margin_met"))
                } else {
                    (Action::Kept, Some("margin"))
                }
            }
        };
        let (action, model) = match (mode, action) {
            (AdaptationMode::Bypass, _) => (Action::Bypassed, own.to_string()),
            (AdaptationMode::Observe, Action::Kept) => (Action::Observed, own.to_string()),
            (_, Action::Kept) => (
                Action::Kept,
                prev.map(|p| p.model.clone()).unwrap_or_default(),
            ),
            (_, a) => (a, own.to_string()),
        };
        let reason = match action {
            Action::Kept | Action::Observed | Action::Switched => keep_reason,
            _ => None,
        };
        let next_turns = (turn.turn_index + 1).max(turns + 1);
        let switched = prev.is_some_and(|p| p.model != model);
        let state = SessionState {
            model: model.clone(),
            turns: next_turns,
            switches: prev.map_or(0, |p| p.switches) + u64::from(switched),
            last_seen_ms: now_ms,
            last_decision: turn.decision.clone().unwrap_or_default(),
        };
        let outcome = Outcome {
            session_id: String::new(),
            action,
            model,
            own_model: own.to_string(),
            reason,
            turns: next_turns,
        };
        (outcome, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"version: v0.3
global:
  router:
    learning:
      enabled: true
      adaptation: {enabled: false}
      protection:
        tuning: {idle_timeout_seconds: 60, min_turns_before_switch: 3, switch_margin: 0.2}
providers:
  defaults: {default_model: a}
  models:
    - {name: a, backend_refs: [{endpoint: "h:1"}]}
    - {name: b, backend_refs: [{endpoint: "h:1"}]}
    - {name: c, backend_refs: [{endpoint: "h:1"}]}
routing:
  modelCards: [{name: a}, {name: b}, {name: c}]
  signals:
    keywords: [{name: k, operator: OR, keywords: [x]}]
  decisions:
    - {name: to_a, priority: 1, rules: {operator: AND, conditions: [{type: keyword, name: k}]}, modelRefs: [{model: a}]}
    - {name: to_b, priority: 2, rules: {operator: AND, conditions: [{type: keyword, name: k}]}, modelRefs: [{model: b}]}
    - name: to_c
      priority: 3
      rules: {operator: AND, conditions: [{type: keyword, name: k}]}
      modelRefs: [{model: c}]
      adaptations: {mode: bypass}
    - name: watch
      priority: 4
      rules: {operator: AND, conditions: [{type: keyword, name: k}]}
      modelRefs: [{model: b}]
      adaptations: {protection: {mode: observe, switch_margin: 0.5}}
"#;

    fn policy(yaml: &str) -> Policy {
        let cfg = vsr_config::load_str(yaml, "t.yaml").expect("loads").config;
        Policy::from_config(&cfg).expect("protection on")
    }

    fn turn(decision: &str, model: &str, conf: f64, matched: &[(&str, f64)], index: u64) -> Turn {
        Turn {
            recipe: None,
            decision: Some(decision.into()),
            model: model.into(),
            confidence: conf,
            matched: matched.iter().map(|(d, c)| (d.to_string(), *c)).collect(),
            turn_index: index,
        }
    }

    /// Runs turns in order from an empty conversation; returns each outcome.
    fn run(p: &Policy, turns: &[(Turn, i64)]) -> Vec<Outcome> {
        let mut state: Option<SessionState> = None;
        turns
            .iter()
            .map(|(t, now)| {
                let (o, s) = p.decide(state.as_ref(), t, *now);
                state = Some(s);
                o
            })
            .collect()
    }

    #[test]
    fn min_turns_lock_then_margin_decides() {
        let p = policy(YAML);
        let out = run(
            &p,
            &[
                (turn("to_a", "a", 0.5, &[("to_a", 0.5)], 0), 0),
                // Turn 2: b wins by far, but fewer than 3 turns: kept.
                (turn("to_b", "b", 0.9, &[("to_b", 0.9)], 1), 1),
                (turn("to_b", "b", 0.9, &[("to_b", 0.9)], 2), 2),
                // Turn 4: b beats a's support (0.6) by 0.1 < 0.2: kept.
                (
                    turn("to_b", "b", 0.7, &[("to_b", 0.7), ("to_a", 0.6)], 3),
                    3,
                ),
                // Exactly the margin: switches.
                (
                    turn("to_b", "b", 0.8, &[("to_b", 0.8), ("to_a", 0.6)], 4),
                    4,
                ),
                (turn("to_b", "b", 0.8, &[("to_b", 0.8)], 5), 5),
            ],
        );
        let actions: Vec<_> = out.iter().map(|o| (o.action, o.model.as_str())).collect();
        assert_eq!(
            actions,
            [
                (Action::New, "a"),
                (Action::Kept, "a"),
                (Action::Kept, "a"),
                (Action::Kept, "a"),
                (Action::Switched, "b"),
                (Action::Same, "b"),
            ]
        );
        assert_eq!(out[1].reason, Some("min_turns"));
        assert_eq!(out[3].reason, Some("margin"));
        assert_eq!(out[3].own_model, "b");
        assert_eq!(out[5].turns, 6);
    }

    #[test]
    fn the_client_turn_count_counts_toward_min_turns() {
        let p = policy(YAML);
        // A conversation first seen at its 4th turn (3 assistant messages) may switch at once.
        let out = run(
            &p,
            &[
                (turn("to_a", "a", 0.5, &[], 3), 0),
                (turn("to_b", "b", 0.9, &[("to_b", 0.9)], 4), 1),
            ],
        );
        assert_eq!(out[1].action, Action::Switched);
    }

    #[test]
    fn idle_conversations_take_the_turn_s_own_model() {
        let p = policy(YAML);
        let out = run(
            &p,
            &[
                (turn("to_a", "a", 0.5, &[], 5), 0),
                (turn("to_b", "b", 0.15, &[("to_b", 0.15)], 6), 59_999),
                (
                    turn("to_b", "b", 0.15, &[("to_b", 0.15)], 7),
                    59_999 + 60_000,
                ),
            ],
        );
        assert_eq!(out[1].action, Action::Kept);
        assert_eq!(out[2].action, Action::Expired);
        assert_eq!(out[2].model, "b");
    }

    #[test]
    fn bypass_observe_and_decision_margin() {
        let p = policy(YAML);
        let out = run(
            &p,
            &[
                (turn("to_a", "a", 0.5, &[], 5), 0),
                (turn("to_c", "c", 0.01, &[("to_c", 0.01)], 6), 1),
                (turn("to_a", "a", 0.5, &[], 7), 2),
                // `watch` (margin 0.5, observe): 0.4 over nothing is under 0.5: would keep.
                (turn("watch", "b", 0.4, &[("watch", 0.4)], 8), 3),
            ],
        );
        assert_eq!(out[1].action, Action::Bypassed);
        assert_eq!(out[1].model, "c");
        assert_eq!(out[2].action, Action::Switched);
        assert_eq!(out[3].action, Action::Observed);
        assert_eq!(out[3].model, "b");
        assert_eq!(out[3].reason, Some("margin"));
    }

    #[test]
    fn session_scope_pins_and_disabled_protection_is_none() {
        let p = policy(&YAML.replace("protection:\n", "protection:\n        scope: session\n"));
        let out = run(
            &p,
            &[
                (turn("to_a", "a", 0.1, &[], 9), 0),
                (turn("to_b", "b", 1.0, &[("to_b", 1.0)], 10), 1),
            ],
        );
        assert_eq!(
            (out[1].action, out[1].reason),
            (Action::Kept, Some("session_scope"))
        );
        let off = YAML.replace(
            "enabled: true\n      adaptation",
            "enabled: false\n      adaptation",
        );
        let cfg = vsr_config::load_str(&off, "t.yaml").unwrap().config;
        assert!(Policy::from_config(&cfg).is_none());
        assert_eq!(p.store_choice(), &StoreChoice::ProcessShared);
    }
}
