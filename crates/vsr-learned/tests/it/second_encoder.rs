//! The second shipped encoder, multilingual-e5-small (4-bit, `vllm-sr models fetch
//! e5-small`), with its own calibration and heads: the same held-out sets and probe suites as
//! the default USE-m3. It is the slower encoder (about 17 ms a prompt against 2.5 ms) and
//! routes fewer probes right; these tests guard today's figures (docs/learned-signals.md).
use crate::heldout::{benign_flagged, domain_routed};
use crate::probes::run_with;

#[test]
fn e5_domain_head_routes_held_out_requests() {
    let Some(models) = crate::e5_models() else {
        return;
    };
    let (routed, n) = domain_routed(&models);
    // Today 123/140; guards against regressions below 80%.
    assert!(routed * 5 >= n * 4, "routed {routed}/{n}");
}

#[test]
fn e5_jailbreak_head_spares_benign_held_out_requests() {
    let Some(models) = crate::e5_models() else {
        return;
    };
    let (flagged, n) = benign_flagged(&models);
    // Today 4/170; guards against regressions above 5%.
    assert!(flagged * 20 <= n, "{flagged}/{n} flagged");
}

#[test]
fn e5_probe_suites_do_not_regress() {
    let Some(models) = crate::e5_models() else {
        return;
    };
    let own = vsr_testkit::workspace_root().join("profiles/balance");
    let (passed, total) = run_with(
        &models,
        &own.join("balance.yaml"),
        &own.join("balance.probes.yaml"),
    );
    assert!(total >= 46);
    // Today 35/46 (USE-m3: 46/46; the profile was tuned on USE-m3).
    assert!(passed >= 35, "own probes on e5-small: {passed}/{total}");
    let (Some(cfg), Some(probes)) = (
        vsr_testkit::shared_file("reference/upstream-amd-2026-03/balance.yaml"),
        vsr_testkit::shared_file("reference/upstream-amd-2026-03/balance.probes.yaml"),
    ) else {
        return;
    };
    let (passed, total) = run_with(&models, &cfg, &probes);
    assert_eq!(total, 58);
    // Today 50/58 (USE-m3: 54/58).
    assert!(
        passed >= 50,
        "reference probes on e5-small: {passed}/{total}"
    );
}
