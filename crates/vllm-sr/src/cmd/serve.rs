//! `vllm-sr serve`: run the router on the config's listeners.
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vsr_server::{ClassifyError, ConfigLoader, IndexMap, RouteInput, RouteOutcome, ServeOptions};
use vsr_signals::Family;

/// The built-in profile used by `--demo` when no `--config` is given.
const BUILTIN_PROFILE: &str = include_str!("../../../../profiles/balance/balance.yaml");

#[derive(clap::Args)]
pub struct Args {
    /// Config file (canonical v0.3 YAML). Watched and reloaded on change.
    #[arg(long, short, default_value = "config.yaml")]
    config: PathBuf,
    /// Run the built-in profile (or --config if given) against an in-process simulated
    /// backend: routing end to end with no GPU and no vLLM. Answers are simulated.
    #[arg(long)]
    demo: bool,
    /// Listen on this port instead of the config's listeners (0 picks a free port).
    #[arg(long)]
    port: Option<u16>,
    /// Address for --port.
    #[arg(long, default_value = "0.0.0.0")]
    host: String,
    /// Write the first bound port to this file once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
    /// Largest accepted request body in bytes (default: config, else 10 MiB).
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Requests allowed to wait for classification before the router answers 429.
    #[arg(long, default_value_t = 1024)]
    classifier_queue: usize,
    /// Do not watch the config file for changes (POST /config/reload still works).
    #[arg(long)]
    no_watch: bool,
}

/// INTEGRATION POINT: the loader that turns a config file into proxy settings plus the
/// classifier. Each (re)load validates with vsr-config and builds a fresh engine; learned
/// signal families are added to the engine here once their models are wired in.
fn config_loader() -> Arc<dyn ConfigLoader> {
    Arc::new(vsr_server::ValidatingLoader::with_classifier(|cfg, _| {
        Ok(Arc::new(EngineClassifier::new(cfg)?) as Arc<dyn vsr_server::Classifier>)
    }))
}

/// Adapts `vsr_engine::Engine` to the proxy's [`vsr_server::Classifier`].
struct EngineClassifier {
    engine: vsr_engine::Engine,
    /// Decision name → `fast_response` message.
    fast_responses: HashMap<String, String>,
}

impl EngineClassifier {
    fn new(cfg: &vsr_config::Config) -> Result<Self, String> {
        let engine = vsr_engine::Engine::from_config(cfg).map_err(|e| e.to_string())?;
        let fast_responses = cfg
            .decisions()
            .filter_map(|d| {
                let p = d.plugins.iter().find(|p| p.kind == "fast_response")?;
                let msg = p
                    .configuration
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("This request was answered by the router.");
                Some((d.name.clone(), msg.to_string()))
            })
            .collect();
        Ok(Self {
            engine,
            fast_responses,
        })
    }
}

/// Header suffix of `x-vsr-matched-<family>` (surface spec §2.11).
fn header_family(f: Family) -> &'static str {
    match f {
        Family::Keyword => "keywords",
        Family::Embedding => "embeddings",
        Family::Domain => "domains",
        Family::FactCheck => "fact-check",
        Family::UserFeedback => "user-feedback",
        Family::Preference => "preference",
        Family::Language => "language",
        Family::Context => "context",
        Family::Structure => "structure",
        Family::Complexity => "complexity",
        Family::Modality => "modality",
        Family::Authz => "authz",
        Family::Jailbreak => "jailbreak",
        Family::Pii => "pii",
        Family::Projection => "projection",
    }
}

