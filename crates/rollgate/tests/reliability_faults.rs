//! Backend faults, injected by a real upstream on loopback (`common/faulty.rs`) that refuses
//! connections, hangs, answers 500s, answers bytes that are not HTTP, or answers too late:
//! - as the candidate of a canary judged by an analysis, each fault gets the candidate rolled
//!   back, and no request served by stable fails, before, during or after;
//! - as a mirror target, no fault reaches a user: every answer is stable's and succeeds, and
//!   the failed copies are counted;
//! - as the candidate of a shadow stage judged on error rate, its failed copies roll it back
//!   while every user gets stable's answer.

#![allow(clippy::unwrap_used)]

mod common;

use common::faulty::{Fault, Faulty};
use common::http::Request;
use common::metrics::scrape;
use common::Rollgate;
use common::{eventually, TempDir};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The gateway's timeouts towards the faulty upstream (a hang or a slow answer outlives them).
const TIMEOUT_MS: u64 = 300;
/// How late the slow fault answers.
const SLOW_MS: u64 = 1_500;

fn config(upstream: &str, route: &str) -> String {
    format!(
        r#"
rollouts:
  tick_ms: 50
  templates:
    faults:
      checks:
        - metric: error_rate
          max_increase: 0.05
          min_samples: 20
services:
  iris:
    input_width: 4
    output: {{ classes: [setosa, versicolor, virginica] }}
    versions:
      v1: {{ onnx: "builtin:iris-v1" }}
      remote:
        http:
          instances: ["{upstream}"]
          predict_path: /predict
          connect_timeout_ms: {TIMEOUT_MS}
          request_timeout_ms: {TIMEOUT_MS}
    route:
{route}
"#
    )
}

fn start(dir: &TempDir, upstream: &Faulty, route: &str) -> Rollgate {
    let path = dir.write("rollgate.yaml", config(&upstream.url(), route));
    Rollgate::on(dir, "gw.log", &["--config", path.to_str().unwrap()])
}

/// One answer: status (or the transport error) and the version that served it.
#[derive(Debug, Clone)]
struct Answer {
    status: Result<u16, std::io::ErrorKind>,
    version: Option<String>,
    body: String,
    took: Duration,
}

/// Users sending predictions from a few threads until stopped (bounded by a count).
struct Users {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Answer>>>,
}

impl Users {
    fn start(addr: SocketAddr, threads: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) && seen.len() < 100_000 {
                        seen.push(send(addr));
                    }
                    seen
                })
            })
            .collect();
        Self { stop, threads }
    }

    fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    }
}

fn send(addr: SocketAddr) -> Answer {
    let body = r#"{"instances": [[6.7, 3.0, 5.2, 2.3]]}"#;
    let started = std::time::Instant::now();
    match Request::post("/v1/models/iris/predict", body).try_send(addr) {
        Ok(r) => Answer {
            status: Ok(r.status),
            version: r.header("x-model-version").map(str::to_owned),
            body: r.text(),
            took: started.elapsed(),
        },
        Err(e) => Answer {
            status: Err(e.kind()),
            version: None,
            body: String::new(),
            took: started.elapsed(),
        },
    }
}

fn version<'a>(svc: &'a Value, name: &str) -> &'a Value {
    svc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap()
}

/// Every answer from stable succeeded, and the gateway answered every request.
fn assert_stable_unharmed(answers: &[Answer], context: &str) {
    for a in answers {
        assert!(a.status.is_ok(), "{context}: no answer at all: {a:?}");
        if a.version.as_deref() != Some("remote") {
            assert_eq!(
                (a.status, a.version.as_deref()),
                (Ok(200), Some("v1")),
                "{context}: a request not served by the candidate failed: {a:?}"
            );
        }
    }
}

/// Median and slowest answer, for the printed figures (not asserted: timing is the machine's).
/// Asserts that every answer is stable's and succeeded; `context` says when.
fn all_from_stable(answers: &[Answer], context: &str) {
    for a in answers {
        assert_eq!(
            (a.status, a.version.as_deref()),
            (Ok(200), Some("v1")),
            "{context}: {a:?}"
        );
    }
}

