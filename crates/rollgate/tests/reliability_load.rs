//! Load while everything changes: keep-alive clients send predictions as fast as the gateway
//! answers while a driver changes weights, uploads models, promotes, rolls back and runs a
//! rollout to completion through the control API. Every request must succeed, and every answer
//! must come from a version the control plane had routed at that moment (the rule is in
//! `common/load.rs`: an answer is allowed when a version was routed in an era overlapping the
//! request, an era running from the change's send to the next change's acknowledgement).
//!
//! `ROLLGATE_RELIABILITY_REQUESTS` sets the number of requests (default 100,000).

#![allow(clippy::unwrap_used)]

mod common;

use common::http::Request;
use common::load::{judge, routed, run_clients, Seen, Tally, Timeline};
use common::node::model;
use common::Rollgate;
use common::{eventually, TempDir};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The rollout controller ticks every 50 ms, so rollouts move within the test's time.
fn config() -> String {
    format!("rollouts:\n  tick_ms: 50\n{}", common::IRIS_V1_V2)
}

const PLAN: &str = r#"
steps:
  - set_weight: "30%"
  - pause: {duration: 300ms}
  - set_weight: "70%"
  - pause: {duration: 300ms}
"#;

const BODY: &str = r#"{"instances": [[5.9, 3.0, 4.2, 1.5]]}"#;

/// What the driver did.
#[derive(Debug, Default)]
struct Done {
    cycles: AtomicU64,
    uploads: AtomicU64,
    promotions: AtomicU64,
    rollbacks: AtomicU64,
    rollouts: AtomicU64,
}

/// The driver: changes through the control API, each recorded on the time line.
struct Driver<'a> {
    node: &'a Rollgate,
    timeline: &'a Timeline,
    done: &'a Done,
}

