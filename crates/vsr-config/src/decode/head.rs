//! Strict checks of the upstream-HEAD payloads that stay free-form JSON in the model (algorithm
//! blocks `fusion`, `workflows`, `multi_factor`; plugin configurations `response_cache` and
//! `tools`; `global.router.learning`; `global.stores.response_cache`): unknown keys get a
//! did-you-mean, closed values their allowed list, numbers their type and sign, each at its
//! line:column. The values themselves are kept (and exported) as written.

use super::{Ctx, Obj};
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
