//! Two caches over one PostgreSQL database, as two replicas started with `--shared-db`: an
//! answer stored through one hits on the other (exact and semantic, the guard still applied),
//! and invalidation and flush through one empty both.

use std::sync::Arc;
use std::time::Duration;

use vsr_cache::postgres::SharedStore;
use vsr_cache::{
    Answer, DecisionPolicy, Lookup, Outcome, RequestControls, RequestKey, ResponseCache, Route,
    Scope, Write,
};
use vsr_config::vocab::CacheMode;

fn key(q: &str) -> RequestKey {
    let msgs = serde_json::json!([{"role": "user", "content": q}]).to_string();
    RequestKey::new([("messages", msgs.as_str())], &Route::default()).unwrap()
}

fn unit(v: &[f32]) -> Arc<[f32]> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn hit_text(o: &Outcome) -> Option<String> {
    match o {
        Outcome::Hit(h) => Some(String::from_utf8_lossy(&h.entry.answer.completion).into_owned()),
        Outcome::Miss(_) => None,
    }
}

#[test]
fn replicas_share_entries_invalidation_and_flush() {
    let Ok(url) = std::env::var("VSR_TEST_POSTGRES_URL") else {
        vsr_testkit::missing("VSR_TEST_POSTGRES_URL not set: shared response cache test");
        return;
    };
    let schema = format!("vsr_cache_it_{}", std::process::id());
    let a = ResponseCache::default();
    let b = ResponseCache::default();
    a.use_shared_store(SharedStore::new(&url, Some(&schema)));
    b.use_shared_store(SharedStore::new(&url, Some(&schema)));
    let policy = DecisionPolicy {
        mode: CacheMode::Semantic,
        scope: Scope::Global,
        threshold: 0.8,
        ttl: None,
        controls: RequestControls::default(),
    };
    let stored = key("How do I enable SSH on Ubuntu?");
    let e = unit(&[1.0, 0.0, 0.1]);
    a.insert(
        Write {
            key: stored.clone(),
            decision: "/it".into(),
            embedding: Some(Arc::clone(&e)),
            semantic: true,
            ttl: Duration::from_secs(60),
        },
        Answer {
            completion: b"A1".as_slice().into(),
        },
    );
    // Exact on the other replica.
    let exact = b.lookup(&Lookup {
        key: &stored,
        embedding: None,
        policy: &policy,
    });
    assert_eq!(hit_text(&exact).as_deref(), Some("A1"));
    // Semantic on the other replica: a paraphrase hits, the negation is refused by the guard
    // even with the same vector.
    let close = key("how can I enable ssh on Ubuntu");
    let near = unit(&[1.0, 0.0, 0.12]);
    let o = b.lookup(&Lookup {
        key: &close,
        embedding: Some(&near),
        policy: &policy,
    });
    assert_eq!(hit_text(&o).as_deref(), Some("A1"));
    let negated = key("How do I disable SSH on Ubuntu?");
    let o = b.lookup(&Lookup {
        key: &negated,
        embedding: Some(&e),
        policy: &policy,
    });
    assert!(hit_text(&o).is_none(), "{o:?}");
    assert_eq!(a.len(), 1);
    // Invalidation through one replica is seen by the other.
    assert!(b.invalidate_key(&stored.exact.hex()));
    let gone = a.lookup(&Lookup {
        key: &stored,
        embedding: None,
        policy: &policy,
    });
    assert!(hit_text(&gone).is_none());
    for q in ["first question", "second question"] {
        a.insert(
            Write {
                key: key(q),
                decision: "/it".into(),
                embedding: None,
                semantic: false,
                ttl: Duration::from_secs(60),
            },
            Answer {
                completion: b"x".as_slice().into(),
            },
        );
    }
    assert_eq!(b.invalidate_decision("it"), 2);
    a.insert(
        Write {
            key: key("third question"),
            decision: "/it".into(),
            embedding: None,
            semantic: false,
            ttl: Duration::from_secs(60),
        },
        Answer {
            completion: b"y".as_slice().into(),
        },
    );
    assert_eq!(b.flush(), 1);
    assert_eq!(a.len(), 0);
    // Drop the test schema.
    if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
    }
}

/// An unreachable database is a miss and a skipped write, never an error to the client.
#[test]
fn an_unreachable_database_is_a_miss() {
    let cache = ResponseCache::default();
    cache.use_shared_store(SharedStore::new("postgres://nobody@127.0.0.1:1/none", None));
    let policy = DecisionPolicy {
        mode: CacheMode::Exact,
        scope: Scope::Global,
        threshold: 0.8,
        ttl: None,
        controls: RequestControls::default(),
    };
    let k = key("anything");
    cache.insert(
        Write {
            key: k.clone(),
            decision: "/d".into(),
            embedding: None,
            semantic: false,
            ttl: Duration::from_secs(60),
        },
        Answer {
            completion: b"x".as_slice().into(),
        },
    );
    let o = cache.lookup(&Lookup {
        key: &k,
        embedding: None,
        policy: &policy,
    });
    assert!(hit_text(&o).is_none());
    assert_eq!(cache.len(), 0);
}
