//! The shipped reference configs load verbatim and validate clean.

use std::path::{Path, PathBuf};

use serde_yaml::Value;
use vsr_config::{Loaded, SignalType, load_file, load_str};
use vsr_testkit::shared_file;

fn load_ok(path: &Path) -> Loaded {
    match load_file(path) {
        Ok(l) => l,
        Err(e) => panic!("{} should load:\n{e}", path.display()),
    }
}

#[test]
fn balance_profile_loads_verbatim_with_every_element_in_order() {
    let Some(path) = shared_file("reference/upstream-amd-2026-03/balance.yaml") else {
        return;
    };
    let loaded = load_ok(&path);
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    let cfg = &loaded.config;
    assert_eq!(cfg.providers.models.len(), 5);
    assert_eq!(cfg.routing.signals.len(), 83);
    let p = &cfg.routing.projections;
    assert_eq!(
        (p.partitions.len(), p.scores.len(), p.mappings.len()),
        (2, 4, 4)
    );
    let names: Vec<&str> = cfg.decisions().map(|d| d.name.as_str()).collect();
    assert_eq!(names.len(), 23);
    assert_eq!(names[0], "premium_legal");
    assert_eq!(names[1], "reasoning_math");
    // File order, not priority order: medium_business (215) precedes verified_business (216).
    let mb = names.iter().position(|n| *n == "medium_business");
    let vb = names.iter().position(|n| *n == "verified_business");
    assert!(mb < vb, "{names:?}");
    let s = &cfg.routing.signals;
    let counts: Vec<(SignalType, usize)> = SignalType::ALL
        .iter()
        .map(|t| (*t, s.names(*t).len()))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        counts,
        vec![
            (SignalType::Keyword, 22),
            (SignalType::Embedding, 16),
            (SignalType::Domain, 14),
            (SignalType::FactCheck, 1),
            (SignalType::UserFeedback, 2),
            (SignalType::Preference, 5),
            (SignalType::Language, 2),
            (SignalType::Context, 3),
            (SignalType::Structure, 8),
            (SignalType::Complexity, 6),
            (SignalType::Jailbreak, 2),
            (SignalType::Pii, 2),
        ]
    );
    assert_eq!(s.keywords[0].name, "jailbreak_attempt");
    assert_eq!(s.context[2].min_tokens, Some(8_000));
    assert_eq!(s.context[2].max_tokens, Some(256_000));
    assert_eq!(
        cfg.listeners[0].timeout,
        Some(std::time::Duration::from_secs(1200))
    );
    assert_eq!(cfg.default_model(), Some("qwen/qwen3.5-rocm"));
    assert!(cfg.model("openai/gpt5.4").is_some());
    assert_eq!(
        cfg.reasoning_family("openai/gpt5.4")
            .map(|f| f.parameter.as_str()),
        Some("enable_thinking")
    );
    assert_eq!(p.partitions[0].default.as_deref(), Some("other"));
    assert_eq!(p.partitions[1].members.len(), 16);
    assert!(cfg.decisions().all(|d| d.tier > 0));
}

#[test]
fn privacy_router_loads_verbatim() {
    let Some(path) = shared_file("reference/upstream-amd-2026-03/privacy/privacy-router.yaml")
    else {
        return;
    };
    let loaded = load_ok(&path);
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    assert_eq!(loaded.config.providers.models.len(), 2);
    assert!(!loaded.config.routing.decisions.is_empty());
}

#[test]
fn upstream_reference_config_loads_verbatim() {
    let Some(path) = shared_file("reference/upstream-config-2026-03/config.yaml") else {
        return;
    };
    let loaded = load_ok(&path);
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    let cfg = &loaded.config;
    assert_eq!(cfg.routing.model_cards.len(), 4);
    assert_eq!(cfg.routing.signals.role_bindings.len(), 2);
    let g = cfg.global.as_ref().expect("global");
    assert!(g.model_catalog.is_some());
    assert_eq!(cfg.routing.decisions.len(), 16);
    let remom = cfg
        .decision("computer-science-remom-route")
        .expect("remom route");
    let alg = remom.algorithm.as_ref().expect("algorithm");
    assert_eq!(alg.kind, "remom");
    let params = alg.params.as_ref().expect("remom block");
    assert_eq!(params["breadth_schedule"], serde_json::json!([3, 2, 1]));
}

