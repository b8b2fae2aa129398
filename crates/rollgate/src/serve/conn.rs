//! The HTTP accept loop of both ports, with the limits on hostile clients that `axum::serve`
//! cannot be given: a cap on open connections (at the cap the port stops accepting until one
//! closes, as nginx's `worker_connections`; file descriptors and memory stay bounded however
//! many clients connect), a cap on the size of a request head (431 above it), a deadline on
//! reading it (slow-header clients are disconnected; it also closes keep-alive connections left
//! idle that long), and a deadline on reading a request body (408, see `gateway::deadline`).
//!
//! Otherwise it does what `axum::serve` does: one task per connection, HTTP/1.1 (and HTTP/2
//! with prior knowledge), and on shutdown no new connections while the open ones finish.

use crate::gateway::deadline;
use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Limits on what one client may make a port wait for or hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    /// Largest request head (request line and headers), bytes.
    pub(crate) max_header_bytes: usize,
    /// Time to receive a whole request head.
    pub(crate) header_read_timeout: Duration,
    /// Time to receive a whole request body once its head arrived.
    pub(crate) body_read_timeout: Duration,
    /// Open connections of the port, at most.
    pub(crate) max_connections: usize,
}

impl HttpLimits {
    pub(crate) fn of(config: &rollgate_core::config::Config) -> Self {
        Self {
            max_header_bytes: config.max_header_bytes,
            header_read_timeout: config.header_read_timeout,
            body_read_timeout: config.body_read_timeout,
            max_connections: config.max_connections,
        }
    }

    /// The open-connection slots of accept loop `index` of `loops` sharing a port: the cap
    /// split evenly, at least one each. Each loop has its own, as each nginx worker has its own
    /// `worker_connections`: a slot shared by loops could be taken by one whose own socket has
    /// no client waiting while the client queues on another's.
    pub(crate) fn connection_slots(&self, index: usize, loops: usize) -> usize {
        let loops = loops.max(1);
        let extra = usize::from(index < self.max_connections % loops);
        (self.max_connections / loops + extra).max(1)
    }
}

/// Serves `app` on `listener` until `stop` turns true, then lets open connections finish.
/// At most `slots` connections are open at once.
pub(crate) async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: HttpLimits,
    nodelay: bool,
    slots: usize,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let cap = slots;
    let slots = Arc::new(Semaphore::new(slots));
    let app = tower::Layer::layer(&deadline::layer(limits.body_read_timeout), app);
    let builder = Arc::new(builder(limits));
    let graceful = GracefulShutdown::new();
    let mut at_cap = false;
    loop {
        let slot = tokio::select! {
            slot = free_slot(&slots, &listener, cap, &mut at_cap) => slot,
            _ = stop.wait_for(|s| *s) => break,
        };
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
            let _slot = slot;
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Waits for a connection slot. Reaching the cap is logged once per time it is reached
/// (`at_cap` remembers it), since it means clients now queue in the kernel's backlog.
async fn free_slot(
    slots: &Arc<Semaphore>,
    listener: &TcpListener,
    cap: usize,
    at_cap: &mut bool,
) -> OwnedSemaphorePermit {
    if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
        *at_cap = false;
        return slot;
    }
    if !std::mem::replace(at_cap, true) {
        tracing::warn!(
            addr = ?listener.local_addr().ok(),
            cap,
            "connection cap reached (limits.max_connections): not accepting until one closes"
        );
    }
    match Arc::clone(slots).acquire_owned().await {
        Ok(slot) => slot,
        // The semaphore is never closed; should it be, wait for the stop signal instead.
        Err(_) => std::future::pending().await,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize) -> HttpLimits {
        HttpLimits {
            max_header_bytes: 8192,
            header_read_timeout: Duration::from_secs(1),
            body_read_timeout: Duration::from_secs(1),
            max_connections,
        }
    }

    #[test]
    fn the_connection_cap_is_split_among_accept_loops() {
        let split = |cap, loops| {
            (0..loops)
                .map(|i| limits(cap).connection_slots(i, loops))
                .collect::<Vec<_>>()
        };
        assert_eq!(split(10_000, 1), [10_000]);
        assert_eq!(split(10, 4), [3, 3, 2, 2]);
        assert_eq!(split(2, 2), [1, 1]);
        // Every loop can serve someone, even past a cap smaller than the loop count.
        assert_eq!(split(1, 3), [1, 1, 1]);
    }
}
