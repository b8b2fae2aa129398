//! A prediction call as the handlers hand it over, and what serving it and mirroring it
//! share: reading its body within the limit, the upstream URI of an HTTP version, and
//! counting what a version predicted. A leaf of the gateway: `dispatch` (the served call) and
//! `mirror` (its copy) both build on it.

use super::deadline;
use super::error::ApiError;
use super::protocol::Protocol;
use super::snapshot::{ServiceRuntime, UpstreamPath, VersionRuntime};
use super::{v1, Gateway};
use crate::feedback::Predicted;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use rollgate_core::tensor::{OutputTensor, TensorData};
use std::sync::Arc;

/// The request's body: still streaming, or read (when routing, decoding or mirroring needed it).
pub(crate) enum Payload {
    Stream(axum::body::Body),
    Read(Bytes),
}

/// A prediction request as the handlers hand it over.
pub(crate) struct Call {
    pub(crate) protocol: Protocol,
    pub(crate) service: Arc<ServiceRuntime>,
    /// Also in `headers`, where the request-id layer put it: the upstream sees it there.
    pub(crate) request_id: HeaderValue,
    pub(crate) method: http::Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) payload: Payload,
    /// A version the path itself names (`/v2/models/{s}/versions/{v}/infer`).
    pub(crate) pinned: Option<String>,
}

/// What a version's outputs predicted, as feedback judges it.
pub(crate) fn predicted(outputs: &[OutputTensor]) -> Predicted {
    if let Some((labels, _, _)) = v1::classifier(outputs) {
        return Predicted::Classes(labels.to_vec());
    }
    match outputs {
        [OutputTensor {
            data: TensorData::F32(values),
            ..
        }] => Predicted::Values(values.clone()),
        _ => Predicted::Opaque,
    }
}

/// The body as bytes, reading it (within the size limit) if it is still streaming.
pub(crate) async fn read(gw: &Gateway, call: &mut Call) -> Result<Bytes, ApiError> {
    let payload = std::mem::replace(&mut call.payload, Payload::Read(Bytes::new()));
    let bytes = match payload {
        Payload::Read(b) => b,
        Payload::Stream(body) => Limited::new(body, gw.max_body)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| body_error(gw.max_body, &*e))?,
    };
    call.payload = Payload::Read(bytes.clone());
    Ok(bytes)
}

fn body_error(limit: usize, e: &(dyn std::error::Error + 'static)) -> ApiError {
    if e.is::<http_body_util::LengthLimitError>() {
        return too_large(limit);
    }
    if deadline::is_timeout(e) {
        return ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", e.to_string());
    }
    ApiError::bad_request("bad_body", format!("reading the request body failed: {e}"))
}

pub(crate) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is over the {limit}-byte limit"),
    )
}

/// Counts what a successful answer read from a model server predicted; `None` (predictions
/// that cannot be read) is one invalid output. Served answers and mirrored copies alike.
pub(crate) fn record_read(svc: &ServiceRuntime, version: &VersionRuntime, p: Option<&Predicted>) {
    match p {
        Some(p) => record_predicted(svc, version, p),
        None => version.stats.outcomes().record_invalid(1),
    }
}

/// Counts the predicted classes (or regression values) of a batch: the output distribution,
/// and the outputs invalid on their face (an undeclared class, NaN, a value out of range).
pub(crate) fn record_predicted(svc: &ServiceRuntime, version: &VersionRuntime, p: &Predicted) {
    let stats = &version.stats;
    let invalid = match p {
        Predicted::Classes(labels) => {
            labels.iter().for_each(|&l| stats.record_class(l));
            let declared = svc.output.classes.len();
            labels
                .iter()
                .filter(|&&l| l < 0 || (declared > 0 && l >= declared as i64))
                .count()
        }
        Predicted::Values(values) => {
            values
                .iter()
                .for_each(|&v| stats.record_value(f64::from(v)));
            let range = svc.output.range;
            values
                .iter()
                .filter(|v| {
                    v.is_nan() || range.is_some_and(|(lo, hi)| !(lo..=hi).contains(&f64::from(**v)))
                })
                .count()
        }
        Predicted::Opaque => 0,
    };
    stats.outcomes().record_invalid(invalid as u64);
}

/// The URI an HTTP version is sent a request on: the version's path for the protocol
/// (`predict_path`, `infer_path`) with the query kept, or the incoming URI when none is set.
/// Served requests and mirrored copies both go through here, so an upstream sees one path.
pub(crate) fn mapped_uri(
    version: &VersionRuntime,
    protocol: Protocol,
    uri: &Uri,
) -> Result<Uri, ApiError> {
    let mapped = match protocol {
        Protocol::V1 => &version.predict_path,
        Protocol::OpenInference => &version.infer_path,
    };
    match mapped {
        UpstreamPath::Incoming => Ok(uri.clone()),
        UpstreamPath::Mapped(parsed) if uri.query().is_none() => Ok(parsed.clone()),
        UpstreamPath::Mapped(parsed) => with_path(uri, parsed.path()),
        UpstreamPath::Unparseable(path) => Err(bad_path(path)),
    }
}

fn bad_path(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "bad_path",
        format!("bad upstream path `{path}`"),
    )
}

fn with_path(uri: &Uri, path: &str) -> Result<Uri, ApiError> {
    let full = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    full.parse().map_err(|_| bad_path(path))
}
