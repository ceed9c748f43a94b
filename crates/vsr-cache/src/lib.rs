//! vsr-cache: the response cache. Per decision (its `response_cache` plugin), a request that
//! asks what an earlier one asked, in the same context, is answered from the stored answer
//! instead of the upstream.
//!
//! - [`key`]: the request's identity — a context key over everything that changes the answer
//!   but the last user message, and an exact key that adds it;
//! - [`guard`]: the lexical check a semantic hit must also pass (negation, numbers, entities,
//!   content words);
//! - [`store`]: the in-process store (TTL, entry and byte bounds, FIFO or LRU eviction);
//! - [`settings`]: the store and per-decision settings read from the config;
//! - [`ResponseCache`]: lookups (exact fast path, then the nearest same-context entry by
//!   cosine over the router's own prompt embedding, then the guard), writes, invalidation and
//!   the `/metrics` counters.
//!
//! The cache never embeds: the router's one encoder forward per request provides the vector.

pub mod guard;
pub mod key;
pub mod postgres;
pub mod settings;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

pub use guard::{Disagreement, Features};
pub use key::{Key, KeyError, RequestKey, Route};
pub use settings::{CacheSettings, DecisionPolicy, RequestControls, Scope, StoreSettings};
pub use store::{Answer, Entry};

use store::{MemoryStore, Removed, expiry};

/// How a request was served with respect to the cache (`x-vsr-cache`, the replay record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Answered from the cache.
    Hit,
    /// Looked up, not found; the answer is stored if it can be.
    Miss,
    /// The cache was not consulted (disabled for the decision, opted out, not keyable).
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }
}

/// What one lookup compares.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    pub key: &'a RequestKey,
    /// The router's prompt embedding (unit length); `None` makes the lookup exact-only.
    pub embedding: Option<&'a [f32]>,
    pub policy: &'a DecisionPolicy,
}

/// A hit: the entry, and the similarity for a semantic hit (`None`: exact).
#[derive(Debug, Clone)]
pub struct Hit {
    pub entry: Arc<Entry>,
    pub similarity: Option<f32>,
}

/// A miss, with what came closest (for headers and debugging).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Miss {
    /// The best similarity among same-context entries, if any was compared.
    pub nearest: Option<f32>,
    /// The guard refused an entry above the threshold, for this reason.
    pub refused: Option<Disagreement>,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Hit(Hit),
    Miss(Miss),
}

/// What to store after a miss.
#[derive(Debug, Clone)]
pub struct Write {
    pub key: RequestKey,
    /// `recipe/decision`.
    pub decision: String,
    pub embedding: Option<Arc<[f32]>>,
    /// Store a semantic entry (prompt, features, embedding) and not only the exact one.
    pub semantic: bool,
    pub ttl: Duration,
}

#[derive(Default)]
struct Stats {
    hits_exact: AtomicU64,
    hits_semantic: AtomicU64,
    misses: AtomicU64,
    refusals: [AtomicU64; 4],
    writes: AtomicU64,
    evicted: AtomicU64,
    expired: AtomicU64,
    invalidated: AtomicU64,
}

/// The response cache of one process (kept across config reloads; reloads change its bounds).
pub struct ResponseCache {
    store: Mutex<MemoryStore>,
    /// Replicas' shared store: when set, it replaces the in-process one.
    shared: RwLock<Option<Arc<postgres::SharedStore>>>,
    settings: RwLock<StoreSettings>,
    stats: Stats,
}

impl Default for ResponseCache {
    fn default() -> Self {
        Self::new(StoreSettings::default())
    }
}

impl ResponseCache {
    pub fn new(settings: StoreSettings) -> Self {
        Self {
            store: Mutex::new(MemoryStore::default()),
            shared: RwLock::new(None),
            settings: RwLock::new(settings),
            stats: Stats::default(),
        }
    }

    fn store(&self) -> MutexGuard<'_, MemoryStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps entries in a database the process's replicas share instead of in process (the
    /// in-process entries are dropped).
    pub fn use_shared_store(&self, store: postgres::SharedStore) {
        *self.shared.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(store));
        self.store().remove_where(|_| true);
    }

