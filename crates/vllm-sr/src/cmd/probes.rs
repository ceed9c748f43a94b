//! `vllm-sr probes`: run a probe manifest (the `balance.probes.yaml` format) in-process or
//! against a running router's `POST /api/v1/eval`, print per-decision pass rates and the trace
//! of every failure, and exit non-zero below the manifest's `acceptance`.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use vsr_engine::EvalMode;
use vsr_engine::eval_api::EvalResponse;

#[derive(clap::Args)]
pub struct Args {
    /// Routing config; required in-process, optional with --url.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Probe manifest (YAML).
    #[arg(long)]
    pub probes: PathBuf,
    /// Base URL of a running router's management API (e.g. http://127.0.0.1:8080); probes
    /// are then POSTed to the manifest's `router_eval_endpoint`.
    #[arg(long)]
    pub url: Option<String>,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A probe manifest.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_endpoint")]
    pub router_eval_endpoint: String,
    #[serde(default)]
    pub acceptance: Acceptance,
    pub decisions: Vec<ProbeGroup>,
}

fn default_endpoint() -> String {
    "/api/v1/eval".into()
}

#[derive(Debug, Deserialize)]
pub struct Acceptance {
    #[serde(default = "hundred")]
    pub min_probe_pass_rate: f64,
    #[serde(default = "hundred")]
    pub min_decision_pass_rate: f64,
}

fn hundred() -> f64 {
    100.0
}

