//! Listener loop and request dispatch: the OpenAI data plane on raw hyper, everything else
//! handed to the axum management router ([`crate::management`]), on every configured listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::body::{RespBody, json_response};
use crate::error::ApiError;
use crate::proxy::{self, Flavor};
use crate::record::RecordSink;
use crate::state::{ConfigLoader, Runtime, Shared};
use crate::util::unix_now;
use crate::{messages, responses};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("config: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("config has no listeners and no --port was given")]
    NoListeners,
}

pub struct ServeOptions {
    pub config_path: PathBuf,
    pub loader: Arc<dyn ConfigLoader>,
    /// Listen here instead of the config's listeners (tests and `--port`).
    pub listen_override: Option<SocketAddr>,
    /// Overrides `global.router.max_body_bytes`.
    pub max_body_bytes: Option<usize>,
    /// Classification requests allowed to wait for a worker before answering 429.
    pub classifier_queue: usize,
    /// Poll the config file's mtime/size this often (`None`: no watching).
    pub watch_interval: Option<Duration>,
    pub record_sink: Option<Arc<dyn RecordSink>>,
    /// Extra endpoint families (the replay API, the dashboard backend), merged into the
    /// management router; a path claimed twice panics at start-up (axum's rule).
    pub routes: axum::Router,
    /// Checks credentials on `POST /config/reload` and the replay API (the dashboard's users).
    pub management_auth: Option<Arc<dyn crate::management::ManagementAuth>>,
    /// The PostgreSQL database replicas share (URL, schema): session state lives there unless
    /// the config says otherwise.
    pub shared_db: Option<(String, Option<String>)>,
    /// Header count and size, JSON depth, messages count, stream duration.
    pub limits: crate::limits::Limits,
}

impl ServeOptions {
    pub fn new(config_path: impl Into<PathBuf>, loader: Arc<dyn ConfigLoader>) -> Self {
        Self {
            config_path: config_path.into(),
            loader,
            listen_override: None,
            max_body_bytes: None,
            classifier_queue: 1024,
            watch_interval: Some(Duration::from_millis(500)),
            record_sink: None,
            routes: axum::Router::new(),
            management_auth: None,
            shared_db: None,
            limits: crate::limits::Limits::default(),
        }
    }
}

