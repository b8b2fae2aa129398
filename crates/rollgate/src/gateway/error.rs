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

    /// Rollgate's JSON error document.
    pub(crate) fn document(&self) -> serde_json::Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }

    /// The answer in the given style.
    pub(crate) fn respond(self, style: ErrorStyle) -> Response {
        let body = match style {
            ErrorStyle::Rollgate => self.document(),
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

/// Rewrites an error answer that is not JSON into Rollgate's error document.
///
/// axum's own rejections (a query string or path that does not parse, a method the route lacks,
/// a body over the limit) answer in plain text or with an empty body; clients of an API expect
/// one error form, so every 4xx/5xx leaves as `{"error": {"code", "message"}}`. Headers such as
/// `Allow` and `WWW-Authenticate` are kept.
pub(crate) async fn json_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let failed = status.is_client_error() || status.is_server_error();
    if !failed || is_json(resp.headers()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut out = ApiError::new(status, code_for(status), message).into_response();
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_TYPE && name != http::header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The stable code of an error that only has a status.
pub(crate) fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        s if s.is_server_error() => "internal",
        _ => "client_error",
    }
}
