//! The CLI's output into a pipe whose reader has gone (`rollgate ... | head`): it stops quietly
//! with success instead of panicking.

use std::process::{Command, Stdio};

/// Runs the binary with its stdout a pipe closed before the command writes a byte.
fn into_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rollgate");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for rollgate");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    for args in [
        &["completions", "bash"][..],
        &["plan", "show", "examples/plans/shadow-then-canary.yaml"][..],
        &["simulate", "--runs", "2"][..],
    ] {
        let (code, stderr) = into_closed_pipe(args);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
}
