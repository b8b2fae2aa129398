//! Hostile input against the real binary: the corpus of `tests/corpus/` (bad JSON, wrong shapes
//! and types, broken HTTP framing, invalid UTF-8, absurd heads, bad plans and model files,
//! traversal names), replays, and clients that trickle a request to hold a connection. Every
//! one gets its 4xx (JSON wherever a route answered), and afterwards the gateway is alive,
//! answers predictions as before and has logged no panic.
//!
//! `tests/errors.rs` and `tests/api_refusals.rs` cover the messages of single refusals; this
//! file is about volume and hostility.

#![allow(clippy::unwrap_used)]

mod common;
mod corpus;

use common::http::{Request, Response, IO_TIMEOUT};
use common::node::model;
use common::Rollgate;
use common::{TempDir, IRIS_ROWS};
use corpus::{Bytes, Case, Expect, Port, Send as Sent, CASES, CONFIG, TOKEN};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A gateway on the corpus config; its log is `dir/gw.log`.
fn start(dir: &TempDir) -> Rollgate {
    let config = dir.write("corpus.yaml", CONFIG);
    Rollgate::on(dir, "gw.log", &["--config", config.to_str().unwrap()])
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn predict_rows(addr: SocketAddr) -> Value {
    let body = json!({ "instances": IRIS_ROWS }).to_string();
    let r = Request::post("/v1/models/iris/predict", body).send(addr);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["predictions"].clone()
}

/// The gateway still runs, answers exactly as `before`, and its log holds no panic.
fn assert_healthy(node: &mut Rollgate, dir: &TempDir, before: &Value) {
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the gateway exited"
    );
    assert_eq!(&predict_rows(node.data), before, "predictions changed");
    let r = node.admin(Request::get("/api/v1/services/iris").header("authorization", &bearer()));
    assert_eq!(r.status, 200, "admin port: {}", r.text());
    let log = std::fs::read_to_string(dir.path().join("gw.log")).unwrap();
    assert!(
        !log.contains("panicked") && !log.to_lowercase().contains("panic"),
        "the log shows a panic:\n{log}"
    );
}

/// Sends one case and returns the answer, `None` when the connection closed without one.
fn send(node: &Rollgate, case: &Case) -> Option<Response> {
    let addr = match case.port {
        Port::Data => node.data,
        Port::Admin => node.admin,
    };
    match case.send {
        Sent::Http {
            method,
            path,
            headers,
            body,
        } => {
            let mut req = Request::new(method, path).body(body.get());
            let has_auth = headers.iter().any(|(k, _)| *k == "authorization");
            if case.port == Port::Admin && !has_auth {
                req = req.header("authorization", &bearer());
            }
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.try_send(addr).ok()
        }
        Sent::Raw(bytes) => send_raw(addr, &with_token(bytes)),
    }
}

fn with_token(bytes: Bytes) -> Vec<u8> {
    let raw = bytes.get();
    let marker = b"{TOKEN}";
    match raw.windows(marker.len()).position(|w| w == marker) {
        Some(at) => [&raw[..at], TOKEN.as_bytes(), &raw[at + marker.len()..]].concat(),
        None => raw,
    }
}

/// Writes bytes to a new connection and reads until the server closes it.
fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Option<Response> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    // The server may answer and close before reading everything; the answer is what counts.
    let _ = s.write_all(bytes);
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let headers = head
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Response {
        status,
        headers,
        body: raw[end..].to_vec(),
    })
}

/// Why an answer does not meet a case's expectation, if it does not.
fn mismatch(expect: Expect, got: Option<&Response>) -> Option<String> {
    let Some(r) = got else {
        return Some("the connection closed without an answer".into());
    };
    let status = match expect {
        Expect::Error(s, _) | Expect::OipError(s) | Expect::Http(s) => s,
    };
    if r.status != status {
        return Some(format!("status {} ({})", r.status, r.text()));
    }
    let doc: Option<Value> = serde_json::from_slice(&r.body).ok();
    match (expect, doc) {
        (Expect::Http(_), _) => None,
        (Expect::Error(_, code), Some(doc)) if doc["error"]["code"] == code => None,
        (Expect::OipError(_), Some(doc)) if doc["error"].is_string() => None,
        _ => Some(format!("error document {:?}", r.text())),
    }
}

