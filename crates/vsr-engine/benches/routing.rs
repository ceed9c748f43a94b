//! Heuristic-only routing of the balance profile over the 58 probe queries of
//! `balance.probes.yaml`: signals, projections and decisions measured separately.
//! Figures are per request (each iteration routes all queries; divide by their number,
//! printed at start).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use vsr_engine::{Engine, EvalMode};
use vsr_signals::{RequestContext, RequestView, SignalSet};

fn fixtures() -> Option<(Engine, Vec<String>)> {
    let config = vsr_testkit::shared_file("reference/upstream-amd-2026-03/balance.yaml")?;
    let probes = vsr_testkit::shared_file("reference/upstream-amd-2026-03/balance.probes.yaml")?;
    let loaded = vsr_config::load_file(&config).ok()?;
    let engine = Engine::from_config(&loaded.config).ok()?;
    let manifest: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(probes).ok()?).ok()?;
    let queries = manifest["decisions"]
        .as_sequence()?
        .iter()
        .flat_map(|d| d["variants"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|v| v["query"].as_str().map(str::to_string))
        .collect();
    Some((engine, queries))
}

fn bench(c: &mut Criterion) {
    let Some((engine, queries)) = fixtures() else {
        eprintln!("notice: ../shared fixtures not found; skipping the routing benchmark");
        return;
    };
    let views: Vec<RequestView> = queries.iter().map(RequestView::from_text).collect();
    let families = engine.required_families();
    eprintln!("routing {} probe queries per iteration", views.len());

    // Per-family breakdown from the engine's own timing (warm caches, 20 rounds).
    let mut per_family = std::collections::BTreeMap::<&str, u64>::new();
    let rounds = 20u64;
    for _ in 0..rounds {
        for v in &views {
            let set = engine.evaluate_signals(&RequestContext::new(v), families);
            for f in set.families().filter(|f| f.evaluated) {
                *per_family.entry(f.family.as_str()).or_default() += f.elapsed_ns;
            }
        }
    }
    for (family, ns) in per_family {
        eprintln!(
            "  {family:<10} {:>8.2} µs/request",
            ns as f64 / (rounds * views.len() as u64) as f64 / 1000.0
        );
    }

    let mut g = c.benchmark_group(format!("balance_{}_queries", views.len()));
    g.bench_function("signals", |b| {
        b.iter(|| {
            for v in &views {
                black_box(engine.evaluate_signals(&RequestContext::new(v), families));
            }
        })
    });
    let computed: Vec<SignalSet> = views
        .iter()
        .map(|v| engine.evaluate_signals(&RequestContext::new(v), families))
        .collect();
    g.bench_function("projections", |b| {
        b.iter_batched(
            || computed.clone(),
            |mut sets| {
                for s in &mut sets {
                    black_box(engine.project(s));
                }
                sets
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("projections_and_decisions", |b| {
        b.iter_batched(
            || computed.clone(),
            |sets| {
                for s in sets {
                    black_box(engine.decide(s, false));
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("route_end_to_end", |b| {
        b.iter(|| {
            for v in &views {
                black_box(engine.route(&RequestContext::new(v), EvalMode::Routing));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
