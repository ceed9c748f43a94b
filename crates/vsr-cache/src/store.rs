//! The in-process store: entries by exact key, an index by context key for semantic lookups,
//! a TTL per entry, and a bound on entries and bytes enforced on insert by evicting in FIFO
//! or LRU order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::guard::Features;
use crate::key::Key;

/// A stored answer: the complete `chat.completion` JSON (a streamed answer is rebuilt into
/// one), replayed as JSON or re-chunked into SSE.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub completion: Arc<[u8]>,
}

/// One entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub exact: Key,
    pub context: Key,
    /// `recipe/decision` (for invalidation by decision).
    pub decision: String,
    /// The prompt it answers, with its guard features and embedding (semantic entries).
    pub query: Option<String>,
    pub features: Option<Features>,
    pub embedding: Option<Arc<[f32]>>,
    pub answer: Answer,
    pub expires: Instant,
}

impl Entry {
    /// Bytes counted against the bound: the answer, the prompt and the embedding.
    pub fn bytes(&self) -> u64 {
        let b = self.answer.completion.len()
            + self.query.as_ref().map_or(0, String::len)
            + self.embedding.as_ref().map_or(0, |e| e.len() * 4)
            + 128;
        b as u64
    }
}

struct Slot {
    entry: Arc<Entry>,
    tick: u64,
}

/// Why entries left the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub expired: u64,
    pub evicted: u64,
}

#[derive(Default)]
pub struct MemoryStore {
    slots: HashMap<Key, Slot>,
    by_context: HashMap<Key, Vec<Key>>,
    /// Eviction order: insertion (FIFO) or last hit (LRU) tick → key.
    order: BTreeMap<u64, Key>,
    bytes: u64,
    tick: u64,
}

impl MemoryStore {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The live entry with this exact key (an expired one is removed).
    pub fn get(&mut self, key: &Key, now: Instant, removed: &mut Removed) -> Option<Arc<Entry>> {
        let expired = self.slots.get(key)?.entry.expires <= now;
        if expired {
            self.remove(key);
            removed.expired += 1;
            return None;
        }
        self.slots.get(key).map(|s| Arc::clone(&s.entry))
    }

    /// Live entries sharing a context key (expired ones are removed on the way).
    pub fn candidates(
        &mut self,
        context: &Key,
        now: Instant,
        removed: &mut Removed,
    ) -> Vec<Arc<Entry>> {
        let Some(keys) = self.by_context.get(context) else {
            return Vec::new();
        };
        let mut live = Vec::with_capacity(keys.len());
        let mut dead = Vec::new();
        for k in keys {
            if let Some(s) = self.slots.get(k) {
                if s.entry.expires <= now {
                    dead.push(*k);
                } else {
                    live.push(Arc::clone(&s.entry));
                }
            }
        }
        for k in dead {
            self.remove(&k);
            removed.expired += 1;
        }
        live
    }

    /// Marks a hit (moves the entry to the back of the LRU order).
    pub fn touch(&mut self, key: &Key) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(s) = self.slots.get_mut(key) {
            self.order.remove(&s.tick);
            s.tick = tick;
            self.order.insert(tick, *key);
        }
    }

    /// Inserts (or replaces) an entry, then evicts from the front of the order until the
    /// bounds hold. An entry larger than `max_bytes` on its own is not stored.
    pub fn insert(&mut self, entry: Entry, max_entries: usize, max_bytes: u64) -> Removed {
        let mut removed = Removed::default();
        let size = entry.bytes();
        if size > max_bytes || max_entries == 0 {
            return removed;
        }
        self.remove(&entry.exact);
        self.tick += 1;
        let key = entry.exact;
        self.by_context.entry(entry.context).or_default().push(key);
        self.order.insert(self.tick, key);
        self.bytes += size;
        self.slots.insert(
            key,
            Slot {
                entry: Arc::new(entry),
                tick: self.tick,
            },
        );
        while self.slots.len() > max_entries || self.bytes > max_bytes {
            if !self.evict_oldest() {
                break;
            }
            removed.evicted += 1;
        }
        removed
    }

    pub fn remove(&mut self, key: &Key) -> bool {
        let Some(slot) = self.slots.remove(key) else {
            return false;
        };
        self.order.remove(&slot.tick);
        self.bytes = self.bytes.saturating_sub(slot.entry.bytes());
        if let Some(v) = self.by_context.get_mut(&slot.entry.context) {
            v.retain(|k| k != key);
            if v.is_empty() {
                self.by_context.remove(&slot.entry.context);
            }
        }
        true
    }

    /// Removes the entry at the front of the eviction order; false when empty.
    pub fn evict_oldest(&mut self) -> bool {
        match self.order.pop_first() {
            Some((_, key)) => {
                // `remove` looks the tick up again; it is already gone from `order`.
                self.remove(&key)
            }
            None => false,
        }
    }

    /// Removes every entry `pred` selects; returns how many.
    pub fn remove_where(&mut self, pred: impl Fn(&Entry) -> bool) -> usize {
        let keys: Vec<Key> = self
            .slots
            .iter()
            .filter(|(_, s)| pred(&s.entry))
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            self.remove(k);
        }
        keys.len()
    }

    /// Removes expired entries; returns how many.
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        self.remove_where(|e| e.expires <= now)
    }
}

/// `now + ttl`, saturating far in the future.
pub fn expiry(now: Instant, ttl: Duration) -> Instant {
    now.checked_add(ttl)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, ctx: u8, len: usize, ttl: Duration) -> Entry {
        Entry {
            exact: Key([n; 32]),
            context: Key([ctx; 32]),
            decision: "d".into(),
            query: None,
            features: None,
            embedding: None,
            answer: Answer {
                completion: vec![b'x'; len].into(),
            },
            expires: expiry(Instant::now(), ttl),
        }
    }

    #[test]
    fn bounds_evict_oldest_first_and_lru_keeps_the_recently_hit() {
        let hour = Duration::from_secs(3600);
        let mut s = MemoryStore::default();
        for n in 1..=3 {
            assert_eq!(s.insert(entry(n, 0, 10, hour), 3, 10_000).evicted, 0);
        }
        s.touch(&Key([1; 32]));
        let r = s.insert(entry(4, 0, 10, hour), 3, 10_000);
        assert_eq!(r.evicted, 1);
        let mut removed = Removed::default();
        assert!(s.get(&Key([1; 32]), Instant::now(), &mut removed).is_some());
        assert!(s.get(&Key([2; 32]), Instant::now(), &mut removed).is_none());
        // Byte bound: one entry of 500 bytes (+ overhead) pushes out older ones.
        let r = s.insert(entry(5, 1, 500, hour), 10, 700);
        assert!(r.evicted >= 2, "{r:?}");
        assert!(s.bytes() <= 700);
        // Too large on its own: not stored.
        s.insert(entry(6, 1, 5000, hour), 10, 700);
        assert!(s.get(&Key([6; 32]), Instant::now(), &mut removed).is_none());
    }

    #[test]
    fn expired_entries_are_not_returned_and_are_counted() {
        let mut s = MemoryStore::default();
        s.insert(entry(1, 7, 10, Duration::ZERO), 10, 10_000);
        s.insert(entry(2, 7, 10, Duration::from_secs(60)), 10, 10_000);
        let mut removed = Removed::default();
        let c = s.candidates(&Key([7; 32]), Instant::now(), &mut removed);
        assert_eq!(c.len(), 1);
        assert_eq!(removed.expired, 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s.remove_where(|e| e.decision == "d"), 1);
        assert!(s.is_empty() && s.bytes() == 0);
    }
}