fn latency(answers: &[Answer]) -> String {
    let mut took: Vec<Duration> = answers.iter().map(|a| a.took).collect();
    took.sort();
    match (took.get(took.len() / 2), took.last()) {
        (Some(p50), Some(max)) => format!("p50 {p50:?}, max {max:?}"),
        _ => "-".into(),
    }
}

/// Starts a rollout of `plan` and waits (bounded) for it to end rolled back: its last state
/// and how long that took.
fn rolled_back(node: &Rollgate, plan: &str, fault: Fault) -> (Value, Duration) {
    let began = std::time::Instant::now();
    let r = node.admin(
        Request::post("/api/v1/services/iris/rollout", plan)
            .header("content-type", "application/yaml"),
    );
    assert_eq!(r.status, 201, "{}: {}", fault.name(), r.text());
    let mut last = Value::Null;
    let ended = eventually(Duration::from_secs(60), || {
        last = node.rollout();
        last["terminal"] == true
    });
    assert!(ended, "{}: the rollout never ended: {last:#}", fault.name());
    let took = began.elapsed();
    assert_eq!(last["phase"], "rolled_back", "{}: {last:#}", fault.name());
    (last, took)
}

/// A gateway whose candidate `remote` is a faulty upstream, with no traffic on it yet.
fn with_candidate(dir: &TempDir) -> (Faulty, Rollgate) {
    let upstream = Faulty::start("remote");
    let node = start(
        dir,
        &upstream,
        "      stable: v1\n      candidate: remote\n      weights: { v1: 100 }",
    );
    (upstream, node)
}

const CANARY: &str = "steps:\n  - canary: {steps: [50], hold: 5m, analysis: faults}\n";

#[test]
fn a_faulty_candidate_is_rolled_back_and_stable_traffic_sees_no_error() {
    let dir = TempDir::new();
    let (upstream, node) = with_candidate(&dir);
    let mut figures = Vec::new();
    // One gateway, one upstream switched from fault to fault: a rollout per fault.
    for fault in Fault::all(SLOW_MS) {
        upstream.set(fault);
        let users = Users::start(node.data, 4);
        let (last, took) = rolled_back(&node, CANARY, fault);
        let svc = node.service();
        assert_eq!(version(&svc, "remote")["weight_percent"], "0");
        assert_eq!(svc["stable"], "v1");
        let during = users.finish();
        assert_stable_unharmed(&during, fault.name());
        let on_candidate: Vec<&Answer> = during
            .iter()
            .filter(|a| a.version.as_deref() == Some("remote"))
            .collect();
        let failed = on_candidate.iter().filter(|a| a.status != Ok(200)).count();
        assert!(
            failed > 0,
            "{}: the fault was never felt by a request: {on_candidate:?}",
            fault.name()
        );
        // Once rolled back, every request is stable's and succeeds.
        let after = Users::start(node.data, 2);
        std::thread::sleep(Duration::from_millis(300));
        let after = after.finish();
        assert!(!after.is_empty());
        all_from_stable(&after, &format!("{}: after the rollback", fault.name()));
        let statuses: std::collections::BTreeSet<u16> = on_candidate
            .iter()
            .filter_map(|a| a.status.ok())
            .filter(|s| *s != 200)
            .collect();
        let example = on_candidate
            .iter()
            .find(|a| a.status != Ok(200))
            .map(|a| a.body.chars().take(120).collect::<String>())
            .unwrap_or_default();
        figures.push(format!(
            "{}: {} requests, {} on the candidate ({failed} failed, statuses {statuses:?}, e.g. {example}), \
             rolled back at step {} after {took:.1?}",
            fault.name(),
            during.len() + after.len(),
            on_candidate.len(),
            last["step"]
        ));
    }
    println!("reliability/faults (canary):\n  {}", figures.join("\n  "));
}

