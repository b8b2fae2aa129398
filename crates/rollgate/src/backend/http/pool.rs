//! Keep-alive HTTP/1.1 connections to one instance, pooled per data-plane worker thread.
//!
//! Why not hyper-util's pooled client: its pool is shared by every thread (a lock per checkout
//! and per return, and a connection whose driving task lives on one thread used from another,
//! so every request and answer crosses threads), and it spawns one extra task per request only
//! to put the connection back once the answer has been read. Here each worker thread (see
//! [`crate::worker`]) has its own idle list per instance; a connection is opened on the thread
//! that uses it, its task runs there, and it goes back to that thread's list when the answer's
//! body ends (or at once for an empty body), from the body itself.

use crate::backend::Body;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Idle connections kept per instance and thread; beyond it, finished ones are closed.
const MAX_IDLE: usize = 256;
/// An idle connection unused for this long is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// TCP keep-alive probes on idle upstream connections start after this.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Why a request did not get an answer.
#[derive(Debug)]
pub(super) enum SendError {
    /// No connection could be made: the request was not sent, another instance may take it.
    Connect(std::io::Error),
    /// The request was refused by the connection before any of it was sent.
    NotSent(hyper::Error),
    /// The exchange failed after the request was (maybe partly) sent.
    Failed(hyper::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(e) => write!(f, "connecting: {e}"),
            SendError::NotSent(e) | SendError::Failed(e) => {
                write!(f, "{e}")?;
                match std::error::Error::source(e) {
                    Some(source) => write!(f, ": {source}"),
                    None => Ok(()),
                }
            }
        }
    }
}

struct Idle {
    tx: SendRequest<Body>,
    since: Instant,
}

/// The connections to one instance.
pub(super) struct Pool {
    authority: String,
    /// `host:port` to connect to: the authority, with port 80 when it names none.
    connect_to: String,
    /// `Host` of every request sent here, built once.
    host: HeaderValue,
    connect_timeout: Duration,
    /// Indexed by [`crate::worker::slot`].
    idle: Box<[Mutex<Vec<Idle>>]>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(super) fn new(authority: String, connect_timeout: Duration) -> Self {
        let host = HeaderValue::from_str(&authority)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        let idle = (0..crate::worker::slots())
            .map(|_| Mutex::new(Vec::new()))
            .collect();
        let has_port = authority
            .parse::<http::uri::Authority>()
            .is_ok_and(|a| a.port_u16().is_some());
        let connect_to = if has_port {
            authority.clone()
        } else {
            format!("{authority}:80")
        };
        Self {
            authority,
            connect_to,
            host,
            connect_timeout,
            idle,
        }
    }

    /// `host:port` of the instance.
    pub(super) fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends a request (origin-form URI, any `Host` is replaced) on an idle connection of this
    /// thread, or a new one. A request refused unsent by a reused connection (closed by the
    /// instance meanwhile) is tried again on another, as the request was never sent.
    pub(super) async fn send(
        self: &Arc<Self>,
        mut req: Request<Body>,
    ) -> Result<Response<Body>, SendError> {
        req.headers_mut()
            .insert(http::header::HOST, self.host.clone());
        let slot = crate::worker::slot(self.idle.len());
        loop {
            let (mut tx, reused) = match self.take(slot) {
                Some(tx) => (tx, true),
                None => (self.connect().await?, false),
            };
            // A reused connection may still be finishing the previous answer.
            if let Err(e) = tx.ready().await {
                if reused {
                    continue;
                }
                return Err(SendError::NotSent(e));
            }
            match tx.try_send_request(req).await {
                Ok(resp) => return Ok(self.returning(resp, tx, slot)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => req = unsent,
                    Some(_) => return Err(SendError::NotSent(e.into_error())),
                    None => return Err(SendError::Failed(e.into_error())),
                },
            }
        }
    }

    fn slot(&self, slot: usize) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle[slot]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used live connection of the slot; closed and stale ones are dropped.
    fn take(&self, slot: usize) -> Option<SendRequest<Body>> {
        let mut idle = self.slot(slot);
        while let Some(conn) = idle.pop() {
            if !conn.tx.is_closed() && conn.since.elapsed() < IDLE_TIMEOUT {
                return Some(conn.tx);
            }
        }
        None
    }

    fn give_back(&self, slot: usize, tx: SendRequest<Body>) {
        if tx.is_closed() {
            return;
        }
        let mut idle = self.slot(slot);
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                tx,
                since: Instant::now(),
            });
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, SendError> {
        let timed_out = || {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no connection within {} ms",
                    self.connect_timeout.as_millis()
                ),
            )
        };
        let stream =
            tokio::time::timeout(self.connect_timeout, TcpStream::connect(&*self.connect_to))
                .await
                .map_err(|_| SendError::Connect(timed_out()))?
                .map_err(SendError::Connect)?;
        // Requests are written whole: never wait for an ACK before sending the last segment.
        stream.set_nodelay(true).map_err(SendError::Connect)?;
        let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
        socket2::SockRef::from(&stream)
            .set_tcp_keepalive(&keepalive)
            .map_err(SendError::Connect)?;
        let (tx, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(SendError::NotSent)?;
        let authority = self.authority.clone();
        // Spawned on the current runtime: on a worker, the connection lives on its thread.
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(upstream = %authority, error = %e, "upstream connection closed");
            }
        });
        Ok(tx)
    }

    /// The answer, with a body that puts the connection back when it ends.
    fn returning(
        self: &Arc<Self>,
        resp: Response<Incoming>,
        tx: SendRequest<Body>,
        slot: usize,
    ) -> Response<Body> {
        use http_body::Body as _;
        use http_body_util::BodyExt;
        let (parts, body) = resp.into_parts();
        let conn = Checkout {
            pool: Arc::clone(self),
            slot,
            tx,
        };
        let home = if body.is_end_stream() {
            conn.give_back();
            None
        } else {
            Some(conn)
        };
        let body = Returning { body, home };
        Response::from_parts(parts, body.map_err(Into::into).boxed_unsync())
    }
}

/// A connection in use, and where it goes back to.
struct Checkout {
    pool: Arc<Pool>,
    slot: usize,
    tx: SendRequest<Body>,
}

impl Checkout {
    fn give_back(self) {
        self.pool.give_back(self.slot, self.tx);
    }
}

/// An upstream answer's body that returns its connection to the pool once fully read. Dropped
/// before its end, it drops the connection instead (hyper then closes it: the rest of the
/// answer is still on the wire).
struct Returning {
    body: Incoming,
    home: Option<Checkout>,
}

impl http_body::Body for Returning {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        match &frame {
            Some(Err(_)) => this.home = None,
            None => {
                if let Some(home) = this.home.take() {
                    home.give_back();
                }
            }
            Some(Ok(_)) => {
                if this.body.is_end_stream() {
                    if let Some(home) = this.home.take() {
                        home.give_back();
                    }
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
