use vsr_config::{SignalType, load_file};
use vsr_testkit::shared_file;

#[test]
fn balance_profile_loads_verbatim_with_every_element_in_order() {
    let Some(path) = shared_file("reference/upstream-amd-2026-03/balance.yaml") else {
        return;
    };
    let loaded = match load_file(&path) {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let cfg = &loaded.config;
    assert_eq!(cfg.providers.models.len(), 5);
    assert_eq!(cfg.routing.signals.len(), 83);
    let p = &cfg.routing.projections;
    assert_eq!(
        (p.partitions.len(), p.scores.len(), p.mappings.len()),
        (2, 4, 4)
    );
    assert_eq!(cfg.routing.decisions.len(), 23);
    assert_eq!(cfg.routing.decisions[0].name, "premium_legal");
    assert_eq!(
        cfg.routing.signals.names(SignalType::Keyword)[0],
        "jailbreak_attempt"
    );
}