/// A started router. Dropping it stops the listeners and the watcher.
pub struct RunningServer {
    pub addrs: Vec<SocketAddr>,
    pub shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    pub fn shutdown(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
    /// Waits until the listeners stop (never, unless shut down).
    pub async fn wait(mut self) {
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Loads the config, binds every listener and starts serving.
pub async fn serve(opts: ServeOptions) -> Result<RunningServer, ServerError> {
    let loader = Arc::clone(&opts.loader);
    let path = opts.config_path.clone();
    let loaded = tokio::task::spawn_blocking(move || loader.load(&path))
        .await
        .map_err(|e| ServerError::Config(e.to_string()))?
        .map_err(ServerError::Config)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let clients = crate::upstream::client::Clients::new(Duration::from_secs(5))
        .map_err(|e| ServerError::Config(e.to_string()))?;
    let runtime = Runtime::build(loaded, &clients, 1, opts.max_body_bytes);
    let runtime_cache_store = runtime.settings.cache.store.clone();
    let mut addrs: Vec<String> = match opts.listen_override {
        Some(a) => vec![a.to_string()],
        None => runtime
            .settings
            .listeners
            .iter()
            .map(|l| format!("{}:{}", l.address, l.port))
            .collect(),
    };
    addrs.dedup();
    if addrs.is_empty() {
        return Err(ServerError::NoListeners);
    }
    let shared = Arc::new(Shared {
        runtime: ArcSwap::from_pointee(runtime),
        clients,
        metrics: crate::metrics::Metrics::new(),
        sink: opts.record_sink,
        loader: opts.loader,
        config_path: opts.config_path,
        classify_queue: Arc::new(Semaphore::new(opts.classifier_queue.max(1))),
        classify_capacity: opts.classifier_queue.max(1),
        max_body_override: opts.max_body_bytes,
        reload_lock: tokio::sync::Mutex::new(()),
        auth: opts.management_auth,
        sessions: match &opts.shared_db {
            Some((url, schema)) => vsr_session::Stores::with_shared_db(url.clone(), schema.clone()),
            None => vsr_session::Stores::default(),
        },
        experience: Arc::new(vsr_session::Experience::default()),
        latency: crate::live::LatencyBook::default(),
        tokens: crate::live::TokenCalibrator::default(),
        flows: crate::looper::FlowStore::default(),
        cache: Arc::new(vsr_cache::ResponseCache::new(runtime_cache_store)),
        limits: opts.limits,
    });
    // Replicas over one database share their cached answers (and invalidations).
    if let Some((url, schema)) = &opts.shared_db {
        shared
            .cache
            .use_shared_store(vsr_cache::postgres::SharedStore::new(
                url,
                schema.as_deref(),
            ));
    }
    let routes = opts.routes.merge(crate::cache::routes(Arc::clone(&shared)));
    let management = crate::management::router(Arc::clone(&shared), routes);
    let mut bound = Vec::new();
    let mut tasks = Vec::new();
    for a in addrs {
        let listener = TcpListener::bind(&a)
            .await
            .map_err(|source| ServerError::Bind {
                addr: a.clone(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: a.clone(),
            source,
        })?;
        bound.push(local);
        tasks.push(tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            management.clone(),
        )));
    }
    if let Some(every) = opts.watch_interval {
        tasks.push(tokio::spawn(watch(Arc::clone(&shared), every)));
    }
    tasks.push(tokio::spawn(timer_anchor()));
    Ok(RunningServer {
        addrs: bound,
        shared,
        tasks,
    })
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, management: axum::Router) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let management = management.clone();
        tokio::spawn(async move {
            let limits = shared.limits;
            let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let shared = Arc::clone(&shared);
                let management = management.clone();
                // The management guard reads who is calling (loopback or not).
                req.extensions_mut().insert(crate::management::Peer(peer));
                async move {
                    Ok::<_, std::convert::Infallible>(dispatch(&shared, &management, req).await)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .max_headers(limits.max_headers)
                .max_buf_size(limits.max_head_bytes.max(8192))
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Keeps one timer pending at all times. tokio wakes its I/O driver (an eventfd write, an
/// extra `epoll_wait` round and, with several workers, a thread wake-up) whenever a timer is
/// armed while no other timer is pending, and every proxied request arms one (the upstream
/// deadline): a router that goes idle between requests would pay that on each of them.
/// Request deadlines fall after this coarse tick, so arming them wakes nobody.
async fn timer_anchor() {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// Polls the config file; a changed mtime or size triggers validate-then-swap.
async fn watch(shared: Arc<Shared>, every: Duration) {
    let stamp = |p: &PathBuf| -> Option<(SystemTime, u64)> {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    };
    let mut last = stamp(&shared.config_path);
    loop {
        tokio::time::sleep(every).await;
        let now = stamp(&shared.config_path);
        if now.is_some() && now != last {
            // Let an editor finish writing before reading (debounce).
            tokio::time::sleep(Duration::from_millis(100)).await;
            last = stamp(&shared.config_path);
            let _ = shared.reload().await;
        }
    }
}

/// Bytes of an oversized body read and thrown away before answering 413, so that clients
/// that send the whole body before reading (most of them) see the answer, not a broken pipe.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

async fn drain(mut body: Incoming) {
    let mut seen = 0usize;
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    })
    .await;
}

async fn read_body(
    req: Request<Incoming>,
    limit: usize,
    max_depth: usize,
) -> Result<(http::request::Parts, Bytes), ApiError> {
    let too_large = || ApiError::BodyTooLarge { limit };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, mut body) = req.into_parts();
    if declared.is_some_and(|n| n > limit as u64) {
        drain(body).await;
        return Err(too_large());
    }
    let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::BodyRead(e.to_string()))?;
        if let Some(d) = frame.data_ref() {
            if buf.len() + d.len() > limit {
                drain(body).await;
                return Err(too_large());
            }
            buf.extend_from_slice(d);
        }
    }
    crate::limits::check_json_depth(&buf, max_depth)?;
    Ok((parts, buf.freeze()))
}

/// The OpenAI data plane is matched here on raw hyper (the hot path); everything else goes to
/// the axum management router.
async fn dispatch(
    shared: &Arc<Shared>,
    management: &axum::Router,
    req: Request<Incoming>,
) -> Response<RespBody> {
    let path = req.uri().path();
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let is_post = req.method() == Method::POST;
    let is_get = req.method() == Method::GET;
    let result = match path {
        "/v1/chat/completions" if is_post => chat(shared, req).await,
        "/v1/responses" if is_post => responses_api(shared, req).await,
        "/v1/messages" => {
            let resp = messages_api(shared, req, is_post).await;
            return crate::limits::bound_stream(resp, shared.limits.max_stream_duration);
        }
        "/v1/chat/completions" | "/v1/responses" => Err(ApiError::MethodNotAllowed),
        p if p == "/v1/models" || p.starts_with("/v1/models/") => {
            if is_get {
                Ok(models(shared))
            } else {
                Err(ApiError::MethodNotAllowed)
            }
        }
        _ => Ok(to_management(management, req).await),
    };
    let resp = result.unwrap_or_else(ApiError::into_response);
    crate::limits::bound_stream(resp, shared.limits.max_stream_duration)
}

/// Hands a request to the management router, with one trailing slash ignored as on the data
/// plane (`/health/` is `/health`).
async fn to_management(management: &axum::Router, req: Request<Incoming>) -> Response<RespBody> {
    use tower::ServiceExt;
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match parts.uri.query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rebuilt.parse() {
            parts.uri = uri;
        }
    }
    let req = Request::from_parts(parts, axum::body::Body::new(body));
    match management.clone().oneshot(req).await {
        Ok(resp) => crate::management::from_axum(resp),
        Err(never) => match never {},
    }
}

async fn chat(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, ApiError> {
    let limit = shared.runtime.load().settings.max_body_bytes;
    let (parts, body) = read_body(req, limit, shared.limits.max_json_depth).await?;
    let chat = proxy::parse_chat(body, &parts.headers)?;
    proxy::handle_chat(shared, &parts.headers, chat, Flavor::Chat).await
}

/// `/v1/messages`: every answer, errors included, in Anthropic's shape.
async fn messages_api(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    is_post: bool,
) -> Response<RespBody> {
    if !is_post {
        return messages::error_response(&ApiError::MethodNotAllowed);
    }
    let limit = shared.runtime.load().settings.max_body_bytes;
    match read_body(req, limit, shared.limits.max_json_depth).await {
        Ok((parts, body)) => messages::handle(shared, &parts, body).await,
        Err(e) => messages::error_response(&e),
    }
}

async fn responses_api(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, ApiError> {
    let settings_limit = {
        let rt = shared.runtime.load();
        if !rt.settings.response_api_enabled {
            return Err(ApiError::NotFound);
        }
        rt.settings.max_body_bytes
    };
    let (parts, body) = read_body(req, settings_limit, shared.limits.max_json_depth).await?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::MalformedJson)?;
    let request = responses::from_responses(&v)?;
    let bytes = Bytes::from(serde_json::to_vec(&request.to_chat_body()).unwrap_or_default());
    let mut chat = proxy::parse_chat(bytes, &parts.headers)?;
    chat.view = Some(request.view());
    let streaming = chat.streaming;
    let resp = proxy::handle_chat(shared, &parts.headers, chat, Flavor::Responses).await?;
    let fast = resp.headers().contains_key("x-vsr-fast-response");
    if !resp.status().is_success() || fast {
        return Ok(resp);
    }
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if streaming {
        let out = responses::ResponsesStream::new(body);
        return Ok(Response::from_parts(parts, out.boxed_unsync()));
    }
    let collected = body
        .collect()
        .await
        .map_err(|e| ApiError::UpstreamBody(e.to_string()))?
        .to_bytes();
    let chat_json: serde_json::Value = serde_json::from_slice(&collected)
        .map_err(|e| ApiError::ResponseTransform(e.to_string()))?;
    let out = serde_json::to_vec(&responses::chat_to_response(&chat_json)).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(Response::from_parts(parts, crate::body::full(out)))
}

fn models(shared: &Arc<Shared>) -> Response<RespBody> {
    let rt = shared.runtime.load();
    let now = unix_now();
    let mut data: Vec<serde_json::Value> = rt
        .settings
        .auto_model_names
        .iter()
        .map(|n| {
            json!({"id": n, "object": "model", "created": now, "owned_by": "vllm-semantic-router",
                        "description": "Intelligent Router for Mixture-of-Models"})
        })
        .collect();
    data.extend(rt.settings.entrypoints.iter().map(|(n, (recipe, description))| {
        let description = description
            .clone()
            .unwrap_or_else(|| format!("Entrypoint for the {recipe} routing recipe"));
        json!({"id": n, "object": "model", "created": now, "owned_by": "vllm-semantic-router",
               "description": description, "routing": {"recipe": recipe}})
    }));
    data.extend(rt.settings.exposed_slugs.iter().map(|n| {
        json!({"id": n, "object": "model", "created": now, "owned_by": "vllm-semantic-router",
               "description": "Answered by the router's looper decisions"})
    }));
    data.extend(rt.settings.models.keys().map(
        |n| json!({"id": n, "object": "model", "created": now, "owned_by": "vllm-semantic-router"}),
    ));
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}
