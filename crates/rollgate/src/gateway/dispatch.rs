//! One prediction request, end to end: route, call the chosen version, record, answer.

use super::answer::{self, Reading};
use super::error::ApiError;
use super::facts::{self, OwnedFacts};
use super::protocol::{self, Protocol};
use super::snapshot::{ServiceRuntime, VersionRuntime};
use super::{mirror, v1, Gateway};
use crate::backend::{BackendReply, BackendRequest, Body, Speaks};
use crate::feedback::{Predicted, Record};
use crate::telemetry::ErrorKind;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use rollgate_core::router::{decide, Decision, Draws};
use rollgate_core::tensor::{OutputTensor, TensorData};
use std::sync::Arc;
use tokio::time::Instant;

/// Typed, so setting it does not parse and validate the name on every answer.
const MODEL_VERSION: http::HeaderName = http::HeaderName::from_static("x-model-version");

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

/// Serves one prediction call and returns the answer with Rollgate's headers.
pub(crate) async fn serve(gw: &Gateway, mut call: Call) -> Result<Response, ApiError> {
    let svc = Arc::clone(&call.service);
    let facts = route_facts(gw, &svc, &mut call).await?;
    let decision = {
        let mut view = facts.view();
        // Built only for a service that routes by a flag: the others pay nothing for flags.
        let context = svc
            .flags
            .as_ref()
            .map(|_| facts::flag_context(view.sticky_key, &call.headers));
        view.flag = svc
            .flags
            .as_ref()
            .zip(context.as_ref())
            .map(|(flags, context)| rollgate_core::router::FlagFacts { flags, context });
        decide(&svc.route, &view, draws())
    };
    let version = svc.version(decision.serve);
    let shadow = match decision.mirror {
        Some(target) => mirror::prepare(gw, &svc, target, &mut call).await?,
        None => None,
    };
    let _in_flight = version.stats.start();
    let started = Instant::now();
    let request_id = call.request_id.clone();
    let (response, error, predicted) = match version.backend.speaks() {
        Speaks::Tensors => tensors(gw, &svc, version, call).await,
        Speaks::Http => forward(gw, &svc, version, call).await,
    };
    let latency = started.elapsed();
    version.stats.finish(latency, error);
    // The answer goes to the copy (to compare) and to the ledger (for labels): a clone only
    // when both take it.
    let compared = (error.is_none() && shadow.is_some()).then(|| mirror::Primary {
        predicted: predicted.clone(),
        latency,
    });
    if error.is_none() {
        // Always visible ASCII (see `request_id`): `to_str` only checks that, unlike a lossy
        // UTF-8 decoding.
        let id = request_id.to_str().unwrap_or_default();
        remember(gw, &svc, version, id, predicted);
    }
    if let Some(copy) = shadow {
        copy.send(compared);
    }
    let mut response = response;
    response
        .headers_mut()
        .insert(MODEL_VERSION, version.header.clone());
    log(
        &svc.name,
        &version.name,
        &decision,
        started,
        response.status(),
    );
    Ok(response)
}

