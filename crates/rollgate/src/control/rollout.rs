//! The rollout endpoints: start a rollout from a plan, read it, and the operator verbs.

use super::admin::Admin;
use crate::controller::{RolloutError, Verb};
use crate::gateway::error::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::json;

impl From<RolloutError> for ApiError {
    fn from(e: RolloutError) -> Self {
        match e {
            RolloutError::Control(c) => c.into(),
            RolloutError::BadPlan(_) => ApiError::bad_request("bad_plan", e.to_string()),
            RolloutError::Active(_) => {
                ApiError::new(StatusCode::CONFLICT, "rollout_active", e.to_string())
            }
            RolloutError::NoRollout(_) => {
                ApiError::new(StatusCode::CONFLICT, "no_rollout", e.to_string())
            }
            RolloutError::NoCandidate(_) => {
                ApiError::new(StatusCode::CONFLICT, "no_candidate", e.to_string())
            }
            RolloutError::NotNow { .. } => {
                ApiError::new(StatusCode::CONFLICT, "not_now", e.to_string())
            }
            RolloutError::Store(ref s) if s.is_unavailable() => super::admin::store_unavailable(s),
            RolloutError::Store(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_error",
                e.to_string(),
            ),
        }
    }
}

/// `GET /api/v1/services/{service}/rollout`: the latest rollout, or `null`.
pub(super) async fn get(
    State(admin): State<Admin>,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    admin.plane.service(&service).await?;
    let view = admin.controller()?.view(&service).await;
    Ok(Json(json!({ "rollout": view })).into_response())
}

/// `POST /api/v1/services/{service}/rollout` with a YAML (or JSON) plan as the body.
pub(super) async fn begin(
    State(admin): State<Admin>,
    Path(service): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("bad_plan", "the plan must be UTF-8 YAML"))?;
    let view = admin.controller()?.begin(&service, text).await?;
    Ok((StatusCode::CREATED, Json(json!({ "rollout": view }))).into_response())
}

/// `POST /api/v1/services/{service}/rollout/{pause|resume|approve|abort|promote}`.
pub(super) async fn act(
    State(admin): State<Admin>,
    Path((service, verb)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let verb = match verb.as_str() {
        "pause" => Verb::Pause,
        "resume" => Verb::Resume,
        "approve" => Verb::Approve,
        "abort" => Verb::Abort,
        "promote" => Verb::Promote,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no rollout verb `{other}` (pause, resume, approve, abort, promote)"),
            ))
        }
    };
    admin.plane.service(&service).await?;
    let view = admin.controller()?.act(&service, verb).await?;
    Ok(Json(json!({ "rollout": view })).into_response())
}
