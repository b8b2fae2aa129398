//! The data port's service: a prediction request goes straight to its handler, every other
//! request through the axum router.
//!
//! Why not the router for everything: on the proxy path its matching, its path-parameter
//! bookkeeping (url params and the matched path, each a map insert into the request's
//! extensions), the `Path` extraction and its boxed per-route layers cost about 4,000
//! instructions of a proxied prediction's ~58,000 (callgrind, `bench/run.sh`). The two routes
//! stay in the router as well: a request this match does not take (another method, a
//! percent-encoded name, a trailing slash) is answered there exactly as before.

use super::protocol::Protocol;
use super::request_id::{self, RequestId};
use super::{handle, Gateway};
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use futures_util::future::BoxFuture;
use http::Method;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The data port's service: every request gets its id, then goes to [`Dispatch`].
pub(crate) type DataPort = RequestId<Dispatch>;

/// The data port over `gw`, with `router` for every request but predictions.
pub(super) fn new(gw: Arc<Gateway>, router: Router) -> DataPort {
    tower::Layer::layer(&request_id::Layer, Dispatch { gw, router })
}

/// Predictions to their handler, the rest to the router.
#[derive(Clone)]
pub(crate) struct Dispatch {
    gw: Arc<Gateway>,
    router: Router,
}

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch").finish_non_exhaustive()
    }
}

impl tower::Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready, and so is a direct call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match prediction(req.method(), req.uri().path()) {
            Some((protocol, service)) => {
                let service = service.to_owned();
                let gw = Arc::clone(&self.gw);
                Box::pin(async move { Ok(handle(&gw, protocol, &service, None, req).await) })
            }
            None => Box::pin(tower::Service::call(&mut self.router, req)),
        }
    }
}

/// The protocol and service of a request to `POST /v1/models/{service}/predict` or
/// `POST /v2/models/{service}/infer`, when the name needs no decoding; else `None` (the router
/// decides).
fn prediction<'p>(method: &Method, path: &'p str) -> Option<(Protocol, &'p str)> {
    if method != Method::POST {
        return None;
    }
    let (protocol, rest, suffix) = if let Some(rest) = path.strip_prefix("/v1/models/") {
        (Protocol::V1, rest, "/predict")
    } else {
        let rest = path.strip_prefix("/v2/models/")?;
        (Protocol::OpenInference, rest, "/infer")
    };
    let service = rest.strip_suffix(suffix)?;
    let plain = !service.is_empty() && !service.contains(['/', '%']);
    plain.then_some((protocol, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(method: Method, path: &str) -> Option<(Protocol, &str)> {
        prediction(&method, path)
    }

    #[test]
    fn the_two_prediction_routes_are_taken() {
        assert_eq!(
            taken(Method::POST, "/v1/models/iris/predict"),
            Some((Protocol::V1, "iris"))
        );
        assert_eq!(
            taken(Method::POST, "/v2/models/iris-2.b_c/infer"),
            Some((Protocol::OpenInference, "iris-2.b_c"))
        );
    }

    #[test]
    fn everything_else_is_left_to_the_router() {
        let left = [
            (Method::GET, "/v1/models/iris/predict"),
            (Method::PUT, "/v2/models/iris/infer"),
            (Method::POST, "/v1/models//predict"),
            (Method::POST, "/v1/models/predict"),
            (Method::POST, "/v1/models/ir%69s/predict"),
            (Method::POST, "/v1/models/iris/predict/"),
            (Method::POST, "/v1/models/a/b/predict"),
            (Method::POST, "/v2/models/iris/versions/v1/infer"),
            (Method::POST, "/v2/models/iris/predict"),
            (Method::POST, "/v1/models/iris/infer"),
            (Method::POST, "/v1/feedback"),
            (Method::POST, "/v2/models/iris"),
        ];
        for (method, path) in left {
            assert_eq!(taken(method.clone(), path), None, "{method} {path}");
        }
    }
}