impl Default for Acceptance {
    fn default() -> Self {
        Self {
            min_probe_pass_rate: 100.0,
            min_decision_pass_rate: 100.0,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ProbeGroup {
    pub id: String,
    pub expected_decision: String,
    #[serde(default)]
    pub expected_alias: Option<String>,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Deserialize)]
pub struct Variant {
    pub id: String,
    pub query: String,
}

/// One probe's outcome.
#[derive(Debug, Serialize)]
pub struct ProbeOutcome {
    pub group: String,
    pub variant: String,
    pub expected_decision: String,
    pub expected_alias: Option<String>,
    pub decision: Option<String>,
    pub alias: Option<String>,
    pub passed: bool,
    #[serde(skip)]
    pub response: Option<EvalResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    manifest: &'a str,
    probes: usize,
    probes_passed: usize,
    probe_pass_rate: f64,
    decisions: usize,
    decisions_passed: usize,
    decision_pass_rate: f64,
    accepted: bool,
    outcomes: &'a [ProbeOutcome],
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.probes)
        .with_context(|| format!("reading {}", args.probes.display()))?;
    let manifest: Manifest = serde_yaml::from_str(&text)
        .with_context(|| format!("{}: not a probe manifest", args.probes.display()))?;

    let engine = match (&args.url, &args.config) {
        (None, None) => bail!("give --config for in-process probes, or --url of a running router"),
        (None, Some(path)) => match super::eval::load_router(path) {
            Ok(e) => Some(e),
            Err(code) => return Ok(code),
        },
        _ => None,
    };
    let total: usize = manifest.decisions.iter().map(|d| d.variants.len()).sum();
    let progress = std::io::stdout().is_terminal() && !args.json;

    let mut outcomes = Vec::with_capacity(total);
    for group in &manifest.decisions {
        for v in &group.variants {
            if progress {
                eprint!(
                    "\r\x1b[2K[{}/{total}] {}/{}",
                    outcomes.len() + 1,
                    group.id,
                    v.id
                );
                let _ = std::io::stderr().flush();
            }
            let response = match (&engine, &args.url) {
                (Some(e), _) => Ok(EvalResponse::from_result(
                    &v.query,
                    &e.route(
                        &vsr_signals::RequestView::from_text(v.query.as_str()),
                        EvalMode::All,
                    ),
                    true,
                )),
                (None, Some(url)) => post_eval(url, &manifest.router_eval_endpoint, &v.query),
                (None, None) => unreachable_mode(),
            };
            outcomes.push(outcome(group, v, response));
        }
    }
    if progress {
        eprint!("\r\x1b[2K");
    }

    let probes_passed = outcomes.iter().filter(|o| o.passed).count();
    let groups = manifest.decisions.len();
    let groups_passed = manifest
        .decisions
        .iter()
        .filter(|g| {
            outcomes
                .iter()
                .filter(|o| o.group == g.id)
                .all(|o| o.passed)
        })
        .count();
    let rate = |n: usize, d: usize| {
        if d == 0 {
            100.0
        } else {
            100.0 * n as f64 / d as f64
        }
    };
    let probe_rate = rate(probes_passed, total);
    let decision_rate = rate(groups_passed, groups);
    let accepted = probe_rate >= manifest.acceptance.min_probe_pass_rate
        && decision_rate >= manifest.acceptance.min_decision_pass_rate;

    if args.json {
        let summary = Summary {
            manifest: &manifest.name,
            probes: total,
            probes_passed,
            probe_pass_rate: probe_rate,
            decisions: groups,
            decisions_passed: groups_passed,
            decision_pass_rate: decision_rate,
            accepted,
            outcomes: &outcomes,
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_report(&manifest, &outcomes);
        println!(
            "\nprobes    {probes_passed}/{total} passed ({probe_rate:.1}%, need {:.1}%)",
            manifest.acceptance.min_probe_pass_rate
        );
        println!(
            "decisions {groups_passed}/{groups} passed ({decision_rate:.1}%, need {:.1}%)",
            manifest.acceptance.min_decision_pass_rate
        );
        println!(
            "{}",
            if accepted {
                "ACCEPTED"
            } else {
                "BELOW ACCEPTANCE"
            }
        );
    }
    Ok(if accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn unreachable_mode() -> anyhow::Result<EvalResponse> {
    bail!("no engine and no URL")
}

fn outcome(
    group: &ProbeGroup,
    v: &Variant,
    response: anyhow::Result<EvalResponse>,
) -> ProbeOutcome {
    let mut o = ProbeOutcome {
        group: group.id.clone(),
        variant: v.id.clone(),
        expected_decision: group.expected_decision.clone(),
        expected_alias: group.expected_alias.clone(),
        decision: None,
        alias: None,
        passed: false,
        response: None,
        error: None,
    };
    match response {
        Ok(r) => {
            o.decision = r.decision().map(str::to_string);
            o.alias = r.alias().map(str::to_string);
            o.passed = o.decision.as_deref() == Some(group.expected_decision.as_str())
                && group
                    .expected_alias
                    .as_deref()
                    .is_none_or(|a| o.alias.as_deref() == Some(a));
            o.response = Some(r);
        }
        Err(e) => o.error = Some(format!("{e:#}")),
    }
    o
}

fn print_report(manifest: &Manifest, outcomes: &[ProbeOutcome]) {
    println!("{:<32} {:>7}  result", "decision", "passed");
    for g in &manifest.decisions {
        let mine: Vec<&ProbeOutcome> = outcomes.iter().filter(|o| o.group == g.id).collect();
        let passed = mine.iter().filter(|o| o.passed).count();
        let mark = if passed == mine.len() { "ok" } else { "FAIL" };
        println!("{:<32} {:>3}/{:<3}  {mark}", g.id, passed, mine.len());
    }
    let failures: Vec<&ProbeOutcome> = outcomes.iter().filter(|o| !o.passed).collect();
    if failures.is_empty() {
        return;
    }
    println!("\nfailures");
    for o in failures {
        let query = manifest
            .decisions
            .iter()
            .flat_map(|g| g.variants.iter())
            .find(|v| v.id == o.variant)
            .map_or("", |v| v.query.as_str());
        println!("\n- {}/{}: {query}", o.group, o.variant);
        println!(
            "  expected {} ({}), got {} ({})",
            o.expected_decision,
            o.expected_alias.as_deref().unwrap_or("-"),
            o.decision.as_deref().unwrap_or("no decision"),
            o.alias.as_deref().unwrap_or("-")
        );
        if let Some(e) = &o.error {
            println!("  error: {e}");
        }
        let Some(r) = &o.response else { continue };
        if let Some(t) = &r.trace {
            println!("  why: {}", t.decisions.reason);
            let matched: Vec<String> = t
                .decisions
                .evaluated
                .iter()
                .filter(|d| d.matched)
                .map(|d| format!("{} (tier {}, {:.3})", d.name, d.tier, d.confidence))
                .collect();
            println!(
                "  matched decisions: {}",
                if matched.is_empty() {
                    "-".into()
                } else {
                    matched.join(", ")
                }
            );
            if let Some(exp) = t
                .decisions
                .evaluated
                .iter()
                .find(|d| *d.name == o.expected_decision)
                && !exp.matched
            {
                let failing: Vec<String> = exp
                    .leaves
                    .iter()
                    .map(|l| format!("{}{}", if l.matched { "+" } else { "-" }, l.signal))
                    .collect();
                println!("  {} leaves: {}", exp.name, failing.join(" "));
            }
            let bands: Vec<String> = t
                .projections
                .mappings
                .iter()
                .map(|m| {
                    format!(
                        "{}={:+.3}→{}",
                        m.source,
                        m.score,
                        m.output.as_deref().unwrap_or("-")
                    )
                })
                .collect();
            println!("  projections: {}", bands.join(", "));
        }
        let signals: Vec<String> = r
            .decision_result
            .matched_signals
            .iter()
            .map(|(fam, names)| format!("{fam}: {}", names.join(", ")))
            .collect();
        println!("  signals: {}", signals.join("; "));
    }
}

/// POSTs `{"text": query}` to `base + endpoint` with a minimal HTTP/1.1 client (plain HTTP).
fn post_eval(base: &str, endpoint: &str, query: &str) -> anyhow::Result<EvalResponse> {
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("--url must start with http:// (got {base})"))?;
    let (authority, prefix) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{}", p.trim_end_matches('/'))),
        None => (rest, String::new()),
    };
    let host = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let path = format!(
        "{}{endpoint}",
        if prefix == "/" { "" } else { prefix.as_str() }
    );
    let body = serde_json::to_vec(&serde_json::json!({ "text": query }))?;

    let mut stream = TcpStream::connect(&host).with_context(|| format!("connecting to {host}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;

    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("malformed HTTP status line: {status_line:?}"))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse().ok();
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut payload = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .context("malformed chunk size")?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            payload.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        payload.resize(n, 0);
        reader.read_exact(&mut payload)?;
    } else {
        reader.read_to_end(&mut payload)?;
    }
    if !(200..300).contains(&status) {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&payload));
    }
    serde_json::from_slice(&payload).context("eval response is not the expected JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_manifest_format() {
        let m: Manifest = serde_yaml::from_str(
            "name: t\nacceptance:\n  min_probe_pass_rate: 90\ndecisions:\n  - id: a\n    expected_decision: a\n    variants:\n      - id: v\n        query: hi\n        tags: [x]\n",
        )
        .expect("parses");
        assert_eq!(m.router_eval_endpoint, "/api/v1/eval");
        assert_eq!(m.acceptance.min_probe_pass_rate, 90.0);
        assert_eq!(m.acceptance.min_decision_pass_rate, 100.0);
        assert_eq!(m.decisions[0].variants[0].query, "hi");
    }

    #[test]
    fn http_client_reads_a_chunked_reply() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            // Read the whole request (headers and body may arrive in separate segments).
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).expect("read");
                data.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&data).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if data.len() >= end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let req = String::from_utf8_lossy(&data).to_string();
            let body = r#"{"original_text":"x","routing_decision":"d","recommended_models":["m"]}"#;
            let reply = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            );
            s.write_all(reply.as_bytes()).expect("write");
            req
        });
        let r = post_eval(&format!("http://{addr}"), "/api/v1/eval", "x").expect("reply");
        assert_eq!((r.decision(), r.alias()), (Some("d"), Some("m")));
        let req = server.join().expect("server");
        assert!(req.starts_with("POST /api/v1/eval HTTP/1.1"), "{req}");
    }
}
