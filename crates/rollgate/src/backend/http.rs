//! HTTP upstreams: instances of any model server (FastAPI, MLServer, Triton, KServe).
//!
//! Keep-alive connections are pooled per instance and per data-plane thread (see [`pool`]).
//! Instances are used round-robin; an instance that
//! fails `eject_after` times in a row (connection failure, timeout or 5xx) is ejected for
//! `eject_for`, passive health checking as Envoy's outlier detection does. If every instance is
//! ejected, all are used again rather than failing every request (Envoy's panic threshold).
//! Only connection failures are retried on another instance: a request that reached a model
//! may have had effects and is never sent twice.
//!
//! The instance set can be replaced while serving ([`HttpBackend::set_instances`], for rolling
//! updates): requests in flight finish on the set they started with, instances kept from one
//! set to the next keep their pooled connections.

mod instance;
mod pool;

use super::{BackendError, Body};
use crate::telemetry::ErrorKind;
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use instance::Instances;
use pool::{Pool, SendError};
use rollgate_core::config::HttpSpec;
use std::sync::Arc;
use std::time::Duration;

/// Bodies up to this size are buffered so a connection failure can be retried elsewhere;
/// larger ones are streamed to a single attempt.
const REPLAY_LIMIT: u64 = 64 * 1024;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
/// A `static`, not a `const`: a `const` array is built afresh (and dropped) at every use, which
/// on this per-request path cost more than the comparisons themselves.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// A version served by HTTP instances.
#[derive(Debug)]
pub(crate) struct HttpBackend {
    inner: ArcSwap<Inner>,
    spec: HttpSpec,
}

#[derive(Debug)]
struct Inner {
    instances: Instances,
    /// Connections, indexed like the instances.
    pools: Vec<Arc<Pool>>,
    timeout: Duration,
}

impl HttpBackend {
    /// Builds the instance set and its pools; connections are opened on first use.
    pub(crate) fn new(spec: &HttpSpec) -> Self {
        Self {
            inner: ArcSwap::from_pointee(Inner::build(spec, &spec.instances, &[])),
            spec: spec.clone(),
        }
    }

    /// Serves from `urls` from now on (an empty list answers 503). Requests in flight finish on
    /// the previous set; instances in both keep their connections. Passive health starts
    /// afresh.
    pub(crate) fn set_instances(&self, urls: &[String]) {
        let old = self.inner.load();
        self.inner
            .store(Arc::new(Inner::build(&self.spec, urls, &old.pools)));
    }
}

impl HttpBackend {
    /// Whether any instance can take requests now.
    pub(crate) fn ready(&self) -> bool {
        self.inner.load().instances.any_healthy()
    }

    /// Forwards a request, as it came but for its mapped path, to one of the instances.
    pub(crate) async fn forward(
        &self,
        req: ::http::Request<Body>,
    ) -> Result<::http::Response<Body>, BackendError> {
        let inner = self.inner.load_full();
        inner.forward(req).await
    }
}

impl Inner {
    /// The instances of `urls`, reusing the pool of any instance in `reuse`.
    fn build(spec: &HttpSpec, urls: &[String], reuse: &[Arc<Pool>]) -> Self {
        let instances = Instances::new(urls, spec.eject_after, spec.eject_for);
        let pools = (0..urls.len())
            .map(|i| {
                let authority = instances.authority(i);
                reuse
                    .iter()
                    .find(|p| p.authority() == authority)
                    .cloned()
                    .unwrap_or_else(|| {
                        Arc::new(Pool::new(authority.to_owned(), spec.connect_timeout))
                    })
            })
            .collect();
        Self {
            instances,
            pools,
            timeout: spec.request_timeout,
        }
    }

