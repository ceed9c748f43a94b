//! Errors the router answers itself, rendered in the OpenAI shape
//! `{"error":{"message","type","code"}}` (surface spec §2.7). Each kind of error is one variant:
//! its message, HTTP status, OpenAI `type` and origin are written once, here.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{RespBody, full};

/// Who caused an error (for logs and operators; clients see status and message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOrigin {
    /// The request was wrong: fix the client.
    Client,
    /// The backend failed or timed out.
    Upstream,
    /// The router itself (its config, its classifier, its capacity).
    Router,
}

impl ErrorOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorOrigin::Client => "client",
            ErrorOrigin::Upstream => "upstream",
            ErrorOrigin::Router => "router",
        }
    }
}

/// A router-generated error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    // The client's request.
    #[error("malformed JSON body")]
    MalformedJson,
    #[error("messages field is required")]
    MissingMessages,
    #[error("messages field must be an array")]
    MessagesNotArray,
    #[error("invalid request body: missing required field: model")]
    MissingModel,
    #[error("invalid request body: field model must be a string")]
    ModelNotString,
    /// A field the router reads has the wrong shape (the message says which and where).
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    #[error("'input' field is required and must be a string or an array of items")]
    ResponsesInput,
    #[error("'input' items need a string or text-part array `content`")]
    ResponsesItem,
    /// Any other invalid input, with its own message.
    #[error("{0}")]
    InvalidInput(String),
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("could not read request body: {0}")]
    BodyRead(String),
    #[error("model `{0}` is not configured (use an alias or an auto name such as MoM)")]
    UnknownModel(String),
    #[error("endpoint not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    // The router.
    #[error("Rate limit exceeded. Retry after 1 seconds.")]
    RateLimited,
    #[error("Internal routing error. Contact your administrator.")]
    RoutingFailed,
    #[error("no backend for model `{0}`")]
    NoBackend(String),
    #[error("request rewrite failed: {0}")]
    RewriteFailed(String),
    #[error("bad backend address `{0}`")]
    BadBackendAddress(String),
    #[error("backend `{0}` uses https, which this build does not support")]
    HttpsUnsupported(String),
    #[error("handler failed: {0}")]
    HandlerFailed(String),
    // The upstream.
    #[error("upstream `{backend}` failed: {cause}")]
    UpstreamFailed { backend: String, cause: String },
    #[error("upstream `{backend}` failed before sending a body: {cause}")]
    UpstreamNoBody { backend: String, cause: String },
    #[error("upstream request timed out")]
    UpstreamTimeout,
    #[error("no healthy upstream for model `{0}`")]
    NoHealthyUpstream(String),
    #[error("upstream body failed: {0}")]
    UpstreamBody(String),
    #[error("Response transformation error: {0}")]
    ResponseTransform(String),
    /// A fusion or workflows decision could not produce an answer from its model calls.
    #[error("{algorithm} failed: {cause}")]
    LooperFailed {
        algorithm: &'static str,
        cause: String,
    },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            MalformedJson | MissingMessages | MessagesNotArray | MissingModel | ModelNotString
            | InvalidBody(_) | InvalidInput(_) | BodyRead(_) | ResponsesInput | ResponsesItem => {
                StatusCode::BAD_REQUEST
            }
            BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UnknownModel(_) | NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            RoutingFailed | RewriteFailed(_) | BadBackendAddress(_) | HandlerFailed(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            NoBackend(_) | NoHealthyUpstream(_) => StatusCode::SERVICE_UNAVAILABLE,
            HttpsUnsupported(_)
            | UpstreamFailed { .. }
            | UpstreamNoBody { .. }
            | UpstreamBody(_)
            | ResponseTransform(_)
            | LooperFailed { .. } => StatusCode::BAD_GATEWAY,
            UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub fn origin(&self) -> ErrorOrigin {
        use ApiError::*;
        match self {
            MalformedJson
            | MissingMessages
            | MessagesNotArray
            | MissingModel
            | ModelNotString
            | InvalidBody(_)
            | InvalidInput(_)
            | BodyTooLarge { .. }
            | BodyRead(_)
            | ResponsesInput
            | ResponsesItem
            | UnknownModel(_)
            | NotFound
            | MethodNotAllowed => ErrorOrigin::Client,
            RateLimited | RoutingFailed | NoBackend(_) | RewriteFailed(_)
            | BadBackendAddress(_) | HttpsUnsupported(_) | HandlerFailed(_) => ErrorOrigin::Router,
            UpstreamFailed { .. }
            | UpstreamNoBody { .. }
            | UpstreamTimeout
            | NoHealthyUpstream(_)
            | UpstreamBody(_)
            | ResponseTransform(_)
            | LooperFailed { .. } => ErrorOrigin::Upstream,
        }
    }

    /// The OpenAI `type` field: `rate_limit_error` for 429, `invalid_request_error` otherwise
    /// (even for 5xx, as upstream does).
    pub fn openai_type(&self) -> &'static str {
        if matches!(self, ApiError::RateLimited) {
            "rate_limit_error"
        } else {
            "invalid_request_error"
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": {
            "message": self.to_string(),
            "type": self.openai_type(),
            "code": self.status().as_u16(),
        }})
    }

    pub fn into_response(self) -> Response<RespBody> {
        let body = serde_json::to_vec(&self.to_json()).unwrap_or_default();
        let mut resp = Response::new(full(Bytes::from(body)));
        *resp.status_mut() = self.status();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if matches!(self, ApiError::RateLimited) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// Management-API error shape (surface spec §3): `{"error":{"code","message","timestamp"}}`.
pub fn management_error(status: StatusCode, code: &str, message: &str) -> Response<RespBody> {
    let body = serde_json::json!({"error": {
        "code": code,
        "message": message,
        "timestamp": crate::util::rfc3339_now(),
    }});
    crate::body::json_response(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shape_has_type_and_numeric_code() {
        let e = ApiError::UpstreamFailed {
            backend: "be0".into(),
            cause: "connection refused".into(),
        };
        let v = e.to_json();
        assert_eq!(v["error"]["code"], 502);
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(
            v["error"]["message"],
            "upstream `be0` failed: connection refused"
        );
        assert_eq!(e.origin(), ErrorOrigin::Upstream);
        let r = ApiError::RateLimited.to_json();
        assert_eq!(r["error"]["type"], "rate_limit_error");
        assert_eq!(r["error"]["code"], 429);
        assert_eq!(ApiError::RateLimited.origin(), ErrorOrigin::Router);
        assert_eq!(ApiError::MissingModel.origin(), ErrorOrigin::Client);
        assert_eq!(
            ApiError::UpstreamTimeout.status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }
}