fn fragments(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            fragments(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
    out.sort();
}

fn get_mut<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Value {
    path.iter().fold(v, |v, k| &mut v[*k])
}

/// Merges a list of named items: an item replaces the base item of the same name, others are
/// appended.
fn merge_named(base: &mut Value, items: &Value) {
    let Some(list) = base.as_sequence_mut() else {
        *base = items.clone();
        return;
    };
    for item in items.as_sequence().into_iter().flatten() {
        match list.iter_mut().find(|b| b["name"] == item["name"]) {
            Some(slot) => *slot = item.clone(),
            None => list.push(item.clone()),
        }
    }
}

/// The upstream reference config plus one model the decision fragments use, as the base every
/// partial fragment is merged into.
fn base(reference: &str) -> Value {
    let mut v: Value = serde_yaml::from_str(reference).expect("reference parses");
    let card: Value = serde_yaml::from_str("name: qwen2.5:3b\nparam_size: 3B").unwrap();
    let model: Value =
        serde_yaml::from_str("name: qwen2.5:3b\nbackend_refs: [{endpoint: 'localhost:8000'}]")
            .unwrap();
    get_mut(&mut v, &["routing", "modelCards"])
        .as_sequence_mut()
        .unwrap()
        .push(card);
    get_mut(&mut v, &["providers", "models"])
        .as_sequence_mut()
        .unwrap()
        .push(model);
    v
}

#[test]
fn every_upstream_fragment_loads_merged_into_a_base() {
    let Some(root) = shared_file("reference/upstream-config-2026-03") else {
        return;
    };
    let reference = std::fs::read_to_string(root.join("config.yaml")).unwrap();
    let mut files = Vec::new();
    for kind in ["signal", "decision", "plugin", "algorithm"] {
        fragments(&root.join(kind), &mut files);
    }
    assert!(files.len() >= 45, "found only {} fragments", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let frag: Value = serde_yaml::from_str(&text).unwrap();
        let mut cfg = base(&reference);
        if let Some(signals) = frag["routing"]["signals"].as_mapping() {
            for (family, items) in signals {
                let family = family.as_str().unwrap();
                merge_named(get_mut(&mut cfg, &["routing", "signals", family]), items);
            }
        } else if !frag["routing"]["decisions"].is_null() {
            merge_named(
                get_mut(&mut cfg, &["routing", "decisions"]),
                &frag["routing"]["decisions"],
            );
        } else if !frag["algorithm"].is_null() {
            cfg["routing"]["decisions"][0]["algorithm"] = frag["algorithm"].clone();
        } else if !frag["plugin"].is_null() {
            cfg["routing"]["decisions"][0]["plugins"] =
                Value::Sequence(vec![frag["plugin"].clone()]);
        } else if !frag["plugins"].is_null() {
            cfg["routing"]["decisions"][0]["plugins"] = frag["plugins"].clone();
        } else {
            failures.push(format!("{}: unrecognised fragment shape", file.display()));
            continue;
        }
        let merged = serde_yaml::to_string(&cfg).unwrap();
        match load_str(&merged, &file.display().to_string()) {
            Ok(l) if l.warnings.is_empty() => {}
            Ok(l) => failures.push(format!("{}: warnings {:?}", file.display(), l.warnings)),
            Err(e) => failures.push(format!("{}: {e}", file.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fragments_that_are_complete_files_load_verbatim() {
    // Signal fragments are complete configs on their own (a `routing` section).
    let Some(path) = shared_file("reference/upstream-config-2026-03/signal/keyword/nlp.yaml")
    else {
        return;
    };
    let loaded = load_ok(&path);
    assert_eq!(loaded.config.routing.signals.keywords.len(), 2);
}
