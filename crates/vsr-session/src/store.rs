//! Conversation state stores: one trait, an in-process bounded LRU with TTL, and (in
//! [`crate::postgres`]) the shared database. Writes are compare-and-set on a version, so a
//! read-modify-write ([`transition`]) stays consistent when replicas race on a conversation.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::policy::StoreChoice;

/// What is remembered per conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    /// The model served last.
    pub model: String,
    /// Turns so far (including the client's own count of earlier turns).
    pub turns: u64,
    /// How often the model changed.
    pub switches: u64,
    /// Milliseconds since the Unix epoch of the last turn.
    pub last_seen_ms: i64,
    /// The last turn's own decision ("" when none matched).
    pub last_decision: String,
}

/// A stored state with its version (incremented by every write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub state: SessionState,
    pub version: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session store: PostgreSQL: {0}")]
    Postgres(String),
    #[error("session store: {0} concurrent writers kept winning; giving up")]
    Contention(usize),
}

pub trait SessionStore: Send + Sync {
    /// `memory` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Whether calls block on I/O (the caller then runs them on a blocking thread).
    fn blocking(&self) -> bool;
    fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError>;
    /// Writes `state` iff the stored version is still `expected` (`None`: no entry). `Ok(false)`
    /// when another writer got there first.
    fn put_if(
        &self,
        key: &str,
        expected: Option<i64>,
        state: &SessionState,
    ) -> Result<bool, StoreError>;
}

/// Attempts of one read-modify-write before giving up.
const ATTEMPTS: usize = 8;

/// Atomically: reads `key` (an entry older than `ttl_ms` reads as absent), computes the outcome
/// and the next state with `step`, and writes it unless another writer changed the entry in
/// between, in which case it starts over with the new entry.
pub fn transition<R>(
    store: &dyn SessionStore,
    key: &str,
    now_ms: i64,
    ttl_ms: i64,
    step: impl Fn(Option<&SessionState>) -> (R, SessionState),
) -> Result<R, StoreError> {
    for _ in 0..ATTEMPTS {
        let found = store.load(key)?;
        let live = found
            .as_ref()
            .map(|v| &v.state)
            .filter(|s| now_ms - s.last_seen_ms < ttl_ms);
        let (out, next) = step(live);
        if store.put_if(key, found.as_ref().map(|v| v.version), &next)? {
            return Ok(out);
        }
    }
    Err(StoreError::Contention(ATTEMPTS))
}

/// In-process state: at most `capacity` conversations, least recently used evicted first;
/// entries untouched for the TTL are dropped as writes pass them.
pub struct MemorySessionStore {
    capacity: usize,
    ttl_ms: i64,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, (Versioned, u64)>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, String>,
    tick: u64,
}

impl Lru {
    fn touch(&mut self, key: &str) {
        self.tick += 1;
        let tick = self.tick;
        if let Some((_, t)) = self.entries.get_mut(key) {
            self.order.remove(t);
            *t = tick;
            self.order.insert(tick, key.to_string());
        }
    }
}

impl MemorySessionStore {
    /// Upstream keeps at most 50 000 sessions.
    pub const DEFAULT_CAPACITY: usize = 50_000;

    pub fn new(capacity: usize, ttl_ms: i64) -> Self {
        Self {
            capacity: capacity.max(1),
            ttl_ms,
            inner: Mutex::new(Lru::default()),
        }
    }

    /// Conversations held.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionStore for MemorySessionStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn blocking(&self) -> bool {
        false
    }

    fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        lru.touch(key);
        Ok(lru.entries.get(key).map(|(v, _)| v.clone()))
    }

    fn put_if(
        &self,
        key: &str,
        expected: Option<i64>,
        state: &SessionState,
    ) -> Result<bool, StoreError> {
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let current = lru.entries.get(key).map(|(v, _)| v.version);
        if current != expected {
            return Ok(false);
        }
        let version = current.map_or(1, |v| v + 1);
        let old_tick = lru.entries.get(key).map(|(_, t)| *t);
        if let Some(t) = old_tick {
            lru.order.remove(&t);
        }
        lru.tick += 1;
        let tick = lru.tick;
        lru.entries.insert(
            key.to_string(),
            (
                Versioned {
                    state: state.clone(),
                    version,
                },
                tick,
            ),
        );
        lru.order.insert(tick, key.to_string());
        // Evict over capacity, and expired entries at the old end.
        let cutoff = state.last_seen_ms - self.ttl_ms;
        while let Some((&t, k)) = lru.order.iter().next() {
            let expired = lru
                .entries
                .get(k)
                .is_some_and(|(v, _)| v.state.last_seen_ms <= cutoff);
            if lru.entries.len() <= self.capacity && !expired {
                break;
            }
            let k = k.clone();
            lru.order.remove(&t);
            lru.entries.remove(&k);
        }
        Ok(true)
    }
}

/// The stores of one process, one per [`StoreChoice`], created on first use and kept across
/// config reloads (conversations survive a reload).
#[derive(Default)]
pub struct Stores {
    open: Mutex<HashMap<StoreChoice, Arc<dyn SessionStore>>>,
    /// What [`StoreChoice::ProcessShared`] means: the replicas' database, if any.
    process_shared: Option<StoreChoice>,
}

impl Stores {
    /// Stores of a process whose replicas share this PostgreSQL database (`--shared-db`).
    pub fn with_shared_db(url: String, schema: Option<String>) -> Self {
        Stores {
            open: Mutex::default(),
            process_shared: Some(StoreChoice::Postgres { url, schema }),
        }
    }

