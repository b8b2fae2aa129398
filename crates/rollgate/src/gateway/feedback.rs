//! `POST /v1/feedback`: a label or a reward for an answered request, joined to the version
//! that answered it (see [`crate::feedback`]).

use super::error::ApiError;
use super::Gateway;
use crate::feedback::{credit, Credit, Missing, Record};
use crate::relay::{Answerer, Kind};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// `{"request_id", "label"}` or `{"request_id", "reward"}` (or both).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Feedback {
    request_id: String,
    label: Option<Value>,
    reward: Option<f64>,
}

/// Joins one piece of feedback. A second label (or reward) for the same request is accepted
/// and ignored, so a client may retry safely. A request this replica never answered may have
/// been answered by another replica of a shared store: the feedback is relayed to it.
pub(super) async fn receive(State(gw): State<Arc<Gateway>>, body: Bytes) -> Response {
    match join(&gw, &body) {
        Ok(v) => Json(v).into_response(),
        Err(Refused::NotHere(e)) => match gw.relay.get() {
            Some(relay) => match relay.forward(Kind::Feedback, text(&body), WAIT).await {
                Some((status, answer)) => relayed(status, answer),
                None => e.into_response(),
            },
            None => e.into_response(),
        },
        Err(Refused::Bad(e)) => e.into_response(),
    }
}

/// Why feedback was not joined here.
pub(crate) enum Refused {
    /// This replica holds no record of the request (another may).
    NotHere(ApiError),
    /// The feedback itself is wrong, or the record expired.
    Bad(ApiError),
}

/// How long a replica waits for the one that answered the request.
const WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// Joins feedback relayed from other replicas.
pub(crate) struct RelayedFeedback(pub(crate) Arc<Gateway>);

#[async_trait::async_trait]
impl Answerer for RelayedFeedback {
    fn kind(&self) -> Kind {
        Kind::Feedback
    }

    /// `Some((status, answer))` when this replica answered the request, `None` when not.
    async fn answer(&self, body: &str) -> Option<(u16, String)> {
        join_relayed(&self.0, body.as_bytes())
    }
}

fn join_relayed(gw: &Gateway, body: &[u8]) -> Option<(u16, String)> {
    match join(gw, body) {
        Ok(v) => Some((200, v.to_string())),
        Err(Refused::NotHere(_)) => None,
        Err(Refused::Bad(e)) => Some((e.status.as_u16(), e.document().to_string())),
    }
}

fn relayed(status: u16, answer: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::from_str::<Value>(&answer).unwrap_or(Value::Null);
    (status, Json(body)).into_response()
}

fn join(gw: &Gateway, body: &[u8]) -> Result<Value, Refused> {
    let bad = Refused::Bad;
    let fb: Feedback = serde_json::from_slice(body).map_err(|e| {
        bad(ApiError::bad_request(
            "bad_json",
            format!("expected {{\"request_id\": \"...\", \"label\": ...}} or {{\"request_id\", \"reward\": 1}}: {e}"),
        ))
    })?;
    if fb.label.is_none() && fb.reward.is_none() {
        return Err(bad(ApiError::bad_request(
            "bad_feedback",
            "give a `label` or a `reward`",
        )));
    }
    if fb.reward.is_some_and(|r| !r.is_finite()) {
        return Err(bad(ApiError::bad_request(
            "bad_feedback",
            "`reward` must be a finite number",
        )));
    }
    let classes = |service: &str| {
        gw.snapshot()
            .services
            .get(service)
            .map(|s| s.output.classes.clone())
            .unwrap_or_default()
    };
    let now = std::time::Instant::now();
    let found = gw
        .ledger
        .with(&fb.request_id, now, |r| apply(r, &fb, &classes(&r.service)));
    match found {
        Ok(result) => result.map_err(bad),
        Err(missing @ Missing::Unknown) => {
            Err(Refused::NotHere(not_found(&fb.request_id, missing)))
        }
        Err(missing) => Err(bad(not_found(&fb.request_id, missing))),
    }
}

/// Credits the record's version (and its shadow) with the feedback, at most once each.
fn apply(r: &mut Record, fb: &Feedback, classes: &[String]) -> Result<Value, ApiError> {
    let mut duplicate = false;
    let mut credited = Vec::new();
    if let Some(label) = &fb.label {
        let credits = credit(&r.predicted, label, classes)
            .map_err(|e| ApiError::bad_request("bad_label", e.to_string()))?;
        if r.labelled {
            duplicate = true;
        } else {
            r.labelled = true;
            credit_version(r, &credits);
            credit_shadow(r, &credits, label, classes);
            credited = credits;
        }
    }
    if let Some(reward) = fb.reward {
        if r.rewarded {
            duplicate = true;
        } else {
            r.rewarded = true;
            r.stats.outcomes().record_reward(reward);
        }
    }
    let correct: Vec<bool> = credited
        .iter()
        .filter_map(|c| match c {
            Credit::Correct(ok) => Some(*ok),
            Credit::Error(_) => None,
        })
        .collect();
    Ok(json!({
        "request_id": fb.request_id,
        "service": &*r.service,
        "version": &*r.version,
        "duplicate": duplicate,
        "correct": (!correct.is_empty()).then_some(correct),
    }))
}

fn credit_version(r: &Record, credits: &[Credit]) {
    for c in credits {
        match *c {
            Credit::Correct(ok) => r.stats.outcomes().record_label(ok),
            Credit::Error(e) => r.stats.outcomes().record_error(e),
        }
    }
}

/// A mirrored candidate answered the same rows: credit it too, and pair the correctness for
/// McNemar's test.
fn credit_shadow(r: &Record, served: &[Credit], label: &Value, classes: &[String]) {
    let Some((stats, predicted)) = &r.shadow else {
        return;
    };
    let Ok(theirs) = credit(predicted, label, classes) else {
        return;
    };
    for (mine, other) in served.iter().zip(&theirs) {
        match (*mine, *other) {
            (Credit::Correct(a), Credit::Correct(b)) => {
                stats.outcomes().record_label(b);
                stats.shadow().record_paired(a, b);
            }
            (_, Credit::Error(e)) => stats.outcomes().record_error(e),
            _ => {}
        }
    }
}

fn not_found(id: &str, missing: Missing) -> ApiError {
    let why = match missing {
        Missing::Unknown => "was never answered here or is too old to be kept",
        Missing::Expired => "was answered longer ago than feedback.ttl_seconds",
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_request",
        format!("request `{id}` {why}"),
    )
}
