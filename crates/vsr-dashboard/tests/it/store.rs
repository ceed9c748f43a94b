//! The dashboard store's contract on both backends: SQLite for one replica, PostgreSQL (when
//! `VSR_TEST_POSTGRES_URL` is set, in a schema of its own) for replicas sharing it.

use std::sync::Arc;

use vsr_dashboard::auth::Role;
use vsr_dashboard::db::postgres::Target;
use vsr_dashboard::db::{DashStore, PostgresDb, SqliteDb};

fn postgres_target(tag: &str) -> Option<Target> {
    let url = match std::env::var("VSR_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            vsr_testkit::missing(
                "VSR_TEST_POSTGRES_URL is not set (the PostgreSQL dashboard store)",
            );
            return None;
        }
    };
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Some(Target {
        url,
        schema: Some(format!("vsr_dash_{tag}_{}_{n}", std::process::id())),
    })
}

fn drop_schema(t: &Target) {
    if let (Ok(mut c), Some(s)) = (
        postgres::Client::connect(&t.url, postgres::NoTls),
        &t.schema,
    ) {
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE"));
    }
}

/// Users, sessions, tokens, audit and versions behave the same on every backend.
fn contract(db: &dyn DashStore) {
    assert_eq!(db.user_count().unwrap(), 0);
    assert!(db.create_first_user("admin", "h1").unwrap());
    assert!(
        !db.create_first_user("other", "h2").unwrap(),
        "only while there is none"
    );
    assert!(db.create_user("ann", "h3", Role::Read).unwrap());
    assert!(
        !db.create_user("ann", "h4", Role::Write).unwrap(),
        "name taken"
    );
    assert_eq!(
        db.password_hash("ann").unwrap(),
        Some(("h3".into(), Role::Read))
    );
    assert!(db.set_role("ann", Role::Write).unwrap());
    assert_eq!(db.admin_count().unwrap(), 1);
    let names: Vec<String> = db
        .users()
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["admin", "ann"]);

    db.create_session("s1", "ann", 3600).unwrap();
    db.create_session("s0", "ann", -10).unwrap();
    assert_eq!(
        db.session_user("s1").unwrap(),
        Some(("ann".into(), Role::Write))
    );
    assert_eq!(db.session_user("s0").unwrap(), None, "expired");
    assert!(db.set_password("ann", "h5").unwrap());
    assert_eq!(
        db.session_user("s1").unwrap(),
        None,
        "a new password ends sessions"
    );

    db.create_token("t1", "ann", "ci", "hash-1").unwrap();
    assert_eq!(
        db.token_user("hash-1").unwrap(),
        Some(("ann".into(), Role::Write))
    );
    assert_eq!(db.tokens("ann").unwrap().len(), 1);
    assert!(
        !db.delete_token("t1", Some("admin")).unwrap(),
        "not admin's token"
    );
    assert!(db.delete_token("t1", Some("ann")).unwrap());
    db.create_token("t2", "ann", "ci", "hash-2").unwrap();
    assert!(db.delete_user("ann").unwrap());
    assert_eq!(
        db.token_user("hash-2").unwrap(),
        None,
        "tokens go with their user"
    );

    db.audit("admin", "x.do", "one").unwrap();
    db.audit("admin", "x.do", "two").unwrap();
    let log = db.audit_log(1).unwrap();
    assert_eq!((log.len(), log[0].detail.as_str()), (1, "two"));

    // Versions: the first start records the running file; deploys become active.
    assert!(db.active_version().unwrap().is_none());
    let v1 = db.start_version("a: 1\n").unwrap();
    assert_eq!(v1.yaml.as_deref(), Some("a: 1\n"));
    assert_eq!(
        db.start_version("a: 1\n").unwrap().id,
        v1.id,
        "recorded once"
    );
    let v2 = db.add_version("admin", "deploy", "a: 2\n").unwrap();
    assert!(v2 > v1.id);
    let active = db.active_version().unwrap().unwrap();
    assert_eq!((active.id, active.yaml.as_deref()), (v2, Some("a: 2\n")));
    assert_eq!(db.versions(10).unwrap().len(), 2);
    assert_eq!(db.version(v1.id).unwrap().unwrap().author, "system");
    assert!(db.version(9999).unwrap().is_none());

    let k = db.secret(&[7u8; 32]).unwrap();
    assert!(k.len() >= 32);
    assert_eq!(db.secret(&[9u8; 32]).unwrap(), k, "one key, kept");
}

#[test]
fn sqlite_store_keeps_the_contract() {
    let dir = vsr_testkit::TempDir::new("dash-store");
    let db = SqliteDb::open(dir.path()).unwrap();
    contract(&db);
    // One replica: its running file is the truth, recorded when it is not the newest.
    let v = db.start_version("a: 3\n").unwrap();
    assert_eq!(v.yaml.as_deref(), Some("a: 3\n"));
}

#[test]
fn postgres_store_keeps_the_contract() {
    let Some(target) = postgres_target("contract") else {
        return;
    };
    let db = PostgresDb::open(target.clone()).unwrap();
    contract(&db);
    // Replicas: the fleet's active version wins over a replica's own file.
    let v = db.start_version("a: 3\n").unwrap();
    assert_eq!(v.yaml.as_deref(), Some("a: 2\n"));
    drop(db);
    drop_schema(&target);
}

#[test]
fn replicas_opening_one_postgres_at_once_agree() {
    let Some(target) = postgres_target("race") else {
        return;
    };
    // Six replicas migrate, race for the first admin and record their running file at once.
    let stores: Vec<Arc<PostgresDb>> = (0..6)
        .map(|_| Arc::new(PostgresDb::open(target.clone()).unwrap()))
        .collect();
    let results: Vec<(bool, i64, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, db)| {
                s.spawn(move || {
                    let first = db.create_first_user(&format!("admin{i}"), "h").unwrap();
                    let v = db.start_version(&format!("replica: {i}\n")).unwrap();
                    (first, v.id, db.secret(&[i as u8; 32]).unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.0).count(), 1, "one first admin");
    assert!(
        results.iter().all(|r| r.1 == results[0].1),
        "one first version"
    );
    assert!(
        results.iter().all(|r| r.2 == results[0].2),
        "one signing key"
    );
    assert_eq!(stores[0].user_count().unwrap(), 1);
    assert_eq!(stores[0].versions(10).unwrap().len(), 1);
    drop(stores);
    drop_schema(&target);
}

#[test]
fn an_unreachable_postgres_fails_calls_fast_with_an_error() {
    // Nothing listens on port 1: calls fail with an error, never hang or panic.
    let db = PostgresDb::open(Target {
        url: "postgres://postgres@127.0.0.1:1/none".into(),
        schema: None,
    })
    .unwrap();
    let t = std::time::Instant::now();
    let e = db.user_count().unwrap_err().to_string();
    assert!(e.contains("not connected") || e.contains("postgres"), "{e}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    assert!(
        PostgresDb::open(Target {
            url: "not a url".into(),
            schema: None
        })
        .is_err()
    );
}
