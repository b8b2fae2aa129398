//! Rolling updates end to end: three old upstream instances replaced by three new ones in
//! batches, each new instance admitted only once its readiness path answers, under a steady
//! request load that must see no failure; and a new instance that never gets ready rolls the
//! update back onto all the old instances.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use common::http::Request;
use common::Rollgate;
use common::{eventually, TempDir};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Requests the background load sends at most.
const MAX_LOAD: usize = 200_000;
/// Answers looked at to tell which instances serve now.
const WINDOW: usize = 40;

/// One upstream instance: answers every request with its name, and `GET /ready` with 200
/// once it has been made ready (503 before).
struct Instance {
    name: String,
    addr: SocketAddr,
    ready: Arc<AtomicBool>,
}

impl Instance {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn make_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    fn make_unready(&self) {
        self.ready.store(false, Ordering::SeqCst);
    }
}

fn spawn(rt: &tokio::runtime::Runtime, name: &str, ready: bool) -> Instance {
    let ready = Arc::new(AtomicBool::new(ready));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (flag, who) = (Arc::clone(&ready), name.to_owned());
    let app = Router::new()
        .route(
            "/ready",
            get(move || async move {
                if flag.load(Ordering::SeqCst) {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }),
        )
        .fallback(move || async move { format!("{{\"instance\": \"{who}\"}}") });
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Instance {
        name: name.to_owned(),
        addr,
        ready,
    }
}

/// A steady request load on its own thread: every answer's instance, and the failures.
struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<BadAnswer>>>,
    sent: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Load {
    fn start(data: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(AtomicUsize::new(0));
        let (s, a, f, n) = (
            Arc::clone(&stop),
            Arc::clone(&answers),
            Arc::clone(&failures),
            Arc::clone(&sent),
        );
        let thread = std::thread::spawn(move || {
            for _ in 0..MAX_LOAD {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                n.fetch_add(1, Ordering::SeqCst);
                match predict(data) {
                    Ok(name) => a.lock().unwrap().push(name),
                    Err(e) => f.lock().unwrap().push(e),
                }
            }
        });
        Self {
            stop,
            answers,
            failures,
            sent,
            thread: Some(thread),
        }
    }

    /// The instances that answered the last `WINDOW` requests, once there are that many
    /// answers after `mark`.
    fn serving_since(&self, mark: usize) -> Option<BTreeSet<String>> {
        let all = self.answers.lock().unwrap();
        (all.len() >= mark + WINDOW).then(|| all[all.len() - WINDOW..].iter().cloned().collect())
    }

    fn len(&self) -> usize {
        self.answers.lock().unwrap().len()
    }

    /// Waits until exactly `names` answer (the last `WINDOW` requests after now).
    fn wait_serving(&self, node: &Rollgate, names: &[&str]) {
        let want: BTreeSet<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mark = self.len();
        let mut last = None;
        let ok = eventually(Duration::from_secs(60), || {
            last = self.serving_since(mark);
            last.as_ref() == Some(&want)
        });
        assert!(
            ok,
            "expected {want:?} serving, last saw {last:?}\n{:#}\n{}",
            node.rollout_of("scorer"),
            notes(node).join("\n")
        );
    }

    /// Stops the load and asserts that every request it sent succeeded.
    fn finish_without_failures(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let failures = std::mem::take(&mut *self.failures.lock().unwrap());
        let sent = self.sent.load(Ordering::SeqCst);
        assert!(
            failures.is_empty(),
            "{} of {sent} failed: {failures:?}",
            failures.len()
        );
    }
}

/// One prediction through the gateway: the answering instance, or what went wrong.
/// A prediction that did not come from a serving instance of the right version.
// Read through `Debug`, in the failure messages of the assertions.
#[allow(dead_code)]
#[derive(Debug)]
enum BadAnswer {
    Io(std::io::ErrorKind),
    Status(u16, String),
    WrongVersion { instance: String, version: String },
}

fn predict(data: SocketAddr) -> Result<String, BadAnswer> {
    let r = Request::post("/v1/models/scorer/predict", r#"{"features": [1, 2]}"#)
        .try_send(data)
        .map_err(|e| BadAnswer::Io(e.kind()))?;
    if r.status != 200 {
        return Err(BadAnswer::Status(r.status, r.text()));
    }
    let name = r.json()["instance"].as_str().unwrap_or_default().to_owned();
    let version = r.version();
    match (name.starts_with("old"), version.as_str()) {
        (true, "v1") | (false, "v2") => Ok(name),
        _ => Err(BadAnswer::WrongVersion {
            instance: name,
            version,
        }),
    }
}

/// Three old instances (ready) and three new ones (not ready until told).
struct Fleet {
    rt: Option<tokio::runtime::Runtime>,
    old: Vec<Instance>,
    new: Vec<Instance>,
}

impl Fleet {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let old = (0..3)
            .map(|i| spawn(&rt, &format!("old{i}"), true))
            .collect();
        let new = (0..3)
            .map(|i| spawn(&rt, &format!("new{i}"), false))
            .collect();
        Self {
            rt: Some(rt),
            old,
            new,
        }
    }

    fn config(&self) -> String {
        let list = |v: &[Instance]| {
            v.iter()
                .map(|i| format!("\"{}\"", i.url()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            r#"
rollouts:
  tick_ms: 100
services:
  scorer:
    input_width: 2
    versions:
      v1: {{ http: {{ instances: [{}] }} }}
      v2: {{ http: {{ instances: [{}] }} }}
    route:
      stable: v1
      candidate: v2
      weights: {{ v1: 100 }}
"#,
            list(&self.old),
            list(&self.new)
        )
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn start(dir: &TempDir, fleet: &Fleet) -> Rollgate {
    start_logging(dir, fleet, "gw.log")
}

fn start_logging(dir: &TempDir, fleet: &Fleet, log: &str) -> Rollgate {
    let path = dir.write("rollgate.yaml", fleet.config());
    Rollgate::on(dir, log, &["--config", path.to_str().unwrap()])
}

fn begin(node: &Rollgate, plan: &str) {
    let r = node.admin(Request::post("/api/v1/services/scorer/rollout", plan));
    assert_eq!(r.status, 201, "{}", r.text());
}

fn wait_phase(node: &Rollgate, phase: &str) {
    let mut last = Value::Null;
    let ok = eventually(Duration::from_secs(60), || {
        last = node.rollout_of("scorer");
        last["phase"] == phase
    });
    assert!(
        ok,
        "rollout never reached {phase}: {last:#}\n{}",
        notes(node).join("\n")
    );
}

/// The rollout notes of the service's event log, oldest first.
fn notes(node: &Rollgate) -> Vec<String> {
    let r = node.admin(Request::get("/api/v1/events?service=scorer&limit=500"));
    let mut out: Vec<String> = r.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"]["note"].as_str().map(str::to_owned))
        .collect();
    out.reverse();
    out
}

const PLAN: &str = "
name: scorer-rolling
steps:
  - rolling: {max_surge: 1, max_unavailable: 1, readiness_path: /ready, readiness_timeout: 30s}
";

#[test]
fn instances_are_replaced_batch_by_batch_with_no_failed_request() {
    let fleet = Fleet::start();
    let dir = TempDir::new();
    let node = start(&dir, &fleet);
    let load = Load::start(node.data);
    load.wait_serving(&node, &["old0", "old1", "old2"]);

    begin(&node, PLAN);
    // Batch 1 of 2 (2 instances, 1 surge) waits for new0's readiness: nothing moves.
    assert_eq!(node.rollout_of("scorer")["phase"], "progressing");
    let mark = load.len();
    assert!(eventually(Duration::from_secs(10), || load
        .serving_since(mark)
        .is_some()));
    let before: BTreeSet<String> = load.serving_since(mark).unwrap();
    assert!(before.iter().all(|n| n.starts_with("old")), "{before:?}");

    // new0 ready: it serves (the surge), then old0 and old1 retire; new1 is probed next.
    fleet.new[0].make_ready();
    load.wait_serving(&node, &["new0", "old2"]);
    // new1 ready: batch 1 done; batch 2 probes new2 and keeps old2 until it is ready.
    fleet.new[1].make_ready();
    load.wait_serving(&node, &["new0", "new1", "old2"]);
    // The machine counts batch 1 complete at its next tick.
    let mut ro = Value::Null;
    let counted = eventually(Duration::from_secs(10), || {
        ro = node.rollout_of("scorer");
        ro["rolling"]["batch"] == 2
    });
    assert!(counted, "{ro:#}");
    assert_eq!(ro["rolling"]["replaced"], 2, "{ro:#}");
    assert_eq!(ro["phase"], "progressing");
    let (code, out, err) = node.cli(&["rollout", "status", "scorer"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("rolling batch 2/2  2 of 3 instances replaced"),
        "{out}"
    );
    // new2 ready: old2 retires and the new version is promoted.
    fleet.new[2].make_ready();
    wait_phase(&node, "promoted");
    load.wait_serving(&node, &["new0", "new1", "new2"]);

    load.finish_without_failures();
    for _ in 0..30 {
        let name = predict(node.data).unwrap();
        assert!(name.starts_with("new"), "{name} after promotion");
    }
    let notes = notes(&node).join("\n");
    for part in [
        "rolling batch 1/2: http://",
        "retired http://",
        "batch 1/2 ready, 2 of 3 instances replaced",
        "rolling batch 2/2:",
        "batch 2/2 ready, 3 of 3 instances replaced",
        "promoted v2",
    ] {
        assert!(
            notes.contains(part),
            "no {part:?} in the event log:\n{notes}"
        );
    }
    assert_eq!(fleet.old[0].name, "old0");
}

/// A gateway under load rolling `scorer` with `plan`, new0 already admitted (new0 and old2
/// serving). Bind the fields in this order: they are then dropped load first, upstreams last.
struct Midway {
    fleet: Fleet,
    dir: TempDir,
    node: Rollgate,
    load: Load,
}

fn midway(plan: &str) -> Midway {
    let fleet = Fleet::start();
    let dir = TempDir::new();
    let node = start(&dir, &fleet);
    let load = Load::start(node.data);
    begin(&node, plan);
    fleet.new[0].make_ready();
    load.wait_serving(&node, &["new0", "old2"]);
    Midway {
        fleet,
        dir,
        node,
        load,
    }
}

#[test]
fn an_instance_that_never_gets_ready_restores_every_old_instance() {
    // new0 gets ready and serves; new1 never does.
    let Midway {
        fleet: _fleet,
        dir: _dir,
        node,
        load,
    } = midway(&PLAN.replace("30s", "3s"));
    wait_phase(&node, "rolled_back");
    load.wait_serving(&node, &["old0", "old1", "old2"]);

    load.finish_without_failures();
    let ro = node.rollout_of("scorer");
    assert!(
        ro["phase_detail"].to_string().contains("instance") || ro.to_string().contains("not ready"),
        "{ro:#}"
    );
    let notes = notes(&node).join("\n");
    assert!(notes.contains("not ready"), "{notes}");
    assert!(
        notes.contains("rolling update undone: 2 replaced instance(s) restored"),
        "{notes}"
    );
}

#[test]
fn an_abort_in_the_middle_restores_the_old_instances() {
    let Midway {
        fleet: _fleet,
        dir: _dir,
        node,
        load,
    } = midway(PLAN);
    let r = node.admin(Request::post("/api/v1/services/scorer/rollout/abort", ""));
    assert_eq!(r.status, 200, "{}", r.text());
    wait_phase(&node, "aborted");
    load.wait_serving(&node, &["old0", "old1", "old2"]);
    load.finish_without_failures();
}

#[test]
fn a_manual_intervention_stops_the_batch_until_the_resume() {
    let Midway {
        fleet,
        dir: _dir,
        node,
        load,
    } = midway(PLAN);
    // The operator sends everything to v1 by hand: the rollout pauses and leaves it so, even
    // when the next new instance gets ready.
    let ratio = Request::post(
        "/api/v1/services/scorer/set-canary-ratio",
        r#"{"ratio": 0}"#,
    );
    assert_eq!(node.admin(ratio).status, 200);
    wait_phase(&node, "paused");
    fleet.new[1].make_ready();
    load.wait_serving(&node, &["old2"]);
    // Resumed: the batch goes on from the stored progress, with the weights of its instances.
    let r = node.admin(Request::post("/api/v1/services/scorer/rollout/resume", ""));
    assert_eq!(r.status, 200, "{}", r.text());
    load.wait_serving(&node, &["new0", "new1", "old2"]);
    fleet.new[2].make_ready();
    wait_phase(&node, "promoted");
    load.wait_serving(&node, &["new0", "new1", "new2"]);
    load.finish_without_failures();
}

/// Starts a gateway on `dir`, runs `plan` until batch 1 is done (new0 and new1 ready, batch 2
/// waiting for new2), then kills it with SIGKILL.
fn kill_in_batch_two(dir: &TempDir, fleet: &Fleet, plan: &str) {
    let node = start(dir, fleet);
    begin(&node, plan);
    fleet.new[0].make_ready();
    fleet.new[1].make_ready();
    let mut ro = Value::Null;
    let counted = eventually(Duration::from_secs(30), || {
        ro = node.rollout_of("scorer");
        ro["rolling"]["batch"] == 2
    });
    assert!(counted, "{ro:#}");
    node.kill9();
}

#[test]
fn a_restart_in_the_middle_rebuilds_the_serving_set_from_the_stored_progress() {
    let fleet = Fleet::start();
    let dir = TempDir::new();
    kill_in_batch_two(&dir, &fleet, PLAN);

    // Batch 2 waits for new2; the restarted gateway serves what the stored progress implies
    // (batch 1 done: new0, new1 and the old instance batch 2 replaces), not its config's lists.
    let node = start_logging(&dir, &fleet, "gw2.log");
    let load = Load::start(node.data);
    load.wait_serving(&node, &["new0", "new1", "old2"]);
    let first: BTreeSet<String> = load.answers.lock().unwrap().iter().cloned().collect();
    let expected: BTreeSet<String> = ["new0", "new1", "old2"].map(String::from).into();
    assert_eq!(first, expected, "from the first request after the restart");
    fleet.new[2].make_ready();
    wait_phase(&node, "promoted");
    load.wait_serving(&node, &["new0", "new1", "new2"]);
    load.finish_without_failures();
}

#[test]
fn a_new_instance_that_went_away_during_a_restart_fails_the_update() {
    let fleet = Fleet::start();
    let dir = TempDir::new();
    // A shorter readiness timeout: the restarted gateway waits that long for new1.
    kill_in_batch_two(&dir, &fleet, &PLAN.replace("30s", "10s"));
    fleet.new[1].make_unready();

    // The stored progress says new1 serves; the restarted gateway checks it again.
    let node = start_logging(&dir, &fleet, "gw2.log");
    let load = Load::start(node.data);
    wait_phase(&node, "rolled_back");
    let notes = notes(&node);
    assert!(
        notes.iter().any(|n| n.contains("no longer ready")),
        "{}",
        notes.join("\n")
    );
    load.wait_serving(&node, &["old0", "old1", "old2"]);
    load.finish_without_failures();
}

#[test]
fn a_rolling_plan_for_onnx_versions_is_refused() {
    let dir = TempDir::new();
    let path = dir.write("rollgate.yaml", common::IRIS_V1_V2);
    let node = Rollgate::on(&dir, "gw.log", &["--config", path.to_str().unwrap()]);
    let r = node.admin(Request::post(
        "/api/v1/services/iris/rollout",
        "steps:\n  - rolling: {max_surge: 1}\n",
    ));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code(), "bad_plan");
    let msg = r.error_message();
    assert!(
        msg.contains("`v1` is not an HTTP upstream") && msg.contains("HTTP upstreams"),
        "{msg}"
    );
}
