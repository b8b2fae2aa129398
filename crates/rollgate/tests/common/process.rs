//! The one wrapper of a running `rollgate serve`: it starts the binary on loopback with
//! OS-chosen ports, learns both ports from the log, keeps everything the binary writes on
//! stderr (in memory, and in a file of the test's directory when asked), and kills it on drop.
//!
//! The directory is the test's or the wrapper's own: a test that restarts a gateway on the
//! same store lends one that outlives each process.

#![allow(clippy::unwrap_used)]

use super::http::{Request, Response};
use super::{serve_command, strip_ansi, wait_child, TempDir, START_TIMEOUT};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// A running `rollgate serve`, killed on drop.
#[derive(Debug)]
pub(crate) struct Rollgate {
    pub(crate) child: Child,
    /// The data port.
    pub(crate) data: SocketAddr,
    /// The admin port.
    pub(crate) admin: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// The directory the wrapper owns, when the test lent none.
    _dir: Option<TempDir>,
}

impl Rollgate {
    /// Serves the embedded default config (no `--config`) in a directory of its own.
    pub(crate) fn start_default() -> Self {
        let dir = TempDir::new();
        Self::spawn(serve_command(&dir), None, Some(dir))
    }

    /// Serves the given YAML config, written to a fresh temporary directory.
    pub(crate) fn start(config: &str) -> Self {
        Self::start_with_args(config, &[])
    }

    /// Serves the given YAML config with more command-line arguments.
    pub(crate) fn start_with_args(config: &str, args: &[&str]) -> Self {
        Self::start_in(TempDir::new(), config, args)
    }

    /// Serves the given YAML config with the store of an earlier run in `dir`.
    pub(crate) fn start_in(dir: TempDir, config: &str, args: &[&str]) -> Self {
        let path = dir.write("rollgate.yaml", config);
        let mut cmd = serve_command(&dir);
        cmd.arg("--config").arg(path).args(args);
        Self::spawn(cmd, None, Some(dir))
    }

    /// Serves on the store in `dir`, which outlives the process (a restart sees the same
    /// store), with its log also in `dir/log` and extra `serve` arguments.
    pub(crate) fn on(dir: &TempDir, log: &str, args: &[&str]) -> Self {
        let mut cmd = serve_command(dir);
        cmd.args(args);
        Self::spawn(cmd, Some(dir.path().join(log)), None)
    }

    /// Runs a `serve` command a test built itself (`serve_command` plus its own environment).
    pub(crate) fn from_command(cmd: Command) -> Self {
        Self::spawn(cmd, None, None)
    }

    /// Runs a `serve` command a test built itself, keeping `dir` as long as the process.
    pub(crate) fn from_command_in(cmd: Command, dir: TempDir) -> Self {
        Self::spawn(cmd, None, Some(dir))
    }

    fn spawn(mut cmd: Command, log: Option<PathBuf>, dir: Option<TempDir>) -> Self {
        let mut child = cmd.spawn().expect("spawn rollgate");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        let file = log.map(|p| std::fs::File::create(p).expect("create the log file"));
        std::thread::spawn(move || collect_stderr(pipe, &sink, file, &tx));
        let ports = rx.recv_timeout(START_TIMEOUT);
        let unset = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut me = Self {
            child,
            data: unset,
            admin: unset,
            stderr,
            _dir: dir,
        };
        match ports {
            Ok((data, admin)) => (me.data, me.admin) = (data, admin),
            Err(_) => {
                let status = me.wait_exit(Duration::from_millis(200));
                panic!(
                    "rollgate did not log both ports within {START_TIMEOUT:?} (exit: \
                     {status:?}); stderr:\n{}",
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
        self.child.id()
    }

    /// `kill -9`: no shutdown code runs.
    pub(crate) fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends a signal with `kill(1)`.
    pub(crate) fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
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
            super::eventually(Duration::from_secs(10), caught),
            "rollgate never installed its SIGTERM/SIGINT handlers; stderr:\n{}",
            self.stderr()
        );
    }

    /// Waits up to `timeout` for the process to exit; `None` when it is still running.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child, timeout)
    }

    /// `http://127.0.0.1:PORT{path}` on the data port, for messages.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.data)
    }

    /// Sends a request to the admin port.
    pub(crate) fn admin(&self, req: Request) -> Response {
        req.send(self.admin)
    }

    /// Runs `rollgate ARGS` against this gateway's admin port: `(exit code, stdout, stderr)`.
    pub(crate) fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = super::command()
            .arg("--admin-url")
            .arg(format!("http://{}", self.admin))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    }

    /// The `iris` service as the API shows it.
    pub(crate) fn service(&self) -> Value {
        let r = self.admin(Request::get("/api/v1/services/iris"));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// The service's rollout as the API shows it (`null` when it never had one).
    pub(crate) fn rollout_of(&self, service: &str) -> Value {
        let path = format!("/api/v1/services/{service}/rollout");
        self.admin(Request::get(&path)).json()["rollout"].clone()
    }

    /// The `iris` service's rollout.
    pub(crate) fn rollout(&self) -> Value {
        self.rollout_of("iris")
    }

    /// Waits up to `secs` for the service's rollout to reach one of `phases`; returns it.
    pub(crate) fn wait_phase(&self, service: &str, phases: &[&str], secs: u64) -> Value {
        let mut last = Value::Null;
        let ok = super::eventually(Duration::from_secs(secs), || {
            last = self.rollout_of(service);
            phases.contains(&last["phase"].as_str().unwrap_or(""))
        });
        assert!(ok, "{service}: phase never reached {phases:?}: {last:#}");
        last
    }
}

impl Drop for Rollgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads stderr to its end, keeping every line (and writing it to `file`), and reports both
/// ports once both are logged.
fn collect_stderr(
    pipe: impl std::io::Read,
    sink: &Mutex<String>,
    mut file: Option<std::fs::File>,
    tx: &mpsc::Sender<(SocketAddr, SocketAddr)>,
) {
    let (mut data, mut admin) = (None, None);
    let mut told = false;
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { break };
        let line = strip_ansi(&line);
        if line.contains("data port listening") {
            data = addr_field(&line);
        } else if line.contains("admin port listening") {
            admin = addr_field(&line);
        }
        if let (false, Some(d), Some(a)) = (told, data, admin) {
            let _ = tx.send((d, a));
            told = true;
        }
        if let Some(f) = file.as_mut() {
            let _ = writeln!(f, "{line}");
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
