//! Strict checks of the upstream-HEAD payloads that stay free-form JSON in the model (algorithm
//! blocks `fusion`, `workflows`, `multi_factor`; plugin configurations `response_cache` and
//! `tools`; `global.router.learning`; `global.stores.response_cache`): unknown keys get a
//! did-you-mean, closed values their allowed list, numbers their type and sign, each at its
//! line:column. The values themselves are kept (and exported) as written.

use super::{Ctx, Obj};
use crate::model::{CandidateIteration, Emit, IterationOutput, Retention};
use crate::vocab::*;
use crate::yaml::Node;

impl Ctx<'_> {
    /// Opens `key` as a mapping with `allowed` keys and runs `f` on it, when present.
    fn nested(&mut self, o: &Obj, key: &str, allowed: &[&str], f: impl FnOnce(&mut Self, &Obj)) {
        if let Some((n, p)) = o.get(key)
            && !n.is_null()
            && let Some(inner) = self.obj(n, &p, allowed)
        {
            f(self, &inner);
        }
    }

    /// Non-negative integers.
    fn counts(&mut self, o: &Obj, keys: &[&str]) {
        for k in keys {
            self.int_in::<u64>(o, k, 0, i64::MAX);
        }
    }

    /// Numbers that must not be negative.
    fn non_negative(&mut self, o: &Obj, keys: &[&str]) {
        for k in keys {
            if let (Some(v), Some((n, p))) = (self.f64_opt(o, k), o.get(k))
                && v < 0.0
            {
                self.error_at(n.pos, &p, format!("must be >= 0, got {v}"));
            }
        }
    }

    /// Numbers in [0, 1].
    fn units(&mut self, o: &Obj, keys: &[&str]) {
        for k in keys {
            if let (Some(v), Some((n, p))) = (self.f64_opt(o, k), o.get(k))
                && !(0.0..=1.0).contains(&v)
            {
                self.error_at(n.pos, &p, format!("must be between 0 and 1, got {v}"));
            }
        }
    }

    fn bools(&mut self, o: &Obj, keys: &[&str]) {
        for k in keys {
            self.bool_opt(o, k);
        }
    }

    fn strs(&mut self, o: &Obj, keys: &[&str]) {
        for k in keys {
            self.str_opt(o, k);
        }
    }
}

/// Checks the block of a HEAD algorithm type (`algorithm.<kind>`).
pub(super) fn algorithm_block(cx: &mut Ctx, kind: &str, n: &Node, p: &str) {
    match kind {
        "fusion" => fusion(cx, n, p),
        "workflows" => workflows(cx, n, p),
        "multi_factor" => multi_factor(cx, n, p),
        _ => {}
    }
}

const FUSION: &[&str] = &[
    "model",
    "analysis_models",
    "analysis_overrides",
    "max_concurrent",
    "max_completion_tokens",
    "round_timeout_seconds",
    "min_successful_responses",
    "temperature",
    "include_analysis",
    "include_intermediate_responses",
    "on_error",
    "analysis_template",
    "synthesis_template",
    "judge_prompt_version",
    "grounding",
];

fn fusion(cx: &mut Ctx, n: &Node, p: &str) {
    let Some(o) = cx.obj(n, p, FUSION) else {
        return;
    };
    cx.strs(
        &o,
        &[
            "model",
            "analysis_template",
            "synthesis_template",
            "judge_prompt_version",
        ],
    );
    cx.str_list(&o, "analysis_models");
    cx.counts(
        &o,
        &[
            "max_concurrent",
            "max_completion_tokens",
            "round_timeout_seconds",
            "min_successful_responses",
        ],
    );
    cx.non_negative(&o, &["temperature"]);
    cx.bools(&o, &["include_analysis", "include_intermediate_responses"]);
    cx.vocab_opt::<LooperOnError>(&o, "on_error");
    cx.list(&o, "analysis_overrides", |cx, n, p| {
        let o = cx.obj(n, p, &["model", "temperature", "max_completion_tokens"])?;
        cx.str_req(&o, "model");
        cx.non_negative(&o, &["temperature"]);
        cx.counts(&o, &["max_completion_tokens"]);
        Some(())
    });
    cx.nested(
        &o,
        "grounding",
        &[
            "enabled",
            "reference",
            "policy",
            "min_score",
            "min_keep",
            "nli_contradiction_penalty",
            "on_error",
        ],
        |cx, g| {
            cx.bools(g, &["enabled"]);
            cx.vocab_opt::<GroundingReference>(g, "reference");
            cx.vocab_opt::<GroundingPolicy>(g, "policy");
            cx.units(g, &["min_score"]);
            cx.counts(g, &["min_keep"]);
            cx.non_negative(g, &["nli_contradiction_penalty"]);
            cx.vocab_opt::<LooperOnError>(g, "on_error");
        },
    );
}