#[test]
fn a_faulty_mirror_target_never_reaches_users() {
    let upstream = Faulty::start("remote");
    let dir = TempDir::new();
    let node = start(
        &dir,
        &upstream,
        "      stable: v1\n      weights: { v1: 100 }\n      mirror: { to: remote, percent: 100 }",
    );
    let shadow_errors = || -> u64 {
        let svc = node.service();
        version(&svc, "remote")["stats"]["shadow"]["candidate_errors"]
            .as_u64()
            .unwrap_or(0)
    };
    let mut sent = 0;
    let mut figures = Vec::new();
    for fault in std::iter::once(Fault::None).chain(Fault::all(SLOW_MS)) {
        upstream.set(fault);
        let before = shadow_errors();
        let users = Users::start(node.data, 4);
        std::thread::sleep(Duration::from_millis(700));
        let answers = users.finish();
        sent += answers.len();
        all_from_stable(
            &answers,
            &format!("mirror {}: a user saw the mirror's fault", fault.name()),
        );
        if fault != Fault::None {
            // Copies are detached from the answers: wait (bounded) for them to fail.
            let counted = eventually(Duration::from_secs(10), || shadow_errors() > before);
            assert!(
                counted,
                "mirror {}: failed copies are counted",
                fault.name()
            );
        }
        figures.push(format!(
            "{}: {} requests, all 200 from v1, failed copies {}, user latency {}",
            fault.name(),
            answers.len(),
            shadow_errors() - before,
            latency(&answers)
        ));
    }
    let m = scrape(node.data);
    let labels = [("service", "iris"), ("version", "remote")];
    let mirrored = m.value("rollgate_mirrored_requests_total", &labels);
    let dropped = m.value("rollgate_mirror_dropped_total", &labels);
    assert_eq!(
        (mirrored + dropped) as usize,
        sent,
        "every request was mirrored or its copy counted as dropped"
    );
    // Late copies (timing out) may still land: wait (bounded) until both reads agree.
    let in_metrics = || scrape(node.data).sum("rollgate_shadow_errors_total", &labels) as u64;
    assert!(
        eventually(Duration::from_secs(10), || shadow_errors() == in_metrics()),
        "/metrics and the API count the same failed copies"
    );
    assert!(in_metrics() > 0, "failed copies are in /metrics");
    let v1 = [("service", "iris"), ("version", "v1")];
    assert_eq!(m.value("rollgate_requests_total", &v1) as usize, sent);
    assert_eq!(m.sum("rollgate_request_errors_total", &v1), 0.0);
    println!(
        "reliability/faults (mirror): {sent} requests, {mirrored} copies, {dropped} dropped, \
         {} failed copies\n  {}",
        shadow_errors(),
        figures.join("\n  ")
    );
}

/// A shadow stage judged on error rate: the candidate's failed copies (its only requests) roll
/// it back, and no user ever gets anything but stable's answer.
const SHADOW: &str = "steps:\n  - shadow: {percent: 100, duration: 5m, analysis: faults}\n";

#[test]
fn a_faulty_shadow_candidate_is_rolled_back_before_any_user_sees_it() {
    let dir = TempDir::new();
    let (upstream, node) = with_candidate(&dir);
    let copies = || {
        let svc = node.service();
        let s = &version(&svc, "remote")["stats"]["shadow"];
        let n = |k: &str| s[k].as_u64().unwrap_or(0);
        (n("candidate_errors"), n("requests"))
    };
    let mut figures = Vec::new();
    for fault in Fault::all(SLOW_MS) {
        upstream.set(fault);
        // Copies still in flight from the previous fault land first, outside this window.
        std::thread::sleep(Duration::from_millis(2 * TIMEOUT_MS));
        let before = copies();
        let users = Users::start(node.data, 4);
        let (last, took) = rolled_back(&node, SHADOW, fault);
        let answers = users.finish();
        all_from_stable(
            &answers,
            &format!("shadow {}: a user saw the candidate", fault.name()),
        );
        let now = copies();
        let (failed, answered) = (now.0 - before.0, now.1 - before.1);
        assert!(failed > 0, "{}: no failed copy counted", fault.name());
        figures.push(format!(
            "{}: {} requests, all 200 from v1, rolled back after {took:.1?} \
             ({failed} of {answered} copies failed by then; {})",
            fault.name(),
            answers.len(),
            last["verdicts"][0]["summary"].as_str().unwrap_or_default()
        ));
    }
    println!("reliability/faults (shadow):\n  {}", figures.join("\n  "));
}
