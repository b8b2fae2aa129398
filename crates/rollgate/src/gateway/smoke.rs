//! Smoke requests: a blue/green candidate is asked fixed questions directly, before any user
//! reaches it, and its answers and latency are checked (seed 004's smoke test suite).

use super::protocol::Protocol;
use super::{v1, Gateway};
use crate::backend::Backend;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Why a smoke request got no answer to check.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SmokeError {
    #[error("{0}")]
    UnknownService(String),
    #[error("no version `{version}` in `{service}`")]
    UnknownVersion { service: String, version: String },
    #[error("smoke checks run against in-process (ONNX) versions")]
    NotInProcess,
    #[error("the smoke request is not a valid v1 predict body: {0}")]
    BadBody(String),
    #[error("{0}")]
    Backend(String),
}

impl Gateway {
    /// Sends one v1 predict body to a version of a service, bypassing the route table; returns
    /// the predictions as the v1 endpoint renders them and the time the version took.
    pub(crate) async fn smoke(
        &self,
        service: &str,
        version: &str,
        body: &str,
    ) -> Result<(Value, Duration), SmokeError> {
        let svc = self
            .service(service)
            .map_err(|e| SmokeError::UnknownService(e.message))?;
        let idx = svc
            .route
            .index_of(version)
            .ok_or_else(|| SmokeError::UnknownVersion {
                service: service.to_owned(),
                version: version.to_owned(),
            })?;
        let Backend::Onnx(model) = svc.version(idx).backend.as_ref() else {
            return Err(SmokeError::NotInProcess);
        };
        let (batch, _) = Protocol::V1
            .decode(body.as_bytes(), &http::HeaderMap::new(), svc.input_width)
            .map_err(|e| SmokeError::BadBody(e.message))?;
        let started = Instant::now();
        match model.run(batch).await {
            Ok(outputs) => Ok((v1::predictions(&outputs, &svc.output), started.elapsed())),
            Err(e) => Err(SmokeError::Backend(e.message)),
        }
    }
}
