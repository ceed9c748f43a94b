//! Span export over OTLP/HTTP with JSON bodies (`POST {endpoint}/v1/traces`).
//!
//! Written here rather than taken from `opentelemetry-otlp` + `tracing-opentelemetry`: those
//! bring the OpenTelemetry SDK, generated protobuf types (prost) and their own HTTP client
//! stack into a workspace that CI cold-builds on two cores, while what the router exports is
//! a handful of spans per request. This is a `tracing` layer that records the spans of a
//! sampled `request` tree and a thread that batches them and posts them with the hyper client
//! the router already builds. Events are not exported (they are logs), and there is no gRPC:
//! point `endpoint` at a collector's OTLP/HTTP port (4318 by convention).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::TelemetryError;

/// The root span name: only trees under a sampled `request` are recorded and exported.
pub const ROOT_SPAN: &str = "request";

const QUEUE: usize = 8192;
const MAX_BATCH: usize = 512;
const BATCH_INTERVAL: Duration = Duration::from_secs(1);
const POST_TIMEOUT: Duration = Duration::from_secs(5);
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Which request trees are recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// This fraction of traces, decided from the trace id.
    TraceIdRatio(f64),
}

impl Sampler {
    fn sample(self, trace_id: u128) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(r) if r >= 1.0 => true,
            Sampler::TraceIdRatio(r) if r <= 0.0 => false,
            // The low 63 bits of the id against the rate, as OpenTelemetry SDKs do.
            Sampler::TraceIdRatio(r) => ((trace_id as u64) >> 1) < (r * (1u64 << 63) as f64) as u64,
        }
    }
}

/// `global.services.observability.tracing`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    /// Full URL the spans are posted to (`http://host:port/v1/traces`).
    pub endpoint: String,
    pub sampler: Sampler,
    pub service_name: String,
    pub service_version: Option<String>,
    pub deployment_environment: Option<String>,
}

impl TracingConfig {
    /// Checks what the exporter can do: `exporter_type` must be `otlp` (or empty), the
    /// endpoint `host:port` or an `http://` URL (`/v1/traces` added when it has no path), and a
    /// ratio in 0..=1. The config crate types the block; this is where it meets the exporter.
    pub fn new(
        exporter_type: &str,
        endpoint: &str,
        sampler: Sampler,
        service_name: &str,
        service_version: &str,
        deployment_environment: &str,
    ) -> Result<TracingConfig, TelemetryError> {
        let err = |m: String| TelemetryError::Tracing(m);
        let t = exporter_type.trim();
        if !t.is_empty() && !t.eq_ignore_ascii_case("otlp") {
            return Err(err(format!(
                "exporter.type `{t}` is not supported (only otlp)"
            )));
        }
        if let Sampler::TraceIdRatio(r) = sampler
            && !(0.0..=1.0).contains(&r)
        {
            return Err(err(format!("sampling.rate {r} is outside 0..=1")));
        }
        let endpoint = match endpoint.trim() {
            "" => "localhost:4318",
            e => e,
        };
        let owned = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(TracingConfig {
            endpoint: endpoint_url(endpoint).map_err(err)?,
            sampler,
            service_name: owned(service_name).unwrap_or_else(|| "vllm-sr".into()),
            service_version: owned(service_version),
            deployment_environment: owned(deployment_environment),
        })
    }
}

/// `host:port` or an `http://` URL; `/v1/traces` is added when no path is given.
fn endpoint_url(raw: &str) -> Result<String, String> {
    if raw.starts_with("https://") {
        return Err(format!(
            "exporter.endpoint `{raw}`: https is not supported; send to a local collector over http"
        ));
    }
    let url = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("exporter.endpoint `{raw}`: {e}"))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(format!(
            "exporter.endpoint `{raw}`: expected host:port or http://host:port[/path]"
        ));
    }
    Ok(match uri.path() {
        "" | "/" => format!("{}/v1/traces", url.trim_end_matches('/')),
        _ => url,
    })
}

