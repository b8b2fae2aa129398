//! Thread-per-core serving of the data port, as nginx's workers do it.
//!
//! Each worker is an OS thread with its own current-thread tokio runtime and its own listening
//! socket on the data address (`SO_REUSEPORT`: the kernel spreads new connections over the
//! sockets). A connection, its requests, the upstream connections they use (pooled per worker,
//! see `backend::http::pool`) and the tasks driving them all stay on one thread: no work
//! stealing, no cross-thread wake-ups (a futex call and often an inter-processor interrupt
//! each), no contended pool lock. On a machine where the load generator and the upstream share
//! the cores, that is most of what a proxy spends beyond the syscalls themselves.
//!
//! The control plane, the admin port and signal handling stay on the main multi-thread runtime.

use super::conn::HttpLimits;
use crate::gateway::port::DataPort;
use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Pending connections per socket, as tokio's own `TcpListener::bind` asks for.
const BACKLOG: i32 = 1024;
/// Period of each worker's anchor timer (see [`anchor_timers`]).
const ANCHOR: Duration = Duration::from_secs(1);

/// How many workers serve the data port: `--workers` when given, else one per CPU.
pub(super) fn count(requested: Option<usize>) -> usize {
    requested.filter(|&n| n > 0).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    })
}

/// Opens `n` listening sockets sharing `addr`. The first one settles the port (`:0` asks the OS
/// for one), the others join it; returns them with the address they listen on.
pub(super) fn bind(
    addr: SocketAddr,
    n: usize,
) -> anyhow::Result<(Vec<std::net::TcpListener>, SocketAddr)> {
    let first =
        reuseport_listener(addr).with_context(|| format!("listening on {addr} (data port)"))?;
    let bound = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..n {
        let next = reuseport_listener(bound)
            .with_context(|| format!("listening on {bound} (data port, another worker)"))?;
        all.push(next);
    }
    Ok((all, bound))
}

fn reuseport_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Starts one worker thread per listener, each serving `app` until `stop` turns true and its
/// connections have finished. The returned task (on the caller's runtime) ends when every
/// worker has, with the first error any of them met.
pub(super) fn spawn(
    listeners: Vec<std::net::TcpListener>,
    app: DataPort,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<io::Result<()>>> {
    let mut done = Vec::with_capacity(listeners.len());
    let loops = listeners.len();
    for (index, listener) in listeners.into_iter().enumerate() {
        let (tx, rx) = oneshot::channel();
        let (app, stop) = (app.clone(), stop.clone());
        let slots = limits.connection_slots(index, loops);
        std::thread::Builder::new()
            .name(format!("rollgate-data-{index}"))
            .spawn(move || {
                crate::worker::enter(index);
                let _ = tx.send(run(listener, app, limits, slots, stop));
            })
            .context("starting a data-plane worker thread")?;
        done.push(rx);
    }
    Ok(tokio::spawn(async move {
        let mut first_error = Ok(());
        for rx in done {
            let outcome = rx
                .await
                .unwrap_or_else(|_| Err(io::Error::other("a data-plane worker panicked")));
            if first_error.is_ok() {
                first_error = outcome;
            }
        }
        first_error
    }))
}

/// One worker: its own runtime, serving its own socket with graceful shutdown.
///
/// When serving ends the runtime is shut down without waiting, which drops what still runs on
/// it (idle upstream connections, detached mirror copies) as the process exit would.
fn run(
    listener: std::net::TcpListener,
    app: DataPort,
    limits: HttpLimits,
    slots: usize,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(async move {
        tokio::spawn(anchor_timers());
        let listener = tokio::net::TcpListener::from_std(listener)?;
        super::conn::serve(listener, app, limits, true, slots, stop).await
    });
    runtime.shutdown_background();
    served
}

/// Keeps a timer due within [`ANCHOR`] on the worker's runtime at all times.
///
/// tokio wakes its own driver (an eventfd write, then an extra `epoll_wait` round) whenever a
/// timer is registered earlier than every pending one. With few requests in flight the timer
/// wheel is often empty, so each request's upstream timeout (10 s by default) paid that: half
/// a `write` syscall per request in `perf stat`. Behind an always-pending earlier timer, a
/// request timeout registers silently; the price is one wake-up per second per worker.
async fn anchor_timers() {
    let mut tick = tokio::time::interval(ANCHOR);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}
