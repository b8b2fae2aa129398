//! The data plane: the listener's routes, from a request to the answer of a model version.
//!
//! Handlers stay thin: they find the service in the current [`Snapshot`] (an `ArcSwap` load, no
//! lock) and hand a [`call::Call`] over; [`dispatch`] routes it with the pure router of
//! `rollgate-core`, calls the backend and records the outcome.

mod answer;
mod call;
pub(crate) mod deadline;
mod dispatch;
pub(crate) mod error;
mod facts;
pub(crate) mod feedback;
mod mirror;
pub(crate) mod oip;
pub(crate) mod port;
mod protocol;
pub(crate) mod smoke;
pub(crate) mod snapshot;
mod v1;

use crate::feedback::Ledger;
use crate::telemetry::{Exposition, Recorder, WeightSource};
use arc_swap::ArcSwap;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use call::{Call, Payload};
use error::{ApiError, ErrorStyle};
use protocol::Protocol;
use rollgate_core::tensor::TensorSpec;
use snapshot::{ServiceRuntime, Snapshot};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Copies being mirrored at once, across all services; beyond it copies are dropped.
const MIRROR_SLOTS: usize = 256;

/// The shared state of the data plane.
#[derive(Debug)]
pub(crate) struct Gateway {
    snapshot: Arc<ArcSwap<Snapshot>>,
    exposition: Exposition,
    max_body: usize,
    mirror_slots: Arc<Semaphore>,
    ledger: Arc<Ledger>,
    /// Set on SIGTERM: readiness fails from then on while requests are still served, so load
    /// balancers stop sending before the ports close.
    draining: std::sync::atomic::AtomicBool,
    /// On a shared store, where feedback for requests other replicas answered goes.
    pub(crate) relay: std::sync::OnceLock<crate::relay::Relay>,
}

impl Gateway {
    pub(crate) fn new(
        snapshot: Snapshot,
        recorder: Arc<Recorder>,
        max_body: usize,
        ledger: Arc<Ledger>,
    ) -> Self {
        let snapshot = Arc::new(ArcSwap::from_pointee(snapshot));
        let weights = Arc::new(RouteWeights(Arc::clone(&snapshot)));
        let exposition = Exposition::new(Arc::clone(&recorder), weights);
        Self {
            snapshot,
            exposition,
            max_body,
            mirror_slots: Arc::new(Semaphore::new(MIRROR_SLOTS)),
            ledger,
            draining: std::sync::atomic::AtomicBool::new(false),
            relay: std::sync::OnceLock::new(),
        }
    }

    /// Reports not-ready from now on (the replica is going away); serving goes on.
    pub(crate) fn start_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The current snapshot.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Replaces the snapshot; requests in flight finish on the one they started with.
    pub(crate) fn swap(&self, next: Snapshot) {
        self.snapshot.store(Arc::new(next));
    }

    fn service(&self, name: &str) -> Result<Arc<ServiceRuntime>, ApiError> {
        let snap = self.snapshot.load();
        snap.services
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::unknown_service(name, &snap.names()))
    }
}

/// Exposes the live route weights to `/metrics`.
#[derive(Debug)]
struct RouteWeights(Arc<ArcSwap<Snapshot>>);

