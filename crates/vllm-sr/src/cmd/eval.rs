//! `vllm-sr eval`: route one prompt in-process (`--config`) and show the decision with its
//! trace, or ask a running router (`--endpoint`, its `POST /api/v1/eval`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use vsr_engine::eval_api::EvalResponse;
use vsr_engine::{Engine, EvalMode, RoutingResult};
use vsr_signals::Family;

#[derive(clap::Args)]
pub struct Args {
    /// Routing config (canonical v0.3 YAML), routed in-process.
    #[arg(
        long,
        short = 'c',
        required_unless_present = "endpoint",
        conflicts_with = "endpoint"
    )]
    pub config: Option<PathBuf>,
    /// Base URL of a running router (e.g. http://127.0.0.1:8899): ask its `/api/v1/eval`.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Bearer token sent to --endpoint (default: $VSR_API_KEY).
    #[arg(long)]
    pub api_key: Option<String>,
    /// The prompt to route.
    pub text: String,
    /// Print the eval API response (with the full trace) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Request model: an entrypoint model name routes with its recipe; otherwise the
    /// default profile routes.
    #[arg(long)]
    pub model: Option<String>,
}

/// Loads a config (invalid configs print their diagnostics and give exit 2) and builds the
/// router for a CLI run (`vsr_app::RouterBuild::for_cli`: learned families when the encoder is
/// installed, else heuristics only after a warning naming the rules; the server refuses such a
/// config instead).
pub fn load_router(path: &Path) -> Result<vsr_learned::Routers, ExitCode> {
    let loaded = match vsr_config::load_file(path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Err(ExitCode::from(2));
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    vsr_app::RouterBuild::for_cli(&loaded.config)
        .map(|b| b.router)
        .map_err(|e| {
            eprintln!("{}: {e}", path.display());
            ExitCode::from(2)
        })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.text.trim().is_empty() {
        eprintln!("error: text cannot be empty");
        return Ok(ExitCode::from(2));
    }
    let config = match (&args.endpoint, &args.config) {
        (Some(url), _) => return remote(&args, url),
        (None, Some(c)) => c,
        (None, None) => anyhow::bail!("give --config FILE or --endpoint URL"),
    };
    let routers = match load_router(config) {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let recipe = args
        .model
        .as_deref()
        .and_then(|m| routers.entrypoint_recipe(m));
    let Some(router) = routers.get(recipe) else {
        eprintln!("error: unknown recipe `{}`", recipe.unwrap_or_default());
        return Ok(ExitCode::from(2));
    };
    let view = vsr_signals::RequestView::from_text(args.text.as_str());
    let (result, timing) = router.route_timed(&view, EvalMode::All);
    if args.json {
        let mut body = EvalResponse::from_result(&args.text, &result, true);
        body.requested_model = args.model.clone();
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render(router.engine(), &result));
        if timing.embed_ns > 0 {
            println!("           prompt embedding {}", micros(timing.embed_ns));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `eval --endpoint`: the running router's decision, printed like the in-process one (without
/// the per-rule trace, which the eval API does not return).
fn remote(args: &Args, url: &str) -> anyhow::Result<ExitCode> {
    let router = super::remote::Router::new(
        url,
        std::time::Duration::from_secs(60),
        super::remote::api_key(args.api_key.clone()),
    )?;
    let v = router.eval(&args.text, args.model.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let body: EvalResponse = serde_json::from_value(v)?;
    print!("{}", render_remote(&body));
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report of an eval API answer.
pub fn render_remote(r: &EvalResponse) -> String {
    let mut out = String::new();
    let w = &mut out;
    if !r.recipe.is_empty() {
        let _ = writeln!(w, "recipe     {}", r.recipe);
    }
    let _ = writeln!(
        w,
        "decision   {}",
        r.routing_decision.as_deref().unwrap_or("(none)")
    );
    let model = r
        .routed_model
        .as_deref()
        .or(r.recommended_models.first().map(String::as_str))
        .unwrap_or("-");
    let _ = writeln!(w, "model      {model}");
    let _ = writeln!(w, "\nsignals");
    for (key, conf) in &r.signal_confidences {
        let value = r
            .signal_values
            .get(key)
            .map(|v| format!("  value {}", trim_float(*v)))
            .unwrap_or_default();
        let _ = writeln!(w, "  {key:<45} {conf:.3}{value}");
    }
    if r.signal_confidences.is_empty() {
        let _ = writeln!(w, "  (none matched)");
    }
    let timing: Vec<String> = r
        .metrics
        .iter()
        .filter(|(_, m)| m.execution_time_ms > 0.0)
        .map(|(f, m)| format!("{f} {:.1} ms", m.execution_time_ms))
        .collect();
    if !timing.is_empty() {
        let _ = writeln!(w, "\ntiming     {}", timing.join(", "));
    }
    out
}

fn micros(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1000.0)
}

/// The human-readable report of one routing result.
pub fn render(engine: &Engine, r: &RoutingResult) -> String {
    let mut out = String::new();
    let w = &mut out;
    if let Some(recipe) = &r.recipe {
        let _ = writeln!(w, "recipe     {recipe}");
    }
    match (&r.decision, r.winner_trace()) {
        (Some(name), Some(t)) => {
            let _ = writeln!(
                w,
                "decision   {name}  (confidence {:.3}, tier {}, priority {})",
                r.confidence, t.tier, t.priority
            );
        }
        _ => {
            let _ = writeln!(w, "decision   (none)");
        }
    }
    let reasoning = if r.reasoning.use_reasoning {
        let mut s = "on".to_string();
        if let Some(e) = &r.reasoning.effort {
            let _ = write!(s, ", effort {e}");
        }
        s
    } else {
        "off".to_string()
    };
    let family = r
        .reasoning
        .family
        .as_deref()
        .map(|f| format!(", family {f}"))
        .unwrap_or_default();
    let default = if r.is_default {
        "  [default model]"
    } else {
        ""
    };
    let _ = writeln!(
        w,
        "model      {}{default}  reasoning {reasoning}{family}",
        r.model
    );
    let _ = writeln!(w, "why        {}", r.decisions.reason);
    if let Some(t) = r.winner_trace()
        && !t.matched_rules.is_empty()
    {
        let _ = writeln!(w, "rules      {}", t.matched_rules.join(", "));
    }
    let others: Vec<String> = r
        .decisions
        .evaluated
        .iter()
        .filter(|d| d.matched && Some(&*d.name) != r.decision.as_deref())
        .map(|d| format!("{} (tier {}, {:.3})", d.name, d.tier, d.confidence))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(w, "also       {}", others.join(", "));
    }

    let _ = writeln!(w, "\nsignals");
    for fam in r.signals.families() {
        if fam.family == Family::Projection || !fam.evaluated {
            continue;
        }
        let matched: Vec<_> = fam.signals.iter().filter(|s| s.matched).collect();
        if let Some(err) = &fam.error {
            let _ = writeln!(w, "  {:<13} error: {err}", fam.family.as_str());
        }
        if matched.is_empty() {
            let _ = writeln!(w, "  {:<13} -", fam.family.as_str());
        }
        for s in matched {
            let evidence = if s.evidence.is_empty() {
                String::new()
            } else {
                format!("  [{}]", s.evidence.join(", "))
            };
            let value = if s.value != 0.0 && s.value != s.confidence {
                format!("  value {}", trim_float(s.value))
            } else {
                String::new()
            };
            let _ = writeln!(
                w,
                "  {:<13} {:<32} {:.3}{value}{evidence}",
                fam.family.as_str(),
                s.name,
                s.confidence
            );
        }
    }

    let p = &r.projections;
    if !(p.partitions.is_empty() && p.scores.is_empty()) {
        let _ = writeln!(w, "\nprojections");
        for part in &p.partitions {
            let winner = part.winner.as_deref().unwrap_or("-");
            let how = if part.defaulted { " (default)" } else { "" };
            let _ = writeln!(w, "  partition {:<28} {winner}{how}", part.name);
        }
        for s in &p.scores {
            let band = p
                .mappings
                .iter()
                .filter(|m| m.source == s.name)
                .map(|m| match &m.output {
                    Some(o) => format!("  → {} {o} ({:.3})", m.name, m.confidence),
                    None => format!("  → {} (between bands)", m.name),
                })
                .collect::<String>();
            let _ = writeln!(w, "  score     {:<28} {:+.3}{band}", s.name, s.value);
            for t in &s.terms {
                let _ = writeln!(
                    w,
                    "              {:+.3}  {} ({} × {:.3})",
                    t.contribution, t.signal, t.weight, t.value
                );
            }
        }
    }

    let missing = engine.missing_families();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(Family::as_str).collect();
        let _ = writeln!(
            w,
            "\nnote: no evaluator for {} (learned families); their signals never match",
            names.join(", ")
        );
    }
    let per_family: Vec<String> = r
        .signals
        .families()
        .filter(|f| f.evaluated && f.elapsed_ns > 0)
        .map(|f| format!("{} {}", f.family.as_str(), micros(f.elapsed_ns)))
        .collect();
    let _ = writeln!(
        w,
        "\ntiming     signals {} ({}), projections {}, decisions {}",
        micros(r.timing.signals_ns),
        per_family.join(", "),
        micros(r.timing.projections_ns),
        micros(r.timing.decisions_ns)
    );
    out
}

fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}