#[test]
fn the_corpus_gets_4xx_and_the_gateway_keeps_serving() {
    let dir = TempDir::new();
    let mut node = start(&dir);
    let before = predict_rows(node.data);
    let mut failures = Vec::new();
    for case in CASES {
        let got = send(&node, case);
        if let Some(why) = mismatch(case.expect, got.as_ref()) {
            failures.push(format!(
                "{}: expected {:?}, got {why}",
                case.name, case.expect
            ));
        }
        if let Some(r) = &got {
            assert!(r.status < 500, "{}: a 5xx: {}", case.name, r.text());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    assert_healthy(&mut node, &dir, &before);
}

/// A connection that trickles its head one byte at a time; returns what the server answered
/// (`None`: it closed the connection) and how long it kept it.
fn trickle(addr: SocketAddr, head: &[u8], then: &[u8]) -> (Option<Response>, Duration) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s.write_all(head).unwrap();
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // Bounded: one byte every 200 ms for at most 20 s (the deadlines are 1.5 s).
    for byte in then.iter().cycle().take(100) {
        if s.write_all(&[*byte]).is_err() {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
        if parse_answer(&raw).is_some_and(|r| r.body.len() >= content_length(&r)) {
            break;
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    (parse_answer(&raw), started.elapsed())
}

fn content_length(r: &Response) -> usize {
    r.header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// While `slow` runs on its own thread, the port keeps answering others.
fn served_meanwhile(
    node: &Rollgate,
    slow: impl FnOnce() -> (Option<Response>, Duration) + Send,
) -> (Option<Response>, Duration) {
    std::thread::scope(|scope| {
        let slow = scope.spawn(slow);
        let mut answered = 0;
        while !slow.is_finished() && answered < 50 {
            std::thread::sleep(Duration::from_millis(100));
            let _ = predict_rows(node.data);
            let r = node.admin(Request::get("/api/v1/health"));
            assert_eq!(r.status, 200);
            answered += 1;
        }
        assert!(
            answered > 0,
            "nothing was sent while the slow client held its connection"
        );
        slow.join().unwrap()
    })
}

#[test]
fn slow_heads_are_cut_off_while_others_are_served() {
    let dir = TempDir::new();
    let mut node = start(&dir);
    let before = predict_rows(node.data);
    for addr in [node.data, node.admin] {
        let head = b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\n";
        let (answer, held) = served_meanwhile(&node, || trickle(addr, head, b"x-slow: a"));
        // The header read timeout (1.5 s) closes the connection, with a 408 or without answer.
        assert!(
            answer.as_ref().is_none_or(|r| r.status == 408),
            "{addr}: {answer:?}"
        );
        assert!(held < Duration::from_secs(15), "held for {held:?}");
    }
    assert_healthy(&mut node, &dir, &before);
}

#[test]
fn slow_bodies_get_408_while_others_are_served() {
    let dir = TempDir::new();
    let mut node = start(&dir);
    let before = predict_rows(node.data);
    let data_head = b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
    let upload_head = format!(
        "POST /update-model?version=slow HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/octet-stream\r\ncontent-length: 1000\r\n\r\n"
    );
    let route_head = format!(
        "PUT /api/v1/services/iris/route HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    );
    let cases: [(&str, SocketAddr, &[u8], Option<&str>); 3] = [
        ("data predict", node.data, data_head, Some("body_timeout")),
        (
            "admin upload",
            node.admin,
            upload_head.as_bytes(),
            Some("body_timeout"),
        ),
        ("admin route", node.admin, route_head.as_bytes(), None),
    ];
    for (what, addr, head, code) in cases {
        let (answer, held) = served_meanwhile(&node, || trickle(addr, head, b" "));
        let answer = answer.unwrap_or_else(|| panic!("{what}: no answer"));
        assert!(held < Duration::from_secs(15), "{what}: held for {held:?}");
        match code {
            Some(code) => {
                assert_eq!(answer.status, 408, "{what}: {}", answer.text());
                assert_eq!(answer.error_code(), code, "{what}");
            }
            // axum's JSON extractor reports a body it could not read as a 400.
            None => {
                assert!(
                    (400..500).contains(&answer.status),
                    "{what}: {}",
                    answer.text()
                );
                assert!(answer.json()["error"]["code"].is_string(), "{what}");
            }
        }
    }
    let r = node.admin(Request::get("/api/v1/services/iris").header("authorization", &bearer()));
    let versions = r.json()["versions"].to_string();
    assert!(
        !versions.contains("slow"),
        "the trickled upload registered nothing: {versions}"
    );
    assert_healthy(&mut node, &dir, &before);
}

#[test]
fn replays_are_conflicts_and_change_nothing() {
    let dir = TempDir::new();
    let mut node = start(&dir);
    let before = predict_rows(node.data);
    let auth = bearer();
    let admin = |req: Request| node.admin(req.header("authorization", &auth));

    // The same upload twice: the version exists the second time.
    let upload = || {
        Request::post("/update-model?version=v7", model("iris-v2.onnx"))
            .header("content-type", "application/octet-stream")
    };
    let r = admin(upload());
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin(upload());
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "version_exists");

    // The same route change, at the same revision, twice: the replay is stale.
    let rev = admin(Request::get("/api/v1/services/iris")).json()["revision"]
        .as_u64()
        .unwrap();
    let route =
        json!({"route": {"stable": "v1", "candidate": "v7", "weights": {"v1": 100, "v7": 0}}});
    let put = || {
        Request::new("PUT", "/api/v1/services/iris/route")
            .header("content-type", "application/json")
            .header("if-match", &format!("\"{rev}\""))
            .body(route.to_string())
    };
    let r = admin(put());
    assert_eq!(r.status, 200, "{}", r.text());
    let after_first = admin(Request::get("/api/v1/services/iris")).json()["revision"].clone();
    let r = admin(put());
    assert_eq!(r.status, 409, "{}", r.text());
    let after_replay = admin(Request::get("/api/v1/services/iris")).json()["revision"].clone();
    assert_eq!(
        after_first, after_replay,
        "a refused replay changed nothing"
    );

    // The same rollout started twice: one runs, the replay is refused.
    let plan = "steps:\n  - set_weight: \"0%\"\n  - pause: {}\n";
    let start = || Request::new("POST", "/api/v1/services/iris/rollout").body(plan);
    let r = admin(start());
    assert_eq!(r.status, 201, "{}", r.text());
    let r = admin(start());
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "rollout_active");
    let r = admin(Request::new("POST", "/api/v1/services/iris/rollout/abort"));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin(Request::new("POST", "/api/v1/services/iris/rollout/abort"));
    assert!(r.status == 409, "a replayed abort: {}", r.text());
    assert_healthy(&mut node, &dir, &before);
}

/// A keep-alive connection to `addr` that has been answered once (so the gateway accepted it
/// and holds it open), or `None` if no answer came within `wait`.
fn held_connection(addr: SocketAddr, wait: Duration) -> (TcpStream, Option<String>) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    tcp.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 512];
    let head = match tcp.read(&mut buf) {
        Ok(n) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    };
    (tcp, head)
}

#[test]
fn past_the_connection_cap_clients_wait_until_a_connection_closes() {
    // One worker: the cap is split among workers, and the kernel picks a worker per client.
    let gw = common::Rollgate::start_with_args(
        &format!("limits: {{ max_connections: 2 }}\n{}", common::IRIS_V1_V2),
        &["--workers", "1"],
    );
    let (first, a) = held_connection(gw.data, IO_TIMEOUT);
    let (_second, b) = held_connection(gw.data, IO_TIMEOUT);
    for head in [a, b] {
        assert!(head.unwrap().starts_with("HTTP/1.1 200"));
    }
    // The third connects (the kernel's backlog takes it) but is not served while two are open.
    let (mut third, c) = held_connection(gw.data, Duration::from_millis(800));
    assert_eq!(c, None, "served past the cap");
    drop(first);
    third.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut buf = [0u8; 512];
    let n = third.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "the waiting client was not served once a connection closed"
    );
    assert!(
        gw.stderr().contains("connection cap reached"),
        "{}",
        gw.stderr()
    );
}
