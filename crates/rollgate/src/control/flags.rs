//! `GET`/`PUT /api/v1/services/{service}/flags`: the feature flags that pick a version per
//! request. A change is validated like the config file, committed with its event, and served
//! by the next snapshot, without a restart.

use super::admin::{changed, expected_revision, tagged, Admin};
use crate::gateway::error::ApiError;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use rollgate_core::catalog::Change;
use rollgate_core::config::file::ServiceFlagsFile;
use rollgate_core::config::{service_file, service_from_file};
use serde::Deserialize;
use serde_json::json;

/// `{"revision": 7, "flags": {...}}`; `"flags": null` removes them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutFlags {
    revision: Option<u64>,
    flags: Option<ServiceFlagsFile>,
}

pub(super) async fn get(
    State(admin): State<Admin>,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    let state = admin.plane.service(&service).await?;
    let flags = service_file(&state.spec).flags;
    Ok(tagged(
        state.revision,
        json!({"revision": state.revision, "flags": flags}),
    ))
}

pub(super) async fn put(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(service): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let put: PutFlags = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
    let expected = expected_revision(put.revision, &headers)?;
    let state = admin.plane.service(&service).await?;
    let mut doc = service_file(&state.spec);
    doc.flags = put.flags;
    let spec = service_from_file(&service, doc)
        .map_err(|e| ApiError::bad_request("bad_flags", e.to_string()))?;
    changed(&admin, &service, expected, Change::SetFlags(spec.flags)).await
}
