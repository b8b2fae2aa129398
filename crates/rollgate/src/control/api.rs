//! The control API on the admin port: resources under `/api/v1/` and the seed verbs, both at
//! the root (for the default service) and under `/api/v1/services/{service}/`.

pub(crate) use super::admin::Admin;
use super::admin::{changed, check_revision, expected_revision, if_match, tagged, Svc};
use super::plane::ControlError;
use super::{upload, view};
use crate::gateway::error::ApiError;
use crate::store::EventQuery;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rollgate_core::catalog::{ratio_to_bps, Change};
use rollgate_core::config::file::RouteFile;
use serde::Deserialize;
use serde_json::json;

/// The OpenAPI 3 document of this API, kept beside the code.
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// The admin routes (authentication is layered on by the caller).
pub(crate) fn routes(admin: Admin) -> Router {
    let verbs = Router::new()
        .route("/update-model", post(update_model))
        .route("/set-canary-ratio", post(set_canary_ratio))
        .route("/accept-next-model", post(accept_next_model))
        .route("/rollback", post(rollback));
    Router::new()
        .route("/api/v1/services", get(list_services))
        .route("/api/v1/services/{service}", get(get_service))
        .route(
            "/api/v1/services/{service}/versions",
            post(upload::register_version),
        )
        .route(
            "/api/v1/services/{service}/versions/{version}",
            axum::routing::delete(remove_version),
        )
        .route(
            "/api/v1/services/{service}/route",
            get(get_route).put(put_route),
        )
        .route("/api/v1/events", get(events))
        .route(
            "/api/v1/services/{service}/flags",
            get(super::flags::get).put(super::flags::put),
        )
        .route(
            "/api/v1/services/{service}/rollout",
            get(super::rollout::get).post(super::rollout::begin),
        )
        .route(
            "/api/v1/services/{service}/rollout/{verb}",
            post(super::rollout::act),
        )
        .nest("/api/v1/services/{service}", verbs.clone())
        .merge(verbs)
        .fallback(not_found)
        .with_state(admin)
}

/// Routes open without a token: liveness and the API description.
pub(crate) fn public_routes() -> Router {
    Router::new()
        .route(
            "/api/v1/health",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .route("/api/v1/openapi.json", get(openapi))
}

async fn openapi() -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", req.method(), req.uri().path()),
    )
}

async fn list_services(State(admin): State<Admin>) -> Json<serde_json::Value> {
    let recorder = &admin.recorder;
    let views: Vec<_> = admin
        .plane
        .services()
        .await
        .iter()
        .map(|s| view::service(s, recorder))
        .collect();
    Json(json!({ "services": views }))
}

async fn get_service(
    State(admin): State<Admin>,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    let state = admin.plane.service(&service).await?;
    let body = serde_json::to_value(view::service(&state, &admin.recorder)).unwrap_or_default();
    Ok(tagged(state.revision, body))
}

async fn remove_version(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path((service, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    changed(
        &admin,
        &service,
        if_match(&headers)?,
        Change::RemoveVersion(version),
    )
    .await
}

async fn get_route(
    State(admin): State<Admin>,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    let state = admin.plane.service(&service).await?;
    let route = rollgate_core::config::route_file(&state.spec.route);
    Ok(tagged(
        state.revision,
        json!({"revision": state.revision, "route": route}),
    ))
}

/// `PUT /route`: `{"revision": 7, "route": {...}}`; the revision may also come as `If-Match`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutRoute {
    revision: Option<u64>,
    route: RouteFile,
}

async fn put_route(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Path(service): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let put: PutRoute = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
    let expected = expected_revision(put.revision, &headers)?;
    let state = admin.plane.service(&service).await?;
    let spec = super::route_spec(&state, put.route)
        .map_err(|e| ApiError::bad_request("bad_route", e.to_string()))?;
    changed(&admin, &service, expected, Change::SetRoute(spec)).await
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    service: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

async fn events(
    State(admin): State<Admin>,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let query = EventQuery {
        service: q.service,
        before_id: q.before,
        limit,
    };
    let events = admin.plane.events(&query).await?;
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(Json(json!({"events": events, "next_before": next})).into_response())
}

async fn update_model(
    State(admin): State<Admin>,
    Svc(service): Svc,
    headers: HeaderMap,
    Query(q): Query<upload::NameQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    check_revision(&admin, &service, expected).await?;
    let (name, bytes) = upload::model_from_request(&admin, &service, q.version, req).await?;
    let (source, _) = admin.plane.store_model(&service, bytes).await?;
    let version = rollgate_core::config::VersionSpec { name, source };
    changed(&admin, &service, expected, Change::UpdateModel(version)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ratio {
    ratio: f64,
    revision: Option<u64>,
}

async fn set_canary_ratio(
    State(admin): State<Admin>,
    Svc(service): Svc,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let r: Ratio = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("bad_json", format!("expected {{\"ratio\": 0.1}}: {e}"))
    })?;
    let bps = ratio_to_bps(r.ratio).map_err(ControlError::from)?;
    let expected = expected_revision(r.revision, &headers)?;
    let resp = changed(&admin, &service, expected, Change::SetCanaryRatio(bps)).await?;
    admin.intervened(&service, "set-canary-ratio").await;
    Ok(resp)
}

async fn accept_next_model(
    State(admin): State<Admin>,
    Svc(service): Svc,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resp = changed(&admin, &service, if_match(&headers)?, Change::AcceptNext).await?;
    admin.intervened(&service, "accept-next-model").await;
    Ok(resp)
}

async fn rollback(
    State(admin): State<Admin>,
    Svc(service): Svc,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resp = changed(&admin, &service, if_match(&headers)?, Change::Rollback).await?;
    admin.intervened(&service, "rollback").await;
    Ok(resp)
}
