//! Test harness shared by the integration tests: runs the real `rollgate` binary on loopback
//! with a config written to a temporary directory, talks HTTP/1.1 to it over plain sockets, and
//! starts tiny upstream model servers.
//!
//! Every wait in here is bounded: a test that hangs is a failure with a message, not a stuck CI.

#![allow(dead_code)]

pub(crate) mod faulty;
pub(crate) mod http;
pub(crate) mod load;
pub(crate) mod metrics;
pub(crate) mod node;
pub(crate) mod upstream;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the binary may take to load its models and listen.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A temporary directory removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "rollgate-it-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a file in the directory and returns its path.
    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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

/// A running `rollgate serve`, killed on drop.
#[derive(Debug)]
pub(crate) struct Rollgate {
    child: Option<Child>,
    /// The data port.
    pub(crate) addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    _dir: TempDir,
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

impl Rollgate {
    /// Serves the embedded default config (no `--config`).
    pub(crate) fn start_default() -> Self {
        Self::spawn(TempDir::new(), &[])
    }

    /// Serves the given YAML config, written to a fresh temporary directory.
    pub(crate) fn start(config: &str) -> Self {
        let dir = TempDir::new();
        let path = dir.write("rollgate.yaml", config);
        Self::spawn(dir, &["--config".as_ref(), path.as_os_str()])
    }

    /// Serves the given YAML config with more command-line arguments.
    pub(crate) fn start_with_args(config: &str, args: &[&str]) -> Self {
        let dir = TempDir::new();
        let path = dir.write("rollgate.yaml", config);
        let mut all: Vec<&std::ffi::OsStr> = vec!["--config".as_ref(), path.as_os_str()];
        all.extend(args.iter().map(std::ffi::OsStr::new));
        Self::spawn(dir, &all)
    }

    /// Serves the given YAML config with the store of an earlier run in `dir`.
    pub(crate) fn start_in(dir: TempDir, config: &str) -> Self {
        let path = dir.write("rollgate.yaml", config);
        Self::spawn(dir, &["--config".as_ref(), path.as_os_str()])
    }

    fn spawn(dir: TempDir, extra: &[&std::ffi::OsStr]) -> Self {
        let mut cmd = serve_command(&dir);
        cmd.args(extra);
        let mut child = cmd.spawn().expect("spawn rollgate");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || collect_stderr(pipe, &sink, &tx));
        let mut me = Self {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
            _dir: dir,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => me.addr = addr,
            Err(_) => {
                let status = me.wait_exit(Duration::from_millis(200));
                panic!(
                    "rollgate did not log `data port listening` within {START_TIMEOUT:?} \
                     (exit: {status:?}); stderr:\n{}",
                    me.stderr()
                );
            }
        }
        me
    }

    /// Everything the binary wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The process id, for signals.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal with `kill(1)`.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits until the process catches SIGTERM and SIGINT (Linux: `SigCgt` in
    /// `/proc/PID/status`), so a test about what a signal does never races their installation.
    pub(crate) fn wait_for_signal_handlers(&self) {
        let path = format!("/proc/{}/status", self.pid());
        let wanted = (1u64 << (15 - 1)) | (1u64 << (2 - 1));
        let caught = || {
            let status = std::fs::read_to_string(&path).unwrap_or_default();
            status
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                .is_some_and(|mask| mask & wanted == wanted)
        };
        assert!(
            eventually(Duration::from_secs(10), caught),
            "rollgate never installed its SIGTERM/SIGINT handlers; stderr:\n{}",
            self.stderr()
        );
    }

    /// Waits up to `timeout` for the process to exit; `None` when it is still running.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        wait_child(child, timeout)
    }

    /// `http://127.0.0.1:PORT{path}`-style address for messages.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Rollgate {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

/// Reads stderr to its end, keeping every line and reporting the data port once logged.
fn collect_stderr(pipe: impl std::io::Read, sink: &Mutex<String>, tx: &mpsc::Sender<SocketAddr>) {
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { break };
        let line = strip_ansi(&line);
        if line.contains("data port listening") {
            if let Some(addr) = addr_field(&line) {
                let _ = tx.send(addr);
            }
        }
        if let Ok(mut s) = sink.lock() {
            s.push_str(&line);
            s.push('\n');
        }
    }
}

/// The `addr=HOST:PORT` field of a text log line.
fn addr_field(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("addr=")? + "addr=".len()..];
    let value = rest.split_whitespace().next()?.trim_matches('"');
    value.parse().ok()
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
