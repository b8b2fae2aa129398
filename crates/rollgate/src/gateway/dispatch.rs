//! One prediction request, end to end: route, call the chosen version, record, answer.

use super::answer::{self, Reading};
use super::call::{mapped_uri, predicted, read, record_predicted, record_read, Call, Payload};
use super::error::ApiError;
use super::facts::{self, OwnedFacts};
use super::protocol;
use super::snapshot::{ServiceRuntime, VersionRuntime};
use super::{mirror, v1, Gateway};
use crate::backend::{http::HttpBackend, onnx::OnnxBackend, Backend, Body};
use crate::feedback::{Predicted, Record};
use crate::telemetry::ErrorKind;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use rollgate_core::router::{decide, Decision, Draws};
use std::sync::Arc;
use tokio::time::Instant;

/// Typed, so setting it does not parse and validate the name on every answer.
const MODEL_VERSION: http::HeaderName = http::HeaderName::from_static("x-model-version");

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
    let (response, error, predicted) = match version.backend.as_ref() {
        Backend::Onnx(model) => tensors(gw, &svc, version, model, call).await,
        Backend::Http(server) => forward(gw, &svc, version, server, call).await,
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
        service: Arc::clone(&svc.name),
        version: Arc::clone(&version.name),
        stats: Arc::clone(&version.stats),
        predicted,
        at: std::time::Instant::now(),
        shadow: None,
        labelled: false,
        rewarded: false,
    };
    gw.ledger.insert(request_id, record);
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

/// Runs an in-process model: decode, infer, encode.
async fn tensors(
    gw: &Gateway,
    svc: &ServiceRuntime,
    version: &VersionRuntime,
    model: &OnnxBackend,
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
    match model.run(batch).await {
        Ok(outputs) => {
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
        Err(e) => failed((
            backend_error(e.kind, e.message).respond(style),
            Some(e.kind),
        )),
    }
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

/// Forwards the request to an HTTP version as it came, on the mapped path.
/// A small JSON answer is read on the way to say what the version predicted.
async fn forward(
    gw: &Gateway,
    svc: &ServiceRuntime,
    version: &VersionRuntime,
    server: &HttpBackend,
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
    match server.forward(request).await {
        Ok(resp) => match answer::examine(resp, &svc.output.classes).await {
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
