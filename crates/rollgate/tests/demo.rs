//! `rollgate demo` through the real binary, sped up: it exits 0 after showing the better
//! model promoted, the bad one rolled back with an incident report, and an A/B result; and a
//! second run with the same seed sends the same traffic and makes the same decisions.

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Each run takes about 10 s in a debug build on 2 cores; this bounds a stuck one.
const TIMEOUT: Duration = Duration::from_secs(100);

/// Runs `rollgate demo --seed 7 --speed 4`; returns its stdout after checking it exited 0.
fn demo() -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(["demo", "--seed", "7", "--speed", "4"])
        .env_remove("ROLLGATE_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rollgate demo did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = reader.join().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status}\n{out}\n{err}");
    out
}

/// The text of one phase, from its heading to the next.
fn section<'a>(out: &'a str, heading: &str) -> &'a str {
    let start = out
        .find(heading)
        .unwrap_or_else(|| panic!("no `{heading}` in\n{out}"));
    let rest = &out[start..];
    let end = rest[3..].find("━━ ").map_or(rest.len(), |e| e + 3);
    &rest[..end]
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}` in\n{out}"))
}

#[test]
fn the_demo_tells_its_three_stories_the_same_way_twice() {
    let first = demo();
    let one = section(&first, "━━ 1/3");
    assert!(one.contains("✔ promoted"), "{one}");
    let two = section(&first, "━━ 2/3");
    assert!(two.contains("✔ rolled back"), "{two}");
    assert!(two.contains("INCIDENT"), "{two}");
    assert!(two.contains("accuracy"), "the failed check is named: {two}");
    let three = section(&first, "━━ 3/3");
    assert!(three.contains("✔ promoted"), "{three}");
    assert!(line(three, "result:").contains("winner v2"), "{three}");
    assert!(
        first.contains("time to decision"),
        "the summary table: {first}"
    );
    assert_eq!(
        line(&first, "decisions:"),
        "decisions: v2 promoted · bad rolled back · ab promoted v2"
    );

    let second = demo();
    assert_eq!(line(&first, "sequence"), line(&second, "sequence"));
    assert_eq!(line(&first, "decisions:"), line(&second, "decisions:"));
}
