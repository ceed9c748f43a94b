//! Insights benchmark: fills a store with N synthetic records (default 1,000,000 over 30 days,
//! 23 decisions, 5 aliases) and times list and aggregate queries.
//!
//!   cargo run --release -p vsr-replay --example replay_bench -- [DB_PATH] [N]
//!   cargo run --release -p vsr-replay --example replay_bench -- postgres://... [N]
//!
//! An existing SQLite file with at least N records is reused (fill skipped).
//! Measured (2026-11, 2-core shared VM, SQLite, 1,000,000 records): see docs/compatibility.md
//! and the crate's report; figures are printed per query as min / median of 5 runs.
use std::time::{Duration, Instant};

use vsr_replay::{
    AggQuery, CostModel, Filter, ListQuery, ModelPricing, ReplayRecord, StoreConfig, Timestamp,
    open_store,
};

const HOUR: i64 = 3_600_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let target = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "/tmp/vsr-replay-bench/replay.db".into());
    let n: usize = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let config = if target.starts_with("postgres") {
        StoreConfig::Postgres {
            url: target.clone(),
            schema: Some("vsr_bench".into()),
        }
    } else {
        StoreConfig::Sqlite {
            path: target.clone().into(),
        }
    };
    let store = open_store(&config)?;
    let models = [
        "qwen/qwen3.5-rocm",
        "google/gemini-2.5-flash-lite",
        "google/gemini-3.1-pro",
        "openai/gpt5.4",
        "anthropic/claude-opus-4.6",
    ];
    let rates = [
        (0.0, 0.0),
        (0.01, 0.04),
        (0.48, 1.92),
        (1.2, 4.8),
        (1.8, 7.2),
    ];
    let costs = CostModel::new(
        models
            .iter()
            .zip(rates)
            .map(|(m, (p, c))| ModelPricing::new(m, "USD", p, c))
            .collect(),
    );
    let t_end = 1_774_310_400_000i64; // 2026-03-24T00:00:00Z
    let span = 30 * 24 * HOUR;
    let have = store.count()? as usize;
    if have < n {
        println!("filling {} records into {target} ...", n - have);
        let started = Instant::now();
        let mut seed = 0x9e3779b97f4a7c15u64 ^ have as u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let body = "lorem ipsum dolor sit amet ".repeat(12);
        let mut batch = Vec::with_capacity(2000);
        for i in have..n {
            let mut r = ReplayRecord::new();
            r.timestamp = Timestamp(t_end - span + (i as i64 * span / n as i64));
            r.id = vsr_replay::record::new_record_id(r.timestamp);
            r.request_id = format!("req-{i:08}");
            let d = (rnd() % 23) as usize;
            r.decision = format!("decision_{d:02}");
            r.original_model = "MoM".into();
            r.selected_model = models[d % 5].into();
            r.streaming = rnd() % 3 == 0;
            r.from_cache = rnd() % 20 == 0;
            r.response_status = Some(if rnd() % 50 == 0 { 503 } else { 200 });
            r.signals.keyword = (0..rnd() % 3).map(|k| format!("kw{k}")).collect();
            r.signals.domain = vec!["math".into()];
            r.signals.complexity = vec!["code_task:hard".into()];
            r.signals.projection = vec!["balance_complex".into()];
            r.request_body = Some(format!(
                "{{\"messages\":[{{\"role\":\"user\",\"content\":\"{body} {i}\"}}]}}"
            ));
            r.response_body = Some(body.clone());
            r.set_usage(&costs, 50 + rnd() % 2000, rnd() % 1500, None);
            batch.push(r);
            if batch.len() == 2000 {
                store.insert_batch(&batch)?;
                batch.clear();
                if i % 100_000 < 2000 {
                    println!("  {i} records, {:.0} s", started.elapsed().as_secs_f64());
                }
            }
        }
        store.insert_batch(&batch)?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "filled in {secs:.1} s ({:.0} records/s)",
            (n - have) as f64 / secs
        );
    }
    println!("records: {}", store.count()?);

    let time = |name: &str,
                f: &dyn Fn() -> Result<String, vsr_replay::StoreError>|
     -> Result<(), vsr_replay::StoreError> {
        let mut runs: Vec<Duration> = Vec::new();
        let mut note = String::new();
        for _ in 0..5 {
            let t = Instant::now();
            note = f()?;
            runs.push(t.elapsed());
        }
        runs.sort();
        println!(
            "{name:<52} min {:>8.1} ms  median {:>8.1} ms  ({note})",
            runs[0].as_secs_f64() * 1e3,
            runs[2].as_secs_f64() * 1e3
        );
        Ok(())
    };
    let agg = |f: Filter| {
        let store = store.clone();
        move || {
            store
                .aggregate(&AggQuery {
                    filter: f.clone(),
                    bucket: None,
                })
                .map(|a| format!("{} records", a.record_count))
        }
    };
    let from = Timestamp(t_end - 7 * 24 * HOUR + 1_234_567);
    let to = Timestamp(t_end - 24 * HOUR - 98_765);
    time("aggregate: all", &agg(Filter::default()))?;
    time(
        "aggregate: decision",
        &agg(Filter {
            decision: Some("decision_07".into()),
            ..Default::default()
        }),
    )?;
    time(
        "aggregate: model",
        &agg(Filter {
            model: Some("openai/gpt5.4".into()),
            ..Default::default()
        }),
    )?;
    time(
        "aggregate: streamed",
        &agg(Filter {
            streamed: Some(true),
            ..Default::default()
        }),
    )?;
    time(
        "aggregate: last 6 days, unaligned edges",
        &agg(Filter {
            from: Some(from),
            to: Some(to),
            ..Default::default()
        }),
    )?;
    time(
        "aggregate: decision + unaligned range + cached",
        &agg(Filter {
            decision: Some("decision_03".into()),
            from: Some(from),
            to: Some(to),
            cached: Some(true),
            ..Default::default()
        }),
    )?;
    time(
        "aggregate: text search (full scan)",
        &agg(Filter {
            search: Some("req-0099999".into()),
            ..Default::default()
        }),
    )?;
    let list = |q: ListQuery| {
        let store = store.clone();
        move || {
            store
                .list(&q)
                .map(|p| format!("{} of {}", p.count, p.total))
        }
    };
    time("list: first page", &list(ListQuery::default()))?;
    time(
        "list: decision filter",
        &list(ListQuery {
            filter: Filter {
                decision: Some("decision_11".into()),
                ..Default::default()
            },
            ..Default::default()
        }),
    )?;
    time(
        "list: offset 10000",
        &list(ListQuery {
            offset: 10_000,
            ..Default::default()
        }),
    )?;
    let some_id = store.list(&ListQuery::default())?.items[0].id.clone();
    time("get by id", &|| {
        store
            .get(&some_id)
            .map(|r| format!("found={}", r.is_some()))
    })?;
    Ok(())
}