impl Driver<'_> {
    /// Sends an admin request that changes the route, expects `status` and records the era.
    fn change(&self, why: &str, req: Request, status: u16) -> Value {
        let sent = Instant::now();
        let r = self.node.admin(req);
        let acked = Instant::now();
        assert_eq!(r.status, status, "{why}: {}", r.text());
        let view = r.json();
        self.timeline.change(sent, acked, routed(&view), why);
        view
    }

    fn ratio(&self, ratio: f64) {
        let body = json!({ "ratio": ratio }).to_string();
        self.change(
            &format!("set-canary-ratio {ratio}"),
            Request::post("/set-canary-ratio", body),
            200,
        );
    }

    /// Rewrites the route document by hand: stable and candidate at the given split.
    fn put_route(&self, stable_pct: u32) {
        let doc = self
            .node
            .admin(Request::get("/api/v1/services/iris/route"))
            .json();
        let mut route = doc["route"].clone();
        let stable = route["stable"].as_str().unwrap().to_owned();
        let candidate = route["candidate"].as_str().unwrap().to_owned();
        route["weights"] = json!({ stable: stable_pct, candidate: 100 - stable_pct });
        let body = json!({ "revision": doc["revision"], "route": route }).to_string();
        let req = Request::new("PUT", "/api/v1/services/iris/route")
            .header("content-type", "application/json")
            .body(body);
        self.change(&format!("PUT route {stable_pct}%"), req, 200);
    }

    fn upload(&self, version: &str) {
        let req = Request::new("POST", &format!("/update-model?version={version}"))
            .header("content-type", "application/octet-stream")
            .body(model("iris-v2.onnx"));
        self.change(&format!("update-model {version}"), req, 200);
        self.done.uploads.fetch_add(1, Ordering::Relaxed);
    }

    fn accept(&self) {
        self.change(
            "accept-next-model",
            Request::post("/accept-next-model", ""),
            200,
        );
        self.done.promotions.fetch_add(1, Ordering::Relaxed);
    }

    fn rollback(&self) {
        self.change("rollback", Request::post("/rollback", ""), 200);
        self.done.rollbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs a canary of the current candidate to promotion. The rollout moves weights on its
    /// own, so its whole span is one era holding its stable and candidate; it ends when a read
    /// of the service shows the candidate alone routed.
    fn rollout(&self) {
        let sent = Instant::now();
        let r = self.node.admin(
            Request::post("/api/v1/services/iris/rollout", PLAN)
                .header("content-type", "application/yaml"),
        );
        let acked = Instant::now();
        assert_eq!(r.status, 201, "rollout start: {}", r.text());
        let ro = r.json()["rollout"].clone();
        let candidate = ro["candidate"].as_str().unwrap().to_owned();
        let both: BTreeSet<String> = [ro["stable"].as_str().unwrap(), &candidate]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        self.timeline.change(sent, acked, both, "rollout");
        let mut last = Value::Null;
        let promoted = eventually(Duration::from_secs(30), || {
            last = self
                .node
                .admin(Request::get("/api/v1/services/iris/rollout"))
                .json();
            last["rollout"]["phase"] == "promoted"
        });
        assert!(promoted, "the rollout was not promoted: {last:#}");
        let only: BTreeSet<String> = BTreeSet::from([candidate]);
        let mut seen = (Instant::now(), Instant::now());
        let settled = eventually(Duration::from_secs(10), || {
            let sent = Instant::now();
            let view = self.node.service();
            seen = (sent, Instant::now());
            routed(&view) == only
        });
        assert!(settled, "after promotion the candidate alone is routed");
        self.timeline
            .change(seen.0, seen.1, only, "rollout promoted (observed)");
        self.done.rollouts.fetch_add(1, Ordering::Relaxed);
    }

    /// One cycle of every kind of change, ending with a completed rollout.
    fn cycle(&self, n: u64) {
        let version = format!("u{n}");
        self.ratio(0.2);
        self.put_route(40);
        self.ratio(0.05);
        self.upload(&version);
        self.ratio(0.3);
        self.accept();
        self.rollback();
        self.rollout();
        self.done.cycles.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stops the clients if the driver panics, so a refused change ends the test at once.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

fn target() -> u64 {
    std::env::var("ROLLGATE_RELIABILITY_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

#[test]
fn no_request_fails_and_no_answer_comes_from_a_version_not_routed_while_everything_changes() {
    let dir = TempDir::new();
    let path = dir.write("rollgate.yaml", config());
    let node = Rollgate::on(&dir, "gw.log", &["--config", path.to_str().unwrap()]);
    let target = target();
    let timeline = Arc::new(Timeline::new(BTreeSet::from(["v1".to_owned()])));
    let done = Arc::new(Done::default());
    let stop_clients = Arc::new(AtomicBool::new(false));
    let stop_driver = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let seen: Vec<Seen> = std::thread::scope(|scope| {
        let driver = scope.spawn(|| {
            let _stop = StopOnPanic(&stop_clients);
            let d = Driver {
                node: &node,
                timeline: &timeline,
                done: &done,
            };
            let mut n = 0;
            while !stop_driver.load(Ordering::Relaxed) {
                n += 1;
                d.cycle(n);
            }
        });
        // Bounded: stops at the target once the driver has finished at least one cycle,
        // or after ten minutes whatever happened.
        scope.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(600);
            while Instant::now() < deadline
                && !(sent.load(Ordering::Relaxed) >= target
                    && done.cycles.load(Ordering::Relaxed) >= 1)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            stop_clients.store(true, Ordering::Relaxed);
        });
        let seen = rt.block_on(run_clients(
            node.data,
            "/v1/models/iris/predict",
            BODY,
            8,
            Arc::clone(&stop_clients),
            Arc::clone(&sent),
        ));
        stop_driver.store(true, Ordering::Relaxed);
        driver.join().expect("every change was acknowledged");
        seen
    });
    let elapsed = started.elapsed();
    let tally = Tally::default();
    for s in &seen {
        judge(s, &timeline, &tally);
    }
    let failed = tally.failed.load(Ordering::Relaxed);
    let disallowed = tally.disallowed.load(Ordering::Relaxed);
    let mut by_version = std::collections::BTreeMap::<String, u64>::new();
    for s in &seen {
        *by_version
            .entry(s.version.clone().unwrap_or_else(|| "-".into()))
            .or_default() += 1;
    }
    println!(
        "reliability/load: {} requests in {:.1} s ({:.0} req/s) by 8 keep-alive clients; \
         {} acknowledged changes: {} cycles, {} uploads, {} promotions, {} rollbacks, \
         {} rollouts to promotion; failed {failed}, disallowed {disallowed}; answers by version {by_version:?}",
        seen.len(),
        elapsed.as_secs_f64(),
        seen.len() as f64 / elapsed.as_secs_f64(),
        timeline.changes(),
        done.cycles.load(Ordering::Relaxed),
        done.uploads.load(Ordering::Relaxed),
        done.promotions.load(Ordering::Relaxed),
        done.rollbacks.load(Ordering::Relaxed),
        done.rollouts.load(Ordering::Relaxed),
    );
    let examples = tally.examples.lock().unwrap().clone();
    // The rule has teeth: a version uploaded later may not have answered at the start.
    assert!(!timeline.allows("u1", started, started));
    assert!(!timeline.allows("v2", started, started));
    assert!(
        seen.len() as u64 >= target,
        "only {} of {target} requests were sent",
        seen.len()
    );
    assert!(done.rollouts.load(Ordering::Relaxed) >= 1);
    assert_eq!(failed, 0, "failed requests, e.g. {examples:#?}");
    assert_eq!(
        disallowed,
        0,
        "answers from versions not routed then, e.g. {examples:#?}\neras: {:#?}",
        timeline.eras()
    );
}
