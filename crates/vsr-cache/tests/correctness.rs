//! The cache correctness suite with the real encoder (the router's default, USE-m3): the
//! hand-written near-miss pairs of `tests/data/near_miss.jsonl` (negation and antonyms,
//! changed numbers, changed entities, another system prompt, other earlier turns) must give 0
//! wrong hits, and the paraphrase pairs of `tests/data/paraphrase.jsonl` report their hit rate.
//! Each suite stores every first prompt in one cache, then looks every second prompt up, so
//! a hit on any other pair's entry counts as wrong too. The threshold is the default one
//! (`DEFAULT_THRESHOLD`, the spec's 0.8), not chosen on these pairs.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vsr_cache::settings::DEFAULT_THRESHOLD;
use vsr_cache::{
    Answer, DecisionPolicy, Lookup, Outcome, RequestControls, RequestKey, ResponseCache, Route,
    Scope, Write,
};
use vsr_config::vocab::CacheMode;
use vsr_models::Encoder;

fn encoder() -> Option<Arc<dyn Encoder>> {
    let dir = vsr_testkit::require_model(vsr_models::catalog::DEFAULT_MODEL)?;
    Some(vsr_models::load_dir(&dir, vsr_models::catalog::DEFAULT_MODEL).expect("encoder loads"))
}

fn data(name: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path)
        .expect("data file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSONL"))
        .collect()
}

fn policy() -> DecisionPolicy {
    DecisionPolicy {
        mode: CacheMode::ExactThenSemantic,
        scope: Scope::Global,
        threshold: DEFAULT_THRESHOLD,
        ttl: None,
        controls: RequestControls::default(),
    }
}

/// A request: earlier messages, then the user prompt; keyed as the proxy keys it.
fn request_key(side: &Value) -> (RequestKey, String) {
    let user = side["user"].as_str().expect("user").to_string();
    let mut messages = side["messages"].as_array().cloned().unwrap_or_default();
    messages.push(json!({"role": "user", "content": user}));
    let messages = Value::Array(messages).to_string();
    let route = Route {
        recipe: None,
        decision: "general",
        model: "m",
        scope: "global",
    };
    let fields = [("model", "\"auto\""), ("messages", messages.as_str())];
    (RequestKey::new(fields, &route).expect("keyed"), user)
}

fn embed_all(enc: &dyn Encoder, texts: &[String]) -> Vec<Arc<[f32]>> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    refs.chunks(32)
        .flat_map(|c| enc.embed(c).expect("embeds"))
        .map(Arc::from)
        .collect()
}

struct Run {
    /// Per lookup: the pair index it hit (if any), and the similarity.
    hits: Vec<Option<(usize, Option<f32>)>>,
    /// Lookups whose best same-context entry was at or above the threshold but refused.
    refused: usize,
}

/// Stores every `a` (answer = its pair index), then looks every `b` up.
fn run(enc: &dyn Encoder, pairs: &[(Value, Value)]) -> Run {
    let cache = ResponseCache::default();
    let p = policy();
    let (a_keys, a_texts): (Vec<_>, Vec<_>) = pairs.iter().map(|(a, _)| request_key(a)).unzip();
    let (b_keys, b_texts): (Vec<_>, Vec<_>) = pairs.iter().map(|(_, b)| request_key(b)).unzip();
    let a_emb = embed_all(enc, &a_texts);
    let b_emb = embed_all(enc, &b_texts);
    for (i, (k, e)) in a_keys.into_iter().zip(a_emb).enumerate() {
        cache.insert(
            Write {
                key: k,
                decision: "/general".into(),
                embedding: Some(e),
                semantic: true,
                ttl: Duration::from_secs(3600),
            },
            Answer {
                completion: i.to_string().into_bytes().into(),
            },
        );
    }
    let mut hits = Vec::new();
    let mut refused = 0;
    for (k, e) in b_keys.iter().zip(&b_emb) {
        match cache.lookup(&Lookup {
            key: k,
            embedding: Some(e),
            policy: &p,
        }) {
            Outcome::Hit(h) => {
                let idx = std::str::from_utf8(&h.entry.answer.completion)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .expect("index answer");
                hits.push(Some((idx, h.similarity)));
            }
            Outcome::Miss(m) => {
                refused += usize::from(m.refused.is_some());
                hits.push(None);
            }
        }
    }
    Run { hits, refused }
}

#[test]
fn near_miss_pairs_never_hit() {
    let Some(enc) = encoder() else { return };
    let rows = data("near_miss.jsonl");
    assert!(rows.len() >= 200, "the suite has {} pairs", rows.len());
    let pairs: Vec<(Value, Value)> = rows
        .iter()
        .map(|r| (r["a"].clone(), r["b"].clone()))
        .collect();
    let r = run(enc.as_ref(), &pairs);
    let wrong: Vec<String> = r
        .hits
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            h.map(|(j, s)| {
                format!(
                    "[{}] {:?} answered by {:?} (similarity {s:?})",
                    rows[i]["kind"], rows[i]["b"]["user"], rows[j]["a"]["user"]
                )
            })
        })
        .collect();
    // Above the threshold and refused by the guard: what the guard is there for.
    eprintln!(
        "near-miss: {} pairs, {} wrong hits, {} stopped by the lexical guard",
        rows.len(),
        wrong.len(),
        r.refused
    );
    assert!(wrong.is_empty(), "wrong hits:\n{}", wrong.join("\n"));
}

#[test]
fn paraphrases_hit_their_own_entry_at_a_reported_rate() {
    let Some(enc) = encoder() else { return };
    let rows = data("paraphrase.jsonl");
    assert!(rows.len() >= 50);
    let side = |t: &Value| json!({"messages": [], "user": t});
    let pairs: Vec<(Value, Value)> = rows
        .iter()
        .map(|r| (side(&r["a"]), side(&r["b"])))
        .collect();
    let r = run(enc.as_ref(), &pairs);
    let mut own = 0;
    for (i, h) in r.hits.iter().enumerate() {
        match h {
            Some((j, _)) if *j == i => own += 1,
            Some((j, s)) => panic!(
                "wrong hit: {:?} answered by {:?} ({s:?})",
                rows[i]["b"], rows[*j]["a"]
            ),
            None => eprintln!("paraphrase miss: {:?} / {:?}", rows[i]["a"], rows[i]["b"]),
        }
    }
    let rate = own as f64 / rows.len() as f64;
    eprintln!(
        "paraphrase hit rate: {own}/{} = {:.1}% ({} refused by the guard)",
        rows.len(),
        rate * 100.0,
        r.refused
    );
    // The floor sits a little below the measured rate (see docs/cache.md).
    assert!(
        rate >= PARAPHRASE_FLOOR,
        "hit rate {rate:.3} fell below {PARAPHRASE_FLOOR}"
    );
}

/// Measured 48/56 = 85.7% with USE-m3 at the default threshold; the floor leaves room for
/// encoder-version noise.
const PARAPHRASE_FLOOR: f64 = 0.80;
