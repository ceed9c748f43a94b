//! The playground's chat: the browser posts an OpenAI chat-completions body here and it goes
//! to this process's own data plane (so it is routed, forwarded and recorded exactly like any
//! client's request); the answer streams back with the router's `x-vsr-*` headers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::Dash;
use crate::auth::Caller;
use crate::error::{DashError, DashResult};

pub type Client = HyperClient<HttpConnector, Full<Bytes>>;

pub fn client() -> Client {
    HyperClient::builder(TokioExecutor::new()).build_http()
}

pub async fn chat(
    State(dash): State<Arc<Dash>>,
    caller: Caller,
    body: Bytes,
) -> DashResult<Response> {
    let live = dash.sup.live().ok_or_else(|| {
        DashError::Conflict("no config is active yet: finish the setup wizard first".into())
    })?;
    let uri = format!("http://{}/v1/chat/completions", live.data_plane);
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-vsr-client", "dashboard-playground")
        .header("x-user-id", caller.username.as_str())
        .body(Full::new(body))
        .map_err(|e| DashError::Internal(e.to_string()))?;
    let resp =
        dash.client.request(req).await.map_err(|e| {
            DashError::Upstream(format!("the router's data plane did not answer: {e}"))
        })?;
    let (parts, incoming) = resp.into_parts();
    let mut out = Response::new(Body::new(incoming));
    *out.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if n.starts_with("x-vsr-")
            || n.starts_with("x-selected")
            || name == header::CONTENT_TYPE
            || name == header::CACHE_CONTROL
        {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(out)
}
