//! Tiny upstream model servers (axum on 127.0.0.1:0) that count and record what reaches them.
//!
//! Every instance answers any method on any path, so a request sent to the wrong path is
//! recorded (and visible to assertions) rather than lost in a 404.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How an instance answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// 200 with a JSON echo of what it saw.
    Echo,
    /// 500 with `{"detail": "boom from NAME"}`.
    Fail,
    /// Sleeps, then echoes.
    Slow(Duration),
    /// 200 with this body, declared as JSON whatever it is: a model server's own answer.
    Answer(&'static str),
}

/// What one request looked like on arrival.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Vec<u8>,
}

#[derive(Debug)]
struct Shared {
    name: String,
    mode: Mode,
    arrived: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

/// One running instance.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Upstream {
    /// `http://127.0.0.1:PORT`, as a config's `instances:` entry.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn name(&self) -> &str {
        &self.shared.name
    }

    /// Requests that reached the handler (counted before the body is read or any sleep).
    pub(crate) fn arrived(&self) -> usize {
        self.shared.arrived.load(Ordering::SeqCst)
    }

    /// Requests recorded in full (body read).
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

/// The runtime the instances of one test run on; stops them on drop.
#[derive(Debug)]
pub(crate) struct Upstreams {
    rt: Option<tokio::runtime::Runtime>,
}

impl Upstreams {
    pub(crate) fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        Self { rt: Some(rt) }
    }

    /// Starts an instance named `name` answering as `mode`.
    pub(crate) fn spawn(&self, name: &str, mode: Mode) -> Upstream {
        let rt = self.rt.as_ref().expect("runtime is running");
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            mode,
            arrived: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { addr, shared }
    }
}

impl Drop for Upstreams {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    shared.arrived.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
    };
    if let Ok(mut all) = shared.seen.lock() {
        all.push(seen.clone());
    }
    let (status, doc) = match shared.mode {
        Mode::Fail => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "detail": format!("boom from {}", shared.name) }),
        ),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, echo(&shared.name, &seen))
        }
        Mode::Echo => (StatusCode::OK, echo(&shared.name, &seen)),
        Mode::Answer(body) => (StatusCode::OK, serde_json::Value::String(body.to_owned())),
    };
    let text = match doc {
        serde_json::Value::String(raw) => raw,
        doc => doc.to_string(),
    };
    let mut resp = (status, Body::from(text)).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&shared.name) {
        h.insert("x-upstream", v);
    }
    resp
}

fn echo(name: &str, seen: &Seen) -> serde_json::Value {
    json!({
        "instance": name,
        "method": seen.method,
        "path": seen.path,
        "query": seen.query,
        "x_custom": seen.headers.get("x-custom"),
        "request_id": seen.headers.get("x-request-id"),
        "body_len": seen.body.len(),
    })
}
