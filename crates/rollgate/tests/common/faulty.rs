//! A fault-injecting upstream on 127.0.0.1: a raw TCP server speaking just enough HTTP/1.1
//! (keep-alive, `content-length` bodies) to answer well, and switchable at run time into the
//! ways a real model server breaks: refusing connections, hanging, answering 500s, answering
//! bytes that are not HTTP, and answering too late.
//!
//! It is written on raw sockets rather than a framework so that every broken answer is exactly
//! what is on the wire, and so that "refuse" really refuses: the listening socket is closed and
//! open keep-alive connections are dropped, so a connect gets `ECONNREFUSED`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the upstream answers the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A healthy answer: 200 with a small JSON document, connection kept alive.
    None,
    /// Nothing listens: the listener is closed and every open connection dropped.
    Refuse,
    /// The request is read and never answered (the connection stays open).
    Hang,
    /// 500 with a JSON error body, connection kept alive.
    Http500,
    /// Bytes that are not an HTTP answer, then the connection is closed.
    Garbage,
    /// A healthy answer after this many milliseconds (beyond the gateway's timeout).
    Slow(u64),
}

impl Fault {
    /// Every fault, for tests that walk through them all.
    pub(crate) fn all(slow_ms: u64) -> [Fault; 5] {
        [
            Fault::Refuse,
            Fault::Hang,
            Fault::Http500,
            Fault::Garbage,
            Fault::Slow(slow_ms),
        ]
    }

    /// A short name for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Refuse => "refuse",
            Fault::Hang => "hang",
            Fault::Http500 => "http-500",
            Fault::Garbage => "garbage",
            Fault::Slow(_) => "slow",
        }
    }

    fn encode(self) -> u64 {
        match self {
            Fault::None => 0,
            Fault::Refuse => 1,
            Fault::Hang => 2,
            Fault::Http500 => 3,
            Fault::Garbage => 4,
            Fault::Slow(ms) => 5 | (ms << 8),
        }
    }

    fn decode(v: u64) -> Self {
        match v & 0xff {
            1 => Fault::Refuse,
            2 => Fault::Hang,
            3 => Fault::Http500,
            4 => Fault::Garbage,
            5 => Fault::Slow(v >> 8),
            _ => Fault::None,
        }
    }
}

#[derive(Debug)]
struct Shared {
    name: String,
    mode: AtomicU64,
    /// Requests whose head was read, whatever the answer.
    requests: AtomicUsize,
}

impl Shared {
    fn mode(&self) -> Fault {
        Fault::decode(self.mode.load(Ordering::SeqCst))
    }
}

/// A running faulty upstream; stops on drop.
#[derive(Debug)]
pub(crate) struct Faulty {
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Faulty {
    /// Starts healthy, named `name` (it answers `{"instance": name, ...}`).
    pub(crate) fn start(name: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind the faulty upstream");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            mode: AtomicU64::new(Fault::None.encode()),
            requests: AtomicUsize::new(0),
        });
        rt.spawn(accept_loop(listener, addr, Arc::clone(&shared)));
        Self {
            addr,
            shared,
            rt: Some(rt),
        }
    }

    /// `http://127.0.0.1:PORT`, for a config's `instances:`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches how the next requests (and connections) are answered.
    pub(crate) fn set(&self, fault: Fault) {
        self.shared.mode.store(fault.encode(), Ordering::SeqCst);
    }

    /// Requests whose head arrived, since the start.
    pub(crate) fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Accepts while not refusing; while refusing, the port is released (connects are refused by
/// the kernel) and taken again once the fault changes.
async fn accept_loop(mut listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    loop {
        if shared.mode() == Fault::Refuse {
            drop(listener);
            while shared.mode() == Fault::Refuse {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            listener = loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            };
        }
        // Wake up now and then to notice a switch to `Refuse` with no one connecting.
        let accepted = tokio::time::timeout(Duration::from_millis(20), listener.accept()).await;
        if let Ok(Ok((stream, _))) = accepted {
            let _ = stream.set_nodelay(true);
            tokio::spawn(connection(stream, Arc::clone(&shared)));
        }
    }
}

/// Serves one connection's requests in order until the peer closes or a fault ends it.
async fn connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let Some(consumed) = read_request(&mut stream, &mut buf, &shared).await else {
            return;
        };
        buf.drain(..consumed);
        shared.requests.fetch_add(1, Ordering::SeqCst);
        let keep = match shared.mode() {
            Fault::None => answer(&mut stream, 200, &ok_body(&shared.name)).await,
            Fault::Slow(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                answer(&mut stream, 200, &ok_body(&shared.name)).await
            }
            Fault::Http500 => answer(&mut stream, 500, r#"{"detail": "injected failure"}"#).await,
            Fault::Garbage => {
                let _ = stream
                    .write_all(b"\x00\x13\x37 this is not HTTP \xff\xfe\r\n\r\n{{{{")
                    .await;
                false
            }
            Fault::Hang => {
                // Never answer; hold the connection until the peer gives up on it.
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                false
            }
            Fault::Refuse => false,
        };
        if !keep {
            return;
        }
    }
}

/// Reads one request (head and `content-length` body) into `buf`; returns its length, or
/// `None` when the peer closed, the input is not HTTP, or the upstream is refusing.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared) -> Option<usize> {
    let mut chunk = [0u8; 8192];
    loop {
        if shared.mode() == Fault::Refuse {
            return None;
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4) {
            let len = content_length(&buf[..end])?;
            if buf.len() >= end + len {
                return Some(end + len);
            }
        }
        // Bounded reads, so a keep-alive connection notices a switch to `Refuse`.
        match tokio::time::timeout(Duration::from_millis(20), stream.read(&mut chunk)).await {
            Err(_) => continue,
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn content_length(head: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(head).ok()?;
    for line in text.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                return v.trim().parse().ok();
            }
            if k.trim().eq_ignore_ascii_case("transfer-encoding") {
                // Not needed by these tests: the gateway forwards declared lengths as they are.
                return None;
            }
        }
    }
    Some(0)
}

fn ok_body(name: &str) -> String {
    format!(r#"{{"instance": "{name}", "predictions": [{{"class": "setosa", "label": 0}}]}}"#)
}

/// Writes a keep-alive answer; false when the connection broke.
async fn answer(stream: &mut TcpStream, status: u16, body: &str) -> bool {
    let reason = if status == 200 {
        "OK"
    } else {
        "Internal Server Error"
    };
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(msg.as_bytes()).await.is_ok()
}