const WORKFLOWS: &[&str] = &[
    "mode",
    "template",
    "roles",
    "final",
    "planner",
    "max_steps",
    "max_parallel",
    "max_completion_tokens",
    "round_timeout_seconds",
    "min_successful_responses",
    "temperature",
    "include_intermediate_responses",
    "on_error",
];

fn workflows(cx: &mut Ctx, n: &Node, p: &str) {
    let Some(o) = cx.obj(n, p, WORKFLOWS) else {
        return;
    };
    cx.vocab_opt::<WorkflowsMode>(&o, "mode");
    cx.strs(&o, &["template"]);
    cx.list(&o, "roles", |cx, n, p| {
        let o = cx.obj(n, p, &["name", "models", "prompt", "access_list"])?;
        cx.str_req(&o, "name");
        cx.str_list(&o, "models");
        cx.str_opt(&o, "prompt");
        cx.str_list(&o, "access_list");
        Some(())
    });
    cx.nested(&o, "final", &["model", "prompt"], |cx, f| {
        cx.strs(f, &["model", "prompt"]);
    });
    cx.nested(
        &o,
        "planner",
        &["model", "max_completion_tokens"],
        |cx, pl| {
            cx.strs(pl, &["model"]);
            cx.counts(pl, &["max_completion_tokens"]);
        },
    );
    cx.counts(
        &o,
        &[
            "max_steps",
            "max_parallel",
            "max_completion_tokens",
            "round_timeout_seconds",
            "min_successful_responses",
        ],
    );
    cx.non_negative(&o, &["temperature"]);
    cx.bools(&o, &["include_intermediate_responses"]);
    cx.vocab_opt::<LooperOnError>(&o, "on_error");
}

fn multi_factor(cx: &mut Ctx, n: &Node, p: &str) {
    let Some(o) = cx.obj(
        n,
        p,
        &["weights", "slo", "latency_percentile", "on_no_candidates"],
    ) else {
        return;
    };
    cx.nested(
        &o,
        "weights",
        &["quality", "latency", "cost", "load"],
        |cx, w| {
            for k in ["quality", "latency", "cost", "load"] {
                cx.f64_opt(w, k);
            }
        },
    );
    cx.nested(
        &o,
        "slo",
        &[
            "max_tpot_ms",
            "max_ttft_ms",
            "max_cost_per_1m",
            "max_inflight",
        ],
        |cx, s| {
            cx.non_negative(
                s,
                &[
                    "max_tpot_ms",
                    "max_ttft_ms",
                    "max_cost_per_1m",
                    "max_inflight",
                ],
            );
        },
    );
    if let Some(v) = cx.f64_opt(&o, "latency_percentile")
        && !(1.0..=100.0).contains(&v)
        && let Some((n, p)) = o.get("latency_percentile")
    {
        cx.error_at(n.pos, &p, format!("must be between 1 and 100, got {v}"));
    }
    if let Some((vn, vp)) = o.get("on_no_candidates")
        && let Some(t) = cx.str_opt(&o, "on_no_candidates")
        && !matches!(t.as_str(), "cheapest" | "first" | "fail")
    {
        let hint = super::suggest(&t, &["cheapest", "first", "fail"])
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        cx.error_at(
            vn.pos,
            &vp,
            format!("unknown on_no_candidates {t:?}: expected cheapest, first or fail{hint}"),
        );
    }
}

/// Checks the configuration of a HEAD plugin type.
pub(super) fn plugin_configuration(cx: &mut Ctx, kind: &str, n: &Node, p: &str) {
    match kind {
        "response_cache" | "response-cache" => response_cache_plugin(cx, n, p),
        "tools" => tools_plugin(cx, n, p),
        _ => {}
    }
}