impl WeightSource for RouteWeights {
    fn weights(&self) -> Vec<(String, String, f64)> {
        let snap = self.0.load();
        let mut out = Vec::new();
        for svc in snap.services.values() {
            for (name, bps) in svc.route.versions().iter().zip(svc.route.weights()) {
                out.push((
                    svc.name.to_string(),
                    name.clone(),
                    f64::from(*bps) / 10_000.0,
                ));
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    fn roles(&self) -> Vec<(String, String, &'static str)> {
        let snap = self.0.load();
        let mut out = Vec::new();
        for svc in snap.services.values() {
            let r = &svc.route;
            for (i, name) in r.versions().iter().enumerate() {
                let idx = rollgate_core::route::VersionIdx(i as u16);
                let role = if r.stable() == idx {
                    "stable"
                } else if r.candidate() == Some(idx) {
                    "candidate"
                } else {
                    "other"
                };
                out.push((svc.name.to_string(), name.clone(), role));
            }
        }
        out.sort();
        out
    }

    fn classes(&self, service: &str) -> Vec<String> {
        let snap = self.0.load();
        snap.services
            .get(service)
            .map(|s| s.output.classes.clone())
            .unwrap_or_default()
    }
}

/// The data port's service: the routes below, predictions taken straight to [`handle`] (see
/// [`port`]).
pub(crate) fn routes(gw: Arc<Gateway>) -> port::DataPort {
    let router = Router::new()
        .route("/v1/models/{service}/predict", post(predict_v1))
        .route("/v1/feedback", post(feedback::receive))
        .route("/v2/models/{service}/infer", post(infer))
        .route(
            "/v2/models/{service}/versions/{version}/infer",
            post(infer_version),
        )
        .route("/v2/models/{service}", get(model_metadata))
        .route(
            "/v2/models/{service}/versions/{version}",
            get(model_metadata_version),
        )
        .route("/v2/models/{service}/ready", get(model_ready))
        .route(
            "/v2/models/{service}/versions/{version}/ready",
            get(model_ready_version),
        )
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(|| async { StatusCode::OK }))
        .route("/v2/health/ready", get(server_ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(Arc::clone(&gw));
    port::new(gw, router)
}

mod request_id;

async fn predict_v1(
    State(gw): State<Arc<Gateway>>,
    Path(service): Path<String>,
    req: Request,
) -> Response {
    handle(&gw, Protocol::V1, &service, None, req).await
}

async fn infer(
    State(gw): State<Arc<Gateway>>,
    Path(service): Path<String>,
    req: Request,
) -> Response {
    handle(&gw, Protocol::OpenInference, &service, None, req).await
}

async fn infer_version(
    State(gw): State<Arc<Gateway>>,
    Path((service, version)): Path<(String, String)>,
    req: Request,
) -> Response {
    handle(&gw, Protocol::OpenInference, &service, Some(version), req).await
}

async fn handle(
    gw: &Gateway,
    protocol: Protocol,
    service: &str,
    pinned: Option<String>,
    req: Request,
) -> Response {
    let style = protocol.style();
    let result = async {
        let service = gw.service(service)?;
        check_version(&service, pinned.as_deref())?;
        check_length(gw, &req)?;
        let request_id = request_id::of(&req);
        let (parts, body) = req.into_parts();
        let call = Call {
            protocol,
            service,
            request_id,
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            payload: Payload::Stream(body),
            pinned,
        };
        dispatch::serve(gw, call).await
    };
    result.await.unwrap_or_else(|e| e.respond(style))
}

fn check_version(svc: &ServiceRuntime, version: Option<&str>) -> Result<(), ApiError> {
    match version {
        Some(v) if svc.route.index_of(v).is_none() => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_version",
            format!(
                "service `{}` has no version `{v}` (versions: {})",
                svc.name,
                svc.route.versions().join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

/// Refuses a declared body over the limit before reading a byte of it.
fn check_length(gw: &Gateway, req: &Request) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    match declared {
        Some(n) if n > gw.max_body => Err(call::too_large(gw.max_body)),
        _ => Ok(()),
    }
}

fn input_specs(svc: &ServiceRuntime) -> Vec<TensorSpec> {
    vec![TensorSpec {
        name: "input".into(),
        datatype: "FP32",
        shape: vec![-1, svc.input_width as i64],
    }]
}

async fn model_metadata(State(gw): State<Arc<Gateway>>, Path(service): Path<String>) -> Response {
    metadata(&gw, &service, None)
}

async fn model_metadata_version(
    State(gw): State<Arc<Gateway>>,
    Path((service, version)): Path<(String, String)>,
) -> Response {
    metadata(&gw, &service, Some(&version))
}

/// `GET /v2/models/{service}`: the stable version's declared outputs, all version names.
fn metadata(gw: &Gateway, service: &str, version: Option<&str>) -> Response {
    let found = gw.service(service).and_then(|svc| {
        check_version(&svc, version)?;
        Ok(svc)
    });
    let svc = match found {
        Ok(svc) => svc,
        Err(e) => return e.respond(ErrorStyle::OpenInference),
    };
    let idx = version
        .and_then(|v| svc.route.index_of(v))
        .unwrap_or(svc.route.stable());
    let backend = &svc.version(idx).backend;
    let doc = oip::model_metadata(
        &svc.name,
        svc.route.versions(),
        backend.platform(),
        &input_specs(&svc),
        backend.outputs(),
    );
    Json(doc).into_response()
}

/// `GET /v2/models/{service}/ready`: 200 or 503, and 404 for a service that does not exist
/// (asking about a model that is not there is the client's mistake, not a server outage).
async fn model_ready(State(gw): State<Arc<Gateway>>, Path(service): Path<String>) -> Response {
    match gw.service(&service) {
        Ok(svc) => ready_status(svc.ready()).into_response(),
        Err(e) => e.respond(ErrorStyle::OpenInference),
    }
}

/// `GET /v2/models/{service}/versions/{version}/ready`: as [`model_ready`], for one version.
async fn model_ready_version(
    State(gw): State<Arc<Gateway>>,
    Path((service, version)): Path<(String, String)>,
) -> Response {
    let found = gw.service(&service).and_then(|svc| {
        check_version(&svc, Some(&version))?;
        Ok(svc)
    });
    match found {
        Ok(svc) => {
            let ready = svc
                .route
                .index_of(&version)
                .is_some_and(|i| svc.version(i).backend.ready());
            ready_status(ready).into_response()
        }
        Err(e) => e.respond(ErrorStyle::OpenInference),
    }
}

async fn server_ready(State(gw): State<Arc<Gateway>>) -> StatusCode {
    let snap = gw.snapshot();
    ready_status(
        !gw.is_draining() && !snap.services.is_empty() && snap.services.values().all(|s| s.ready()),
    )
}

fn ready_status(ready: bool) -> StatusCode {
    if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn server_metadata() -> Json<serde_json::Value> {
    Json(oip::server_metadata(env!("CARGO_PKG_VERSION")))
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    match gw.exposition.render() {
        Ok(text) => {
            let mut resp = text.into_response();
            let ct = HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            );
            resp.headers_mut().insert(http::header::CONTENT_TYPE, ct);
            resp
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", req.method(), req.uri().path()),
    )
}
