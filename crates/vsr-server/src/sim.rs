//! `vllm-sr sim-backend`: an OpenAI-compatible stand-in for vLLM. It answers `/v1/models` and
//! chat completions (streaming and not, with usage), echoes what it received, and injects
//! latency and faults by option or per request header:
//! `x-sim-latency-ms`, `x-sim-status` (answer with that error status), `x-sim-reset: 1`
//! (close the connection without answering), `x-sim-cut-after: N` (abort the stream after N
//! content chunks), `x-sim-words`, `x-sim-chunk-delay-ms`. Fault modes ([`Fault`], the
//! `--fault` option) apply to every request or to one model's. With `tls` it serves HTTPS.
//!
//! Tools: a request with `tools` whose last message is the user's calls one tool (see
//! [`tool_call_for`]) instead of answering in words; a request whose last message is a tool
//! result answers with that result's text. `POST /v1/messages` speaks the Anthropic Messages
//! API (the same answers, translated by [`crate::messages`]) for `api_format: anthropic` tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::body::{BoxError, RespBody, json_response};
use crate::record::Usage;
use crate::util::{hex_id, unix_now};

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub models: Vec<String>,
    pub latency: Duration,
    /// Fraction of chat requests answered with `error_status`.
    pub error_rate: f64,
    pub error_status: u16,
    /// Fraction of chat requests whose connection is dropped before any answer.
    pub reset_rate: f64,
    /// Fraction of streams cut after the first content chunk.
    pub cut_rate: f64,
    /// Words per answer unless `max_tokens` asks for fewer.
    pub words: usize,
    pub chunk_delay: Duration,
    /// Cut every stream after this many content chunks (0: before any byte); the
    /// `x-sim-cut-after` header overrides it.
    pub cut_after: Option<u64>,
    /// Injected failures (`--fault`).
    pub faults: Vec<Fault>,
    /// Serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<SimTls>,
    /// Fixed answer texts by model id (`--reply MODEL=TEXT`): a scripted planner or judge.
    pub replies: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct SimTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One injected failure, for every model or only `model` (`KIND[:ARG][@MODEL]`).
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: FaultKind,
    pub model: Option<String>,
    /// Requests this fault has seen (bursts count down with it).
    seen: Arc<AtomicU64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// `refuse`: nothing listens (connections are refused); the whole server.
    Refuse,
    /// `NNN-burst:N`: the first N chat requests get status NNN (e.g. `503-burst:3`).
    Burst { status: u16, count: u64 },
    /// `slow-first-byte:MS`: the first byte (a stream's first chunk, else the answer) waits.
    SlowFirstByte(Duration),
    /// `cut-mid-stream:N`: the answer dies after N content chunks (JSON: half way).
    CutMidStream(u64),
    /// `reset`: the connection closes without an answer.
    Reset,
    /// `malformed`: a 200 whose body is not valid JSON (or SSE data that is not).
    Malformed,
    /// `slow-stream:MS`: this long between streamed chunks.
    SlowStream(Duration),
    /// `oversized:BYTES`: an answer whose content is at least BYTES long (words of 1,000 bytes).
    Oversized(u64),
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(spec: &str) -> Result<Self, String> {
        let (kind, model) = match spec.split_once('@') {
            Some((k, m)) if !m.is_empty() => (k, Some(m.to_string())),
            Some(_) => return Err(format!("fault `{spec}`: empty model after `@`")),
            None => (spec, None),
        };
        let (name, arg) = match kind.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (kind.trim(), None),
        };
        let num = |what: &str| -> Result<u64, String> {
            arg.ok_or_else(|| format!("fault `{spec}`: `{name}` needs `:{what}`"))?
                .parse()
                .map_err(|_| format!("fault `{spec}`: `{what}` must be a whole number"))
        };
        let kind = match name {
            "refuse" => FaultKind::Refuse,
            "reset" => FaultKind::Reset,
            "malformed" => FaultKind::Malformed,
            "slow-first-byte" => FaultKind::SlowFirstByte(Duration::from_millis(num("MS")?)),
            "slow-stream" => FaultKind::SlowStream(Duration::from_millis(num("MS")?)),
            "cut-mid-stream" => FaultKind::CutMidStream(num("N")?),
            "oversized" => FaultKind::Oversized(num("BYTES")?),
            n => match n.strip_suffix("-burst").map(str::parse::<u16>) {
                Some(Ok(status @ 100..=599)) => FaultKind::Burst {
                    status,
                    count: num("N")?,
                },
                _ => {
                    return Err(format!(
                        "unknown fault `{spec}`: expected refuse, reset, malformed, NNN-burst:N, slow-first-byte:MS, cut-mid-stream:N, slow-stream:MS or oversized:BYTES, optionally @MODEL"
                    ));
                }
            },
        };
        if kind == FaultKind::Refuse && model.is_some() {
            return Err(format!(
                "fault `{spec}`: refuse applies to the whole server (run one sim per model)"
            ));
        }
        Ok(Fault {
            kind,
            model,
            seen: Arc::new(AtomicU64::new(0)),
        })
    }
}