fn response_cache_plugin(cx: &mut Ctx, n: &Node, p: &str) {
    let Some(o) = cx.obj(
        n,
        p,
        &[
            "enabled",
            "mode",
            "scope",
            "semantic",
            "similarity_threshold",
            "ttl_seconds",
            "request_controls",
            "allow_request_controls",
            "control_header",
            "personalized",
            "revision",
        ],
    ) else {
        return;
    };
    cx.bools(&o, &["enabled", "allow_request_controls"]);
    cx.vocab_opt::<CacheMode>(&o, "mode");
    cx.strs(&o, &["scope", "control_header"]);
    cx.units(&o, &["similarity_threshold"]);
    cx.counts(&o, &["ttl_seconds"]);
    cx.nested(&o, "semantic", &["similarity_threshold"], |cx, s| {
        cx.units(s, &["similarity_threshold"]);
    });
    cx.nested(
        &o,
        "request_controls",
        &["enabled", "header", "allowed", "max_ttl_seconds"],
        |cx, r| {
            cx.bools(r, &["enabled"]);
            cx.strs(r, &["header"]);
            cx.str_list(r, "allowed");
            cx.counts(r, &["max_ttl_seconds"]);
        },
    );
    cx.nested(&o, "personalized", &["mode"], |cx, r| cx.strs(r, &["mode"]));
    cx.nested(
        &o,
        "revision",
        &[
            "cache_epoch",
            "model_revision",
            "prompt_revision",
            "policy_revision",
        ],
        |cx, r| {
            cx.strs(
                r,
                &[
                    "cache_epoch",
                    "model_revision",
                    "prompt_revision",
                    "policy_revision",
                ],
            )
        },
    );
}

fn tools_plugin(cx: &mut Ctx, n: &Node, p: &str) {
    let Some(o) = cx.obj(
        n,
        p,
        &[
            "enabled",
            "mode",
            "semantic_selection",
            "allow_tools",
            "block_tools",
            "strip_tool_history",
            "strategy",
            "dynamic_retrieval",
        ],
    ) else {
        return;
    };
    let enabled = cx.bool_opt(&o, "enabled").unwrap_or(false);
    let mode = cx.vocab_opt::<ToolsMode>(&o, "mode");
    cx.bools(&o, &["semantic_selection"]);
    let strip = cx.bool_opt(&o, "strip_tool_history").unwrap_or(false);
    cx.strs(&o, &["strategy"]);
    let allow = cx.str_list(&o, "allow_tools");
    let block = cx.str_list(&o, "block_tools");
    cx.nested(
        &o,
        "dynamic_retrieval",
        &[
            "enabled",
            "strategy",
            "history_window",
            "weights",
            "min_history_confidence",
            "fallback_on_low_confidence",
        ],
        |cx, d| {
            cx.bools(d, &["enabled", "fallback_on_low_confidence"]);
            cx.vocab_opt::<ToolsRetrieval>(d, "strategy");
            cx.counts(d, &["history_window"]);
            cx.units(d, &["min_history_confidence"]);
            cx.nested(
                d,
                "weights",
                &[
                    "semantic",
                    "history",
                    "decision_prior",
                    "repetition_penalty",
                ],
                |cx, w| {
                    cx.non_negative(
                        w,
                        &[
                            "semantic",
                            "history",
                            "decision_prior",
                            "repetition_penalty",
                        ],
                    )
                },
            );
        },
    );
    if !enabled {
        return;
    }
    let mode = mode.unwrap_or(ToolsMode::Passthrough);
    let at = |cx: &mut Ctx, key: &str| {
        o.get(key)
            .map(|(n, kp)| (cx.spans.key(&kp).unwrap_or(n.pos), kp))
            .unwrap_or((o.pos, super::join_key(&o.path, key)))
    };
    if mode == ToolsMode::Filtered && allow.is_empty() && block.is_empty() {
        let (pos, kp) = at(cx, "mode");
        cx.error_at(
            pos,
            &kp,
            "tools mode `filtered` needs allow_tools or block_tools",
        );
    }
    if mode != ToolsMode::Filtered {
        for key in ["allow_tools", "block_tools"] {
            if o.has(key) {
                let (pos, kp) = at(cx, key);
                cx.error_at(
                    pos,
                    &kp,
                    format!("`{key}` is only allowed with mode `filtered`"),
                );
            }
        }
    }
    if strip && mode != ToolsMode::None {
        let (pos, kp) = at(cx, "strip_tool_history");
        cx.error_at(pos, &kp, "`strip_tool_history` requires mode `none`");
    }
}

