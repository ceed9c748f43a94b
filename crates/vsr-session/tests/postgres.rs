//! The PostgreSQL store against a real server (`VSR_TEST_POSTGRES_URL`, one schema per test):
//! two stores (two replicas) on one database see each other's writes, and a stale write loses.

use vsr_session::store::transition;
use vsr_session::{PostgresSessionStore, SessionState, SessionStore};

fn url() -> Option<String> {
    match std::env::var("VSR_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            vsr_testkit::missing(
                "VSR_TEST_POSTGRES_URL is not set (the PostgreSQL session store test)",
            );
            None
        }
    }
}

fn state(model: &str, at: i64) -> SessionState {
    SessionState {
        model: model.into(),
        turns: 1,
        switches: 0,
        last_seen_ms: at,
        last_decision: "d".into(),
    }
}

#[test]
fn two_replicas_share_state_and_a_stale_write_loses() {
    let Some(url) = url() else { return };
    let schema = format!("vsr_sess_store_{}", std::process::id());
    let one = PostgresSessionStore::new(&url, Some(&schema), 60_000);
    let two = PostgresSessionStore::new(&url, Some(&schema), 60_000);
    assert!(one.put_if("k", None, &state("a", 1)).unwrap());
    assert!(
        !two.put_if("k", None, &state("b", 1)).unwrap(),
        "the row exists"
    );
    let seen = two.load("k").unwrap().unwrap();
    assert_eq!((seen.state.model.as_str(), seen.version), ("a", 1));
    assert!(two.put_if("k", Some(1), &state("b", 2)).unwrap());
    assert!(
        !one.put_if("k", Some(1), &state("c", 3)).unwrap(),
        "stale version"
    );
    // A read-modify-write on the first replica sees the second's model.
    let prev = transition(&one, "k", 4, 60_000, |p| {
        (p.map(|p| p.model.clone()), state("c", 4))
    })
    .unwrap();
    assert_eq!(prev.as_deref(), Some("b"));
    assert_eq!(two.load("k").unwrap().unwrap().version, 3);
    // Past the TTL the entry reads as a new conversation.
    let prev = transition(&two, "k", 4 + 60_000, 60_000, |p| {
        (p.cloned(), state("a", 60_004))
    })
    .unwrap();
    assert!(prev.is_none());
    PostgresSessionStore::drop_schema(&url, &schema).unwrap();
}