impl vsr_server::Classifier for EngineClassifier {
    fn route(&self, input: &RouteInput) -> Result<RouteOutcome, ClassifyError> {
        let body = serde_json::json!({"messages": input.messages});
        let view = vsr_signals::RequestView::from_chat_json(&body)
            .map_err(|e| ClassifyError::InvalidInput(e.to_string()))?;
        let ctx = vsr_signals::RequestContext::new(&view);
        let r = self.engine.route(&ctx, vsr_engine::EvalMode::Routing);
        let mut matched: IndexMap<String, Vec<String>> = IndexMap::new();
        let mut projections = Vec::new();
        let mut context_tokens = 0u64;
        for (family, s) in r.signals.matched() {
            if family == Family::Projection {
                projections.push(s.name.to_string());
            } else {
                matched
                    .entry(header_family(family).to_string())
                    .or_default()
                    .push(s.name.to_string());
            }
        }
        for fam in r.signals.families() {
            if fam.family == Family::Context {
                for s in &fam.signals {
                    context_tokens = context_tokens.max(s.value.max(0.0) as u64);
                }
            }
        }
        let category = r.winner_trace().and_then(|w| {
            w.matched_rules
                .iter()
                .find_map(|rule| rule.strip_prefix("domain:").map(str::to_string))
        });
        let fast_response = r
            .decision
            .as_ref()
            .and_then(|d| self.fast_responses.get(d).cloned());
        Ok(RouteOutcome {
            confidence: r.confidence,
            reasoning: r.decision.is_some().then_some(r.reasoning.use_reasoning),
            reasoning_effort: r.reasoning.effort.clone(),
            model: r.model.clone(),
            category,
            matched,
            matched_projections: projections,
            context_tokens,
            fast_response,
            selection_method: if r.is_default {
                "default".into()
            } else {
                "static".into()
            },
            trace: serde_json::to_value(&r).unwrap_or_default(),
            decision: r.decision,
        })
    }

    fn eval(&self, text: &str) -> Result<serde_json::Value, ClassifyError> {
        let r = self.engine.route_text(text, vsr_engine::EvalMode::All);
        let resp = vsr_engine::eval_api::EvalResponse::from_result(text, &r, false);
        serde_json::to_value(&resp).map_err(|e| ClassifyError::Failed(e.to_string()))
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let listen_override = match args.port {
        Some(p) => Some(
            format!("{}:{p}", args.host)
                .parse::<SocketAddr>()
                .with_context(|| format!("invalid --host `{}`", args.host))?,
        ),
        None => None,
    };
    vsr_server::run::block_on(async move {
        let mut config = args.config.clone();
        let mut _sim = None;
        if args.demo {
            let source = if args.config.exists() {
                std::fs::read_to_string(&args.config)
                    .with_context(|| format!("reading {}", args.config.display()))?
            } else {
                BUILTIN_PROFILE.to_string()
            };
            let sim_addr: SocketAddr = ([127, 0, 0, 1], 0).into();
            let (_, aliases) = vsr_server::run::retarget_backends(&source, "127.0.0.1:0")
                .map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
            let sim = vsr_server::sim::start(
                sim_addr,
                vsr_server::sim::SimOptions {
                    models: aliases,
                    ..Default::default()
                },
            )
            .await
            .context("starting the demo sim backend")?;
            let (yaml, _) = vsr_server::run::retarget_backends(&source, &sim.addr.to_string())
                .map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
            config = std::env::temp_dir().join(format!("vllm-sr-demo-{}.yaml", std::process::id()));
            std::fs::write(&config, yaml)
                .with_context(|| format!("writing {}", config.display()))?;
            println!("==================================================================");
            println!(
                " vllm-sr DEMO: answers come from a SIMULATED backend at {}",
                sim.addr
            );
            println!(" (no model is called; routing, headers and metrics are real)");
            println!("==================================================================");
            _sim = Some(sim);
        } else if !config.exists() {
            anyhow::bail!(
                "config file {} not found (pass --config FILE, or --demo to try the built-in profile)",
                config.display()
            );
        }
        let mut opts = ServeOptions::new(&config, config_loader());
        opts.listen_override = listen_override;
        opts.max_body_bytes = args.max_body_bytes;
        opts.classifier_queue = args.classifier_queue;
        opts.watch_interval = (!args.no_watch).then_some(Duration::from_millis(500));
        let server = vsr_server::serve(opts).await?;
        if let (Some(p), Some(a)) = (&args.port_file, server.addrs.first()) {
            std::fs::write(p, a.port().to_string())
                .with_context(|| format!("writing {}", p.display()))?;
        }
        for a in &server.addrs {
            println!("vllm-sr listening on http://{a}");
        }
        let _ = std::io::stdout().flush();
        vsr_server::run::shutdown_signal().await;
        server.shutdown();
        Ok(ExitCode::SUCCESS)
    })?
}