impl Fault {
    fn applies_to(&self, model: &str) -> bool {
        self.model.as_deref().is_none_or(|m| m == model)
    }
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            models: vec!["sim-model".into()],
            latency: Duration::ZERO,
            error_rate: 0.0,
            error_status: 500,
            reset_rate: 0.0,
            cut_rate: 0.0,
            words: 12,
            chunk_delay: Duration::ZERO,
            cut_after: None,
            faults: Vec::new(),
            tls: None,
            replies: Vec::new(),
        }
    }
}

/// Request counters, readable by tests (and over HTTP at `GET /sim/stats`).
#[derive(Debug, Default)]
pub struct SimStats {
    pub chat_requests: AtomicU64,
    pub health_checks: AtomicU64,
    /// Streams that ended because the reader went away (client or proxy disconnect).
    pub streams_cancelled: AtomicU64,
    pub streams_completed: AtomicU64,
    /// The `x-api-key` header of the last chat request (a provider credential test checks it
    /// arrived; the answer never echoes it).
    pub last_api_key: std::sync::Mutex<Option<String>>,
}

pub struct SimServer {
    pub addr: SocketAddr,
    pub stats: Arc<SimStats>,
    task: tokio::task::JoinHandle<()>,
}

impl SimServer {
    pub fn shutdown(&self) {
        self.task.abort();
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(addr: SocketAddr, opts: SimOptions) -> std::io::Result<SimServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(SimStats::default());
    let acceptor = opts.tls.as_ref().map(tls_acceptor).transpose()?;
    if opts.faults.iter().any(|f| f.kind == FaultKind::Refuse) {
        // The port was bound (and is reported); nothing listens on it any more.
        drop(listener);
        let task = tokio::spawn(async {});
        return Ok(SimServer { addr, stats, task });
    }
    let opts = Arc::new(opts);
    let st = Arc::clone(&stats);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (opts, st) = (Arc::clone(&opts), Arc::clone(&st));
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    Some(a) => {
                        if let Ok(tls) = a.accept(stream).await {
                            serve_conn(tls, opts, st).await;
                        }
                    }
                    None => serve_conn(stream, opts, st).await,
                }
            });
        }
    });
    Ok(SimServer { addr, stats, task })
}

async fn serve_conn<I>(io: I, opts: Arc<SimOptions>, st: Arc<SimStats>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc =
        hyper::service::service_fn(move |req| handle(req, Arc::clone(&opts), Arc::clone(&st)));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
        .await;
}

