//! What the admin handlers share: their state, the service a seed verb acts on, revision
//! checks (`If-Match`, `"revision"`), answering a change with the service's view, and the
//! status of each control error. A leaf: `api` (the router) and the handler modules
//! (`flags`, `rollout`, `upload`) all build on it, none on each other.

use super::plane::{ControlError, ControlPlane};
use super::view;
use crate::gateway::error::ApiError;
use crate::store::StoreError;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rollgate_core::catalog::{Change, ChangeError};
use std::sync::Arc;

/// State of the admin routes.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    pub(crate) plane: Arc<ControlPlane>,
    /// The rollout controller when this replica runs it (always on the embedded store; on a
    /// shared store, while it holds the controller lease).
    pub(crate) controller: crate::controller::lease::Slot,
    /// On a shared store, how rollout calls reach the replica running the controller.
    pub(crate) relay: Option<crate::relay::Relay>,
    /// The per-version statistics the service views show (read-only).
    pub(crate) recorder: Arc<crate::telemetry::Recorder>,
    pub(crate) default_service: Arc<str>,
}

impl Admin {
    /// 503: no replica runs the rollout controller just now (the lease is changing hands,
    /// or the store is unreachable).
    pub(crate) fn no_controller() -> ApiError {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "no_controller",
            "no replica answered for the rollout controller (the controller lease may be \
             changing hands, or the store is unreachable): retry in a few seconds",
        )
    }

    /// Tells the controller, wherever it runs, that an operator changed a route by hand.
    pub(crate) async fn intervened(&self, service: &str, verb: &str) {
        super::rollout::intervened(self, service, verb).await;
    }
}

/// The answer to a control write the store could not take because it is unreachable: 503,
/// and a message that says what still works.
pub(crate) fn store_unavailable(e: &StoreError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        format!(
            "the store is unavailable, so nothing was changed ({e}); every replica keeps \
             serving its last routes and models: retry when the store is back"
        ),
    )
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        if let ControlError::Store(s) = &e {
            if s.is_unavailable() {
                return store_unavailable(s);
            }
        }
        let (status, code) = match &e {
            ControlError::UnknownService(_) => (StatusCode::NOT_FOUND, "unknown_service"),
            ControlError::Change(c) => change_status(c),
            ControlError::Conflict { .. } => (StatusCode::CONFLICT, "revision_conflict"),
            ControlError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "model_too_large"),
            ControlError::BadModel(_) => (StatusCode::BAD_REQUEST, "bad_model"),
            ControlError::Load(_) => (StatusCode::BAD_REQUEST, "bad_model"),
            ControlError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store_error"),
            ControlError::Assemble(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ControlError::Behind(_) => (StatusCode::SERVICE_UNAVAILABLE, "replica_behind"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn change_status(e: &ChangeError) -> (StatusCode, &'static str) {
    match e {
        ChangeError::BadName(_) => (StatusCode::BAD_REQUEST, "bad_name"),
        ChangeError::VersionExists(_) => (StatusCode::CONFLICT, "version_exists"),
        ChangeError::UnknownVersion(_) => (StatusCode::NOT_FOUND, "unknown_version"),
        ChangeError::InUse(..) => (StatusCode::CONFLICT, "version_in_use"),
        ChangeError::Route(_) => (StatusCode::BAD_REQUEST, "bad_route"),
        ChangeError::BadRatio => (StatusCode::BAD_REQUEST, "bad_ratio"),
        ChangeError::NoCandidate => (StatusCode::CONFLICT, "no_candidate"),
        ChangeError::NothingToRollBack => (StatusCode::CONFLICT, "nothing_to_roll_back"),
    }
}

/// The service a seed verb acts on: the `{service}` of the path, or the default service for
/// the root forms (`POST /set-canary-ratio`), so one handler serves both.
pub(crate) struct Svc(pub(crate) String);

impl axum::extract::FromRequestParts<Admin> for Svc {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        admin: &Admin,
    ) -> Result<Self, ApiError> {
        let named = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .is_some_and(|m| m.as_str().contains("{service}"));
        if !named {
            return Ok(Svc(admin.default_service.to_string()));
        }
        let params =
            Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, admin)
                .await
                .map_err(|e| ApiError::bad_request("bad_path", e.body_text()))?;
        params
            .0
            .get("service")
            .cloned()
            .map(Svc)
            .ok_or_else(|| ApiError::bad_request("bad_path", "the path names no service"))
    }
}

/// Answers a change with the service's new view (and its revision).
pub(crate) async fn changed(
    admin: &Admin,
    service: &str,
    expected: Option<u64>,
    change: Change,
) -> Result<Response, ApiError> {
    let state = admin.plane.change(service, expected, change, "api").await?;
    let body = serde_json::to_value(view::service(&state, &admin.recorder)).unwrap_or_default();
    Ok(tagged(state.revision, body))
}

/// Refuses early a request made at a stale revision, before its upload is read and stored;
/// the change itself checks again under the plane's lock.
pub(crate) async fn check_revision(
    admin: &Admin,
    service: &str,
    expected: Option<u64>,
) -> Result<(), ApiError> {
    let current = admin.plane.service(service).await?.revision;
    match expected {
        Some(e) if e != current => Err(ControlError::Conflict {
            service: service.to_owned(),
            expected: e,
            current,
        }
        .into()),
        _ => Ok(()),
    }
}

/// The revision a client says it read: `If-Match: "7"` (or `If-Match: 7`).
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v
        .to_str()
        .unwrap_or_default()
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    if text == "*" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        ApiError::bad_request(
            "bad_revision",
            "If-Match must hold the revision number (as the ETag of a read gives it) or *",
        )
    })
}

/// The revision a change is made at, from its body and/or `If-Match`; both must agree.
pub(crate) fn expected_revision(
    body: Option<u64>,
    headers: &HeaderMap,
) -> Result<Option<u64>, ApiError> {
    match (body, if_match(headers)?) {
        (Some(b), Some(h)) if b != h => Err(ApiError::bad_request(
            "bad_revision",
            format!("the body says revision {b} and If-Match says {h}"),
        )),
        (b, h) => Ok(b.or(h)),
    }
}

/// A JSON answer tagged with the revision it shows, so a client can send it back as `If-Match`.
pub(crate) fn tagged(revision: u64, body: serde_json::Value) -> Response {
    let mut resp = Json(body).into_response();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{revision}\"")) {
        resp.headers_mut().insert(http::header::ETAG, v);
    }
    resp
}
