//! vsr-telemetry: installs the process's `tracing` subscriber. Logs go to stderr as text or
//! JSON lines, filtered by `RUST_LOG` when it is set and by `--log-level` otherwise. When the
//! config enables tracing, the request spans (`request` and its phases) are also exported over
//! OTLP/HTTP with JSON bodies ([`otlp`]); with tracing off no exporter exists and the phase
//! spans, which are `debug` spans, stay disabled.

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterExt, Targets, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

pub mod otlp;
pub mod recent;

pub use otlp::{Exporter, OtlpLayer, Sampler, TracingConfig};
pub use recent::{LogLine, RecentLayer, RecentLogs, recent_logs};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter `{directives}`: {message}")]
    Filter { directives: String, message: String },
    #[error("observability.tracing: {0}")]
    Tracing(String),
    #[error("a log subscriber is already installed")]
    AlreadyInstalled,
}

/// Most verbose level logged when `RUST_LOG` is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields.message`, `target`, `span`).
    Json,
}

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub level: LogLevel,
    pub format: LogFormat,
    /// `RUST_LOG`-style directives; when set they replace `level`.
    pub directives: Option<String>,
}

impl LogOptions {
    /// `level` and `format`, with `RUST_LOG` (when set and not blank) taking precedence.
    pub fn from_env(level: LogLevel, format: LogFormat) -> Self {
        let directives = std::env::var("RUST_LOG")
            .ok()
            .filter(|v| !v.trim().is_empty());
        Self {
            level,
            format,
            directives,
        }
    }

    fn filter(&self) -> Result<EnvFilter, TelemetryError> {
        let directives = self.directives.as_deref().unwrap_or(self.level.as_str());
        EnvFilter::builder()
            .parse(directives)
            .map_err(|e| TelemetryError::Filter {
                directives: directives.to_string(),
                message: e.to_string(),
            })
    }
}

/// The log layer alone, writing to `writer` (tests capture it; [`init`] passes stderr).
pub fn log_layer<S, W>(
    opts: &LogOptions,
    writer: W,
    ansi: bool,
) -> Result<Box<dyn Layer<S> + Send + Sync>, TelemetryError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = opts.filter()?;
    Ok(match opts.format {
        LogFormat::Text => fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .with_writer(writer)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
    })
}

/// The span-export layer, filtered to our crates' spans (events are not exported).
pub fn otlp_layer<S>(exporter: &Exporter) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let ours = Targets::new()
        .with_target("vsr_server", tracing::Level::DEBUG)
        .with_target("vsr_engine", tracing::Level::DEBUG)
        .with_target("vsr_learned", tracing::Level::DEBUG)
        .with_target("vsr_app", tracing::Level::DEBUG);
    exporter
        .layer()
        .with_filter(ours.and(filter_fn(|m| m.is_span())))
}

/// Keeps the exporter alive; dropping it sends the spans still queued.
#[must_use = "dropping Telemetry stops span export"]
pub struct Telemetry {
    exporter: Option<Exporter>,
}

impl Telemetry {
    /// True when spans are exported.
    pub fn exporting(&self) -> bool {
        self.exporter.is_some()
    }

    /// Sends the queued spans now and waits (bounded) for the export to finish.
    pub fn flush(&self) {
        if let Some(e) = &self.exporter {
            e.flush();
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(e) = self.exporter.take() {
            e.shutdown();
        }
    }
}

/// Installs the global subscriber: logs to stderr, plus OTLP span export when `tracing` is
/// given (callers pass `None` when the config does not enable it).
pub fn init(
    log: &LogOptions,
    tracing: Option<&TracingConfig>,
) -> Result<Telemetry, TelemetryError> {
    let ansi = std::io::stderr().is_terminal();
    let logs = log_layer(log, std::io::stderr, ansi)?;
    let exporter = tracing.map(Exporter::start).transpose()?;
    let spans = exporter.as_ref().map(otlp_layer);
    // The dashboard's Logs page reads the same lines, at the same level, from memory.
    let recent = RecentLayer::new(recent_logs()).with_filter(log.filter()?);
    tracing_subscriber::registry()
        .with(logs)
        .with(recent)
        .with(spans)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    if let (Some(cfg), Some(_)) = (tracing, &exporter) {
        tracing::info!(endpoint = %cfg.endpoint, sampler = ?cfg.sampler, "exporting spans over OTLP/HTTP");
    }
    Ok(Telemetry { exporter })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_replace_the_level_and_bad_ones_are_reported() {
        let o = LogOptions {
            level: LogLevel::Error,
            format: LogFormat::Text,
            directives: Some("vsr_server=debug".into()),
        };
        assert_eq!(o.filter().unwrap().to_string(), "vsr_server=debug");
        let bad = LogOptions {
            directives: Some("vsr_server=loud".into()),
            ..LogOptions::default()
        };
        let e = bad.filter().unwrap_err().to_string();
        assert!(e.contains("vsr_server=loud"), "{e}");
        assert_eq!(LogOptions::default().filter().unwrap().to_string(), "info");
    }
}
