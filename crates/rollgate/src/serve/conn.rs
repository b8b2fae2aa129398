//! The HTTP accept loop of both ports, with the limits on hostile clients that `axum::serve`
//! cannot be given: a cap on the size of a request head (431 above it), a deadline on reading
//! it (slow-header clients are disconnected; it also closes keep-alive connections left idle
//! that long), and a deadline on reading a request body (408, see `gateway::deadline`).
//!
//! Otherwise it does what `axum::serve` does: one task per connection, HTTP/1.1 (and HTTP/2
//! with prior knowledge), and on shutdown no new connections while the open ones finish.

use crate::gateway::deadline;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Limits on what one client may make a port wait for or hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Largest request head (request line and headers), bytes.
    pub(crate) max_header_bytes: usize,
    /// Time to receive a whole request head.
    pub(crate) header_read_timeout: Duration,
    /// Time to receive a whole request body once its head arrived.
    pub(crate) body_read_timeout: Duration,
}

impl HttpLimits {
    pub(crate) fn of(config: &rollgate_core::config::Config) -> Self {
        Self {
            max_header_bytes: config.max_header_bytes,
            header_read_timeout: config.header_read_timeout,
            body_read_timeout: config.body_read_timeout,
        }
    }
}

/// Serves `app` on `listener` until `stop` turns true, then lets open connections finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    nodelay: bool,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let app = app.layer(deadline::layer(limits.body_read_timeout));
    let builder = Arc::new(builder(limits));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        if nodelay {
            // Answers are written whole; never hold the last segment back for an ACK.
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY on an accepted connection");
            }
        }
        let service = TowerToHyperService::new(app.clone());
        let conn = builder
            .serve_connection(TokioIo::new(tcp), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn builder(limits: HttpLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    builder
}

/// A failed `accept`: a connection reset before it was accepted is nothing; anything else
/// (out of file descriptors) is logged and retried after a pause, as `axum::serve` does.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
