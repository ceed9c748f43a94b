//! Running probe manifests (the format is `vsr_config::probes`, re-exported here). [`run`] evaluates every variant
//! in-process ([`ProbeTarget::Router`]) or against a running router's eval endpoint
//! ([`ProbeTarget::Http`]) and scores the manifest.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use vsr_engine::EvalMode;
use vsr_engine::eval_api::EvalResponse;
use vsr_learned::Router;
use vsr_signals::RequestView;

pub use vsr_config::probes::{Acceptance, Manifest, ManifestError, ProbeGroup, Variant};

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Url(String),
    #[error("cannot start the HTTP client: {0}")]
    Runtime(std::io::Error),
}

/// Where probes are evaluated.
pub enum ProbeTarget<'a> {
    /// In-process, every family evaluated (the eval API's mode).
    Router(&'a Router),
    /// `POST {base}{manifest.router_eval_endpoint}` on a running router (plain HTTP).
    Http { base: &'a str },
}

/// One probe's outcome.
#[derive(Debug, Serialize)]
pub struct ProbeOutcome {
    pub group: String,
    pub variant: String,
    pub query: String,
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

/// A scored manifest run.
#[derive(Debug, Serialize)]
pub struct ProbeReport {
    pub manifest: String,
    pub probes: usize,
    pub probes_passed: usize,
    pub probe_pass_rate: f64,
    pub decisions: usize,
    pub decisions_passed: usize,
    pub decision_pass_rate: f64,
    pub accepted: bool,
    pub outcomes: Vec<ProbeOutcome>,
}

/// Evaluates every variant of `manifest` on `target`; `progress` is called before each probe
/// with (done, total, group, variant).
pub fn run(
    manifest: &Manifest,
    target: &ProbeTarget<'_>,
    mut progress: impl FnMut(usize, usize, &str, &str),
) -> Result<ProbeReport, ProbeError> {
    let total = manifest.probe_count();
    let http = match target {
        ProbeTarget::Http { base } => Some(EvalClient::new(base, &manifest.router_eval_endpoint)?),
        ProbeTarget::Router(_) => None,
    };
    let mut outcomes = Vec::with_capacity(total);
    for group in &manifest.decisions {
        for v in &group.variants {
            progress(outcomes.len(), total, &group.id, &v.id);
            let response = match (target, &http) {
                (_, Some(client)) => client.eval(&v.query),
                (ProbeTarget::Router(router), None) => Ok(EvalResponse::from_result(
                    &v.query,
                    &router.route(&RequestView::from_text(v.query.as_str()), EvalMode::All),
                    true,
                )),
                (ProbeTarget::Http { .. }, None) => Err("no HTTP client".to_string()),
            };
            outcomes.push(outcome(group, v, response));
        }
    }
    Ok(score(manifest, outcomes))
}

fn outcome(
    group: &ProbeGroup,
    v: &Variant,
    response: Result<EvalResponse, String>,
) -> ProbeOutcome {
    let mut o = ProbeOutcome {
        group: group.id.clone(),
        variant: v.id.clone(),
        query: v.query.clone(),
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
        Err(e) => o.error = Some(e),
    }
    o
}

/// Pass rates per probe and per decision (a decision passes when all its variants do).
pub fn score(manifest: &Manifest, outcomes: Vec<ProbeOutcome>) -> ProbeReport {
    let total = outcomes.len();
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
    let probe_pass_rate = rate(probes_passed, total);
    let decision_pass_rate = rate(groups_passed, groups);
    ProbeReport {
        manifest: manifest.name.clone(),
        probes: total,
        probes_passed,
        probe_pass_rate,
        decisions: groups,
        decisions_passed: groups_passed,
        decision_pass_rate,
        accepted: probe_pass_rate >= manifest.acceptance.min_probe_pass_rate
            && decision_pass_rate >= manifest.acceptance.min_decision_pass_rate,
        outcomes,
    }
}

/// A blocking client for a router's eval endpoint (hyper on a private current-thread runtime).
struct EvalClient {
    runtime: tokio::runtime::Runtime,
    client: Client<HttpConnector, Full<Bytes>>,
    uri: http::Uri,
}

impl EvalClient {
    fn new(base: &str, endpoint: &str) -> Result<Self, ProbeError> {
        let url = format!("{}{endpoint}", base.trim_end_matches('/'));
        let uri: http::Uri = url
            .parse()
            .map_err(|e| ProbeError::Url(format!("--url `{base}`: {e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(ProbeError::Url(format!(
                    "--url `{base}`: scheme `{other}` is not supported (use http://)"
                )));
            }
            None => {
                return Err(ProbeError::Url(format!(
                    "--url `{base}` must start with http://"
                )));
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ProbeError::Runtime)?;
        let client = {
            let _guard = runtime.enter();
            Client::builder(TokioExecutor::new()).build(HttpConnector::new())
        };
        Ok(Self {
            runtime,
            client,
            uri,
        })
    }

    fn eval(&self, query: &str) -> Result<EvalResponse, String> {
        let body =
            serde_json::to_vec(&serde_json::json!({ "text": query })).map_err(|e| e.to_string())?;
        let req = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let (status, payload) = self.runtime.block_on(async {
            let resp = tokio::time::timeout(Duration::from_secs(60), self.client.request(req))
                .await
                .map_err(|_| format!("{}: no answer within 60 s", self.uri))?
                .map_err(|e| format!("{}: {e}", self.uri))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("{}: reading the answer: {e}", self.uri))?
                .to_bytes();
            Ok::<_, String>((status, body))
        })?;
        if !status.is_success() {
            return Err(format!(
                "HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&payload)
            ));
        }
        serde_json::from_slice(&payload)
            .map_err(|e| format!("eval response is not the expected JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_other_than_plain_http_are_refused() {
        for bad in [
            "https://x:1",
            "ftp://x",
            "127.0.0.1:8080",
            "http://bad host",
        ] {
            assert!(
                matches!(
                    EvalClient::new(bad, "/api/v1/eval"),
                    Err(ProbeError::Url(_))
                ),
                "{bad}"
            );
        }
    }
}
