//! Registering versions: an ONNX file (raw body or multipart form) or HTTP upstream URLs.

use super::admin::{changed, if_match, Admin};
use super::plane::ControlError;
use crate::gateway::error::ApiError;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use rollgate_core::catalog::{Change, ChangeError};
use rollgate_core::config::file::HttpFile;
use rollgate_core::config::{service_from_file, VersionSource, VersionSpec};
use serde::Deserialize;

/// `?version=NAME` of an upload.
#[derive(Debug, Deserialize)]
pub(crate) struct NameQuery {
    pub(crate) version: Option<String>,
}

/// `POST /api/v1/services/{service}/versions` with JSON: an HTTP upstream version.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamVersion {
    name: String,
    http: HttpFile,
}

/// Registers a version at 0%: JSON `{"name", "http": {...}}` for an upstream, or a model file
/// (`application/octet-stream` body with `?version=NAME`, or a multipart form).
pub(crate) async fn register_version(
    State(admin): State<Admin>,
    Path(service): Path<String>,
    headers: HeaderMap,
    Query(q): Query<NameQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    super::admin::check_revision(&admin, &service, expected).await?;
    let version = if is_json(&headers) {
        upstream(&admin, &service, req).await?
    } else {
        let (name, bytes) = model_from_request(&admin, &service, q.version, req).await?;
        let (source, _) = admin.plane.store_model(&service, bytes).await?;
        VersionSpec { name, source }
    };
    let mut resp = changed(&admin, &service, expected, Change::AddVersion(version)).await?;
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Validates an upstream version through the same rules as the config file.
async fn upstream(admin: &Admin, service: &str, req: Request) -> Result<VersionSpec, ApiError> {
    let body = read_limited(admin, req).await?;
    let v: UpstreamVersion = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
    let state = admin.plane.service(service).await?;
    if state.spec.versions.iter().any(|x| x.name == v.name) {
        return Err(ControlError::from(ChangeError::VersionExists(v.name)).into());
    }
    let mut doc = rollgate_core::config::service_file(&state.spec);
    let file = rollgate_core::config::file::VersionFile {
        onnx: None,
        http: Some(v.http),
    };
    doc.versions.0.push((v.name.clone(), file));
    let spec = service_from_file(service, doc)
        .map_err(|e| ApiError::bad_request("bad_version", e.to_string()))?;
    let source: VersionSource = spec
        .versions
        .into_iter()
        .find(|x| x.name == v.name)
        .map(|x| x.source)
        .ok_or_else(|| ApiError::bad_request("bad_version", "duplicate version name"))?;
    Ok(VersionSpec {
        name: v.name,
        source,
    })
}

/// The model bytes and version name of an upload: multipart (`file` part, optional `version`
/// part) or a raw body; the name defaults to the next free `vN`.
pub(crate) async fn model_from_request(
    admin: &Admin,
    service: &str,
    name: Option<String>,
    req: Request,
) -> Result<(String, Vec<u8>), ApiError> {
    refuse_declared_over(req.headers(), admin.plane.max_model_bytes())?;
    let multipart = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (form_name, bytes) = if multipart {
        from_multipart(req).await?
    } else {
        (None, read_limited(admin, req).await?.to_vec())
    };
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "bad_model",
            "the request holds no model file",
        ));
    }
    let name = match name.or(form_name) {
        Some(n) => n,
        None => next_name(admin, service).await?,
    };
    Ok((name, bytes))
}

async fn from_multipart(req: Request) -> Result<(Option<String>, Vec<u8>), ApiError> {
    let bad =
        |e: axum::extract::multipart::MultipartError| multipart_error(e.status(), e.body_text());
    let mut form = Multipart::from_request(req, &())
        .await
        .map_err(|e| multipart_error(e.status(), e.body_text()))?;
    let (mut name, mut bytes) = (None, Vec::new());
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("version") => name = Some(field.text().await.map_err(bad)?),
            Some("file") => bytes = field.bytes().await.map_err(bad)?.to_vec(),
            _ => {}
        }
    }
    Ok((name, bytes))
}

/// A form that cannot be read: 413 when it is over the upload limit, 400 otherwise.
fn multipart_error(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "model_too_large", text)
    } else {
        ApiError::bad_request("bad_multipart", text)
    }
}

/// Refuses an upload whose declared length is over the limit before reading a byte of it, so a
/// client cannot make the gateway wait for (or receive) a body it will refuse anyway.
fn refuse_declared_over(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "model_too_large",
            format!("the upload is over the {limit}-byte limit"),
        )),
        _ => Ok(()),
    }
}

/// Reads a body up to the model size limit (413 above it).
async fn read_limited(admin: &Admin, req: Request) -> Result<Bytes, ApiError> {
    let limit = admin.plane.max_model_bytes();
    http_body_util::Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| {
            if crate::gateway::deadline::is_timeout(&*e) {
                return ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", e.to_string());
            }
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "model_too_large",
                format!("the upload is over the {limit}-byte limit"),
            )
        })
}

async fn next_name(admin: &Admin, service: &str) -> Result<String, ApiError> {
    let state = admin.plane.service(service).await?;
    let taken = |n: &str| state.spec.versions.iter().any(|v| v.name == n);
    let n = (1..).find(|i| !taken(&format!("v{i}"))).unwrap_or(1);
    Ok(format!("v{n}"))
}
