//! `vllm-sr sim-backend`: an OpenAI-compatible stand-in for vLLM (see `vsr_server::sim`).
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Port to listen on (0 picks a free one; the bound address is printed).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Comma-separated model ids to serve (requests for other ids get 404).
    #[arg(long, value_delimiter = ',', default_value = "sim-model")]
    models: Vec<String>,
    /// Delay before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fraction (0..1) of chat requests answered with --error-status.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    #[arg(long, default_value_t = 500)]
    error_status: u16,
    /// Fraction of chat requests whose connection is dropped without an answer.
    #[arg(long, default_value_t = 0.0)]
    reset_rate: f64,
    /// Fraction of streams cut after the first content chunk.
    #[arg(long, default_value_t = 0.0)]
    cut_rate: f64,
    /// Cut every stream after N content chunks (0: after the headers, before any byte).
    #[arg(long)]
    cut_after: Option<u64>,
    /// Words per answer (capped by the request's max_tokens).
    #[arg(long, default_value_t = 12)]
    words: usize,
    /// Delay between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Inject a failure: refuse, reset, malformed, NNN-burst:N (e.g. 503-burst:3),
    /// slow-first-byte:MS, cut-mid-stream:N, slow-stream:MS or oversized:BYTES; `@MODEL` limits it to one
    /// model. Repeatable.
    #[arg(long = "fault", value_name = "KIND[:ARG][@MODEL]")]
    faults: Vec<String>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Answer every request for MODEL with TEXT (e.g. a scripted planner's JSON plan).
    /// Repeatable.
    #[arg(long = "reply", value_name = "MODEL=TEXT")]
    replies: Vec<String>,
    /// Write the bound port to this file once listening.
    #[arg(long)]
    port_file: Option<std::path::PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .with_context(|| format!("invalid --host/--port `{}:{}`", args.host, args.port))?;
    let faults = args
        .faults
        .iter()
        .map(|f| f.parse::<vsr_server::sim::Fault>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(vsr_server::sim::SimTls { cert, key }),
        _ => None,
    };
    let replies = args
        .replies
        .iter()
        .map(|r| match r.split_once('=') {
            Some((m, t)) if !m.is_empty() => Ok((m.to_string(), t.to_string())),
            _ => Err(anyhow::anyhow!("--reply {r:?}: expected MODEL=TEXT")),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let opts = vsr_server::sim::SimOptions {
        models: args.models.into_iter().filter(|m| !m.is_empty()).collect(),
        latency: Duration::from_millis(args.latency_ms),
        error_rate: args.error_rate,
        error_status: args.error_status,
        reset_rate: args.reset_rate,
        cut_rate: args.cut_rate,
        words: args.words,
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        cut_after: args.cut_after,
        faults,
        tls,
        replies,
    };
    let port_file = args.port_file;
    vsr_server::run::block_on(async move {
        let sim = vsr_server::sim::start(addr, opts)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        if let Some(p) = &port_file {
            vsr_app::atomic_file::write_atomically(p, sim.addr.port().to_string().as_bytes())
                .with_context(|| format!("writing {}", p.display()))?;
        }
        println!("vllm-sr sim-backend listening on {scheme}://{}", sim.addr);
        let _ = std::io::stdout().flush();
        vsr_server::run::shutdown_signal().await;
        sim.shutdown();
        Ok(ExitCode::SUCCESS)
    })?
}
