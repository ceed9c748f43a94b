//! Full-routing latency of a profile on its probe prompts, split into phases:
//! `cargo run --release -p vsr-learned --example bench_route -- [CONFIG] [PROBES] [ROUNDS]`
//! (defaults: the reference balance profile and probes in ../shared, 20 rounds).
//!
//! Phases: tokenise (SentencePiece), encode (USE-m3 forward + pooling), heads (learned
//! families on the shared embedding), heuristics (keyword/structure/context/language/pii),
//! engine (projections + decisions). Also prints start-up time and RSS after start.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use vsr_engine::EvalMode;
use vsr_learned::{ModelSet, build_router};
use vsr_models::{UseM3, catalog};
use vsr_signals::{Family, RequestContext, RequestView};

type Error = Box<dyn std::error::Error>;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn pct(sorted: &[u64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i] as f64 / 1e6
}

fn main() -> Result<(), Error> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../../../shared/reference/upstream-amd-2026-03");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = args
        .first()
        .map_or(shared.join("balance.yaml"), PathBuf::from);
    let probes = args
        .get(1)
        .map_or(shared.join("balance.probes.yaml"), PathBuf::from);
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(20);

    let t0 = Instant::now();
    let dir = catalog::find_model("usem3")
        .or_else(|| Some(root.join("../../models/usem3")).filter(|d| catalog::is_installed(d)))
        .ok_or("usem3 not installed")?;
    let encoder = Arc::new(UseM3::load(&dir)?);
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let models = ModelSet::from_encoder(encoder.clone(), Some(dir.join("cache")));
    let cfg = vsr_config::load_file(&config)?.config;
    let router = build_router(&cfg, &models)?;
    let start_ms = t0.elapsed().as_secs_f64() * 1e3;
    println!(
        "start-up: {start_ms:.0} ms (model load {load_ms:.0} ms); RSS after start {:.0} MB",
        rss_mb()
    );

    let manifest: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&probes)?)?;
    let mut queries = Vec::new();
    for g in manifest["decisions"].as_sequence().into_iter().flatten() {
        for v in g["variants"].as_sequence().into_iter().flatten() {
            if let Some(q) = v["query"].as_str() {
                queries.push(q.to_string());
            }
        }
    }
    let learned = [
        Family::Embedding,
        Family::Complexity,
        Family::Preference,
        Family::Domain,
        Family::FactCheck,
        Family::UserFeedback,
        Family::Jailbreak,
    ];
    let (mut tok, mut enc, mut heads, mut heur, mut eng, mut total) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for round in 0..rounds + 2 {
        for q in &queries {
            let view = RequestView::from_text(q);
            let t = Instant::now();
            let ids = encoder.tokenize(q);
            let t_tok = t.elapsed().as_nanos() as u64;
            let t = Instant::now();
            let v = encoder.embed_tokens(&[ids])?.pop().ok_or("no vector")?;
            let t_enc = t.elapsed().as_nanos() as u64;
            let ctx = RequestContext::with_embedding(&view, Arc::from(v));
            let r = router.engine().route(&ctx, EvalMode::Routing);
            let (mut h, mut l) = (0u64, 0u64);
            for f in r.signals.families() {
                if learned.contains(&f.family) {
                    l += f.elapsed_ns;
                } else {
                    h += f.elapsed_ns;
                }
            }
            let e = r.timing.projections_ns + r.timing.decisions_ns;
            if round >= 2 {
                tok.push(t_tok);
                enc.push(t_enc);
                heads.push(l);
                heur.push(h);
                eng.push(e);
                total.push(t_tok + t_enc + r.timing.signals_ns + e);
            }
        }
    }
    println!(
        "{} prompts × {rounds} rounds (routing path), milliseconds:",
        queries.len()
    );
    println!("{:<11} {:>8} {:>8}", "phase", "p50", "p99");
    for (name, xs) in [
        ("tokenise", &mut tok),
        ("encode", &mut enc),
        ("heads", &mut heads),
        ("heuristics", &mut heur),
        ("engine", &mut eng),
        ("total", &mut total),
    ] {
        xs.sort_unstable();
        println!("{name:<11} {:>8.3} {:>8.3}", pct(xs, 0.5), pct(xs, 0.99));
    }
    println!("RSS after run {:.0} MB", rss_mb());
    Ok(())
}
