//! The rollout endpoints: start a rollout from a plan, read it, and the operator verbs.

use super::admin::Admin;
use crate::controller::{Controller, RolloutError, Verb};
use crate::gateway::error::ApiError;
use crate::relay::{Answerer, Kind};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

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

/// A rollout API call, as the replica running the controller carries it out: made there
/// directly, or relayed to it by another replica.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub(crate) enum Call {
    View {
        service: String,
    },
    Begin {
        service: String,
        plan: String,
    },
    Act {
        service: String,
        verb: Verb,
    },
    /// An operator changed the route by hand (a seed verb) on another replica.
    Intervened {
        service: String,
        verb: String,
    },
}

/// How long a replica waits for the leader to carry a relayed call out.
const WAIT: Duration = Duration::from_secs(10);

/// Tells the controller, wherever it runs, that an operator changed a service's route by
/// hand, so a rollout in progress stops driving it.
pub(crate) async fn intervened(admin: &Admin, service: &str, verb: &str) {
    let call = Call::Intervened {
        service: service.to_owned(),
        verb: verb.to_owned(),
    };
    if let Some(controller) = admin.controller.load_full() {
        let _ = carry_out(admin, &controller, call).await;
    } else if let (Some(relay), Ok(body)) = (&admin.relay, serde_json::to_string(&call)) {
        if relay.forward(Kind::Rollout, body, WAIT).await.is_none() {
            tracing::warn!(
                service,
                verb,
                "the rollout controller was not told of a manual change"
            );
        }
    }
}

/// Carries a call out on the controller running here, or relays it to the replica where it
/// runs.
async fn call(admin: &Admin, call: Call) -> Result<Response, ApiError> {
    if let Some(controller) = admin.controller.load_full() {
        let (status, body) = carry_out(admin, &controller, call).await?;
        return Ok((status, Json(body)).into_response());
    }
    let Some(relay) = &admin.relay else {
        return Err(Admin::no_controller());
    };
    let body = serde_json::to_string(&call)
        .map_err(|e| ApiError::bad_request("bad_call", e.to_string()))?;
    match relay.forward(Kind::Rollout, body, WAIT).await {
        Some((status, answer)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = serde_json::from_str::<Value>(&answer).unwrap_or(Value::Null);
            Ok((status, Json(body)).into_response())
        }
        None => Err(Admin::no_controller()),
    }
}

async fn carry_out(
    admin: &Admin,
    controller: &Arc<Controller>,
    call: Call,
) -> Result<(StatusCode, Value), ApiError> {
    match call {
        Call::View { service } => {
            admin.plane.service(&service).await?;
            let view = controller.view(&service).await;
            Ok((StatusCode::OK, json!({ "rollout": view })))
        }
        Call::Begin { service, plan } => {
            let view = controller.begin(&service, &plan).await?;
            Ok((StatusCode::CREATED, json!({ "rollout": view })))
        }
        Call::Act { service, verb } => {
            admin.plane.service(&service).await?;
            let view = controller.act(&service, verb).await?;
            Ok((StatusCode::OK, json!({ "rollout": view })))
        }
        Call::Intervened { service, verb } => {
            controller.intervened(&service, &verb).await;
            Ok((StatusCode::OK, json!({})))
        }
    }
}

/// Carries out rollout calls relayed by the other replicas, while the controller runs here.
pub(crate) struct RelayedRollouts(pub(crate) Admin);

#[async_trait::async_trait]
impl Answerer for RelayedRollouts {
    fn kind(&self) -> Kind {
        Kind::Rollout
    }

    async fn answer(&self, body: &str) -> Option<(u16, String)> {
        let controller = self.0.controller.load_full()?;
        let answer = match serde_json::from_str::<Call>(body) {
            Ok(call) => carry_out(&self.0, &controller, call).await,
            Err(e) => Err(ApiError::bad_request("bad_call", e.to_string())),
        };
        Some(match answer {
            Ok((status, body)) => (status.as_u16(), body.to_string()),
            Err(e) => (e.status.as_u16(), e.document().to_string()),
        })
    }
}

/// `GET /api/v1/services/{service}/rollout`: the latest rollout, or `null`.
pub(super) async fn get(
    State(admin): State<Admin>,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    call(&admin, Call::View { service }).await
}

/// `POST /api/v1/services/{service}/rollout` with a YAML (or JSON) plan as the body.
pub(super) async fn begin(
    State(admin): State<Admin>,
    Path(service): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let plan = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("bad_plan", "the plan must be UTF-8 YAML"))?
        .to_owned();
    call(&admin, Call::Begin { service, plan }).await
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
    call(&admin, Call::Act { service, verb }).await
}
