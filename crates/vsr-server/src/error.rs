//! Errors the router answers itself, rendered in the OpenAI shape
//! `{"error":{"message","type","code"}}` (surface spec §2.7).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{RespBody, full};

/// A router-generated error: an HTTP status plus the message clients see.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "endpoint not found")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    }

    /// The `type` field: `rate_limit_error` for 429, `invalid_request_error` otherwise (even
    /// for 5xx, as upstream does).
    fn kind(&self) -> &'static str {
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            "rate_limit_error"
        } else {
            "invalid_request_error"
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": {
            "message": self.message,
            "type": self.kind(),
            "code": self.status.as_u16(),
        }})
    }

    pub fn into_response(self) -> Response<RespBody> {
        let body = serde_json::to_vec(&self.to_json()).unwrap_or_default();
        let mut resp = Response::new(full(Bytes::from(body)));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::TOO_MANY_REQUESTS {
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
        let e = ApiError::new(StatusCode::BAD_GATEWAY, "upstream failed");
        let v = e.to_json();
        assert_eq!(v["error"]["code"], 502);
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], "upstream failed");
        let r = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "busy").to_json();
        assert_eq!(r["error"]["type"], "rate_limit_error");
    }
}
