//! A blocking HTTP client for a running router (`eval --endpoint`, `chat`): JSON requests,
//! error bodies in the OpenAI shape turned into one readable line, and chat completions read
//! as an SSE stream so text prints as it arrives.

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// A router at `base` (`http://host:port`, no trailing slash needed).
pub struct Router {
    base: String,
    agent: ureq::Agent,
    api_key: Option<String>,
}

/// What a chat turn returned besides its text.
#[derive(Debug, Default)]
pub struct Turn {
    pub text: String,
    /// `x-vsr-selected-*` response headers (decision, model, reasoning, ...).
    pub routing: Vec<(String, String)>,
}

impl Router {
    pub fn new(base: &str, timeout: Duration, api_key: Option<String>) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--endpoint must be an http:// or https:// URL, got `{base}`");
        }
        let config = ureq::Agent::config_builder()
            .tls_config(vsr_models::pypi::system_tls())
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        Ok(Router {
            base,
            agent: config.into(),
            api_key,
        })
    }

    fn post(&self, path: &str, body: &Value) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .agent
            .post(&url)
            .header("content-type", "application/json");
        if let Some(k) = &self.api_key {
            req = req.header("authorization", &format!("Bearer {k}"));
        }
        req.send(body.to_string())
            .with_context(|| format!("POST {url}"))
    }

    /// `POST /api/v1/eval`: the decision for `text` (and `model`, which selects a recipe).
    pub fn eval(&self, text: &str, model: Option<&str>) -> anyhow::Result<Value> {
        let mut body = serde_json::json!({ "text": text });
        if let Some(m) = model {
            body["model"] = Value::from(m);
        }
        let mut resp = self.post("/api/v1/eval", &body)?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .read_to_string()
            .context("reading the eval answer")?;
        if !status.is_success() {
            bail!("eval answered {status}: {}", error_message(&text));
        }
        serde_json::from_str(&text).context("the eval answer is not JSON")
    }

    /// `POST /v1/chat/completions` with `stream: true`; each content delta is passed to `out`
    /// as it arrives.
    pub fn chat(
        &self,
        model: &str,
        messages: &[Value],
        out: &mut dyn Write,
    ) -> anyhow::Result<Turn> {
        let body = serde_json::json!({ "model": model, "messages": messages, "stream": true });
        let resp = self.post("/v1/chat/completions", &body)?;
        let status = resp.status();
        let routing: Vec<(String, String)> = resp
            .headers()
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("x-vsr-selected-"))
            .map(|(k, v)| {
                (
                    k.as_str().trim_start_matches("x-vsr-selected-").to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let is_sse = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut body = resp.into_body();
        if !status.is_success() {
            let text = body.read_to_string().unwrap_or_default();
            bail!("chat answered {status}: {}", error_message(&text));
        }
        let mut turn = Turn {
            routing,
            ..Turn::default()
        };
        if !is_sse {
            // A synthetic answer (fast response, cache) may come back as one JSON body.
            let text = body.read_to_string().context("reading the chat answer")?;
            let v: Value = serde_json::from_str(&text).context("the chat answer is not JSON")?;
            let content = v
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .unwrap_or_default();
            out.write_all(content.as_bytes())?;
            turn.text = content.to_string();
            return Ok(turn);
        }
        let reader = BufReader::new(body.into_reader());
        for line in reader.lines() {
            let line = line.context("reading the event stream")?;
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" {
                break;
            }
            let Ok(chunk) = serde_json::from_str::<Value>(data) else {
                continue;
            };
            if let Some(err) = chunk.get("error") {
                bail!("the stream ended with an error: {err}");
            }
            if let Some(delta) = chunk
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
            {
                out.write_all(delta.as_bytes())?;
                out.flush()?;
                turn.text.push_str(delta);
            }
        }
        Ok(turn)
    }
}

/// `--api-key`, else `$VSR_API_KEY` (unset or empty: none).
pub fn api_key(flag: Option<String>) -> Option<String> {
    flag.or_else(|| std::env::var("VSR_API_KEY").ok())
        .filter(|k| !k.is_empty())
}

/// The `error.message` of an OpenAI-shaped error body, else the body itself (shortened).
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.chars().take(300).collect())
}
