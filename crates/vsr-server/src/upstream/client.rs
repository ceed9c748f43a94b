//! The upstream HTTP client: HTTP/1.1 keep-alive pools (hyper-util's pool keys connections by
//! scheme and authority, so every endpoint has its own) over TCP or rustls. One client trusts
//! the system's CAs; a backend with `tls_ca_file` gets a client trusting exactly that file,
//! shared by the backends naming the same certificates and kept across reloads.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;

use crate::settings::BackendSettings;

pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why the TLS client could not be built (a rustls provider without safe protocol versions).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the upstream TLS client: {0}")]
pub struct ClientError(String);

/// The clients of one process: the system-trust one and one per distinct `tls_ca_file`.
pub struct Clients {
    connect_timeout: Duration,
    system: UpstreamClient,
    by_ca: Mutex<Vec<(Arc<Vec<CertificateDer<'static>>>, UpstreamClient)>>,
}

impl Clients {
    pub fn new(connect_timeout: Duration) -> Result<Self, ClientError> {
        let system = build(connect_timeout, system_roots())?;
        Ok(Self {
            connect_timeout,
            system,
            by_ca: Mutex::new(Vec::new()),
        })
    }

    /// The client for `backend`: its own CA's, else the system one.
    pub fn for_backend(&self, backend: &BackendSettings) -> UpstreamClient {
        let Some(ca) = &backend.tls_ca else {
            return self.system.clone();
        };
        let mut by_ca = self.by_ca.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = by_ca.iter().find(|(certs, _)| **certs == *ca.certs) {
            return c.clone();
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(ca.certs.iter().cloned());
        match build(self.connect_timeout, roots) {
            Ok(c) => {
                by_ca.push((Arc::clone(&ca.certs), c.clone()));
                c
            }
            Err(e) => {
                // Unreachable with the ring provider; the system client still verifies.
                tracing::error!(backend = %backend.name, error = %e, "using the system trust store");
                self.system.clone()
            }
        }
    }

    /// The system-trust client (for requests that name no backend).
    pub fn system(&self) -> &UpstreamClient {
        &self.system
    }
}

fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(vsr_tls::system_roots().iter().cloned());
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// Keep-alive pooled HTTP/1.1 client with TCP_NODELAY, plain or TLS by the URI's scheme.
fn build(
    connect_timeout: Duration,
    roots: rustls::RootCertStore,
) -> Result<UpstreamClient, ClientError> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ClientError(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut conn = HttpConnector::new();
    conn.enforce_http(false);
    conn.set_nodelay(true);
    conn.set_connect_timeout(Some(connect_timeout));
    conn.set_keepalive(Some(Duration::from_secs(60)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(conn);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(4096)
        .build(https))
}
