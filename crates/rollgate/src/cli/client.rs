//! A small client of the control API for the CLI verbs.

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;

/// How a CLI call failed; each kind has its own exit code so scripts can tell them apart.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// The server refused the request (4xx): exit code 1.
    #[error("{status}: {message}")]
    Refused {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// The server could not be reached or failed (5xx): exit code 3.
    #[error("{0}")]
    Unavailable(String),
    /// The command line asks for something that cannot be done as written: exit code 2.
    #[error("{0}")]
    Usage(String),
}

impl CallError {
    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CallError::Refused { .. } => 1,
            CallError::Unavailable(_) => 3,
            CallError::Usage(_) => 2,
        }
    }
}

/// The admin API at a base URL, with an optional bearer token.
pub(crate) struct AdminClient {
    base: String,
    token: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl AdminClient {
    pub(crate) fn new(base: &str, token: Option<String>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// `GET path` → JSON.
    pub(crate) async fn get(&self, path: &str) -> Result<Value, CallError> {
        self.send(Method::GET, path, None, Bytes::new()).await
    }

    /// `POST path` with a JSON body → JSON.
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        self.send(
            Method::POST,
            path,
            Some("application/json"),
            Bytes::from(body.to_string()),
        )
        .await
    }

    /// `PUT path` with a JSON body → JSON.
    pub(crate) async fn put_json(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        self.send(
            Method::PUT,
            path,
            Some("application/json"),
            Bytes::from(body.to_string()),
        )
        .await
    }

    /// `POST path` with raw bytes → JSON.
    pub(crate) async fn post_bytes(&self, path: &str, bytes: Vec<u8>) -> Result<Value, CallError> {
        self.send(
            Method::POST,
            path,
            Some("application/octet-stream"),
            Bytes::from(bytes),
        )
        .await
    }

    /// `DELETE path` → JSON.
    pub(crate) async fn delete(&self, path: &str) -> Result<Value, CallError> {
        self.send(Method::DELETE, path, None, Bytes::new()).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Value, CallError> {
        let url = format!("{}{path}", self.base);
        let mut req = Request::builder().method(method).uri(&url);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        if let Some(token) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| CallError::Unavailable(format!("bad URL `{url}`: {e}")))?;
        let call = self.client.request(req);
        let resp = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .map_err(|_| CallError::Unavailable(format!("{url}: no answer within 60 s")))?
            .map_err(|e| {
                CallError::Unavailable(format!(
                    "cannot reach {url}: {}",
                    std::error::Error::source(&e).map_or(e.to_string(), ToString::to_string)
                ))
            })?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| CallError::Unavailable(format!("{url}: {e}")))?
            .to_bytes();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(json);
        }
        let code = json["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let message = json["error"]["message"].as_str().map_or_else(
            || String::from_utf8_lossy(&bytes).into_owned(),
            str::to_owned,
        );
        if status.is_server_error() {
            return Err(CallError::Unavailable(format!("{status}: {message}")));
        }
        Err(CallError::Refused {
            status,
            code,
            message,
        })
    }
}