#[derive(Debug, Clone)]
enum AttrValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// One recorded span, kept in the registry's extensions while it is open.
struct SpanData {
    trace_id: u128,
    span_id: u64,
    parent_id: Option<u64>,
    name: &'static str,
    start_ns: u64,
    end_ns: u64,
    attrs: Vec<(&'static str, AttrValue)>,
}

struct Fields<'a>(&'a mut Vec<(&'static str, AttrValue)>);

impl Fields<'_> {
    fn put(&mut self, f: &Field, v: AttrValue) {
        match self.0.iter_mut().find(|(k, _)| *k == f.name()) {
            Some(slot) => slot.1 = v,
            None => self.0.push((f.name(), v)),
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, f: &Field, v: &str) {
        self.put(f, AttrValue::Str(v.to_string()));
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.put(f, AttrValue::Int(v));
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.put(f, AttrValue::Int(i64::try_from(v).unwrap_or(i64::MAX)));
    }
    fn record_f64(&mut self, f: &Field, v: f64) {
        self.put(f, AttrValue::Float(v));
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.put(f, AttrValue::Bool(v));
    }
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        self.put(f, AttrValue::Str(format!("{v:?}")));
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn nonzero_u64() -> u64 {
    fastrand::u64(1..)
}

enum Msg {
    Span(Box<SpanData>),
    Flush(mpsc::Sender<()>),
    Shutdown,
}

/// Records the spans of sampled request trees and queues them for the exporter thread.
/// Never blocks the request: a full queue drops the span (counted, logged by the exporter).
pub struct OtlpLayer {
    tx: SyncSender<Msg>,
    sampler: Sampler,
    dropped: Arc<AtomicU64>,
}

impl<S> tracing_subscriber::Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<SpanData>()
                .map(|d| (d.trace_id, d.span_id))
        });
        let (trace_id, parent_id) = match parent {
            Some((t, s)) => (t, Some(s)),
            None if span.name() == ROOT_SPAN => {
                let t = (u128::from(nonzero_u64()) << 64) | u128::from(fastrand::u64(..));
                if !self.sampler.sample(t) {
                    return;
                }
                (t, None)
            }
            // Spans outside a request (eval API, CLI) are not exported.
            None => return,
        };
        let mut data = SpanData {
            trace_id,
            span_id: nonzero_u64(),
            parent_id,
            name: span.name(),
            start_ns: now_ns(),
            end_ns: 0,
            attrs: Vec::new(),
        };
        attrs.record(&mut Fields(&mut data.attrs));
        span.extensions_mut().insert(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(data) = span.extensions_mut().get_mut::<SpanData>()
        {
            values.record(&mut Fields(&mut data.attrs));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut data) = span.extensions_mut().remove::<SpanData>() else {
            return;
        };
        data.end_ns = now_ns();
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send(Msg::Span(Box::new(data)))
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The exporter thread and its queue. [`crate::Telemetry`] owns it.
pub struct Exporter {
    tx: SyncSender<Msg>,
    sampler: Sampler,
    dropped: Arc<AtomicU64>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Exporter {
    /// Starts the exporter thread (its own single-threaded runtime and HTTP client, so export
    /// never competes with request handling and works in every subcommand).
    pub fn start(cfg: &TracingConfig) -> Result<Exporter, TelemetryError> {
        let uri: http::Uri = cfg
            .endpoint
            .parse()
            .map_err(|e| TelemetryError::Tracing(format!("exporter.endpoint: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TelemetryError::Tracing(format!("exporter runtime: {e}")))?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let post = Poster {
            rt,
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            uri,
            resource: resource(cfg),
            dropped: Arc::clone(&dropped),
            dropped_seen: 0,
            last_warn: None,
        };
        let thread = std::thread::Builder::new()
            .name("vsr-otlp".into())
            .spawn(move || run(rx, post))
            .map_err(|e| TelemetryError::Tracing(format!("exporter thread: {e}")))?;
        Ok(Exporter {
            tx,
            sampler: cfg.sampler,
            dropped,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// A layer feeding this exporter.
    pub fn layer(&self) -> OtlpLayer {
        OtlpLayer {
            tx: self.tx.clone(),
            sampler: self.sampler,
            dropped: Arc::clone(&self.dropped),
        }
    }

    /// Posts what is queued and waits for it (at most a few seconds).
    pub fn flush(&self) {
        let (ack, done) = mpsc::channel();
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(POST_TIMEOUT * 2);
        }
    }

    /// Posts what is queued and stops the thread.
    pub fn shutdown(self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Ok(mut t) = self.thread.lock()
            && let Some(t) = t.take()
        {
            let _ = t.join();
        }
    }
}

struct Poster {
    rt: tokio::runtime::Runtime,
    client: Client<HttpConnector, Full<Bytes>>,
    uri: http::Uri,
    resource: Value,
    dropped: Arc<AtomicU64>,
    dropped_seen: u64,
    last_warn: Option<Instant>,
}

impl Poster {
    fn post(&mut self, batch: &mut Vec<SpanData>) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > self.dropped_seen {
            self.warn(format_args!(
                "{} spans dropped: export queue full",
                dropped - self.dropped_seen
            ));
            self.dropped_seen = dropped;
        }
        if batch.is_empty() {
            return;
        }
        let body = encode(&self.resource, batch);
        batch.clear();
        let req = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)));
        let Ok(req) = req else { return };
        // Built inside the runtime: the timer and the client need its context.
        let client = &self.client;
        let sent = self
            .rt
            .block_on(async { tokio::time::timeout(POST_TIMEOUT, client.request(req)).await });
        match sent {
            Ok(Ok(resp)) if resp.status().is_success() => {}
            Ok(Ok(resp)) => {
                let status = resp.status();
                self.warn(format_args!("OTLP collector answered {status}"));
            }
            Ok(Err(e)) => self.warn(format_args!("OTLP export failed: {e}")),
            Err(_) => self.warn(format_args!("OTLP export timed out")),
        }
    }

    /// At most one warning a minute: a collector that is down must not flood the log.
    fn warn(&mut self, what: std::fmt::Arguments<'_>) {
        if self.last_warn.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            return;
        }
        self.last_warn = Some(Instant::now());
        tracing::warn!(endpoint = %self.uri, "{what}; spans lost");
    }
}

fn run(rx: Receiver<Msg>, mut post: Poster) {
    let mut batch = Vec::new();
    let mut deadline = Instant::now() + BATCH_INTERVAL;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Msg::Span(s)) => {
                batch.push(*s);
                if batch.len() >= MAX_BATCH {
                    post.post(&mut batch);
                }
            }
            Ok(Msg::Flush(ack)) => {
                post.post(&mut batch);
                let _ = ack.send(());
            }
            Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                post.post(&mut batch);
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                post.post(&mut batch);
                deadline = Instant::now() + BATCH_INTERVAL;
            }
        }
    }
}

