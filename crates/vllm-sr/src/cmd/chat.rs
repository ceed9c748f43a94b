//! `vllm-sr chat --endpoint URL`: talk to a running router. With a prompt argument it sends
//! one turn; without one it reads turns from stdin, one per line, keeping the conversation.
//! Answers stream to stdout as they arrive; the routing headers go to stderr.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct Args {
    /// Base URL of the router's OpenAI listener (e.g. http://127.0.0.1:8899).
    #[arg(long)]
    endpoint: String,
    /// Request model: an auto name routes (default MoM), an alias is sent as it is.
    #[arg(long, default_value = "MoM")]
    model: String,
    /// A system message put before the conversation.
    #[arg(long)]
    system: Option<String>,
    /// Bearer token (default: $VSR_API_KEY).
    #[arg(long)]
    api_key: Option<String>,
    /// Seconds one answer may take.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Do not print the routing headers (decision, model, reasoning) after each answer.
    #[arg(long)]
    quiet: bool,
    /// One prompt; without it, read prompts from stdin (`/exit` or end of input stops,
    /// `/reset` forgets the conversation).
    prompt: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let router = super::remote::Router::new(
        &args.endpoint,
        Duration::from_secs(args.timeout),
        super::remote::api_key(args.api_key.clone()),
    )?;
    let mut messages: Vec<Value> = Vec::new();
    let system = || {
        args.system
            .as_ref()
            .map(|s| json!({"role": "system", "content": s}))
    };
    messages.extend(system());
    if let Some(prompt) = &args.prompt {
        if prompt.trim().is_empty() {
            eprintln!("error: the prompt is empty");
            return Ok(ExitCode::from(2));
        }
        messages.push(json!({"role": "user", "content": prompt}));
        turn(&router, &args, &messages)?;
        return Ok(ExitCode::SUCCESS);
    }
    let interactive = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            eprint!("> ");
            std::io::stderr().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        let line = line.trim();
        match line {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                messages.clear();
                messages.extend(system());
                continue;
            }
            _ => {}
        }
        messages.push(json!({"role": "user", "content": line}));
        match turn(&router, &args, &messages) {
            Ok(text) => messages.push(json!({"role": "assistant", "content": text})),
            Err(e) => {
                // The failed turn is dropped, so the conversation stays answerable.
                messages.pop();
                eprintln!("error: {e:#}");
                if !interactive {
                    return Ok(ExitCode::from(1));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends the conversation, streams the answer to stdout and returns its text.
fn turn(router: &super::remote::Router, args: &Args, messages: &[Value]) -> anyhow::Result<String> {
    let mut stdout = std::io::stdout().lock();
    let t = router.chat(&args.model, messages, &mut stdout)?;
    writeln!(stdout)?;
    stdout.flush()?;
    if !args.quiet && !t.routing.is_empty() {
        let parts: Vec<String> = t.routing.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("[{}]", parts.join(" "));
    }
    Ok(t.text)
}