/// Keeps the answer for feedback that may come later.
fn remember(
    gw: &Gateway,
    svc: &ServiceRuntime,
    version: &VersionRuntime,
    request_id: &str,
    predicted: Predicted,
) {
    let record = Record {
        service: Arc::clone(&svc.shared_name),
        version: Arc::clone(&version.shared_name),
        stats: Arc::clone(&version.stats),
        predicted,
        at: std::time::Instant::now(),
        shadow: None,
        labelled: false,
        rewarded: false,
    };
    gw.ledger.insert(request_id, record);
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

/// Reads the facts, first reading the body when the sticky key lives in it.
async fn route_facts(
    gw: &Gateway,
    svc: &ServiceRuntime,
    call: &mut Call,
) -> Result<OwnedFacts, ApiError> {
    let object = if facts::needs_body(&svc.route) {
        let body = read(gw, call).await?;
        v1::object(&body).ok()
    } else {
        None
    };
    let mut facts = facts::extract(&svc.route, &call.headers, object.as_ref());
    if let Some(v) = &call.pinned {
        facts.pin(v);
    }
    Ok(facts)
}

fn draws() -> Draws {
    let r: u64 = rand::random();
    Draws {
        route: (r % 10_000) as u32,
        mirror: ((r >> 32) % 10_000) as u32,
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
    if super::deadline::is_timeout(e) {
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

/// Runs an in-process model: decode, infer, encode.
async fn tensors(
    gw: &Gateway,
    svc: &ServiceRuntime,
    version: &VersionRuntime,
    mut call: Call,
) -> (Response, Option<ErrorKind>, Predicted) {
    let style = call.protocol.style();
    let failed = |(r, e): (Response, Option<ErrorKind>)| (r, e, Predicted::Opaque);
    let body = match read(gw, &mut call).await {
        Ok(b) => b,
        Err(e) => return failed((e.respond(style), Some(ErrorKind::BadRequest))),
    };
    let (batch, decoded) = match call.protocol.decode(&body, &call.headers, svc.input_width) {
        Ok(d) => d,
        Err(e) => return failed((e.respond(style), Some(ErrorKind::BadRequest))),
    };
    match version.backend.call(BackendRequest::Tensors(batch)).await {
        Ok(BackendReply::Tensors(outputs)) => {
            let predicted = predicted(&outputs);
            record_predicted(svc, version, &predicted);
            (
                protocol::encode(
                    decoded,
                    &outputs,
                    svc,
                    &version.name,
                    call.request_id.to_str().unwrap_or_default(),
                ),
                None,
                predicted,
            )
        }
        Ok(BackendReply::Http(_)) => failed(internal(style)),
        Err(e) => failed((
            backend_error(e.kind, e.message).respond(style),
            Some(e.kind),
        )),
    }
}

fn internal(style: super::error::ErrorStyle) -> (Response, Option<ErrorKind>) {
    let e = ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "backend answered in the wrong form",
    );
    (e.respond(style), Some(ErrorKind::Model))
}

/// The status a backend failure is answered with: 504 for a timeout, 502 otherwise.
fn backend_error(kind: ErrorKind, message: String) -> ApiError {
    match kind {
        ErrorKind::Timeout => {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", message)
        }
        ErrorKind::BadRequest => ApiError::bad_request("bad_request", message),
        ErrorKind::Unavailable => {
            ApiError::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", message)
        }
        ErrorKind::Model | ErrorKind::Upstream5xx => {
            ApiError::new(StatusCode::BAD_GATEWAY, "model_error", message)
        }
    }
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

/// Forwards the request to an HTTP version as it came, on the mapped path.
/// A small JSON answer is read on the way to say what the version predicted.
async fn forward(
    gw: &Gateway,
    svc: &ServiceRuntime,
    version: &VersionRuntime,
    mut call: Call,
) -> (Response, Option<ErrorKind>, Predicted) {
    let style = call.protocol.style();
    let failed = |(r, e): (Response, Option<ErrorKind>)| (r, e, Predicted::Opaque);
    if !declares_length(&call.headers) {
        if let Err(e) = read(gw, &mut call).await {
            return failed((e.respond(style), Some(ErrorKind::BadRequest)));
        }
    }
    let request = match upstream_request(gw, version, call) {
        Ok(r) => r,
        Err(e) => return failed((e.respond(style), Some(ErrorKind::BadRequest))),
    };
    match version.backend.call(BackendRequest::Http(request)).await {
        Ok(BackendReply::Http(resp)) => match answer::examine(resp, &svc.output.classes).await {
            Ok(Reading::Unread(resp, error)) => (resp, error, Predicted::Opaque),
            Ok(Reading::Read(resp, predicted)) => {
                record_read(svc, version, predicted.as_ref());
                (resp, None, predicted.unwrap_or(Predicted::Opaque))
            }
            Err(e) => failed((
                backend_error(e.kind, e.message).respond(style),
                Some(e.kind),
            )),
        },
        Ok(BackendReply::Tensors(_)) => failed(internal(style)),
        Err(e) => failed((
            backend_error(e.kind, e.message).respond(style),
            Some(e.kind),
        )),
    }
}

/// True when the request declares its body length, which [`super::check_length`] has held to
/// the limit. A body without one (chunked) is read first, within the limit: an oversized one is
/// then the client's 413, not an upstream request cut off mid-body that would count as a 5xx
/// against the version and its instance (and could get a healthy instance ejected). A read body
/// can also be retried on another instance.
fn declares_length(headers: &HeaderMap) -> bool {
    headers.contains_key(http::header::CONTENT_LENGTH)
}

fn upstream_request(
    gw: &Gateway,
    version: &VersionRuntime,
    call: Call,
) -> Result<http::Request<Body>, ApiError> {
    let uri = mapped_uri(version, call.protocol, &call.uri)?;
    let body: Body = match call.payload {
        Payload::Read(bytes) => Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync(),
        Payload::Stream(body) => Limited::new(body, gw.max_body).boxed_unsync(),
    };
    let mut req = http::Request::builder()
        .method(call.method)
        .uri(uri)
        .body(body)
        .map_err(|e| ApiError::bad_request("bad_request", e.to_string()))?;
    *req.headers_mut() = call.headers;
    Ok(req)
}

/// The URI an HTTP version is sent a request on: the version's path for the protocol
/// (`predict_path`, `infer_path`) with the query kept, or the incoming URI when none is set.
/// Served requests and mirrored copies both go through here, so an upstream sees one path.
pub(crate) fn mapped_uri(
    version: &VersionRuntime,
    protocol: Protocol,
    uri: &Uri,
) -> Result<Uri, ApiError> {
    let (mapped, parsed) = match protocol {
        Protocol::V1 => (version.predict_path.as_deref(), &version.predict_uri),
        Protocol::OpenInference => (version.infer_path.as_deref(), &version.infer_uri),
    };
    match (mapped, parsed) {
        (None, _) => Ok(uri.clone()),
        (Some(_), Some(parsed)) if uri.query().is_none() => Ok(parsed.clone()),
        (Some(path), _) => with_path(uri, path),
    }
}

fn with_path(uri: &Uri, path: &str) -> Result<Uri, ApiError> {
    let full = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    full.parse().map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "bad_path",
            format!("bad upstream path `{path}`"),
        )
    })
}

fn log(service: &str, version: &str, decision: &Decision, started: Instant, status: StatusCode) {
    tracing::debug!(
        target: "rollgate::access",
        service,
        version,
        reason = ?decision.reason,
        mirrored = decision.mirror.is_some(),
        status = status.as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
}

impl IntoResponse for Payload {
    fn into_response(self) -> Response {
        StatusCode::NO_CONTENT.into_response()
    }
}
