//! The shared reference pairs: the DSL compiles to the routing section of the YAML.

use crate::common::*;
use std::path::Path;

fn check_pair(dsl: &str, yaml: &str) {
    let (Some(dsl), Some(yaml)) = (shared(dsl), shared(yaml)) else {
        return;
    };
    let compiled = vsr_dsl::compile(&read(&dsl))
        .unwrap_or_else(|d| panic!("{}", vsr_dsl::render_all(&d, "dsl", &read(&dsl))));
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

#[test]
fn balance_dsl_checks_clean_against_the_config_validator() {
    let Some(dsl) = shared("reference/upstream-amd-2026-03/balance.dsl") else {
        return;
    };
    let src = read(&dsl);
    let diags = vsr_dsl::check(&src, None);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(
        errors.is_empty(),
        "{}",
        vsr_dsl::render_all(&diags, "balance.dsl", &src)
    );
    // With the reference file's own providers as the base, too.
    let Some(yaml) = shared("reference/upstream-amd-2026-03/balance.yaml") else {
        return;
    };
    let diags = vsr_dsl::check(&src, Some(&read(&yaml)));
    assert!(
        !diags.iter().any(|d| d.is_error()),
        "{}",
        vsr_dsl::render_all(&diags, "balance.dsl", &src)
    );
}

/// The project's own profile ships as YAML and DSL; the two must describe the same routing.
#[test]
fn shipped_profile_dsl_matches_its_yaml() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/balance");
    let dsl = read(&dir.join("balance.dsl"));
    let yaml = read(&dir.join("balance.yaml"));
    let compiled = vsr_dsl::compile(&dsl)
        .unwrap_or_else(|d| panic!("{}", vsr_dsl::render_all(&d, "balance.dsl", &dsl)));
    assert_same_routing(&compiled.routing, &yaml_routing(&yaml));
    let diags = vsr_dsl::check(&dsl, Some(&yaml));
    assert!(
        !diags.iter().any(|d| d.is_error()),
        "{}",
        vsr_dsl::render_all(&diags, "balance.dsl", &dsl)
    );
    let formatted = vsr_dsl::format(&dsl).expect("formats");
    assert_eq!(
        formatted, dsl,
        "profiles/balance/balance.dsl is not in canonical layout"
    );
}
