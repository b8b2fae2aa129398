//! Mirroring: a copy of a request goes to another version, detached from the client's request,
//! under a bounded number of concurrent copies. When the bound is reached the copy is dropped
//! and counted, never queued: the client's answer and latency never depend on the mirror.
//!
//! The copy is prepared before the served call (the request may be consumed by it) and sent
//! once the served answer is in hand: its task then runs after the client's answer is handed
//! to the connection, so on a worker thread it never competes with the request it copies.
//! The copy's task compares both answers (shadow divergence) and attaches the candidate's
//! answer to the request's feedback record, so a label joined later credits both.

use super::answer::{self, Reading};
use super::call::{self, Call};
use super::error::ApiError;
use super::snapshot::ServiceRuntime;
use super::Gateway;
use crate::backend::{http::HttpBackend, onnx::OnnxBackend, Backend, Body};
use crate::feedback::{Ledger, Predicted};
use crate::telemetry::{Divergence, ErrorKind};
use http_body_util::{BodyExt, Full};
use rollgate_core::route::VersionIdx;
use rollgate_core::tensor::FeatureBatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

/// The served version's answer, handed to the copy's task for comparison.
#[derive(Debug)]
pub(crate) struct Primary {
    pub(crate) predicted: Predicted,
    pub(crate) latency: Duration,
}

/// A copy in the form its version takes, with the version's backend, prepared before the
/// served call.
#[derive(Debug)]
enum CopyRequest {
    /// Decoded rows, for an in-process model.
    Tensors(Arc<OnnxBackend>, FeatureBatch),
    /// The request as it came, on the version's path, for a model server.
    Http(Arc<HttpBackend>, http::Request<Body>),
}

/// A copy ready to go, holding its mirror slot.
pub(crate) struct Prepared {
    request: CopyRequest,
    copy: MirrorCopy,
    permit: OwnedSemaphorePermit,
}

impl Prepared {
    /// Sends the copy, with the served answer to compare against (`None`: the served request
    /// failed, and the copy is sent but not compared).
    pub(crate) fn send(self, primary: Option<Primary>) {
        let Prepared {
            request,
            copy,
            permit,
        } = self;
        tokio::spawn(async move {
            let _permit = permit;
            copy.run(request, primary).await;
        });
    }
}