/// `global.router.learning`.
pub(super) fn learning(cx: &mut Ctx, n: &Node, p: &str) {
    let Some(o) = cx.obj(
        n,
        p,
        &["enabled", "adaptation", "protection", "state_store"],
    ) else {
        return;
    };
    cx.bools(&o, &["enabled"]);
    cx.nested(
        &o,
        "adaptation",
        &["enabled", "candidate_set", "strategy"],
        |cx, a| {
            cx.bools(a, &["enabled"]);
            cx.vocab_opt::<CandidateSet>(a, "candidate_set");
            cx.vocab_opt::<LearningStrategy>(a, "strategy");
        },
    );
    cx.nested(
        &o,
        "protection",
        &["enabled", "scope", "identity", "tuning"],
        |cx, pr| {
            cx.bools(pr, &["enabled"]);
            cx.vocab_opt::<ProtectionScope>(pr, "scope");
            cx.nested(pr, "identity", &["headers"], |cx, id| {
                cx.nested(id, "headers", &["session", "conversation"], |cx, h| {
                    for k in ["session", "conversation"] {
                        if let Some(v) = cx.str_opt(h, k)
                            && v.trim().is_empty()
                            && let Some((n, kp)) = h.get(k)
                        {
                            cx.error_at(n.pos, &kp, "header name must not be empty");
                        }
                    }
                });
            });
            cx.nested(
                pr,
                "tuning",
                &[
                    "idle_timeout_seconds",
                    "min_turns_before_switch",
                    "switch_margin",
                    "stability_weight",
                ],
                |cx, t| {
                    cx.non_negative(
                        t,
                        &[
                            "idle_timeout_seconds",
                            "min_turns_before_switch",
                            "switch_margin",
                            "stability_weight",
                        ],
                    )
                },
            );
        },
    );
    cx.nested(
        &o,
        "state_store",
        &["backend", "ttl_seconds", "timeout_ms", "redis"],
        |cx, s| {
            let backend = cx.vocab_opt::<LearningStoreBackend>(s, "backend");
            cx.counts(s, &["ttl_seconds", "timeout_ms"]);
            let mut has_address = false;
            cx.nested(
                s,
                "redis",
                &["address", "password", "database", "key_prefix"],
                |cx, r| {
                    has_address = cx.str_opt(r, "address").is_some_and(|a| !a.is_empty());
                    cx.strs(r, &["password", "key_prefix"]);
                    cx.counts(r, &["database"]);
                },
            );
            if backend == Some(LearningStoreBackend::Redis)
                && !has_address
                && let Some((n, kp)) = s.get("backend")
            {
                cx.error_at(n.pos, &kp, "the redis state store needs `redis.address`");
            }
        },
    );
}

/// `global.stores.response_cache`.
pub(super) fn response_cache_store(cx: &mut Ctx, n: &Node, p: &str) {
    let Some(o) = cx.obj(
        n,
        p,
        &[
            "enabled",
            "backend_type",
            "similarity_threshold",
            "max_entries",
            "max_bytes",
            "ttl_seconds",
            "eviction_policy",
            "embedding_model",
            "redis",
            "valkey",
            "milvus",
            "qdrant",
        ],
    ) else {
        return;
    };
    cx.bools(&o, &["enabled"]);
    cx.vocab_opt::<CacheBackend>(&o, "backend_type");
    cx.units(&o, &["similarity_threshold"]);
    cx.counts(&o, &["max_entries", "max_bytes", "ttl_seconds"]);
    cx.vocab_opt::<EvictionPolicy>(&o, "eviction_policy");
    cx.strs(&o, &["embedding_model"]);
}