    fn shared(&self) -> Option<Arc<postgres::SharedStore>> {
        self.shared
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The shared store's answer, or a miss when the database fails (logged).
    fn shared_lookup(&self, db: &postgres::SharedStore, q: &Lookup<'_>) -> Outcome {
        match db.get(&q.key.exact) {
            Ok(Some(entry)) => {
                return Outcome::Hit(Hit {
                    entry: Arc::new(entry),
                    similarity: None,
                });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "response cache lookup failed: served as a miss");
                return Outcome::Miss(Miss::default());
            }
        }
        let (true, Some(query), Some(emb)) =
            (q.policy.semantic(), q.key.query.as_deref(), q.embedding)
        else {
            return Outcome::Miss(Miss::default());
        };
        match db.candidates(&q.key.context) {
            Ok(found) => {
                let candidates: Vec<Arc<Entry>> = found.into_iter().map(Arc::new).collect();
                self.semantic(query, emb, q.policy.threshold, &candidates)
            }
            Err(e) => {
                tracing::warn!(error = %e, "response cache lookup failed: served as a miss");
                Outcome::Miss(Miss::default())
            }
        }
    }

    pub fn settings(&self) -> StoreSettings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies a new generation's store settings; entries beyond the new bounds are evicted,
    /// and a disabled store is emptied.
    pub fn configure(&self, settings: &StoreSettings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings.clone();
        let mut store = self.store();
        if !settings.enabled {
            let n = store.remove_where(|_| true);
            self.stats
                .invalidated
                .fetch_add(n as u64, Ordering::Relaxed);
            return;
        }
        store.purge_expired(Instant::now());
        // Re-inserting nothing: evict through a zero-size pass over the order.
        let evicted = shrink(&mut store, settings.max_entries, settings.max_bytes);
        self.stats.evicted.fetch_add(evicted, Ordering::Relaxed);
    }

    /// Exact fast path, then (when the policy and the request allow) the nearest
    /// same-context entry at or above the threshold whose prompt passes the guard.
    pub fn lookup(&self, q: &Lookup<'_>) -> Outcome {
        let now = Instant::now();
        let lru = self.settings().lru;
        let mut removed = Removed::default();
        let outcome = if let Some(db) = self.shared() {
            self.shared_lookup(&db, q)
        } else {
            let mut store = self.store();
            if let Some(entry) = store.get(&q.key.exact, now, &mut removed) {
                if lru {
                    store.touch(&entry.exact);
                }
                Outcome::Hit(Hit {
                    entry,
                    similarity: None,
                })
            } else if let (true, Some(query), Some(emb)) =
                (q.policy.semantic(), q.key.query.as_deref(), q.embedding)
            {
                let candidates = store.candidates(&q.key.context, now, &mut removed);
                drop(store);
                let found = self.semantic(query, emb, q.policy.threshold, &candidates);
                if let Outcome::Hit(h) = &found
                    && lru
                {
                    self.store().touch(&h.entry.exact);
                }
                found
            } else {
                Outcome::Miss(Miss::default())
            }
        };
        self.count_removed(removed);
        match &outcome {
            Outcome::Hit(h) if h.similarity.is_none() => &self.stats.hits_exact,
            Outcome::Hit(_) => &self.stats.hits_semantic,
            Outcome::Miss(m) => {
                if let Some(r) = m.refused {
                    self.stats.refusals[r as usize].fetch_add(1, Ordering::Relaxed);
                }
                &self.stats.misses
            }
        }
        .fetch_add(1, Ordering::Relaxed);
        outcome
    }

