//! Cost of `detect` on typical router prompts: PII-free prompts (the common case) and prompts
//! carrying a few identifiers, in English and Chinese.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vsr_pii::{DetectOptions, RedactStyle, detect, redact};

const CLEAN: &[&str] = &[
    "Explain the difference between TCP and UDP, with an example of when to use each.",
    "Compare three multi-region event-driven architectures from first principles and recommend the best one with explicit trade-offs and failure modes.",
    "请解释一下量子纠缠是什么，并举一个生活中的类比。",
    "Write a Python function that parses ISO-8601 dates like 2024-01-15T10:30:00Z and returns epoch seconds; version 3.11.4 is installed.",
    "帮我总结这份内部设计文档，只能在本地模型处理，不要发到云端。",
];

const WITH_PII: &[&str] = &[
    "Hi, my name is Priya Raman. Please update my card 4111 1111 1111 1111 and send the receipt to priya.raman@example.com.",
    "Review this spreadsheet of employee phone numbers (+1 415 555 2671, 646-555-0199) and home addresses (1428 Elm Street) locally only.",
    "我叫张伟，手机13812345678，身份证11010519491231002X，住在北京市朝阳区建国路88号。",
    "export OPENAI_API_KEY=sk-proj-4fT9xQ2mLr8ZbN1cVw6pHs3KdYe7Ju0Aq5GtXo and the DB at 10.0.0.5 rejects it",
    "Wire 200 EUR to GB82 WEST 1234 5698 7654 32, my SSN is 219-09-9999 if they ask.",
];

fn bench(c: &mut Criterion) {
    let opts = DetectOptions::default();
    let mut group = c.benchmark_group("detect");
    for (name, prompts) in [("clean", CLEAN), ("with_pii", WITH_PII)] {
        let bytes: usize = prompts.iter().map(|p| p.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        // One iteration scans every prompt of the set; divide by the set size for per-prompt time.
        group.bench_function(format!("{name}_x{}", prompts.len()), |b| {
            b.iter(|| {
                for p in prompts {
                    black_box(detect(black_box(p), &opts));
                }
            })
        });
    }
    group.finish();

    let text = WITH_PII[0];
    let found = detect(text, &opts);
    c.bench_function("redact/placeholder", |b| {
        b.iter(|| {
            black_box(redact(
                black_box(text),
                &found,
                RedactStyle::TypePlaceholder,
            ))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
