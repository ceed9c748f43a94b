//! The shared reference pairs: the DSL compiles to the routing section of the YAML.

use crate::common::*;

fn check_pair(dsl: &str, yaml: &str) {
    let (Some(dsl), Some(yaml)) = (shared(dsl), shared(yaml)) else {
        return;
    };
    let compiled = vsr_dsl::compile(&read(&dsl)).unwrap_or_else(|d| {
        panic!("{}", vsr_dsl::render_all(&d, "dsl", &read(&dsl)))
    });
    let expected = yaml_routing(&read(&yaml));
    assert_same_routing(&compiled.routing, &expected);
}

#[test]
fn balance_dsl_compiles_to_balance_yaml_routing() {
    check_pair(
        "reference/upstream-amd-2026-03/balance.dsl",
        "reference/upstream-amd-2026-03/balance.yaml",
    );
}

#[test]
fn privacy_dsl_compiles_to_privacy_yaml_routing() {
    check_pair(
        "reference/upstream-amd-2026-03/privacy/privacy-router.dsl",
        "reference/upstream-amd-2026-03/privacy/privacy-router.yaml",
    );
}