fn kv(key: &str, v: &AttrValue) -> Value {
    // OTLP/JSON: 64-bit integers are strings.
    let value = match v {
        AttrValue::Str(s) => json!({"stringValue": s}),
        AttrValue::Int(i) => json!({"intValue": i.to_string()}),
        AttrValue::Float(f) => json!({"doubleValue": f}),
        AttrValue::Bool(b) => json!({"boolValue": b}),
    };
    json!({"key": key, "value": value})
}

fn resource(cfg: &TracingConfig) -> Value {
    let mut attrs = vec![kv(
        "service.name",
        &AttrValue::Str(cfg.service_name.clone()),
    )];
    if let Some(v) = &cfg.service_version {
        attrs.push(kv("service.version", &AttrValue::Str(v.clone())));
    }
    if let Some(v) = &cfg.deployment_environment {
        attrs.push(kv("deployment.environment", &AttrValue::Str(v.clone())));
    }
    json!({"attributes": attrs})
}

/// An `ExportTraceServiceRequest` in OTLP's JSON mapping (ids in hex, nanos as strings).
fn encode(resource: &Value, batch: &[SpanData]) -> Vec<u8> {
    let spans: Vec<Value> = batch
        .iter()
        .map(|s| {
            let mut span = json!({
                "traceId": format!("{:032x}", s.trace_id),
                "spanId": format!("{:016x}", s.span_id),
                "name": s.name,
                // SERVER for the request, INTERNAL for its phases.
                "kind": if s.parent_id.is_none() { 2 } else { 1 },
                "startTimeUnixNano": s.start_ns.to_string(),
                "endTimeUnixNano": s.end_ns.to_string(),
                "attributes": s.attrs.iter().map(|(k, v)| kv(k, v)).collect::<Vec<_>>(),
            });
            if let (Some(p), Some(obj)) = (s.parent_id, span.as_object_mut()) {
                obj.insert("parentSpanId".into(), json!(format!("{p:016x}")));
            }
            span
        })
        .collect();
    let body = json!({"resourceSpans": [{
        "resource": resource,
        "scopeSpans": [{"scope": {"name": "vllm-sr", "version": env!("CARGO_PKG_VERSION")}, "spans": spans}],
    }]});
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_resolve_to_an_exporter_config() {
        let c = TracingConfig::new(
            "otlp",
            "collector:4318",
            Sampler::TraceIdRatio(0.25),
            "sr",
            "v1",
            "",
        )
        .unwrap();
        assert_eq!(c.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(c.sampler, Sampler::TraceIdRatio(0.25));
        assert_eq!(c.service_name, "sr");
        assert_eq!(c.service_version.as_deref(), Some("v1"));
        assert_eq!(c.deployment_environment, None);
        let d = TracingConfig::new("", "", Sampler::AlwaysOn, "", "", "").unwrap();
        assert_eq!(d.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(d.service_name, "vllm-sr");
        assert!(
            TracingConfig::new("otlp", "https://c:4318", Sampler::AlwaysOn, "", "", "").is_err()
        );
        assert!(TracingConfig::new("zipkin", "c:1", Sampler::AlwaysOn, "", "", "").is_err());
        assert!(TracingConfig::new("otlp", "c:1", Sampler::TraceIdRatio(2.0), "", "", "").is_err());
        assert_eq!(
            endpoint_url("http://c:4318/custom/path").unwrap(),
            "http://c:4318/custom/path"
        );
    }

    #[test]
    fn ratio_sampling_keeps_about_that_share() {
        assert!(Sampler::AlwaysOn.sample(0));
        assert!(!Sampler::AlwaysOff.sample(u128::MAX));
        let kept = (0..10_000)
            .filter(|_| Sampler::TraceIdRatio(0.3).sample(u128::from(fastrand::u64(..))))
            .count();
        assert!((2_500..3_500).contains(&kept), "{kept}");
        assert!(!Sampler::TraceIdRatio(0.0).sample(0));
    }

    #[test]
    fn encoding_follows_the_otlp_json_mapping() {
        let span = SpanData {
            trace_id: 0xab,
            span_id: 0x12,
            parent_id: Some(0x34),
            name: "forward",
            start_ns: 5,
            end_ns: 9,
            attrs: vec![
                ("request_id", AttrValue::Str("r1".into())),
                ("n", AttrValue::Int(3)),
            ],
        };
        let v: Value =
            serde_json::from_slice(&encode(&json!({"attributes": []}), &[span])).unwrap();
        let s = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "000000000000000000000000000000ab");
        assert_eq!(s["spanId"], "0000000000000012");
        assert_eq!(s["parentSpanId"], "0000000000000034");
        assert_eq!(s["kind"], 1);
        assert_eq!(s["endTimeUnixNano"], "9");
        assert_eq!(s["attributes"][0]["value"]["stringValue"], "r1");
        assert_eq!(s["attributes"][1]["value"]["intValue"], "3");
    }
}
