//! The dashboard API's errors: one variant per kind, each with its status and stable `code`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use serde_json::json;

/// A problem found in a config or DSL text, 1-based.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub line: usize,
    pub column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_column: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum DashError {
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first")]
    Unauthenticated,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("missing or wrong x-csrf-token header")]
    Csrf,
    #[error("the dashboard runs read-only (--readonly): config changes are refused")]
    ReadOnly,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A config or DSL text that does not validate; the diagnostics say where.
    #[error("{message}")]
    Invalid {
        message: String,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("{message}")]
    Import {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl DashError {
    pub fn status(&self) -> StatusCode {
        match self {
            DashError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DashError::Unauthenticated | DashError::BadCredentials => StatusCode::UNAUTHORIZED,
            DashError::Forbidden(_) | DashError::Csrf | DashError::ReadOnly => {
                StatusCode::FORBIDDEN
            }
            DashError::NotFound(_) => StatusCode::NOT_FOUND,
            DashError::Conflict(_) => StatusCode::CONFLICT,
            DashError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            DashError::Import { status, .. } => *status,
            DashError::Upstream(_) => StatusCode::BAD_GATEWAY,
            DashError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            DashError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            DashError::BadRequest(_) => "bad_request",
            DashError::Unauthenticated => "unauthenticated",
            DashError::BadCredentials => "bad_credentials",
            DashError::Forbidden(_) => "forbidden",
            DashError::Csrf => "csrf_failed",
            DashError::ReadOnly => "readonly",
            DashError::NotFound(_) => "not_found",
            DashError::Conflict(_) => "conflict",
            DashError::Invalid { .. } => "invalid_config",
            DashError::Import { code, .. } => code,
            DashError::Upstream(_) => "upstream_error",
            DashError::Unavailable(_) => "unavailable",
            DashError::Internal(_) => "internal_error",
        }
    }
}

impl From<crate::db::StoreError> for DashError {
    fn from(e: crate::db::StoreError) -> Self {
        tracing::error!(error = %e, "dashboard database error");
        DashError::Unavailable(format!("dashboard database: {e}"))
    }
}

impl From<vsr_replay::StoreError> for DashError {
    fn from(e: vsr_replay::StoreError) -> Self {
        DashError::Unavailable(format!("replay store: {e}"))
    }
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"message": self.to_string(), "code": self.code()}});
        if let DashError::Invalid { diagnostics, .. } = &self {
            body["diagnostics"] = json!(diagnostics);
        }
        (self.status(), Json(body)).into_response()
    }
}

pub type DashResult<T> = Result<T, DashError>;