    fn semantic(&self, query: &str, emb: &[f32], threshold: f32, cands: &[Arc<Entry>]) -> Outcome {
        let mut scored: Vec<(f32, &Arc<Entry>)> = cands
            .iter()
            .filter_map(|e| Some((dot(emb, e.embedding.as_deref()?), e)))
            .collect();
        let nearest = scored.iter().map(|(s, _)| *s).reduce(f32::max);
        scored.retain(|(s, _)| *s >= threshold);
        if scored.is_empty() {
            return Outcome::Miss(Miss {
                nearest,
                refused: None,
            });
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let features = Features::of(query);
        let mut refused = None;
        for (s, e) in scored {
            let Some(f) = &e.features else { continue };
            match features.disagreement(f) {
                None => {
                    return Outcome::Hit(Hit {
                        entry: Arc::clone(e),
                        similarity: Some(s),
                    });
                }
                Some(d) => refused = refused.or(Some(d)),
            }
        }
        Outcome::Miss(Miss { nearest, refused })
    }

    /// Stores an answer. A zero TTL stores nothing.
    pub fn insert(&self, w: Write, answer: Answer) {
        let settings = self.settings();
        if !settings.enabled || w.ttl.is_zero() {
            return;
        }
        let (query, features, embedding) = match (w.semantic, w.key.query, w.embedding) {
            (true, Some(q), Some(e)) => {
                let f = Features::of(&q);
                (Some(q), Some(f), Some(e))
            }
            _ => (None, None, None),
        };
        let entry = Entry {
            exact: w.key.exact,
            context: w.key.context,
            decision: w.decision,
            query,
            features,
            embedding,
            answer,
            expires: expiry(Instant::now(), w.ttl),
        };
        if let Some(db) = self.shared() {
            match db.insert(&entry, w.ttl, settings.max_entries) {
                Ok(gone) => {
                    self.stats.writes.fetch_add(1, Ordering::Relaxed);
                    self.stats.evicted.fetch_add(gone, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(error = %e, "response cache write failed: not cached"),
            }
            return;
        }
        let removed = self
            .store()
            .insert(entry, settings.max_entries, settings.max_bytes);
        self.stats.writes.fetch_add(1, Ordering::Relaxed);
        self.count_removed(removed);
    }

    /// Removes the entry with this exact key (hex, as sent in `x-vsr-cache-key`).
    pub fn invalidate_key(&self, hex: &str) -> bool {
        let Some(key) = parse_key(hex) else {
            return false;
        };
        let removed = match self.shared() {
            Some(db) => db.remove(&key).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "response cache invalidation failed");
                false
            }),
            None => self.store().remove(&key),
        };
        if removed {
            self.stats.invalidated.fetch_add(1, Ordering::Relaxed);
        }
        removed
    }

    /// Removes every entry of a decision (`recipe/decision`, or a bare decision name in any
    /// profile).
    pub fn invalidate_decision(&self, decision: &str) -> usize {
        let n = match self.shared() {
            Some(db) => db.remove_decision(decision).map_or_else(
                |e| {
                    tracing::warn!(error = %e, "response cache invalidation failed");
                    0
                },
                |n| usize::try_from(n).unwrap_or(usize::MAX),
            ),
            None => self.store().remove_where(|e| {
                e.decision == decision || e.decision.rsplit('/').next() == Some(decision)
            }),
        };
        self.stats
            .invalidated
            .fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Removes everything.
    pub fn flush(&self) -> usize {
        let n = match self.shared() {
            Some(db) => db.flush().map_or_else(
                |e| {
                    tracing::warn!(error = %e, "response cache flush failed");
                    0
                },
                |n| usize::try_from(n).unwrap_or(usize::MAX),
            ),
            None => self.store().remove_where(|_| true),
        };
        self.stats
            .invalidated
            .fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Entries held (with a shared store: its unexpired rows, 0 when it cannot be read).
    pub fn len(&self) -> usize {
        match self.shared() {
            Some(db) => db
                .unexpired()
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            None => self.store().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.store().is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.store().bytes()
    }

    fn count_removed(&self, r: Removed) {
        self.stats.evicted.fetch_add(r.evicted, Ordering::Relaxed);
        self.stats.expired.fetch_add(r.expired, Ordering::Relaxed);
    }

    /// The cache's families for `/metrics` (OpenMetrics text: a counter's `# TYPE` names it
    /// without `_total`).
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let s = &self.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}_total{labels} {v}");
            }
        };
        counter(
            "vsr_cache_hits",
            "Requests answered from the response cache.",
            &[
                ("{kind=\"exact\"}", get(&s.hits_exact)),
                ("{kind=\"semantic\"}", get(&s.hits_semantic)),
            ],
        );
        counter(
            "vsr_cache_misses",
            "Response cache lookups that found nothing to serve.",
            &[("", get(&s.misses))],
        );
        let refusals: Vec<(String, u64)> = [
            Disagreement::Negation,
            Disagreement::Numbers,
            Disagreement::Entities,
            Disagreement::ContentWords,
        ]
        .iter()
        .map(|d| {
            (
                format!("{{reason=\"{}\"}}", d.as_str()),
                get(&s.refusals[*d as usize]),
            )
        })
        .collect();
        let rows: Vec<(&str, u64)> = refusals.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        counter(
            "vsr_cache_guard_refusals",
            "Semantic matches above the threshold refused by the lexical guard.",
            &rows,
        );
        counter(
            "vsr_cache_writes",
            "Answers stored in the response cache.",
            &[("", get(&s.writes))],
        );
        counter(
            "vsr_cache_evictions",
            "Entries removed from the response cache, by reason.",
            &[
                ("{reason=\"size\"}", get(&s.evicted)),
                ("{reason=\"ttl\"}", get(&s.expired)),
                ("{reason=\"invalidated\"}", get(&s.invalidated)),
            ],
        );
        let (len, bytes) = {
            let st = self.store();
            (st.len(), st.bytes())
        };
        let _ = write!(
            out,
            "# HELP vsr_cache_entries Entries in the response cache.\n# TYPE vsr_cache_entries gauge\nvsr_cache_entries {len}\n\
             # HELP vsr_cache_bytes Bytes held by the response cache.\n# TYPE vsr_cache_bytes gauge\nvsr_cache_bytes {bytes}\n"
        );
    }
}

