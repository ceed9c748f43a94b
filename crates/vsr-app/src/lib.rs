//! vsr-app: the composition layer. It turns a config file into the live router — the encoder
//! chosen once per process ([`Models`]), the learned router as the proxy's classifier
//! ([`LearnedClassifier`]), the replay recorder and API ([`Replay`]) — and starts it
//! ([`App`]); it also owns the probe-manifest format and runner ([`probes`]). The `vllm-sr`
//! binary only parses arguments, calls in here and prints.

mod app;
pub mod atomic_file;
mod classifier;
mod models;
pub mod probes;
mod replay;
mod router;
pub mod run_file;
mod supervisor;

pub use app::{App, AppError, AppOptions, DEMO_PROFILE, DemoBackend, SharedDb};
pub use classifier::LearnedClassifier;
pub use models::{ENCODER_KNOB, Models, encoder_spec};
pub use replay::{Replay, data_dir, fill_routing, replay_api};
pub use router::{MissingModel, RouterBuild, build_router};
pub use supervisor::{Live, Supervisor};

/// Loads and validates a config file; the error is the validator's report (every problem
/// with file:line:column).
pub fn load_config(path: &std::path::Path) -> Result<vsr_config::Loaded, AppError> {
    vsr_config::load_file(path).map_err(|e| AppError::Config(e.to_string()))
}

/// The config's span-export settings (`global.services.observability.tracing`, typed by
/// `GlobalSettings`); `None` unless the file enables it.
pub fn tracing_settings(
    config: &vsr_config::Config,
) -> Result<Option<vsr_telemetry::TracingConfig>, AppError> {
    use vsr_config::vocab::SamplingType;
    use vsr_telemetry::Sampler;
    let t = config.global_settings().observability.tracing;
    if !t.enabled {
        return Ok(None);
    }
    let sampler = match t.sampling.kind {
        SamplingType::AlwaysOn => Sampler::AlwaysOn,
        SamplingType::AlwaysOff => Sampler::AlwaysOff,
        SamplingType::TraceIdRatio | SamplingType::Probabilistic => {
            Sampler::TraceIdRatio(t.sampling.rate)
        }
    };
    vsr_telemetry::TracingConfig::new(
        &t.exporter_type,
        &t.endpoint,
        sampler,
        &t.service_name,
        &t.service_version,
        &t.deployment_environment,
    )
    .map(Some)
    .map_err(|e| AppError::Config(e.to_string()))
}