fn tls_acceptor(tls: &SimTls) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let certs = vsr_tls::read_certs(&tls.cert).map_err(|e| bad("--tls-cert", &e))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| bad(&format!("--tls-key {}", tls.key.display()), &e))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad("TLS", &e))?
    .with_no_client_auth()
    .with_single_cert(
        certs.into_iter().map(CertificateDer::into_owned).collect(),
        key,
    )
    .map_err(|e| bad("--tls-cert/--tls-key", &e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

fn header_num(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn sim_error(status: u16, msg: &str) -> Response<RespBody> {
    let s = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(
        s,
        &json!({"error": {"message": msg, "type": "sim_error", "code": status}}),
    )
}

async fn handle(
    req: Request<Incoming>,
    opts: Arc<SimOptions>,
    stats: Arc<SimStats>,
) -> Result<Response<RespBody>, BoxError> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    match (req.method().as_str(), path.as_str()) {
        ("GET", "/health") => {
            stats.health_checks.fetch_add(1, Ordering::Relaxed);
            Ok(json_response(StatusCode::OK, &json!({"status": "ok"})))
        }
        ("GET", "/v1/models") => {
            let data: Vec<Value> = opts.models.iter()
                .map(|m| json!({"id": m, "object": "model", "created": unix_now(), "owned_by": "vllm-sr-sim"}))
                .collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({"object": "list", "data": data}),
            ))
        }
        ("GET", "/sim/stats") => Ok(json_response(
            StatusCode::OK,
            &json!({
                "chat_requests": stats.chat_requests.load(Ordering::Relaxed),
                "health_checks": stats.health_checks.load(Ordering::Relaxed),
                "streams_cancelled": stats.streams_cancelled.load(Ordering::Relaxed),
                "streams_completed": stats.streams_completed.load(Ordering::Relaxed),
                "last_api_key": stats.last_api_key.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            }),
        )),
        ("POST", "/v1/chat/completions") => {
            stats.chat_requests.fetch_add(1, Ordering::Relaxed);
            chat(req, &opts, stats, Api::Chat).await
        }
        ("POST", "/v1/messages") => {
            stats.chat_requests.fetch_add(1, Ordering::Relaxed);
            let resp = chat(req, &opts, stats, Api::Messages).await?;
            Ok(as_anthropic(resp).await)
        }
        _ => Ok(sim_error(404, "not found")),
    }
}

/// The API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Chat,
    Messages,
}

/// A chat answer of the sim's `/v1/messages` → Anthropic's shape (message, events, error).
async fn as_anthropic(resp: Response<RespBody>) -> Response<RespBody> {
    let (mut head, body) = resp.into_parts();
    head.headers.remove(header::CONTENT_LENGTH);
    let sse = head
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if sse {
        let out = crate::messages::MessagesStream::new(body);
        return Response::from_parts(head, BodyExt::boxed_unsync(out));
    }
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let chat: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let out = if head.status.is_success() {
        let mut m = crate::messages::chat_to_message(&chat).unwrap_or_else(
            |e| json!({"type": "error", "error": {"type": "api_error", "message": e.to_string()}}),
        );
        if let Some(req) = chat.get("sim_request") {
            m["sim_request"] = req.clone();
            m["sim_headers"] = chat["sim_headers"].clone();
        }
        m
    } else {
        let message = chat
            .pointer("/error/message")
            .and_then(|m| m.as_str())
            .unwrap_or("sim error");
        json!({"type": "error", "error": {"type": crate::messages::error_type(head.status), "message": message}})
    };
    Response::from_parts(
        head,
        crate::body::full(serde_json::to_vec(&out).unwrap_or_default()),
    )
}

