//! Mirroring: a copy of a request goes to another version, detached from the client's request,
//! under a bounded number of concurrent copies. When the bound is reached the copy is dropped
//! and counted, never queued: the client's answer and latency never depend on the mirror.

use super::dispatch::{self, Call};
use super::error::ApiError;
use super::snapshot::ServiceRuntime;
use super::Gateway;
use crate::backend::{BackendReply, BackendRequest, Speaks};
use crate::telemetry::ErrorKind;
use http_body_util::{BodyExt, Full};
use rollgate_core::route::VersionIdx;
use std::sync::Arc;
use tokio::time::Instant;

/// Sends a copy of the call to `target` if a mirror slot is free.
pub(crate) async fn spawn(
    gw: &Gateway,
    svc: &Arc<ServiceRuntime>,
    target: VersionIdx,
    call: &mut Call,
) -> Result<(), ApiError> {
    let version = svc.version(target);
    let Ok(permit) = Arc::clone(&gw.mirror_slots).try_acquire_owned() else {
        version.stats.record_mirror_dropped();
        return Ok(());
    };
    let body = dispatch::read(gw, call).await?;
    let request = match version.backend.speaks() {
        Speaks::Tensors => match call.protocol.decode(&body, &call.headers, svc.input_width) {
            Ok((batch, _)) => BackendRequest::Tensors(batch),
            Err(_) => return Ok(()),
        },
        Speaks::Http => {
            // The copy goes to the path a served request would (`predict_path`...); one that
            // cannot be addressed is dropped, like one that cannot be decoded.
            let Ok(uri) = dispatch::mapped_uri(version, call.protocol, &call.uri) else {
                return Ok(());
            };
            let mut req = http::Request::new(
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            *req.uri_mut() = uri;
            *req.method_mut() = call.method.clone();
            *req.headers_mut() = call.headers.clone();
            BackendRequest::Http(req)
        }
    };
    version.stats.record_mirrored();
    let svc = Arc::clone(svc);
    tokio::spawn(async move {
        let _permit = permit;
        let version = svc.version(target);
        let started = Instant::now();
        let outcome = version.backend.call(request).await;
        let error = match &outcome {
            Ok(BackendReply::Tensors(_)) => None,
            Ok(BackendReply::Http(resp)) => resp
                .status()
                .is_server_error()
                .then_some(ErrorKind::Upstream5xx),
            Err(e) => Some(e.kind),
        };
        tracing::debug!(service = %svc.name, version = %version.name, ?error, micros = started.elapsed().as_micros() as u64, "mirrored");
    });
    Ok(())
}