/// Prepares a copy of the call to `target` if a mirror slot is free.
pub(crate) async fn prepare(
    gw: &Gateway,
    svc: &Arc<ServiceRuntime>,
    target: VersionIdx,
    call: &mut Call,
) -> Result<Option<Prepared>, ApiError> {
    let version = svc.version(target);
    let Ok(permit) = Arc::clone(&gw.mirror_slots).try_acquire_owned() else {
        version.stats.record_mirror_dropped();
        return Ok(None);
    };
    let body = call::read(gw, call).await?;
    let request = match version.backend.as_ref() {
        Backend::Onnx(model) => match call.protocol.decode(&body, &call.headers, svc.input_width) {
            Ok((batch, _)) => CopyRequest::Tensors(Arc::clone(model), batch),
            Err(_) => return Ok(None),
        },
        Backend::Http(server) => {
            // The copy goes to the path a served request would (`predict_path`...); one that
            // cannot be addressed is dropped, like one that cannot be decoded.
            let Ok(uri) = call::mapped_uri(version, call.protocol, &call.uri) else {
                return Ok(None);
            };
            let mut req = http::Request::new(
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            *req.uri_mut() = uri;
            *req.method_mut() = call.method.clone();
            *req.headers_mut() = call.headers.clone();
            CopyRequest::Http(Arc::clone(server), req)
        }
    };
    version.stats.record_mirrored();
    let copy = MirrorCopy {
        svc: Arc::clone(svc),
        target,
        request_id: String::from_utf8_lossy(call.request_id.as_bytes()).into_owned(),
        ledger: Arc::clone(&gw.ledger),
    };
    Ok(Some(Prepared {
        request,
        copy,
        permit,
    }))
}

/// One mirrored copy in flight.
struct MirrorCopy {
    svc: Arc<ServiceRuntime>,
    target: VersionIdx,
    request_id: String,
    ledger: Arc<Ledger>,
}

impl MirrorCopy {
    /// What a mirrored HTTP answer predicted, read as a served answer would be: a status the
    /// served path would count as a failure (a 4xx to a request stable accepted included) is
    /// the candidate's error here too; `None` is a success whose predictions cannot be read.
    async fn interpret(&self, resp: http::Response<crate::backend::Body>) -> Answer {
        match answer::examine(resp, &self.svc.output.classes).await {
            Ok(Reading::Unread(_, error)) => (Some(Predicted::Opaque), error),
            Ok(Reading::Read(_, predicted)) => (predicted, None),
            Err(e) => (Some(Predicted::Opaque), Some(e.kind)),
        }
    }

    async fn run(self, request: CopyRequest, primary: Option<Primary>) {
        let version = self.svc.version(self.target);
        let started = Instant::now();
        let (read, error) = match request {
            CopyRequest::Tensors(model, batch) => match model.run(batch).await {
                Ok(outputs) => (Some(call::predicted(&outputs)), None),
                Err(e) => (Some(Predicted::Opaque), Some(e.kind)),
            },
            CopyRequest::Http(server, req) => match server.forward(req).await {
                Ok(resp) => self.interpret(resp).await,
                Err(e) => (Some(Predicted::Opaque), Some(e.kind)),
            },
        };
        let latency = started.elapsed();
        tracing::debug!(service = %self.svc.name, version = %version.name, ?error, micros = latency.as_micros() as u64, "mirrored");
        let Some(served) = primary else {
            return;
        };
        // Counted as one of the candidate's requests, with what it predicted, as a served
        // answer is: in shadow mode these are its only answers, and its error-rate,
        // invalid-output and drift checks read them.
        let shadow = version.stats.shadow();
        shadow.record_request(error);
        if error.is_some() {
            return;
        }
        call::record_read(&self.svc, version, read.as_ref());
        let predicted = read.unwrap_or(Predicted::Opaque);
        if let Some((rows, differ, abs_diff)) = compare(&served.predicted, &predicted) {
            let example = (differ > 0).then(|| Divergence {
                request_id: self.request_id.clone(),
                stable: describe(&served.predicted),
                candidate: describe(&predicted),
            });
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            shadow.record(
                rows,
                differ,
                abs_diff,
                (ms(served.latency), ms(latency)),
                example,
            );
        }
        let stats = Arc::clone(&version.stats);
        let now = std::time::Instant::now();
        let _ = self.ledger.with(&self.request_id, now, |r| {
            r.shadow = Some((stats, predicted));
        });
    }
}

/// The candidate's answer to a copy as far as it was read (`None`: a success whose
/// predictions cannot be read), and its error.
type Answer = (Option<Predicted>, Option<ErrorKind>);

/// `(rows, rows that differ, summed absolute difference)` of two answers to the same input,
/// when both were interpreted and have the same shape.
fn compare(stable: &Predicted, candidate: &Predicted) -> Option<(u64, u64, f64)> {
    match (stable, candidate) {
        (Predicted::Classes(a), Predicted::Classes(b)) if a.len() == b.len() => {
            let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
            Some((a.len() as u64, differ as u64, 0.0))
        }
        (Predicted::Values(a), Predicted::Values(b)) if a.len() == b.len() => {
            let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).abs()).sum();
            let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
            Some((a.len() as u64, differ as u64, diff))
        }
        _ => None,
    }
}

fn describe(p: &Predicted) -> String {
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    match p {
        Predicted::Classes(c) => list(c.iter().map(i64::to_string).collect()),
        Predicted::Values(v) => list(v.iter().map(f32::to_string).collect()),
        Predicted::Opaque => "(not interpreted)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_count_rows_that_differ() {
        let a = Predicted::Classes(vec![0, 1, 2]);
        let b = Predicted::Classes(vec![0, 2, 2]);
        assert_eq!(compare(&a, &b), Some((3, 1, 0.0)));
        let x = Predicted::Values(vec![1.0, 2.0]);
        let y = Predicted::Values(vec![1.5, 2.0]);
        assert_eq!(compare(&x, &y), Some((2, 1, 0.5)));
        assert_eq!(compare(&a, &x), None);
        assert_eq!(compare(&a, &Predicted::Classes(vec![0])), None);
    }
}