    async fn forward(&self, req: Request<Body>) -> Result<Response<Body>, BackendError> {
        let (mut parts, body) = req.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        if body_len(&body).is_none_or(|n| n > REPLAY_LIMIT) {
            let Some(slot) = self.instances.pick() else {
                return Err(no_instance());
            };
            return self.attempt(slot, parts, body).await;
        }
        let replay = collect(body).await?;
        let mut last = no_instance();
        let mut attempts = self.instances.attempts().into_iter().peekable();
        while let Some(slot) = attempts.next() {
            let body = Full::new(replay.clone())
                .map_err(|never| match never {})
                .boxed_unsync();
            // The head is copied only when another attempt may follow.
            let head = if attempts.peek().is_some() {
                parts.clone()
            } else {
                std::mem::replace(&mut parts, Request::new(()).into_parts().0)
            };
            match self.attempt(slot, head, body).await {
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
        let pool = &self.pools[slot];
        let authority = pool.authority();
        parts.uri = origin_form(&parts.uri)?;
        let call = pool.send(Request::from_parts(parts, body));
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(BackendError::new(
                ErrorKind::Timeout,
                format!(
                    "upstream {authority} did not answer within {} ms",
                    self.timeout.as_millis()
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
        outcome.map(|mut resp| {
            strip_hop_by_hop(resp.headers_mut());
            resp
        })
    }
}

fn no_instance() -> BackendError {
    BackendError::new(ErrorKind::Unavailable, "no instance is serving")
}

/// Unsent requests may go to another instance; one that failed on the way may have reached
/// the model, so it counts as the instance's failure and is not retried.
fn classify(authority: &str, e: &SendError) -> BackendError {
    let kind = match e {
        SendError::Connect(_) | SendError::NotSent(_) => ErrorKind::Unavailable,
        SendError::Failed(_) => ErrorKind::Upstream5xx,
    };
    BackendError::new(kind, format!("upstream {authority} failed: {e}"))
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

/// The request target an upstream is sent: `/path?query` (the `Host` header names the
/// instance). Already in that form unless the client sent an absolute URI.
fn origin_form(incoming: &Uri) -> Result<Uri, BackendError> {
    if incoming.scheme().is_none() && incoming.authority().is_none() {
        return Ok(incoming.clone());
    }
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(
        incoming
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    Uri::from_parts(parts)
        .map_err(|e| BackendError::new(ErrorKind::BadRequest, format!("bad upstream URI: {e}")))
}

/// Runs on every request and answer. Clients rarely send any of these, keep-alive upstreams
/// usually send one (`connection: keep-alive`): one pass over the (few) names present marks
/// the hop-by-hop ones, and only those are removed. The headers a `connection` header names
/// are this connection's too (RFC 9110 §7.6.1); its usual tokens (`keep-alive`, `close`) name
/// nothing to remove beyond the marked ones, so they are neither parsed nor looked up.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut present = [false; HOP_BY_HOP.len()];
    for name in headers.keys() {
        if let Some(i) = hop_index(name.as_str()) {
            present[i] = true;
        }
    }
    if !present.contains(&true) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|token| !is_connection_option(token))
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for (name, _) in HOP_BY_HOP.iter().zip(present).filter(|(_, p)| *p) {
        headers.remove(name);
    }
}

/// The position in [`HOP_BY_HOP`] of a lower-case header name. A `match` on the string
/// (a switch on its length, then one comparison) rather than eight typed-name comparisons:
/// this runs for every header of every request and answer.
fn hop_index(name: &str) -> Option<usize> {
    Some(match name {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-authenticate" => 2,
        "proxy-authorization" => 3,
        "te" => 4,
        "trailer" => 5,
        "transfer-encoding" => 6,
        "upgrade" => 7,
        _ => return None,
    })
}

/// A `connection` token that names no header outside [`HOP_BY_HOP`]. Tokens are
/// case-insensitive; they usually come in lower case, which needs no copy.
fn is_connection_option(token: &str) -> bool {
    let option = |t: &str| t.is_empty() || t == "close" || hop_index(t).is_some();
    if token.bytes().any(|b| b.is_ascii_uppercase()) {
        option(&token.to_ascii_lowercase())
    } else {
        option(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        let mut add = |name: &'static str, value: &'static str| {
            headers.append(name, HeaderValue::from_static(value));
        };
        add("connection", "keep-alive, X-Trace-Hop");
        add("connection", "close");
        add("keep-alive", "timeout=5");
        add("x-trace-hop", "1");
        add("transfer-encoding", "chunked");
        add("content-type", "application/json");
        add("x-request-id", "abc");
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["content-type", "x-request-id"]);
    }

    #[test]
    fn end_to_end_headers_are_left_alone() {
        let mut headers = HeaderMap::new();
        headers.append("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-user-id", HeaderValue::from_static("7"));
        let before = headers.clone();
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers, before);
    }

    #[test]
    fn connection_options_name_no_other_header() {
        let mut headers = HeaderMap::new();
        headers.append(
            "connection",
            HeaderValue::from_static(" Keep-Alive ,, CLOSE,te"),
        );
        headers.append("te", HeaderValue::from_static("trailers"));
        headers.append("close", HeaderValue::from_static("an end-to-end header"));
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["close"]);
        assert!(is_connection_option(""));
        assert!(is_connection_option("Upgrade"));
        assert!(!is_connection_option("x-trace-hop"));
    }

    #[test]
    fn the_hop_index_matches_the_list() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_index(name.as_str()), Some(i), "{name}");
        }
        assert_eq!(hop_index("content-type"), None);
    }
}
