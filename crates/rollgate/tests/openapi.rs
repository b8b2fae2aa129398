//! The control API against its own OpenAPI document: the real binary on a fresh data dir, with
//! an admin token, checked by schemathesis (`tests/openapi/check.sh`): no 5xx, only documented
//! statuses and content types, every body matching its schema, 401 without the token.
//!
//! Needs schemathesis (`pip install -r tests/requirements.txt`); without it the test fails
//! rather than skipping, so a machine that cannot run the check never reports it green.
//!
//! Self-contained on purpose (its own spawn, wait and kill-on-drop), independent of `common/`.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the binary may take to load its models and listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the whole schemathesis run may take (about 20 s on a 2-core machine).
const CHECK_TIMEOUT: Duration = Duration::from_secs(180);

/// The document as compiled into the binary.
const DOCUMENT: &str = include_str!("../src/control/openapi.json");

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// A `rollgate serve` on a fresh data dir, killed on drop.
struct Server {
    child: Child,
    admin: SocketAddr,
    token: String,
    stderr: Arc<Mutex<String>>,
    _data: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let data = tempfile::tempdir().expect("temp data dir");
        let token = format!(
            "openapi-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .args(["--log-format", "json", "serve", "--data-dir"])
            .arg(data.path())
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .env("ROLLGATE_LOG", "info")
            .env("NO_COLOR", "1")
            .env("ROLLGATE_ADMIN_TOKEN", &token)
            .env_remove("ROLLGATE_CONFIG")
            .env_remove("ROLLGATE_LISTEN")
            .env_remove("ROLLGATE_ADMIN_LISTEN")
            .env_remove("ROLLGATE_DATA_DIR")
            .env_remove("ROLLGATE_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rollgate");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = admin_addr(&line) {
                    let _ = tx.send(addr);
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        let mut server = Self {
            child,
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            token,
            stderr,
            _data: data,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => server.admin = addr,
            Err(_) => panic!(
                "rollgate did not log `admin port listening` within {START_TIMEOUT:?} (exit: {:?}); stderr:\n{}",
                server.child.try_wait(),
                server.stderr()
            ),
        }
        server
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.admin)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of `{"fields": {"message": "admin port listening", "addr": "..."}}`.
fn admin_addr(line: &str) -> Option<SocketAddr> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = v.get("fields")?;
    if fields.get("message")?.as_str()? != "admin port listening" {
        return None;
    }
    fields.get("addr")?.as_str()?.parse().ok()
}

/// A plain HTTP/1.1 GET: status and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

/// Reads a pipe to the end on its own thread, so a chatty child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn require_schemathesis() {
    let python = python();
    let found = Command::new(&python)
        .args(["-c", "import schemathesis"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "schemathesis is not installed for `{python}`: pip install -r tests/requirements.txt \
         (this test checks the control API against its OpenAPI document and does not skip)"
    );
}

#[test]
fn control_api_conforms_to_its_openapi_document() {
    require_schemathesis();
    let server = Server::start();

    // The document served is the one in the source tree, and it is JSON.
    let (status, body) = get(server.admin, "/api/v1/openapi.json");
    assert_eq!(status, 200, "GET /api/v1/openapi.json: {body}");
    assert!(
        body == DOCUMENT,
        "the served document is not the embedded file"
    );
    let doc: serde_json::Value = serde_json::from_str(&body).expect("the document is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "not an OpenAPI 3 document"
    );

    let script = workspace_root().join("tests/openapi/check.sh");
    let mut check = Command::new("bash")
        .arg(&script)
        .arg(server.base_url())
        .arg(&server.token)
        .env("PYTHON", python())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tests/openapi/check.sh");
    let out = drain(check.stdout.take().expect("stdout is piped"));
    let err = drain(check.stderr.take().expect("stderr is piped"));
    let deadline = Instant::now() + CHECK_TIMEOUT;
    let status = loop {
        if let Some(status) = check.try_wait().expect("wait for the check") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = check.kill();
            let _ = check.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let report = format!(
        "--- check.sh stdout:\n{}\n--- check.sh stderr:\n{}\n--- rollgate stderr (tail):\n{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
        tail(&server.stderr(), 40)
    );
    let Some(status) = status else {
        panic!("tests/openapi/check.sh did not finish within {CHECK_TIMEOUT:?}\n{report}");
    };
    assert!(
        status.code() != Some(3),
        "schemathesis is not installed: pip install -r tests/requirements.txt\n{report}"
    );
    assert!(
        status.success(),
        "schemathesis found the control API breaking its OpenAPI document ({status})\n{report}"
    );

    // The gateway survived the run and still answers.
    let (status, body) = get(server.admin, "/api/v1/health");
    assert_eq!(status, 200, "health after the run: {body}\n{report}");
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
