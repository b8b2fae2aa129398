//! HTTP upstreams: instances of any model server (FastAPI, MLServer, Triton, KServe).
//!
//! One pooled keep-alive client per version. Instances are used round-robin; an instance that
//! fails `eject_after` times in a row (connection failure, timeout or 5xx) is ejected for
//! `eject_for`, passive health checking as Envoy's outlier detection does. If every instance is
//! ejected, all are used again rather than failing every request (Envoy's panic threshold).
//! Only connection failures are retried on another instance: a request that reached a model
//! may have had effects and is never sent twice.

mod instance;

use super::{Backend, BackendError, BackendReply, BackendRequest, Body, Speaks};
use crate::telemetry::ErrorKind;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{header, HeaderMap, HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use instance::Instances;
use rollgate_core::config::HttpSpec;
use rollgate_core::tensor::TensorSpec;
use std::sync::Arc;
use std::time::Duration;

/// Bodies up to this size are buffered so a connection failure can be retried elsewhere;
/// larger ones are streamed to a single attempt.
const REPLAY_LIMIT: u64 = 64 * 1024;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A version served by HTTP instances.
#[derive(Debug)]
pub(crate) struct HttpBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client<HttpConnector, Body>,
    instances: Instances,
    timeout: Duration,
}

impl HttpBackend {
    /// Builds the client and instance set; connections are opened on first use.
    pub(crate) fn new(spec: &HttpSpec) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(spec.connect_timeout));
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(connector);
        let instances = Instances::new(&spec.instances, spec.eject_after, spec.eject_for);
        Self {
            inner: Arc::new(Inner {
                client,
                instances,
                timeout: spec.request_timeout,
            }),
        }
    }
}

impl Backend for HttpBackend {
    fn speaks(&self) -> Speaks {
        Speaks::Http
    }

    fn platform(&self) -> &'static str {
        "http"
    }

    fn outputs(&self) -> &[TensorSpec] {
        &[]
    }

    fn ready(&self) -> bool {
        self.inner.instances.any_healthy()
    }

    fn call(
        &self,
        request: BackendRequest,
    ) -> BoxFuture<'static, Result<BackendReply, BackendError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let BackendRequest::Http(req) = request else {
                return Err(BackendError::new(
                    ErrorKind::Model,
                    "an HTTP version takes HTTP requests",
                ));
            };
            inner.forward(req).await.map(BackendReply::Http)
        })
    }
}

impl Inner {
    async fn forward(&self, req: Request<Body>) -> Result<Response<Body>, BackendError> {
        let (mut parts, body) = req.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        if body_len(&body).is_none_or(|n| n > REPLAY_LIMIT) {
            let slot = self.instances.pick();
            return self.attempt(slot, parts, body).await;
        }
        let replay = collect(body).await?;
        let mut last = BackendError::new(ErrorKind::Unavailable, "no instance configured");
        for slot in self.instances.attempts() {
            let body = Full::new(replay.clone())
                .map_err(|never| match never {})
                .boxed_unsync();
            match self.attempt(slot, parts.clone(), body).await {
                Err(e) if e.kind == ErrorKind::Unavailable => last = e,
                other => return other,
            }
        }
        Err(last)
    }

    /// One try on one instance, with the outcome fed to passive health.
    async fn attempt(
        &self,
        slot: usize,
        mut parts: http::request::Parts,
        body: Body,
    ) -> Result<Response<Body>, BackendError> {
        let authority = self.instances.authority(slot);
        parts.uri = upstream_uri(authority, &parts.uri)?;
        if let Ok(host) = HeaderValue::from_str(authority) {
            parts.headers.insert(header::HOST, host);
        }
        let call = self.client.request(Request::from_parts(parts, body));
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(BackendError::new(
                ErrorKind::Timeout,
                format!(
                    "upstream {authority} did not answer within {:?}",
                    self.timeout
                ),
            )),
            Ok(Err(e)) => Err(classify(authority, &e)),
            Ok(Ok(resp)) => Ok(resp),
        };
        let failed = match &outcome {
            Ok(resp) => resp.status().is_server_error(),
            Err(_) => true,
        };
        self.instances.report(slot, failed);
        outcome.map(|resp| {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, body.map_err(Into::into).boxed_unsync())
        })
    }
}

fn classify(authority: &str, e: &hyper_util::client::legacy::Error) -> BackendError {
    let kind = if e.is_connect() {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Upstream5xx
    };
    let source = std::error::Error::source(e).map(ToString::to_string);
    let detail = source.unwrap_or_else(|| e.to_string());
    BackendError::new(kind, format!("upstream {authority} failed: {detail}"))
}

fn body_len(body: &Body) -> Option<u64> {
    http_body::Body::size_hint(body).exact()
}

async fn collect(body: Body) -> Result<Bytes, BackendError> {
    body.collect().await.map(|c| c.to_bytes()).map_err(|e| {
        BackendError::new(
            ErrorKind::BadRequest,
            format!("reading the request body: {e}"),
        )
    })
}

fn upstream_uri(authority: &str, incoming: &Uri) -> Result<Uri, BackendError> {
    let path = incoming.path_and_query().map_or("/", |p| p.as_str());
    format!("http://{authority}{path}")
        .parse()
        .map_err(|e| BackendError::new(ErrorKind::BadRequest, format!("bad upstream URI: {e}")))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}