/// Evicts from the front of the order until the bounds hold.
fn shrink(store: &mut MemoryStore, max_entries: usize, max_bytes: u64) -> u64 {
    let mut n = 0;
    while store.len() > max_entries || store.bytes() > max_bytes {
        if !store.evict_oldest() {
            break;
        }
        n += 1;
    }
    n
}

fn parse_key(hex: &str) -> Option<Key> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(Key(k))
}

/// Cosine of two unit vectors (0 when the dimensions differ: another encoder's entry).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Why an answer is not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCacheable {
    #[error("the answer is not a chat completion")]
    NotCompletion,
    #[error("the answer calls tools")]
    ToolCalls,
    #[error("the answer was cut off or filtered (finish_reason {0})")]
    Unfinished(String),
}

/// Checks that a completion can be replayed to another client: a `chat.completion` with
/// choices, none of which calls a tool (a tool call acts on the caller's state), and each
/// finished by `stop` (a `length` cut or a content filter is not an answer to keep).
pub fn check_cacheable(completion: &serde_json::Value) -> Result<(), NotCacheable> {
    let choices = completion
        .get("choices")
        .and_then(|c| c.as_array())
        .filter(|c| !c.is_empty())
        .ok_or(NotCacheable::NotCompletion)?;
    for c in choices {
        let m = c.get("message").ok_or(NotCacheable::NotCompletion)?;
        if m.get("tool_calls")
            .is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty()))
            || m.get("function_call").is_some_and(|f| !f.is_null())
        {
            return Err(NotCacheable::ToolCalls);
        }
        match c.get("finish_reason").and_then(|f| f.as_str()) {
            Some("stop") | None => {}
            Some("tool_calls" | "function_call") => return Err(NotCacheable::ToolCalls),
            Some(other) => return Err(NotCacheable::Unfinished(other.to_string())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsr_config::vocab::CacheMode;

    fn policy(mode: CacheMode) -> DecisionPolicy {
        DecisionPolicy {
            mode,
            scope: Scope::Global,
            threshold: 0.8,
            ttl: None,
            controls: RequestControls::default(),
        }
    }

    fn key(q: &str) -> RequestKey {
        let msgs = serde_json::json!([{"role": "user", "content": q}]).to_string();
        RequestKey::new([("messages", msgs.as_str())], &Route::default()).unwrap()
    }

    fn unit(v: &[f32]) -> Arc<[f32]> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn write(k: &RequestKey, e: &Arc<[f32]>) -> Write {
        Write {
            key: k.clone(),
            decision: "/d".into(),
            embedding: Some(Arc::clone(e)),
            semantic: true,
            ttl: Duration::from_secs(60),
        }
    }

    fn answer(s: &str) -> Answer {
        Answer {
            completion: s.as_bytes().into(),
        }
    }

    #[test]
    fn exact_then_semantic_with_the_guard() {
        let cache = ResponseCache::default();
        let p = policy(CacheMode::Semantic);
        let k1 = key("How do I enable SSH on Ubuntu?");
        let e1 = unit(&[1.0, 0.0, 0.1]);
        cache.insert(write(&k1, &e1), answer("A1"));
        // Exact.
        let exact = cache.lookup(&Lookup {
            key: &k1,
            embedding: None,
            policy: &p,
        });
        assert!(matches!(
            exact,
            Outcome::Hit(Hit {
                similarity: None,
                ..
            })
        ));
        // A close paraphrase with the same words: semantic hit.
        let k2 = key("how can I enable ssh on Ubuntu");
        let e2 = unit(&[1.0, 0.0, 0.12]);
        match cache.lookup(&Lookup {
            key: &k2,
            embedding: Some(&e2),
            policy: &p,
        }) {
            Outcome::Hit(h) => assert!(h.similarity.unwrap() > 0.99),
            Outcome::Miss(m) => panic!("{m:?}"),
        }
        // The antonym at the same similarity: refused by the guard.
        let k3 = key("How do I disable SSH on Ubuntu?");
        match cache.lookup(&Lookup {
            key: &k3,
            embedding: Some(&e2),
            policy: &p,
        }) {
            Outcome::Miss(m) => assert_eq!(m.refused, Some(Disagreement::ContentWords)),
            Outcome::Hit(_) => panic!("wrong hit"),
        }
        // Below the threshold: a plain miss.
        let far = unit(&[0.0, 1.0, 0.0]);
        assert!(matches!(
            cache.lookup(&Lookup {
                key: &k2,
                embedding: Some(&far),
                policy: &p
            }),
            Outcome::Miss(Miss { refused: None, .. })
        ));
        // Exact mode never looks by meaning.
        assert!(matches!(
            cache.lookup(&Lookup {
                key: &k2,
                embedding: Some(&e2),
                policy: &policy(CacheMode::Exact)
            }),
            Outcome::Miss(_)
        ));
        let mut text = String::new();
        cache.render_metrics(&mut text);
        assert!(
            text.contains("vsr_cache_hits_total{kind=\"semantic\"} 1"),
            "{text}"
        );
        assert!(text.contains("vsr_cache_guard_refusals_total{reason=\"content_words\"} 1"));
        assert!(text.contains("vsr_cache_entries 1"));
    }

    #[test]
    fn invalidation_by_key_decision_and_flush() {
        let cache = ResponseCache::default();
        let e = unit(&[1.0, 0.0]);
        let (a, b) = (key("a question"), key("another question"));
        cache.insert(write(&a, &e), answer("x"));
        cache.insert(write(&b, &e), answer("y"));
        assert!(!cache.invalidate_key("zz"));
        assert!(cache.invalidate_key(&a.exact.hex()));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.invalidate_decision("d"), 1);
        cache.insert(write(&a, &e), answer("x"));
        assert_eq!(cache.flush(), 1);
        assert!(cache.is_empty());
        // A disabled store keeps nothing.
        cache.configure(&StoreSettings {
            enabled: false,
            ..StoreSettings::default()
        });
        cache.insert(write(&a, &e), answer("x"));
        assert!(cache.is_empty());
    }

    #[test]
    fn a_reload_with_smaller_bounds_evicts_down_to_them() {
        let cache = ResponseCache::default();
        let e = unit(&[1.0, 0.0]);
        for q in ["one question", "two questions", "three questions"] {
            cache.insert(write(&key(q), &e), answer("x"));
        }
        cache.configure(&StoreSettings {
            max_entries: 1,
            ..StoreSettings::default()
        });
        assert_eq!(cache.len(), 1);
        // The newest stays (FIFO evicts from the front).
        let p = policy(CacheMode::Exact);
        let newest = key("three questions");
        assert!(matches!(
            cache.lookup(&Lookup {
                key: &newest,
                embedding: None,
                policy: &p
            }),
            Outcome::Hit(_)
        ));
        let mut text = String::new();
        cache.render_metrics(&mut text);
        assert!(
            text.contains("vsr_cache_evictions_total{reason=\"size\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn tool_calls_and_cut_answers_are_not_cacheable() {
        use serde_json::json;
        let ok = json!({"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]});
        assert_eq!(check_cacheable(&ok), Ok(()));
        let tools = json!({"choices":[{"message":{"role":"assistant","tool_calls":[{"id":"1"}]},"finish_reason":"tool_calls"}]});
        assert_eq!(check_cacheable(&tools), Err(NotCacheable::ToolCalls));
        let cut = json!({"choices":[{"message":{"content":"h"},"finish_reason":"length"}]});
        assert!(matches!(
            check_cacheable(&cut),
            Err(NotCacheable::Unfinished(_))
        ));
        assert_eq!(
            check_cacheable(&json!({"error":{}})),
            Err(NotCacheable::NotCompletion)
        );
    }
}
