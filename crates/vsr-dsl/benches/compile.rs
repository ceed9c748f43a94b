//! Compile (and format, decompile) of the reference balance.dsl.

use std::path::Path;

use criterion::{Criterion, black_box, criterion_group, criterion_main};

fn balance() -> Option<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/upstream-amd-2026-03/balance.dsl");
    std::fs::read_to_string(&p).ok()
}

fn bench(c: &mut Criterion) {
    let Some(src) = balance() else {
        eprintln!("notice: balance.dsl not found; nothing to measure");
        return;
    };
    c.bench_function("compile balance.dsl", |b| {
        b.iter(|| vsr_dsl::compile(black_box(&src)).map(|c| c.routing))
    });
    c.bench_function("check balance.dsl (compile + config validation)", |b| {
        b.iter(|| vsr_dsl::check(black_box(&src), None))
    });
    c.bench_function("fmt balance.dsl", |b| {
        b.iter(|| vsr_dsl::format(black_box(&src)))
    });
    if let Ok(compiled) = vsr_dsl::compile(&src) {
        c.bench_function("decompile balance routing", |b| {
            b.iter(|| vsr_dsl::decompile(black_box(&compiled.routing)))
        });
    }
}

criterion_group!(benches, bench);

/// The pieces of `check`, to see where its time goes.
fn pieces(c: &mut Criterion) {
    let Some(src) = balance() else { return };
    let Ok(compiled) = vsr_dsl::compile(&src) else {
        return;
    };
    c.bench_function("parse balance.dsl", |b| {
        b.iter(|| vsr_dsl::parse(black_box(&src)))
    });
    let merged = vsr_dsl::check::merge(
        vsr_dsl::check::default_base(&compiled.routing),
        &compiled.routing,
    );
    c.bench_function("serialise merged config to YAML", |b| {
        b.iter(|| serde_yaml::to_string(black_box(&merged)))
    });
    let yaml = serde_yaml::to_string(&merged).unwrap_or_default();
    c.bench_function("vsr_config::check_str of the merged config", |b| {
        b.iter(|| vsr_config::check_str(black_box(&yaml), "bench"))
    });
}

criterion_group!(parts, pieces);
criterion_main!(benches, parts);
