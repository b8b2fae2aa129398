//! Load under change: keep-alive clients that record when each request was sent and answered
//! and by which version, and a time line of what the control plane acknowledged, to decide
//! whether every answer came from a version allowed at that moment.
//!
//! # The rule
//! Each change the driver makes opens an *era*: the set of versions with a weight above zero in
//! the acknowledged answer. An era may be live from the moment its change was **sent** (the
//! gateway may swap the route before the answer reaches the driver) until the moment the
//! **acknowledgement** of the next change was **received** (after that, the old route is gone).
//! A request sent at `s` and answered at `e` by version `V` is allowed when some era overlapping
//! `[s, e]` contains `V`: a request in flight across a change may be served by either side of
//! it, and nothing else. Changes the driver does not make itself (a rollout moving weights) are
//! covered by one era for the whole rollout holding its stable and candidate versions.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Versions allowed to answer over a span of time.
#[derive(Debug, Clone)]
pub(crate) struct Era {
    pub(crate) from: Instant,
    pub(crate) until: Option<Instant>,
    pub(crate) allowed: BTreeSet<String>,
    pub(crate) why: String,
}

/// The acknowledged changes, in order.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    eras: Mutex<Vec<Era>>,
}

impl Timeline {
    /// Opens with the versions allowed before any change.
    pub(crate) fn new(allowed: BTreeSet<String>) -> Self {
        let first = Era {
            from: Instant::now(),
            until: None,
            allowed,
            why: "start".into(),
        };
        Self {
            eras: Mutex::new(vec![first]),
        }
    }

    /// Records a change sent at `sent` and acknowledged at `acked` that left `allowed` routed.
    pub(crate) fn change(
        &self,
        sent: Instant,
        acked: Instant,
        allowed: BTreeSet<String>,
        why: &str,
    ) {
        let mut eras = self.eras.lock().expect("timeline lock");
        if let Some(last) = eras.last_mut() {
            last.until = Some(acked);
        }
        eras.push(Era {
            from: sent,
            until: None,
            allowed,
            why: why.to_owned(),
        });
    }

    /// Whether `version` may have answered a request in flight over `[sent, answered]`.
    pub(crate) fn allows(&self, version: &str, sent: Instant, answered: Instant) -> bool {
        let eras = self.eras.lock().expect("timeline lock");
        eras.iter().any(|e| {
            e.from <= answered && e.until.is_none_or(|u| u >= sent) && e.allowed.contains(version)
        })
    }

    /// How many changes were recorded (the opening era excluded).
    pub(crate) fn changes(&self) -> usize {
        self.eras.lock().expect("timeline lock").len() - 1
    }

    /// The eras, for messages.
    pub(crate) fn eras(&self) -> Vec<Era> {
        self.eras.lock().expect("timeline lock").clone()
    }
}

/// The versions a service view (`GET /api/v1/services/{s}` or a change's answer) routes to.
pub(crate) fn routed(view: &Value) -> BTreeSet<String> {
    view["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| {
                    v["weight_percent"]
                        .as_str()
                        .and_then(|w| w.parse::<f64>().ok())
                        .is_some_and(|w| w > 0.0)
                })
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Why a request got no whole answer.
// Read through `Debug`, in the failure messages of the assertions.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    /// Sending it, or reading the answer's head.
    Request(Arc<hyper_util::client::legacy::Error>),
    /// Reading the answer's body.
    Body(Arc<hyper::Error>),
}

/// One answer as a client saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) sent: Instant,
    pub(crate) answered: Instant,
    /// The status, or the transport error.
    pub(crate) outcome: Result<u16, Transport>,
    pub(crate) version: Option<String>,
}

/// What all clients saw.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) failed: AtomicU64,
    pub(crate) disallowed: AtomicU64,
    /// The first few problems, for the failure message.
    pub(crate) examples: Mutex<Vec<String>>,
}

impl Tally {
    fn problem(&self, text: String) {
        if let Ok(mut ex) = self.examples.lock() {
            if ex.len() < 20 {
                ex.push(text);
            }
        }
    }
}

/// Judges one answer against the time line.
pub(crate) fn judge(seen: &Seen, timeline: &Timeline, tally: &Tally) {
    match (&seen.outcome, &seen.version) {
        (Ok(200), Some(v)) => {
            if !timeline.allows(v, seen.sent, seen.answered) {
                tally.disallowed.fetch_add(1, Ordering::Relaxed);
                tally.problem(format!("answered by {v}, not allowed then: {seen:?}"));
            }
        }
        _ => {
            tally.failed.fetch_add(1, Ordering::Relaxed);
            tally.problem(format!("failed request: {seen:?}"));
        }
    }
}

/// `clients` keep-alive clients sending `POST path` with `body` as fast as answers come, until
/// `stop` is set. Answers are judged afterwards ([`judge`]), once the time line is complete:
/// an answer may arrive before the driver has recorded the acknowledgement that allows it.
pub(crate) async fn run_clients(
    addr: SocketAddr,
    path: &str,
    body: &'static str,
    clients: usize,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> Vec<Seen> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = format!("http://{addr}{path}").parse().expect("uri");
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, uri, stop, sent) = (
            client.clone(),
            uri.clone(),
            Arc::clone(&stop),
            Arc::clone(&sent),
        );
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::with_capacity(64 * 1024);
            while !stop.load(Ordering::Relaxed) {
                seen.push(one(&client, &uri, body).await);
                sent.fetch_add(1, Ordering::Relaxed);
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    all
}

async fn one(
    client: &Client<HttpConnector, Full<Bytes>>,
    uri: &hyper::Uri,
    body: &'static str,
) -> Seen {
    let req = hyper::Request::post(uri.clone())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("request");
    let sent = Instant::now();
    let result = client.request(req).await;
    let (outcome, version) = match result {
        Err(e) => (Err(Transport::Request(Arc::new(e))), None),
        Ok(resp) => {
            let status = resp.status().as_u16();
            let version = resp
                .headers()
                .get("x-model-version")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match resp.into_body().collect().await {
                Ok(_) => (Ok(status), version),
                Err(e) => (Err(Transport::Body(Arc::new(e))), version),
            }
        }
    };
    Seen {
        sent,
        answered: Instant::now(),
        outcome,
        version,
    }
}
