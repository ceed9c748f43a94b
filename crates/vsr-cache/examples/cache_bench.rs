//! Lookup cost of the response cache (`cargo run --release -p vsr-cache --example cache_bench`):
//! p50/p99 of one lookup (key + exact probe + semantic scan + guard) with N entries sharing
//! one context (the worst case: every entry is a semantic candidate), using real USE-m3
//! embeddings of the correctness suite's prompts. Needs the model (VSR_MODELS_DIR).
//! Env: ENTRIES (default 1000), LOOKUPS (default 20000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vsr_cache::settings::DEFAULT_THRESHOLD;
use vsr_cache::{
    Answer, DecisionPolicy, Lookup, RequestControls, RequestKey, ResponseCache, Route, Scope,
    StoreSettings, Write,
};
use vsr_config::vocab::CacheMode;

fn main() {
    let entries: usize = env("ENTRIES", 1000);
    let lookups: usize = env("LOOKUPS", 20_000);
    let Some(dir) = vsr_testkit::require_model(vsr_models::catalog::DEFAULT_MODEL) else {
        std::process::exit(2);
    };
    let enc = vsr_models::load_dir(&dir, "usem3").expect("encoder");
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut texts: Vec<String> = Vec::new();
    for f in ["near_miss.jsonl", "paraphrase.jsonl"] {
        for line in std::fs::read_to_string(data.join(f)).expect("data").lines() {
            let v: Value = serde_json::from_str(line).expect("jsonl");
            for side in ["a", "b"] {
                let t = v[side]["user"].as_str().or(v[side].as_str()).unwrap_or("");
                if !t.is_empty() {
                    texts.push(t.to_string());
                }
            }
        }
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let embs: Vec<Arc<[f32]>> = refs
        .chunks(32)
        .flat_map(|c| enc.embed(c).expect("embed"))
        .map(Arc::from)
        .collect();
    let cache = ResponseCache::new(StoreSettings {
        max_entries: entries,
        ..StoreSettings::default()
    });
    let policy = DecisionPolicy {
        mode: CacheMode::ExactThenSemantic,
        scope: Scope::Global,
        threshold: DEFAULT_THRESHOLD,
        ttl: None,
        controls: RequestControls::default(),
    };
    let key = |text: &str| {
        let m = json!([{"role": "user", "content": text}]).to_string();
        let route = Route {
            recipe: None,
            decision: "d",
            model: "m",
            scope: "global",
        };
        RequestKey::new([("model", "\"auto\""), ("messages", m.as_str())], &route).expect("key")
    };
    let answer = Answer {
        completion: vec![b'x'; 800].into(),
    };
    // Texts come in (a, b) pairs: the a sides are stored, the b sides looked up.
    let stored: Vec<usize> = (0..texts.len()).step_by(2).collect();
    let unrelated = "an unrelated prompt about gardening tools";
    let unrelated_emb: Arc<[f32]> = enc.embed(&[unrelated]).expect("embed").remove(0).into();
    for i in 0..entries {
        let j = stored[i % stored.len()];
        // Distinct prompts beyond the suite's size: a suffix changes the exact key.
        let t = if i < stored.len() {
            texts[j].clone()
        } else {
            format!("{} #{i}", texts[j])
        };
        cache.insert(
            Write {
                key: key(&t),
                decision: "/d".into(),
                embedding: Some(Arc::clone(&embs[j])),
                semantic: true,
                ttl: Duration::from_secs(3600),
            },
            answer.clone(),
        );
    }
    println!("entries in one context: {}", cache.len());
    for (name, probe) in [
        ("exact hit", 0usize),
        ("other side of each pair (semantic path)", 1),
        ("miss (unrelated prompt)", 2),
    ] {
        let mut times = Vec::with_capacity(lookups);
        let mut hits = 0usize;
        for n in 0..lookups {
            let j = stored[n % stored.len()];
            let (t, e) = match probe {
                0 => (texts[j].clone(), Arc::clone(&embs[j])),
                1 => (texts[j + 1].clone(), Arc::clone(&embs[j + 1])),
                _ => (unrelated.to_string(), Arc::clone(&unrelated_emb)),
            };
            let started = Instant::now();
            let k = key(&t);
            let out = cache.lookup(&Lookup {
                key: &k,
                embedding: Some(&e),
                policy: &policy,
            });
            times.push(started.elapsed());
            hits += usize::from(matches!(out, vsr_cache::Outcome::Hit(_)));
        }
        times.sort();
        let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
        println!(
            "{name:42} p50 {:8.1} µs   p99 {:8.1} µs   hits {hits}/{lookups}",
            q(0.5),
            q(0.99)
        );
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
