//! The tests' HTTP client: hyper over loopback, async ([`send`], [`post`]) for tests that run
//! inside tokio, and [`blocking`] for tests that drive a child process from a plain thread.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// How long one request may take before the test fails instead of hanging.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// A whole response: status, headers and the collected body (chunked or not).
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request; the error names what failed (connect, timeout, body).
pub async fn try_send(
    c: &HttpClient,
    method: &str,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Reply> {
    let mut b = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(std::io::Error::other)?;
    let exchange = async {
        let resp = c.request(req).await.map_err(std::io::Error::other)?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{method} {url}")))?
}

/// One request; panics (failing the test) when it cannot complete.
pub async fn send(
    c: &HttpClient,
    method: &str,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    try_send(c, method, url, body, headers)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// `POST` a JSON body.
pub async fn post(c: &HttpClient, url: &str, body: &Value) -> Reply {
    send(
        c,
        "POST",
        url,
        &body.to_string(),
        &[("content-type", "application/json")],
    )
    .await
}

/// One request from a plain (non-tokio) thread, on a private single-threaded runtime.
pub fn blocking(
    method: &str,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Reply> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async { try_send(&client(), method, url, body, headers).await })
}
