//! config → YAML export → load is lossless.

use vsr_config::load_file;
use vsr_config::load_str;
use vsr_testkit::shared_file;

fn round_trip(relative: &str) {
    let Some(path) = shared_file(relative) else {
        return;
    };
    let first = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let yaml = first.config.to_yaml();
    let second = load_str(&yaml, "export.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(first.config, second.config);
    // And the export is a fixed point.
    assert_eq!(second.config.to_yaml(), yaml);
}

#[test]
fn balance_round_trip_is_lossless() {
    round_trip("reference/upstream-amd-2026-03/balance.yaml");
}

#[test]
fn privacy_round_trip_is_lossless() {
    round_trip("reference/upstream-amd-2026-03/privacy/privacy-router.yaml");
}

#[test]
fn reference_config_round_trip_is_lossless() {
    round_trip("reference/upstream-config-2026-03/config.yaml");
}

#[test]
fn export_changes_when_the_config_changes() {
    let Some(path) = shared_file("reference/upstream-amd-2026-03/balance.yaml") else {
        return;
    };
    let mut cfg = load_file(&path).unwrap_or_else(|e| panic!("{e}")).config;
    let before = cfg.to_yaml();
    cfg.routing.decisions[0].priority += 1;
    let reloaded = load_str(&cfg.to_yaml(), "x").unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(before, cfg.to_yaml());
    assert_eq!(
        reloaded.config.routing.decisions[0].priority,
        cfg.routing.decisions[0].priority
    );
}
