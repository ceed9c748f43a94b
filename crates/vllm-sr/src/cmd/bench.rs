//! `vllm-sr bench route|proxy|load`: latency of the routing path per phase, memory and
//! start-up time; the proxy benchmark is `bench/proxy.sh` (oha at a fixed rate for added
//! latency, wrk at saturation, optional LiteLLM side by side); the classified-traffic one is
//! `bench/classified.sh` (route latency and `model: MoM` load, A/B against another binary).
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use vsr_engine::EvalMode;
use vsr_models::usem3::USEM3_FILES;
use vsr_models::{Encoder, UseM3, catalog};
use vsr_signals::RequestView;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Routing latency over a probe manifest's prompts, per phase, plus RSS and start-up time.
    Route(RouteArgs),
    /// Proxy overhead versus the sim backend called directly (and LiteLLM): runs
    /// bench/proxy.sh from the repository with this binary (needs oha and wrk).
    Proxy(ScriptArgs),
    /// Classified traffic: encoder and routing latency plus `model: MoM` load through
    /// `serve` + sim-backend (wrk), optionally A/B against another binary: runs
    /// bench/classified.sh with this binary (needs wrk; BASE_BIN=... to compare).
    Load(ScriptArgs),
}

#[derive(clap::Args)]
struct RouteArgs {
    /// Routing config.
    #[arg(long, short = 'c')]
    config: PathBuf,
    /// Probe manifest (the `balance.probes.yaml` format) whose prompts are routed.
    #[arg(long)]
    probes: PathBuf,
    /// Timed passes over all prompts (after one warm-up pass).
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ScriptArgs {
    /// The script (default: bench/proxy.sh, or bench/classified.sh for `load`, under the
    /// current directory).
    #[arg(long)]
    script: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.cmd {
        Cmd::Route(a) => route(a),
        Cmd::Proxy(a) => run_script(&a.script.unwrap_or_else(|| "bench/proxy.sh".into())),
        Cmd::Load(a) => run_script(&a.script.unwrap_or_else(|| "bench/classified.sh".into())),
    }
}

fn run_script(script: &Path) -> anyhow::Result<ExitCode> {
    if !script.is_file() {
        bail!(
            "{} not found: run from the repository root or pass --script",
            script.display()
        );
    }
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(script);
    // Benchmark this very binary unless the caller chose one.
    if std::env::var_os("VLLM_SR_BIN").is_none()
        && let Ok(exe) = std::env::current_exe()
    {
        cmd.env("VLLM_SR_BIN", exe);
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Per-phase samples in nanoseconds.
#[derive(Default)]
struct Samples {
    tokenise: Vec<u64>,
    encode: Vec<u64>,
    signals: Vec<u64>,
    projections: Vec<u64>,
    decisions: Vec<u64>,
    engine: Vec<u64>,
    total: Vec<u64>,
}

fn percentile(v: &mut [u64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i.min(v.len() - 1)] as f64 / 1e6
}

fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The benchmarked encoder. USE-m3 exposes tokenisation as its own step, so the table can
/// split it from the forward pass; for other encoders tokenise reads 0 and is part of encode.
enum TimedEncoder {
    UseM3(Arc<UseM3>),
    Other(Arc<dyn Encoder>),
}

impl TimedEncoder {
    fn load(source: &vsr_models::ModelSource) -> anyhow::Result<Self> {
        let dir = source.dir();
        Ok(if USEM3_FILES.iter().all(|f| dir.join(f).is_file()) {
            Self::UseM3(Arc::new(UseM3::load(dir)?))
        } else {
            Self::Other(vsr_models::load_source(source)?)
        })
    }

    fn shared(&self) -> Arc<dyn Encoder> {
        match self {
            Self::UseM3(e) => e.clone(),
            Self::Other(e) => e.clone(),
        }
    }

    /// (tokenise time, encode time, vector) for one text.
    fn embed_timed(&self, text: &str) -> anyhow::Result<(Duration, Duration, Vec<f32>)> {
        match self {
            Self::UseM3(e) => {
                let t = Instant::now();
                let ids = e.tokenize(text);
                let tok = t.elapsed();
                let t = Instant::now();
                let v = e.embed_tokens(&[ids])?.pop();
                Ok((tok, t.elapsed(), v.context("encoder returned no vector")?))
            }
            Self::Other(e) => {
                let t = Instant::now();
                let v = e.embed_one(text)?;
                Ok((Duration::ZERO, t.elapsed(), v))
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn route(a: RouteArgs) -> anyhow::Result<ExitCode> {
    let manifest = vsr_app::probes::Manifest::load(&a.probes)?;
    // The text of every text variant (v1 conversation variants are left out: this measures
    // routing one prompt).
    let prompts: Vec<String> = manifest
        .decisions
        .iter()
        .flat_map(|d| d.variants.iter())
        .filter_map(|v| match v.request(manifest.fixtures.as_ref()) {
            Ok(vsr_config::probes::ProbeRequest::Text(t)) => Some(t),
            _ => None,
        })
        .collect();
    if prompts.is_empty() {
        bail!("{}: no probe prompts", a.probes.display());
    }
    let config = vsr_app::load_config(&a.config)?.config;

    // Start-up: model load, then the router built with an empty embedding cache (cold) and
    // again over the cache it filled (warm). The encoder is the one the config selects
    // (`global.model_catalog.embeddings.semantic.model`), else the installed default.
    let spec = config
        .global_settings()
        .embedding_model
        .clone()
        .unwrap_or_else(|| catalog::DEFAULT_MODEL.to_string());
    let source = vsr_models::resolve_model_source(&spec, None).with_context(|| {
        format!("the sentence encoder `{spec}` is not installed (vllm-sr models fetch)")
    })?;
    let t = Instant::now();
    let encoder = TimedEncoder::load(&source)?;
    let model_load = t.elapsed();
    let cache = std::env::temp_dir().join(format!("vllm-sr-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let models = vsr_learned::ModelSet::from_encoder(encoder.shared(), Some(cache.clone()));
    let t = Instant::now();
    let router = vsr_learned::build_router(&config, &models)?;
    let build_cold = t.elapsed();
    drop((router, models));
    // Warm: a fresh embedding space over the same disk cache (what a restart sees).
    let models = vsr_learned::ModelSet::from_encoder(encoder.shared(), Some(cache.clone()));
    let t = Instant::now();
    let router = vsr_learned::build_router(&config, &models)?;
    let build_warm = t.elapsed();
    let _ = std::fs::remove_dir_all(&cache);
    let rss_after_start = rss_kib();

    let mut s = Samples::default();
    for pass in 0..=a.iterations {
        for p in &prompts {
            let start = Instant::now();
            let view = RequestView::from_text(p.as_str());
            let needs = router.needs_embedding(EvalMode::Routing) && !view.text.trim().is_empty();
            let (tok_ns, enc_ns, emb) = if needs {
                let (tok, enc, v) = encoder.embed_timed(&view.text)?;
                (tok, enc, Some(Arc::<[f32]>::from(v)))
            } else {
                (Duration::ZERO, Duration::ZERO, None)
            };
            let t = Instant::now();
            let r = router.route_with_embedding(&view, emb, EvalMode::Routing);
            let engine = t.elapsed();
            let total = start.elapsed();
            if pass == 0 {
                continue; // warm-up
            }
            s.tokenise.push(tok_ns.as_nanos() as u64);
            s.encode.push(enc_ns.as_nanos() as u64);
            s.signals.push(r.timing.signals_ns);
            s.projections.push(r.timing.projections_ns);
            s.decisions.push(r.timing.decisions_ns);
            s.engine.push(engine.as_nanos() as u64);
            s.total.push(total.as_nanos() as u64);
        }
    }
    let rss_after_run = rss_kib();
    let encoder_id = encoder.shared().model_id().to_string();

    let rows: Vec<(&str, &mut Vec<u64>)> = vec![
        ("tokenise", &mut s.tokenise),
        ("encode", &mut s.encode),
        ("signals (heuristics + learned heads)", &mut s.signals),
        ("projections", &mut s.projections),
        ("decisions", &mut s.decisions),
        ("engine (signals..decisions)", &mut s.engine),
        ("total", &mut s.total),
    ];
    let mut table = Vec::new();
    for (name, v) in rows {
        let p50 = percentile(v, 0.5);
        let p99 = percentile(v, 0.99);
        table.push((name, p50, p99));
    }
    let samples = s.total.len();
    if a.json {
        let phases: serde_json::Map<String, serde_json::Value> = table
            .iter()
            .map(|(n, p50, p99)| {
                (
                    n.to_string(),
                    serde_json::json!({"p50_ms": p50, "p99_ms": p99}),
                )
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "encoder": encoder_id,
                "prompts": prompts.len(),
                "samples": samples,
                "phases": phases,
                "model_load_ms": ms(model_load),
                "router_build_cold_ms": ms(build_cold),
                "router_build_warm_ms": ms(build_warm),
                "rss_after_start_kib": rss_after_start,
                "rss_after_run_kib": rss_after_run,
            }))?
        );
    } else {
        println!(
            "routing latency over {} prompts x {} passes ({samples} samples), one thread, encoder `{encoder_id}`:",
            prompts.len(),
            a.iterations
        );
        println!("  {:<38} {:>9} {:>9}", "phase", "p50 ms", "p99 ms");
        for (n, p50, p99) in &table {
            println!("  {n:<38} {p50:>9.3} {p99:>9.3}");
        }
        println!(
            "start-up: model load {:.0} ms; router build cold (no embedding cache) {:.0} ms, warm (disk cache) {:.0} ms",
            ms(model_load),
            ms(build_cold),
            ms(build_warm)
        );
        let kib = |k: Option<u64>| {
            k.map_or("n/a".to_string(), |k| {
                format!("{:.1} MiB", k as f64 / 1024.0)
            })
        };
        println!(
            "RSS: after start {}, after the run {}",
            kib(rss_after_start),
            kib(rss_after_run)
        );
    }
    Ok(ExitCode::SUCCESS)
}
