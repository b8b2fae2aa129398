//! The unmodified Triton HTTP client (`tritonclient[http]`) against the real binary:
//! `tests/tritonclient_check.py` must pass. The check does not skip: without the client
//! library it fails, saying how to install it.

#![allow(clippy::unwrap_used)]

mod common;

use common::{wait_child, workspace_root, Rollgate};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);
const INSTALL: &str = "pip install 'tritonclient[http]'";

fn python() -> Command {
    let mut cmd = Command::new("python3");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs a command to its end within [`TIMEOUT`]: `(exit code, stdout + stderr)`.
fn run(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); install Python 3 and {INSTALL}"));
    // Pipes are drained on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_child(&mut child, TIMEOUT);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut text = out_reader.join().unwrap_or_default();
    text.push_str(&err_reader.join().unwrap_or_default());
    let status = status.unwrap_or_else(|| panic!("timed out after {TIMEOUT:?}:\n{text}"));
    (status.code(), text)
}

#[test]
fn tritonclient_check_passes() {
    let mut probe = python();
    probe.args(["-c", "import numpy, tritonclient.http"]);
    let (code, out) = run(probe);
    assert_eq!(
        code,
        Some(0),
        "python3 cannot import tritonclient.http; install it with: {INSTALL}\n{out}"
    );

    let gw = Rollgate::start_default();
    let script = workspace_root().join("tests/tritonclient_check.py");
    assert!(script.exists(), "{} is missing", script.display());
    let mut check = python();
    check
        .arg(&script)
        .args(["--url", &gw.data.to_string(), "--model", "iris"]);
    let (code, out) = run(check);
    assert_eq!(
        code,
        Some(0),
        "tests/tritonclient_check.py failed against {}:\n{out}\nrollgate stderr:\n{}",
        gw.url(""),
        gw.stderr()
    );
    let last = out.lines().rev().find(|l| l.contains("tritonclient:"));
    assert!(
        last.is_some_and(|l| l.contains(" 0 failed")),
        "summary line: {last:?}\n{out}"
    );
}
