//! A minimal blocking HTTP/1.1 client over `std::net`, one connection per request
//! (`Connection: close`), so tests control every byte (chunked bodies, declared lengths) and
//! every timeout.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Per-read and per-write socket timeout; a stuck server fails the test instead of hanging it.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// An answer as received.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// Header names lower-cased, in arrival order.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The first value of a header.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): status {} {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// `x-model-version`, which every prediction answer carries.
    pub(crate) fn version(&self) -> String {
        self.header("x-model-version")
            .unwrap_or_else(|| panic!("no x-model-version: {self:?}"))
            .to_owned()
    }

    /// The v1 error code of a `{"error": {"code", "message"}}` answer.
    pub(crate) fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {:?}", self.text()))
            .to_owned()
    }

    /// The v1 error message.
    pub(crate) fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {:?}", self.text()))
            .to_owned()
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Request {
    pub(crate) fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    pub(crate) fn post(path: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::new("POST", path)
            .header("content-type", "application/json")
            .body(body)
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    fn head(&self, addr: SocketAddr, framing: &str) -> String {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n",
            self.method, self.path
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(framing);
        head.push_str("\r\n");
        head
    }

    /// Sends with a `content-length` body (or none) and reads the answer.
    pub(crate) fn try_send(&self, addr: SocketAddr) -> std::io::Result<Response> {
        let mut s = connect(addr)?;
        let framing = match &self.body {
            Some(b) => format!("content-length: {}\r\n", b.len()),
            None => String::new(),
        };
        s.write_all(self.head(addr, &framing).as_bytes())?;
        if let Some(b) = &self.body {
            s.write_all(b)?;
        }
        s.flush()?;
        read_response(&mut s)
    }

    /// Sends, panicking with the address on an I/O error.
    pub(crate) fn send(&self, addr: SocketAddr) -> Response {
        self.try_send(addr)
            .unwrap_or_else(|e| panic!("{} http://{addr}{} failed: {e}", self.method, self.path))
    }

    /// Sends only the head, declaring `declared` body bytes, and reads the answer without
    /// sending any of the body: the server must answer from the head alone.
    pub(crate) fn send_head_only(&self, addr: SocketAddr, declared: usize) -> Response {
        let mut s = connect(addr).expect("connect");
        let framing = format!("content-length: {declared}\r\n");
        s.write_all(self.head(addr, &framing).as_bytes())
            .expect("write head");
        read_response(&mut s).expect("read answer to a head-only request")
    }

    /// Sends the body as the given chunks with `transfer-encoding: chunked`.
    pub(crate) fn send_chunked(&self, addr: SocketAddr, chunks: &[&[u8]]) -> Response {
        let mut s = connect(addr).expect("connect");
        let mut out = self
            .head(addr, "transfer-encoding: chunked\r\n")
            .into_bytes();
        for c in chunks {
            out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        // The server may answer (and close) before reading it all; what matters is the answer.
        let _ = s.write_all(&out);
        read_response(&mut s).expect("read answer to a chunked request")
    }
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// `GET path`.
pub(crate) fn get(addr: SocketAddr, path: &str) -> Response {
    Request::get(path).send(addr)
}

/// `POST path` with a JSON body.
pub(crate) fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Response {
    Request::post(path, body.to_string()).send(addr)
}

/// `POST /v1/models/{service}/predict` with the given rows.
pub(crate) fn predict(addr: SocketAddr, service: &str, rows: &[[f32; 4]]) -> Response {
    let body = serde_json::json!({ "instances": rows });
    post_json(addr, &format!("/v1/models/{service}/predict"), &body)
}

/// Reads a whole answer: head, then a body framed by `content-length`, chunks or EOF.
fn read_response(s: &mut TcpStream) -> std::io::Result<Response> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A reset after the answer arrived (the server closed with unread request bytes).
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => return Err(e),
        }
        if complete(&raw) {
            break;
        }
    }
    parse(&raw)
}

fn head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// True when `raw` holds a whole answer with a known length (so no need to wait for EOF).
fn complete(raw: &[u8]) -> bool {
    let Some(end) = head_end(raw) else {
        return false;
    };
    let Ok(resp) = parse_head(&raw[..end]) else {
        return false;
    };
    match resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(n) => raw.len() >= end + n,
        None => false,
    }
}

fn parse_head(head: &[u8]) -> std::io::Result<Response> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: Vec::new(),
    })
}

fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let end = head_end(raw).ok_or_else(|| bad(format!("no complete head in {raw:?}")))?;
    let mut resp = parse_head(&raw[..end])?;
    let rest = &raw[end..];
    resp.body = if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        dechunk(rest)?
    } else {
        match resp.header("content-length").and_then(|v| v.parse().ok()) {
            Some(n) if rest.len() >= n => rest[..n].to_vec(),
            Some(n) => return Err(bad(format!("body has {} of {n} bytes", rest.len()))),
            None => rest.to_vec(),
        }
    };
    Ok(resp)
}

fn dechunk(mut rest: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("truncated chunk size".into()))?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(bad("truncated chunk".into()));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn bad(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}
