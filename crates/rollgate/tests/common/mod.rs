//! Test harness shared by the integration tests: runs the real `rollgate` binary on loopback
//! with a config written to a temporary directory, talks HTTP/1.1 to it over plain sockets, and
//! starts tiny upstream model servers.
//!
//! Every wait in here is bounded: a test that hangs is a failure with a message, not a stuck CI.

#![allow(dead_code)]

pub(crate) mod balancer;
pub(crate) mod faulty;
pub(crate) mod http;
pub(crate) mod load;
pub(crate) mod metrics;
pub(crate) mod node;
pub(crate) mod postgres;
pub(crate) mod process;
pub(crate) mod upstream;
pub(crate) mod users;

#[allow(unused_imports)]
pub(crate) use process::Rollgate;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long the binary may take to load its models and listen.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A temporary directory (tempfile's, removed on drop), with a helper to write files in it.
#[derive(Debug)]
pub(crate) struct TempDir(tempfile::TempDir);

impl TempDir {
    pub(crate) fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rollgate-it-")
            .tempdir()
            .expect("create temp dir");
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        self.0.path()
    }

    /// Writes a file in the directory and returns its path.
    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

/// The workspace root (where `models/` and `tests/tritonclient_check.py` live).
/// Labelled iris rows from `models/NAME` (`iris-eval.csv`, `iris-all.csv`): features and the
/// true class index, for tests that send predictions and then their labels.
pub(crate) fn iris_rows(name: &str) -> Vec<([f32; 4], i64)> {
    let path = workspace_root().join("models").join(name);
    let text = std::fs::read_to_string(&path).expect("bundled iris rows");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f32> = l.split(',').map(|x| x.parse().expect("a number")).collect();
            ([f[0], f[1], f[2], f[3]], f[4] as i64)
        })
        .collect()
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A command line for the binary with a quiet, uncoloured `info` log on stderr.
pub(crate) fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollgate"));
    cmd.env("ROLLGATE_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("ROLLGATE_CONFIG")
        .env_remove("ROLLGATE_LISTEN")
        .env_remove("ROLLGATE_ADMIN_LISTEN")
        .env_remove("ROLLGATE_ADMIN_TOKEN")
        .env_remove("ROLLGATE_DATA_DIR")
        .env_remove("ROLLGATE_STORE")
        .env_remove("ROLLGATE_REPLICA_ID")
        .env_remove("ROLLGATE_LEASE")
        .env_remove("ROLLGATE_DRAIN")
        .env_remove("ROLLGATE_LOG_FORMAT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// `rollgate serve` on 127.0.0.1 with OS-chosen data and admin ports and its store in
/// `dir/data`, so tests running side by side share nothing.
pub(crate) fn serve_command(dir: &TempDir) -> Command {
    let mut cmd = command();
    cmd.arg("serve")
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"));
    cmd
}

/// Polls a child for its exit, for at most `timeout`.
pub(crate) fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes ANSI escape sequences, in case the log is coloured after all.
pub(crate) fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Polls `check` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub(crate) fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A loopback port nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("local addr").port();
    drop(l);
    port
}

/// Three iris flowers, one of each species.
pub(crate) const IRIS_ROWS: [[f32; 4]; 3] = [
    [5.1, 3.5, 1.4, 0.2],
    [5.9, 3.0, 4.2, 1.5],
    [6.7, 3.0, 5.2, 2.3],
];

/// Class names of the bundled iris models.
/// The bundled iris models as one service: `v1` stable at 100%, `v2` its candidate at 0%.
pub(crate) const IRIS_V1_V2: &str = r#"services:
  iris:
    input_width: 4
    output: { classes: [setosa, versicolor, virginica] }
    versions:
      v1: { onnx: "builtin:iris-v1" }
      v2: { onnx: "builtin:iris-v2" }
    route:
      stable: v1
      candidate: v2
      weights: { v1: 100 }
"#;

pub(crate) const IRIS_CLASSES: [&str; 3] = ["setosa", "versicolor", "virginica"];
