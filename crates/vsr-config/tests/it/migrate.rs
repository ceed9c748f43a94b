//! `migrate`: the March 2026 reference configs become August-schema configs that load, with
//! the routing they declared left intact.

use vsr_config::migrate::{ChangeKind, august_violations, migrate_str};
use vsr_config::{Config, load_str};
use vsr_testkit::shared_file;

const MARCH: &[&str] = &[
    "reference/upstream-amd-2026-03/balance.yaml",
    "reference/upstream-amd-2026-03/privacy/privacy-router.yaml",
    "reference/upstream-config-2026-03/config.yaml",
];

fn migrated(rel: &str) -> Option<(Config, Config, Vec<vsr_config::migrate::Change>)> {
    let path = shared_file(rel)?;
    let src = std::fs::read_to_string(&path).unwrap();
    let before = load_str(&src, rel).unwrap().config;
    let m = migrate_str(&src, rel).unwrap_or_else(|e| panic!("{e}"));
    let after = load_str(&m.yaml, "migrated")
        .unwrap_or_else(|e| panic!("{rel}: the migrated config must load:\n{e}"))
        .config;
    assert!(
        august_violations(&m.yaml).unwrap().is_empty(),
        "{rel}: a second migration still finds edits"
    );
    Some((before, after, m.changes))
}

#[test]
fn march_reference_configs_migrate_and_keep_their_routing() {
    for rel in MARCH {
        let Some((before, after, _)) = migrated(rel) else {
            return;
        };
        assert_eq!(before.providers, after.providers, "{rel}");
        assert_eq!(before.routing.signals, after.routing.signals, "{rel}");
        assert_eq!(
            before.routing.projections, after.routing.projections,
            "{rel}"
        );
        assert_eq!(
            before.routing.decisions.len(),
            after.routing.decisions.len()
        );
        for (b, a) in before
            .routing
            .decisions
            .iter()
            .zip(&after.routing.decisions)
        {
            assert_eq!(
                (&b.name, &b.rules, &b.model_refs),
                (&a.name, &a.rules, &a.model_refs)
            );
        }
    }
}

#[test]
fn the_playbook_profile_needs_no_edit_and_the_exhaustive_reference_does() {
    let Some((_, _, changes)) = migrated(MARCH[0]) else {
        return;
    };
    assert!(changes.is_empty(), "{changes:#?}");
    let Some((before, after, changes)) = migrated(MARCH[2]) else {
        return;
    };
    let removed: Vec<&str> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Removed)
        .map(|c| c.path.as_str())
        .collect();
    assert!(
        removed.contains(&"global.router.model_selection.elo"),
        "{removed:?}"
    );
    // Each removed learning algorithm left its decision without an algorithm; others kept theirs.
    for (b, a) in before
        .routing
        .decisions
        .iter()
        .zip(&after.routing.decisions)
    {
        let i = before
            .routing
            .decisions
            .iter()
            .position(|d| d.name == b.name)
            .unwrap();
        let path = format!("routing.decisions[{i}].algorithm");
        if removed.contains(&path.as_str()) {
            assert!(b.algorithm.is_some() && a.algorithm.is_none(), "{}", b.name);
        } else {
            assert_eq!(b.algorithm, a.algorithm, "{}", b.name);
        }
    }
    assert!(
        changes
            .iter()
            .any(|c| c.kind == ChangeKind::Renamed && c.path == "global.stores.semantic_cache")
    );
}
