//! The demo's client of the data port: predictions with the headers real callers set, and
//! feedback. Kept apart from the admin client because its requests carry per-user headers
//! and its failures are counted, not reported.

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

/// Longest wait for one answer: a stuck request counts as an error, not a hang.
const TIMEOUT: Duration = Duration::from_secs(10);

/// An answer from the data port.
pub(crate) struct Answer {
    pub(crate) ok: bool,
    pub(crate) body: Value,
}

/// A pooled HTTP/1 client of the data port.
#[derive(Clone)]
pub(crate) struct DataClient {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl DataClient {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        Self {
            base: format!("http://{addr}"),
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// `POST path` with a JSON body and extra headers; transport failures and non-2xx
    /// answers come back as `ok: false`.
    pub(crate) async fn post(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        let failed = Answer {
            ok: false,
            body: Value::Null,
        };
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let Ok(req) = req.body(Full::new(Bytes::from(body.to_string()))) else {
            return failed;
        };
        let Ok(Ok(resp)) = tokio::time::timeout(TIMEOUT, self.client.request(req)).await else {
            return failed;
        };
        let ok = resp.status().is_success();
        let Ok(collected) = resp.into_body().collect().await else {
            return failed;
        };
        Answer {
            ok,
            body: serde_json::from_slice(&collected.to_bytes()).unwrap_or(Value::Null),
        }
    }
}