/// `routing.decisions[].emits` (HEAD §2): `[{kind: retention, retention: {…}}]`, each kind at
/// most once; `ttl_turns >= 0`; `drop: true` with `ttl_turns > 0` contradicts itself.
pub(super) fn emits(cx: &mut Ctx, n: &Node, p: &str) -> Option<Vec<Emit>> {
    let mut seen: Vec<String> = Vec::new();
    let list = cx.list_node(n, p, &mut |cx: &mut Ctx, n: &Node, p: &str| {
        let o = cx.obj(n, p, &["kind", "retention"])?;
        let kind = cx.str_req(&o, "kind");
        if let Some((kn, kp)) = o.get("kind") {
            if kind != "retention" && !kind.is_empty() {
                cx.error_at(
                    kn.pos,
                    &kp,
                    format!("unknown emit kind {kind:?}: expected \"retention\""),
                );
            } else if seen.contains(&kind) {
                cx.error_at(
                    kn.pos,
                    &kp,
                    format!("emit kind {kind:?} appears more than once"),
                );
            }
            seen.push(kind.clone());
        }
        let retention = match o.get("retention") {
            Some((rn, rp)) if !rn.is_null() => {
                let r = cx.obj(
                    rn,
                    &rp,
                    &[
                        "drop",
                        "ttl_turns",
                        "keep_current_model",
                        "prefer_prefix_retention",
                    ],
                )?;
                let out = Retention {
                    drop: cx.bool_opt(&r, "drop"),
                    ttl_turns: cx.i64_opt(&r, "ttl_turns"),
                    keep_current_model: cx.bool_opt(&r, "keep_current_model"),
                    prefer_prefix_retention: cx.bool_opt(&r, "prefer_prefix_retention"),
                };
                if let (Some(t), Some((tn, tp))) = (out.ttl_turns, r.get("ttl_turns")) {
                    if t < 0 {
                        cx.error_at(tn.pos, &tp, format!("must be >= 0, got {t}"));
                    } else if t > 0 && out.drop == Some(true) {
                        cx.error_at(
                            tn.pos,
                            &tp,
                            "`drop: true` cannot keep the state for `ttl_turns`",
                        );
                    }
                }
                Some(out)
            }
            _ => None,
        };
        Some(Emit { kind, retention })
    });
    Some(list)
}

/// One `routing.decisions[].candidateIterations[]` entry (HEAD §2, the DSL's `FOR … IN …`).
pub(super) fn candidate_iteration(cx: &mut Ctx, n: &Node, p: &str) -> Option<CandidateIteration> {
    let o = cx.obj(n, p, &["variable", "source", "models", "outputs"])?;
    let variable = cx.str_req(&o, "variable");
    let source = cx.str_req(&o, "source");
    if let Some((sn, sp)) = o.get("source")
        && !source.is_empty()
        && !matches!(source.as_str(), "decision.candidates" | "models")
    {
        cx.error_at(
            sn.pos,
            &sp,
            format!("unknown source {source:?}: expected \"decision.candidates\" or \"models\""),
        );
    }
    let models = cx.list(&o, "models", super::model_ref);
    if source == "models" && models.is_empty() {
        let pos = o.get("source").map_or(n.pos, |(sn, _)| sn.pos);
        cx.error_at(pos, p, "source `models` needs a non-empty `models` list");
    }
    let outputs = cx.list(&o, "outputs", |cx: &mut Ctx, n: &Node, p: &str| {
        let out = cx.obj(n, p, &["type", "value"])?;
        let kind = cx.str_req(&out, "type");
        if let Some((tn, tp)) = out.get("type")
            && !kind.is_empty()
            && kind != "model"
        {
            cx.error_at(
                tn.pos,
                &tp,
                format!("unknown output type {kind:?}: expected \"model\""),
            );
        }
        Some(IterationOutput {
            kind,
            value: cx.str_req(&out, "value"),
        })
    });
    Some(CandidateIteration {
        variable,
        source,
        models,
        outputs,
    })
}

/// `routing.decisions[].annotations`: a mapping of at most 32 keys, 4096 bytes as JSON.
pub(super) fn annotations(cx: &mut Ctx, n: &Node, p: &str) -> Option<serde_json::Value> {
    let v = cx.json(n, p);
    match v.as_object() {
        None => cx.type_error(n, p, "a mapping"),
        Some(m) if m.len() > 32 => {
            cx.error_at(n.pos, p, format!("at most 32 keys, got {}", m.len()));
        }
        Some(_) => {
            let bytes = serde_json::to_string(&v).map_or(0, |s| s.len());
            if bytes > 4096 {
                cx.error_at(n.pos, p, format!("at most 4096 bytes as JSON, got {bytes}"));
            }
        }
    }
    Some(v)
}
