//! Encoder latency: `cargo bench -p vsr-models --bench encode`.
//! Prints load time and RSS once, then criterion timings (the median is the p50) for
//! tokenising, embedding one probe-length prompt, and a 32-text start-up batch.
use criterion::{Criterion, criterion_group, criterion_main};
use vsr_models::{E5Small, Encoder, UseM3, catalog};

fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn bench(c: &mut Criterion) {
    let workspace_models =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/usem3");
    let found = catalog::find_model("usem3")
        .or_else(|| catalog::is_installed(&workspace_models).then_some(workspace_models));
    let Some(dir) = found else {
        eprintln!("notice: usem3 not installed (vllm-sr models fetch); skipping bench");
        return;
    };
    let t = std::time::Instant::now();
    let model = UseM3::load(&dir).expect("model loads");
    let load = t.elapsed();
    let sentence =
        "Can you explain the difference between a process and a thread in operating systems?";
    model.embed(&[sentence]).expect("embeds");
    eprintln!(
        "usem3: load {:.0} ms, RSS after load+1 embed {:.0} MB, {} tokens",
        load.as_secs_f64() * 1e3,
        rss_mb().unwrap_or(f64::NAN),
        model.tokenize(sentence).len()
    );
    c.bench_function("usem3/tokenize", |b| b.iter(|| model.tokenize(sentence)));
    c.bench_function("usem3/embed_one", |b| {
        b.iter(|| model.embed(&[sentence]).expect("embeds"))
    });
    let zh = "请解释一下操作系统中进程和线程的区别。";
    c.bench_function("usem3/embed_one_zh", |b| {
        b.iter(|| model.embed(&[zh]).expect("embeds"))
    });
    let batch: Vec<String> = (0..32).map(|i| format!("{sentence} variant {i}")).collect();
    let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
    c.bench_function("usem3/embed_batch32", |b| {
        b.iter(|| model.embed(&refs).expect("embeds"))
    });
}

/// multilingual-e5-small (4-bit) on the same texts.
fn bench_e5(c: &mut Criterion) {
    let workspace_models =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/e5-small");
    let found = catalog::find_model("e5-small")
        .or_else(|| catalog::is_installed(&workspace_models).then_some(workspace_models));
    let Some(dir) = found else {
        eprintln!("notice: e5-small not installed (vllm-sr models fetch e5-small); skipping");
        return;
    };
    let rss_before = rss_mb().unwrap_or(f64::NAN);
    let t = std::time::Instant::now();
    let model = E5Small::load(&dir).expect("model loads");
    let load = t.elapsed();
    let sentence =
        "Can you explain the difference between a process and a thread in operating systems?";
    model.embed(&[sentence]).expect("embeds");
    eprintln!(
        "e5-small: load {:.0} ms, RSS after load+1 embed {:.0} MB (+{:.0} MB), {} tokens",
        load.as_secs_f64() * 1e3,
        rss_mb().unwrap_or(f64::NAN),
        rss_mb().unwrap_or(f64::NAN) - rss_before,
        model.tokenize(sentence).len()
    );
    c.bench_function("e5-small/tokenize", |b| b.iter(|| model.tokenize(sentence)));
    c.bench_function("e5-small/embed_one", |b| {
        b.iter(|| model.embed(&[sentence]).expect("embeds"))
    });
    let zh = "请解释一下操作系统中进程和线程的区别。";
    c.bench_function("e5-small/embed_one_zh", |b| {
        b.iter(|| model.embed(&[zh]).expect("embeds"))
    });
    let batch: Vec<String> = (0..32).map(|i| format!("{sentence} variant {i}")).collect();
    let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
    c.bench_function("e5-small/embed_batch32", |b| {
        b.iter(|| model.embed(&refs).expect("embeds"))
    });
}

criterion_group!(benches, bench_e5, bench);
criterion_main!(benches);