async fn chat(
    req: Request<Incoming>,
    opts: &SimOptions,
    stats: Arc<SimStats>,
    api: Api,
) -> Result<Response<RespBody>, BoxError> {
    let h = req.headers().clone();
    *stats.last_api_key.lock().unwrap_or_else(|p| p.into_inner()) = h
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Echo the headers a proxy is expected to set or forward.
    let mut echoed = serde_json::Map::new();
    for name in [
        "authorization",
        "x-selected-model",
        "x-vsr-destination-endpoint",
        "x-request-id",
        "x-custom",
        "x-api-key",
        "anthropic-version",
    ] {
        // The Anthropic endpoint shows which key arrived; the chat endpoint never echoes
        // `x-api-key` (tests check that a provider key stays out of answers: `/sim/stats`).
        if name == "x-api-key" && !matches!(api, Api::Messages) {
            continue;
        }
        if let Some(v) = h.get(name).and_then(|v| v.to_str().ok()) {
            echoed.insert(name.into(), Value::String(v.into()));
        }
    }
    let body = req.into_body().collect().await?.to_bytes();
    let latency = header_num(&h, "x-sim-latency-ms")
        .map(Duration::from_millis)
        .unwrap_or(opts.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if h.get("x-sim-reset").is_some()
        || (opts.reset_rate > 0.0 && fastrand::f64() < opts.reset_rate)
    {
        // Returning an error makes hyper drop the connection without a response.
        return Err("simulated connection reset".into());
    }
    if let Some(s) = header_num(&h, "x-sim-status") {
        return Ok(sim_error(s as u16, "simulated failure"));
    }
    if opts.error_rate > 0.0 && fastrand::f64() < opts.error_rate {
        return Ok(sim_error(opts.error_status, "simulated failure"));
    }
    let Ok(received) = serde_json::from_slice::<Value>(&body) else {
        return Ok(sim_error(400, "malformed JSON body"));
    };
    // The request as chat; `received` (echoed back) is what came over the wire.
    let v = match api {
        Api::Chat => received.clone(),
        Api::Messages => match crate::messages::from_anthropic(&received) {
            Ok(r) => r.to_chat_body(),
            Err(e) => return Ok(sim_error(400, &e.to_string())),
        },
    };
    let model = v
        .get("model")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_string();
    if !opts.models.is_empty() && !opts.models.contains(&model) {
        return Ok(sim_error(
            404,
            &format!("The model `{model}` does not exist."),
        ));
    }
    let mut first_byte_delay = Duration::ZERO;
    let mut fault_cut = None;
    let mut fault_delay = None;
    let mut malformed = false;
    let mut oversized = None;
    for f in opts.faults.iter().filter(|f| f.applies_to(&model)) {
        let n = f.seen.fetch_add(1, Ordering::Relaxed);
        match f.kind {
            FaultKind::Burst { status, count } if n < count => {
                return Ok(sim_error(status, "simulated failure burst"));
            }
            FaultKind::Reset => return Err("simulated connection reset".into()),
            FaultKind::SlowFirstByte(d) => first_byte_delay = d,
            FaultKind::CutMidStream(k) => fault_cut = Some(k),
            FaultKind::SlowStream(d) => fault_delay = Some(d),
            FaultKind::Malformed => malformed = true,
            FaultKind::Oversized(b) => oversized = Some(b),
            FaultKind::Burst { .. } | FaultKind::Refuse => {}
        }
    }
    let max = v
        .get("max_tokens")
        .or_else(|| v.get("max_completion_tokens"))
        .and_then(|m| m.as_u64());
    let mut words = header_num(&h, "x-sim-words")
        .map(|w| w as usize)
        .unwrap_or(opts.words);
    if let Some(m) = max {
        words = words.min(m as usize);
    }
    let call = tool_call_for(&v);
    let text = match (tool_result_text(&v), oversized) {
        (_, Some(bytes)) => {
            let word = "x".repeat(999);
            let n = (bytes as usize + 1).div_ceil(1000).max(1);
            vec![word; n].join(" ")
        }
        (Some(result), None) => format!("[{model}] the tool said: {result}"),
        (None, None) => match opts.replies.iter().find(|(m, _)| *m == model) {
            Some((_, text)) => text.clone(),
            None => answer_text(&model, words),
        },
    };
    let words = if call.is_some() {
        1
    } else if text.is_empty() {
        0
    } else {
        text.split(' ').count()
    };
    let prompt_tokens = v
        .get("messages")
        .map(|m| m.to_string().len() as u64 / 4)
        .unwrap_or(0)
        .max(1);
    let usage = Usage {
        prompt_tokens,
        completion_tokens: words as u64,
        cached_tokens: None,
        cache_write_tokens: None,
    };
    let id = format!("chatcmpl-sim-{}", hex_id());
    let streaming = v.get("stream") == Some(&Value::Bool(true));
    if !streaming {
        // A zero sleep still waits for the timer's next tick (about 1 ms): skip it.
        if !first_byte_delay.is_zero() {
            tokio::time::sleep(first_byte_delay).await;
        }
        let mut c = completion_json(&id, &model, &text, usage);
        if let Some((name, args)) = &call {
            c["choices"][0]["message"] = json!({"role": "assistant", "content": null,
                "tool_calls": [{"id": format!("call_{id}"), "type": "function",
                                "function": {"name": name, "arguments": args}}]});
            c["choices"][0]["finish_reason"] = json!("tool_calls");
        }
        if let Some(o) = c.as_object_mut() {
            o.insert("sim_request".into(), received);
            o.insert("sim_headers".into(), Value::Object(echoed));
        }
        if malformed || fault_cut.is_some() {
            let bytes = serde_json::to_vec(&c).unwrap_or_default();
            let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(2);
            let _ = tx.try_send(Ok(Frame::data(half)));
            if fault_cut.is_some() {
                let _ = tx.try_send(Err("simulated mid-body cut".into()));
            }
            let mut resp = Response::new(BodyExt::boxed_unsync(RecvBody(rx)));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return Ok(resp);
        }
        let mut resp = json_response(StatusCode::OK, &c);
        resp.headers_mut()
            .insert("x-sim-model", header_value(&model));
        return Ok(resp);
    }
    // Anthropic's API always reports usage in a stream.
    let include_usage = api == Api::Messages
        || v.pointer("/stream_options/include_usage") == Some(&Value::Bool(true));
    let cut_after = header_num(&h, "x-sim-cut-after")
        .or(fault_cut)
        .or(opts.cut_after)
        .or_else(|| (opts.cut_rate > 0.0 && fastrand::f64() < opts.cut_rate).then_some(1));
    let delay = header_num(&h, "x-sim-chunk-delay-ms")
        .map(Duration::from_millis)
        .or(fault_delay)
        .unwrap_or(opts.chunk_delay);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
    let created = unix_now();
    tokio::spawn(async move {
        let send = |b: Vec<u8>| Ok(Frame::data(Bytes::from(b)));
        // A zero sleep still waits for the timer's next tick (about 1 ms): skip it.
        if !first_byte_delay.is_zero() {
            tokio::time::sleep(first_byte_delay).await;
        }
        if malformed {
            let _ = tx
                .send(send(
                    b"data: {\"id\": \"broken\", \"choices\": [\n\ndata: [DONE]\n\n".to_vec(),
                ))
                .await;
            return;
        }
        if cut_after == Some(0) {
            // Headers go out first (the body is pending), then the stream dies.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(Err("simulated refused stream".into())).await;
            return;
        }
        let first = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}],
            "sim_request": received, "sim_headers": Value::Object(echoed)});
        if tx.send(send(sse(&first))).await.is_err() {
            stats.streams_cancelled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut finish = "stop";
        if let Some((name, args)) = &call {
            // The call's name first, then its arguments in two pieces, as servers stream them.
            finish = "tool_calls";
            let cut = args
                .char_indices()
                .nth(args.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            let (a, b) = args.split_at(cut);
            let head = json!({"tool_calls": [{"index": 0, "id": format!("call_{id}"), "type": "function",
                                              "function": {"name": name, "arguments": ""}}]});
            for delta in [
                head,
                json!({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": b}}]}),
            ] {
                let c = chunk(&id, created, &model, delta, Value::Null);
                if tx.send(send(sse(&c))).await.is_err() {
                    stats.streams_cancelled.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        let pieces: Vec<&str> = if call.is_some() || text.is_empty() {
            Vec::new()
        } else {
            text.split(' ').collect()
        };
        for (i, w) in pieces.into_iter().enumerate() {
            if cut_after.is_some_and(|n| i as u64 >= n) {
                let _ = tx.send(Err("simulated mid-stream cut".into())).await;
                return;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let piece = if i == 0 {
                w.to_string()
            } else {
                format!(" {w}")
            };
            let c = chunk(&id, created, &model, json!({"content": piece}), Value::Null);
            if tx.send(send(sse(&c))).await.is_err() {
                stats.streams_cancelled.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut tail = sse(&chunk(&id, created, &model, json!({}), json!(finish)));
        if include_usage {
            let mut u = chunk(&id, created, &model, json!({}), Value::Null);
            u["choices"] = json!([]);
            u["usage"] = usage_json(usage);
            tail.extend(sse(&u));
        }
        tail.extend_from_slice(b"data: [DONE]\n\n");
        if tx.send(send(tail)).await.is_ok() {
            stats.streams_completed.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.streams_cancelled.fetch_add(1, Ordering::Relaxed);
        }
    });
    let mut resp = Response::new(BodyExt::boxed_unsync(RecvBody(rx)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    Ok(resp)
}

/// The sim's tool rule: with `tools` offered, `tool_choice` not `none` and the user speaking
/// last, it calls the named tool (`tool_choice` naming one), the first tool (`required`), or
/// else the first tool whose name the user's last message mentions. The arguments fill the
/// schema's required properties (all of them when none is required) with a fixed value per
/// JSON type. Returns the tool's name and the arguments as JSON text.
pub fn tool_call_for(chat: &Value) -> Option<(String, String)> {
    let tools = chat.get("tools")?.as_array()?;
    let last = chat.get("messages")?.as_array()?.last()?;
    if last.get("role").and_then(|r| r.as_str()) != Some("user") {
        return None;
    }
    fn name_of(t: &Value) -> Option<&str> {
        t.pointer("/function/name").and_then(|n| n.as_str())
    }
    let tool = match chat.get("tool_choice") {
        Some(Value::String(c)) if c == "none" => return None,
        Some(Value::String(c)) if c == "required" => tools.first()?,
        Some(Value::Object(c)) => {
            let wanted = c.get("function")?.get("name")?.as_str()?;
            tools.iter().find(|t| name_of(t) == Some(wanted))?
        }
        _ => {
            let said = user_text(last).to_lowercase();
            tools
                .iter()
                .find(|t| name_of(t).is_some_and(|n| said.contains(&n.to_lowercase())))?
        }
    };
    let name = name_of(tool)?.to_string();
    let params = tool.pointer("/function/parameters");
    let props = params
        .and_then(|p| p.get("properties"))
        .and_then(|p| p.as_object());
    let required: Vec<&str> = params
        .and_then(|p| p.get("required"))
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    let mut args = serde_json::Map::new();
    for (k, schema) in props.into_iter().flatten() {
        if !required.is_empty() && !required.contains(&k.as_str()) {
            continue;
        }
        let value = match schema.get("type").and_then(|t| t.as_str()) {
            Some("string") => json!("sim"),
            Some("integer" | "number") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => Value::Null,
        };
        args.insert(k.clone(), value);
    }
    Some((name, Value::Object(args).to_string()))
}

/// The text of a chat message's `content` (a string, or its text parts joined).
fn user_text(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The last message's text when it is a tool result.
fn tool_result_text(chat: &Value) -> Option<String> {
    let last = chat.get("messages")?.as_array()?.last()?;
    (last.get("role").and_then(|r| r.as_str()) == Some("tool")).then(|| user_text(last))
}

fn header_value(s: &str) -> http::HeaderValue {
    http::HeaderValue::from_str(s).unwrap_or(http::HeaderValue::from_static(""))
}

/// A response body fed by a channel (the sim's stream writer task).
pub struct RecvBody(tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, BoxError>>);

impl http_body::Body for RecvBody {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx)
    }
}

fn answer_text(model: &str, words: usize) -> String {
    const VOCAB: [&str; 8] = [
        "simulated",
        "answer",
        "from",
        "the",
        "vllm-sr",
        "sim",
        "backend",
        "ok",
    ];
    let mut out: Vec<String> = Vec::with_capacity(words);
    if words > 0 {
        out.push(format!("[{model}]"));
    }
    for i in 1..words {
        out.push(VOCAB[i % VOCAB.len()].to_string());
    }
    out.join(" ")
}

pub(crate) fn sse(v: &Value) -> Vec<u8> {
    let mut out = b"data: ".to_vec();
    out.extend(serde_json::to_vec(v).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
    out
}

pub(crate) fn chunk(id: &str, created: u64, model: &str, delta: Value, finish: Value) -> Value {
    json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

/// A non-streaming chat completion object.
/// OpenAI's `usage` object (with `total_tokens`).
fn usage_json(u: Usage) -> Value {
    json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
           "total_tokens": u.total()})
}

pub fn completion_json(id: &str, model: &str, text: &str, usage: Usage) -> Value {
    json!({"id": id, "object": "chat.completion", "created": unix_now(), "model": model,
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
           "usage": usage_json(usage)})
}

/// Word-by-word SSE for a synthetic answer: role chunk, word chunks, finish chunk, `[DONE]`.
pub fn sse_for_text(id: &str, model: &str, text: &str) -> Vec<u8> {
    let created = unix_now();
    let mut out = sse(&chunk(
        id,
        created,
        model,
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ));
    for (i, w) in text.split(' ').enumerate() {
        let piece = if i == 0 {
            w.to_string()
        } else {
            format!(" {w}")
        };
        out.extend(sse(&chunk(
            id,
            created,
            model,
            json!({"content": piece}),
            Value::Null,
        )));
    }
    out.extend(sse(&chunk(id, created, model, json!({}), json!("stop"))));
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}