    /// The store for `choice`; PostgreSQL connects lazily (its first call may fail and the
    /// next one retries).
    pub fn get(&self, choice: &StoreChoice, ttl_ms: i64) -> Arc<dyn SessionStore> {
        let choice = match choice {
            StoreChoice::ProcessShared => {
                self.process_shared.as_ref().unwrap_or(&StoreChoice::Memory)
            }
            c => c,
        };
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.entry(choice.clone())
            .or_insert_with(|| match choice {
                StoreChoice::Memory | StoreChoice::ProcessShared => Arc::new(
                    MemorySessionStore::new(MemorySessionStore::DEFAULT_CAPACITY, ttl_ms),
                ),
                StoreChoice::Postgres { url, schema } => Arc::new(
                    crate::postgres::PostgresSessionStore::new(url, schema.as_deref(), ttl_ms),
                ),
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(model: &str, at: i64) -> SessionState {
        SessionState {
            model: model.into(),
            turns: 1,
            switches: 0,
            last_seen_ms: at,
            last_decision: String::new(),
        }
    }

    #[test]
    fn process_shared_means_the_replicas_database_else_memory() {
        let url = "postgres://nobody@127.0.0.1:1/none".to_string();
        let pg = StoreChoice::Postgres {
            url: url.clone(),
            schema: None,
        };
        // Connections are lazy: no database is needed to resolve the choice.
        let replicas = Stores::with_shared_db(url, None);
        let a = replicas.get(&StoreChoice::ProcessShared, 1000);
        assert!(Arc::ptr_eq(&a, &replicas.get(&pg, 1000)));
        assert!(!Arc::ptr_eq(&a, &replicas.get(&StoreChoice::Memory, 1000)));
        let alone = Stores::default();
        let b = alone.get(&StoreChoice::ProcessShared, 1000);
        assert!(Arc::ptr_eq(&b, &alone.get(&StoreChoice::Memory, 1000)));
    }

    #[test]
    fn versions_guard_writes() {
        let s = MemorySessionStore::new(10, 1_000);
        assert!(s.put_if("k", None, &state("a", 0)).unwrap());
        assert!(
            !s.put_if("k", None, &state("b", 0)).unwrap(),
            "stale create"
        );
        let v = s.load("k").unwrap().unwrap();
        assert_eq!((v.version, v.state.model.as_str()), (1, "a"));
        assert!(s.put_if("k", Some(1), &state("b", 1)).unwrap());
        assert!(
            !s.put_if("k", Some(1), &state("c", 2)).unwrap(),
            "stale update"
        );
        assert_eq!(s.load("k").unwrap().unwrap().state.model, "b");
    }

    #[test]
    fn least_recently_used_is_evicted_at_capacity() {
        let s = MemorySessionStore::new(2, 1_000_000);
        s.put_if("x", None, &state("a", 0)).unwrap();
        s.put_if("y", None, &state("a", 1)).unwrap();
        // Reading x makes y the least recently used.
        s.load("x").unwrap();
        s.put_if("z", None, &state("a", 2)).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.load("y").unwrap().is_none());
        assert!(s.load("x").unwrap().is_some());
        assert!(s.load("z").unwrap().is_some());
    }

    #[test]
    fn expired_entries_read_as_absent_and_are_dropped() {
        let s = MemorySessionStore::new(10, 100);
        let step = |prev: Option<&SessionState>| (prev.cloned(), state("m", 0));
        assert_eq!(transition(&s, "old", 0, 100, step).unwrap(), None);
        let seen = transition(&s, "old", 50, 100, |p| (p.cloned(), state("m", 50))).unwrap();
        assert!(seen.is_some(), "within the TTL");
        let seen = transition(&s, "old", 150, 100, |p| (p.cloned(), state("m", 150))).unwrap();
        assert!(
            seen.is_none(),
            "idle for the TTL reads as a new conversation"
        );
        // A write far later drops the untouched entry.
        s.put_if("other", None, &state("m", 10)).unwrap();
        s.put_if("new", None, &state("m", 1_000)).unwrap();
        assert!(s.load("other").unwrap().is_none());
        assert_eq!(s.len(), 1);
    }

    /// A store whose first write always loses the race, as when another replica writes first.
    struct Racing {
        inner: MemorySessionStore,
        raced: Mutex<bool>,
    }

    impl SessionStore for Racing {
        fn backend(&self) -> &'static str {
            "racing"
        }
        fn blocking(&self) -> bool {
            false
        }
        fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
            self.inner.load(key)
        }
        fn put_if(
            &self,
            key: &str,
            expected: Option<i64>,
            s: &SessionState,
        ) -> Result<bool, StoreError> {
            let mut raced = self.raced.lock().unwrap();
            if !*raced {
                *raced = true;
                // The other replica's write lands between our read and our write.
                self.inner.put_if(key, expected, &state("theirs", 0))?;
            }
            self.inner.put_if(key, expected, s)
        }
    }

    #[test]
    fn a_lost_race_is_retried_on_the_winner_s_state() {
        let s = Racing {
            inner: MemorySessionStore::new(10, 1_000),
            raced: Mutex::new(false),
        };
        let seen = transition(&s, "k", 1, 1_000, |p| {
            (p.map(|p| p.model.clone()), state("ours", 1))
        })
        .unwrap();
        assert_eq!(seen.as_deref(), Some("theirs"));
        assert_eq!(s.load("k").unwrap().unwrap().version, 2);
    }
}
