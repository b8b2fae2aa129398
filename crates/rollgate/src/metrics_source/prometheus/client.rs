//! A minimal client of Prometheus' instant-query API: `GET /api/v1/query?query=..&time=..` over
//! the hyper-util legacy client, bounded in time and in answer size.

use super::answer::{self, QueryError, Sample};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Largest answer read: a window's queries give a handful of series.
const MAX_ANSWER: usize = 1 << 20;

/// Talks to one Prometheus server.
#[derive(Debug, Clone)]
pub(crate) struct PromClient {
    base: String,
    timeout: Duration,
    http: Client<HttpConnector, Empty<Bytes>>,
}

impl PromClient {
    /// A client of the server at `base` (`http://host:port`, no trailing slash).
    pub(crate) fn new(base: String, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Self {
            base,
            timeout,
            http,
        }
    }

    /// Evaluates `promql` at `time` (Unix seconds, as Prometheus writes them).
    pub(crate) async fn query(&self, promql: &str, time: &str) -> Result<Vec<Sample>, QueryError> {
        let url = format!(
            "{}/api/v1/query?query={}&time={}",
            self.base,
            encode(promql),
            encode(time)
        );
        let req = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| QueryError::Http(e.to_string()))?;
        let body = tokio::time::timeout(self.timeout, async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| QueryError::Http(format!("{e:#}")))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| QueryError::Http(e.to_string()))?
                .to_bytes();
            // Prometheus answers a bad query with 400/422 and a JSON error that says more.
            if !status.is_success() {
                return Err(match answer::parse(&body) {
                    Err(refused @ QueryError::Refused { .. }) => refused,
                    _ => QueryError::Status {
                        status: status.as_u16(),
                        body: String::from_utf8_lossy(&body).chars().take(200).collect(),
                    },
                });
            }
            Ok(body)
        })
        .await
        .map_err(|_| QueryError::Timeout(self.timeout))??;
        answer::parse(&body)
    }
}

/// Percent-encodes a query-string value (everything but RFC 3986's unreserved characters).
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode(r#"sum(x{a="b"}[90s]) > 0.5"#),
            "sum%28x%7Ba%3D%22b%22%7D%5B90s%5D%29%20%3E%200.5"
        );
        assert_eq!(encode("1700000000.123"), "1700000000.123");
    }
}
