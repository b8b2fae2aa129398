//! Errors the data plane answers with, each with a status and a stable code.
//!
//! Rollgate's own routes answer `{"error": {"code", "message"}}`; Open Inference routes answer
//! `{"error": "message"}`, the form Triton and KServe clients parse.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

/// The error document style a route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorStyle {
    /// `{"error": {"code", "message"}}`.
    Rollgate,
    /// `{"error": "message"}`.
    OpenInference,
}

/// A failed request, ready to be answered.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 for a request the model cannot take.
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for a service that does not exist.
    pub(crate) fn unknown_service(name: &str, known: &[&str]) -> Self {
        let message = format!("no service `{name}` (services: {})", known.join(", "));
        Self::new(StatusCode::NOT_FOUND, "unknown_service", message)
    }

    /// The answer in the given style.
    pub(crate) fn respond(self, style: ErrorStyle) -> Response {
        let body = match style {
            ErrorStyle::Rollgate => json!({"error": {"code": self.code, "message": self.message}}),
            ErrorStyle::OpenInference => json!({"error": self.message}),
        };
        (self.status, Json(body)).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.respond(ErrorStyle::Rollgate)
    }
}
