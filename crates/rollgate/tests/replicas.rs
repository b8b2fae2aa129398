//! Several replicas on one PostgreSQL: each serves, and each applies what any of them changed.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::{predict, Request};
use common::node::post;
use common::postgres::Postgres;
use common::{eventually, Rollgate};
use serde_json::json;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
services:
  iris:
    input_width: 4
    versions: { v1: { onnx: "builtin:iris-v1" }, v2: { onnx: "builtin:iris-v2" } }
    route: { stable: v1, candidate: v2, weights: { v1: 100 } }
"#;

/// `n` replicas of the real binary on the cluster's database, started together.
fn replicas(pg: &Postgres, n: usize) -> Vec<Rollgate> {
    replicas_with(pg, n, &[])
}

fn replicas_with(pg: &Postgres, n: usize, args: &[&str]) -> Vec<Rollgate> {
    replicas_of(pg, n, CONFIG, args)
}

fn replicas_of(pg: &Postgres, n: usize, config: &str, args: &[&str]) -> Vec<Rollgate> {
    let starts: Vec<_> = (0..n)
        .map(|i| {
            let url = pg.url().to_owned();
            let config = config.to_owned();
            let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            std::thread::spawn(move || {
                let id = format!("replica-{i}");
                let mut all = vec!["--store", &url, "--replica-id", &id];
                all.extend(args.iter().map(String::as_str));
                Rollgate::start_with_args(&config, &all)
            })
        })
        .collect();
    starts.into_iter().map(|s| s.join().unwrap()).collect()
}

/// The replica holding the controller lease, by the number its id ends with (`replica-2`,
/// `r2`), read from the store.
fn leader(pg: &Postgres) -> Option<usize> {
    let holder = pg.sql(
        "SELECT holder FROM leases WHERE name = 'controller' \
         AND expires_at > (extract(epoch from clock_timestamp()) * 1000)::BIGINT",
    );
    let digits = holder.trim_start_matches(|c: char| !c.is_ascii_digit());
    digits.parse().ok()
}

/// Waits (bounded) for a replica to hold the controller lease; its number.
fn wait_leader(pg: &Postgres) -> usize {
    let mut lead = None;
    let found = eventually(Duration::from_secs(15), || {
        lead = leader(pg);
        lead.is_some()
    });
    assert!(found, "no replica took the controller lease");
    lead.unwrap()
}

/// Starts a rollout through `node` (relayed to the leader when it is another replica).
fn begin(node: &Rollgate, plan: &str) {
    let r = node.admin(
        Request::post("/api/v1/services/iris/rollout", plan)
            .header("content-type", "application/yaml"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

fn weight(node: &Rollgate, version: &str) -> u64 {
    node.service()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .map(|v| v["weight_percent"].as_str().unwrap().parse().unwrap())
        .unwrap()
}

fn revision(node: &Rollgate) -> u64 {
    node.service()["revision"].as_u64().unwrap()
}

fn set_ratio(node: &Rollgate, ratio: f64) -> u64 {
    let r = node.admin(post("/set-canary-ratio", json!({ "ratio": ratio })));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["revision"].as_u64().unwrap()
}

#[test]
fn replicas_started_together_seed_the_service_once() {
    let pg = Postgres::start();
    let nodes = replicas(&pg, 3);
    for node in &nodes {
        assert_eq!(revision(node), 1);
        assert_eq!(
            predict(node.data, "iris", &[[5.1, 3.5, 1.4, 0.2]]).status,
            200
        );
    }
    assert_eq!(
        pg.sql("SELECT count(*) FROM events WHERE kind = 'service_seeded'"),
        "1"
    );
}

/// A change accepted by any replica is served by all; 200 changes, each timed from the
/// accepting replica's answer until both others show it (printed as p50/p99).
#[test]
fn a_change_on_any_replica_is_applied_by_every_replica() {
    let pg = Postgres::start();
    let nodes = replicas(&pg, 3);
    let v2_only = set_ratio(&nodes[0], 1.0);
    for node in &nodes[1..] {
        assert!(
            eventually(Duration::from_secs(10), || revision(node) == v2_only),
            "replica on {} never applied revision {v2_only}",
            node.admin
        );
        let r = predict(node.data, "iris", &[[5.1, 3.5, 1.4, 0.2]]);
        assert_eq!(r.version(), "v2", "served by the new route");
    }

    let mut delays = Vec::new();
    for i in 0..200 {
        let (from, others) = (i % 3, [(i + 1) % 3, (i + 2) % 3]);
        let ratio = f64::from(i as u32 % 9 + 1) / 10.0;
        let want = set_ratio(&nodes[from], ratio);
        let committed = Instant::now();
        for other in others {
            let seen = eventually(Duration::from_secs(10), || revision(&nodes[other]) >= want);
            assert!(
                seen,
                "change {i} (revision {want}) never reached replica {other}"
            );
        }
        delays.push(committed.elapsed());
    }
    delays.sort();
    let at = |q: f64| delays[((delays.len() as f64 * q) as usize).min(delays.len() - 1)];
    println!(
        "propagation to both other replicas over {} changes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        delays.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        delays.last().unwrap().as_secs_f64() * 1e3
    );
    let events = nodes[2]
        .admin(Request::get("/api/v1/events?limit=500"))
        .json();
    let changes = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "canary_ratio_set")
        .count();
    assert_eq!(
        changes, 201,
        "one event per change, whichever replica took it"
    );
}

/// The listening connection is killed on the server side: the replica reconnects, catches up
/// on what was committed meanwhile, and keeps following.
#[test]
fn a_replica_whose_listener_is_killed_catches_up() {
    let pg = Postgres::start();
    let nodes = replicas(&pg, 2);
    let killed = pg.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE query ILIKE '%rollgate_changes%' AND pid <> pg_backend_pid()",
    );
    assert_eq!(
        killed, "2",
        "each replica had one connection listening for changes"
    );
    let want = set_ratio(&nodes[0], 0.3);
    assert!(
        eventually(Duration::from_secs(10), || revision(&nodes[1]) == want),
        "the replica never caught up after losing its listener"
    );
    let later = set_ratio(&nodes[0], 0.4);
    assert!(
        eventually(Duration::from_secs(10), || revision(&nodes[1]) == later),
        "the replica stopped following"
    );
}

/// kill -9 of the leader in the middle of a canary: another replica takes the lease within
/// the lease time, resumes the rollout at the step it was at, and finishes it; each
/// transition is recorded once and the event ids have no gaps.
#[test]
fn the_leader_killed_mid_rollout_is_replaced_and_the_rollout_finishes() {
    let pg = Postgres::start();
    let hooks = common::upstream::Upstreams::new();
    let receiver = hooks.spawn("hooks", common::upstream::Mode::Echo);
    let config = format!(
        "rollouts:\n  webhooks: [\"{}/hook\"]\n  webhook_backoff_ms: 50\n{CONFIG}",
        receiver.url()
    );
    let nodes = replicas_of(&pg, 3, &config, &["--lease", "3s"]);
    let mut first = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            first = leader(&pg);
            first.is_some()
        }),
        "no replica took the controller lease"
    );
    let first = first.unwrap();
    let others: Vec<usize> = (0..3).filter(|&i| i != first).collect();
    let r = nodes[others[0]].admin(Request::get("/api/v1/services/iris/rollout"));
    assert_eq!(
        r.status,
        200,
        "a replica without the lease relays the call: {}",
        r.text()
    );

    // Started through a replica that does not run the controller: relayed to the leader.
    let plan = "steps:\n  - set_weight: \"25%\"\n  - pause: {}\n  - set_weight: \"60%\"\n";
    let r = nodes[others[1]].admin(
        Request::post("/api/v1/services/iris/rollout", plan)
            .header("content-type", "application/yaml"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let before = nodes[first].wait_phase("iris", &["paused"], 10);
    for &i in &others {
        assert!(
            eventually(Duration::from_secs(10), || weight(&nodes[i], "v2") == 25),
            "replica {i} never served the 25% step"
        );
    }

    nodes[first].signal("KILL");
    let killed = Instant::now();
    let mut next = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            next = leader(&pg);
            next.is_some_and(|n| n != first)
        }),
        "no replica took over"
    );
    let next = next.unwrap();
    let took = killed.elapsed();
    println!(
        "a new leader answered {:.1} s after kill -9 (lease 3 s)",
        took.as_secs_f64()
    );
    assert!(
        took < Duration::from_secs(6),
        "took over after {took:?} with a 3 s lease"
    );
    let resumed = nodes[next].rollout();
    assert_eq!(resumed["phase"], "paused", "{resumed:#}");
    assert_eq!(resumed["step"], before["step"]);

    let bystander = others.iter().copied().find(|&i| i != next).unwrap();
    let r = nodes[bystander].admin(Request::post("/api/v1/services/iris/rollout/approve", ""));
    assert_eq!(r.status, 200, "{}", r.text());
    nodes[next].wait_phase("iris", &["promoted"], 20);
    for &i in &others {
        assert!(
            eventually(Duration::from_secs(10), || weight(&nodes[i], "v2") == 100),
            "replica {i} never served the promotion"
        );
    }
    let bodies: Vec<serde_json::Value> = receiver
        .seen()
        .iter()
        .map(|s| serde_json::from_slice(&s.body).unwrap())
        .collect();
    assert!(
        bodies.iter().any(|b| b["event"] == "promoted"),
        "{bodies:?}"
    );
    let mut sent: Vec<String> = bodies
        .iter()
        .map(|b| format!("{} at step {}", b["event"], b["step"]))
        .collect();
    let all = sent.len();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), all, "a webhook was sent twice: {bodies:#?}");
    let kinds =
        pg.sql("SELECT string_agg(kind, ',' ORDER BY id) FROM events WHERE actor = 'rollout'");
    let started = kinds.split(',').filter(|k| *k == "rollout_started").count();
    assert_eq!(started, 1, "one start: {kinds}");
    let (count, low, high) = {
        let row = pg.sql("SELECT count(*) || ' ' || min(id) || ' ' || max(id) FROM events");
        let n: Vec<i64> = row.split(' ').map(|x| x.parse().unwrap()).collect();
        (n[0], n[1], n[2])
    };
    assert_eq!(high - low + 1, count, "event ids are contiguous");
}

/// Predictions on every replica, counted, until stopped.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(usize, Vec<String>)>>,
}

impl Load {
    fn start(nodes: &[Rollgate]) -> Self {
        Self::over(nodes.iter().map(|n| n.data).collect())
    }

    /// Predictions through one address (a load balancer).
    fn through(addr: std::net::SocketAddr) -> Self {
        Self::over(vec![addr])
    }

    fn over(addrs: Vec<std::net::SocketAddr>) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (mut sent, mut failed) = (0, Vec::new());
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let addr = addrs[sent % addrs.len()];
                let request = Request::post(
                    "/v1/models/iris/predict",
                    r#"{"instances":[[5.1,3.5,1.4,0.2]]}"#,
                );
                match request.try_send(addr) {
                    Ok(r) if r.status == 200 => {}
                    Ok(r) => failed.push(format!("{addr}: {} {}", r.status, r.text())),
                    Err(e) => failed.push(format!("{addr}: {e}")),
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (sent, failed)
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the load: how many predictions were sent, and the failures.
    fn finish(mut self) -> (usize, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }

    /// Stops the load and checks that more than `at_least` predictions went out and none
    /// failed; how many went out.
    fn finish_without_failures(self, at_least: usize) -> usize {
        let (sent, failed) = self.finish();
        assert!(sent > at_least, "only {sent} predictions");
        assert!(
            failed.is_empty(),
            "{} of {sent} predictions failed: {:?}",
            failed.len(),
            &failed[..failed.len().min(5)]
        );
        sent
    }
}

/// PostgreSQL stopped for 10 s under load: no prediction fails, control writes answer 503
/// with a clear error and change nothing, and after recovery the replicas take changes again
/// and the paused rollout finishes.
#[test]
fn with_postgres_down_replicas_keep_serving_and_refuse_control_writes() {
    let pg = Postgres::start();
    let nodes = replicas_with(&pg, 3, &["--lease", "3s"]);
    let lead = wait_leader(&pg);
    let plan = "steps:\n  - set_weight: \"25%\"\n  - pause: {}\n  - set_weight: \"60%\"\n";
    begin(&nodes[lead], plan);
    nodes[lead].wait_phase("iris", &["paused"], 10);
    let before = revision(&nodes[lead]);
    for node in &nodes {
        assert!(eventually(Duration::from_secs(10), || revision(node) == before));
    }

    let load = Load::start(&nodes);
    pg.kill();
    let down = Instant::now();
    let r = nodes[1].admin(post("/set-canary-ratio", json!({ "ratio": 0.5 })));
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.error_code(), "store_unavailable");
    assert!(
        r.error_message().contains("keeps serving"),
        "{}",
        r.error_message()
    );
    for node in &nodes {
        assert_eq!(common::http::get(node.data, "/v2/health/ready").status, 200);
        assert_eq!(revision(node), before, "nothing changed");
    }
    std::thread::sleep(Duration::from_secs(10).saturating_sub(down.elapsed()));
    pg.restart();
    // After recovery a leader (the old one or another) takes the lease again and the paused
    // rollout takes the operator's approval: a controller write, so the store is back.
    let mut lead = None;
    assert!(
        eventually(Duration::from_secs(20), || {
            lead = leader(&pg);
            lead.is_some_and(|l| {
                let verb = Request::post("/api/v1/services/iris/rollout/approve", "");
                nodes[l].admin(verb).status == 200
            })
        }),
        "the rollout never took an approval after the outage"
    );
    let node = &nodes[lead.unwrap()];
    node.wait_phase("iris", &["promoted"], 20);
    let after = revision(node);
    assert!(after > before);
    for node in &nodes {
        assert!(
            eventually(Duration::from_secs(10), || revision(node) == after),
            "a replica never caught up after the outage"
        );
    }
    load.finish_without_failures(500);
}

/// A canary with analysis: a template judging errors and accuracy from labels, fast ticks.
const JUDGED: &str = r#"
rollouts:
  tick_ms: 100
  templates:
    quality:
      checks:
        - metric: error_rate
          max_increase: 0.05
        - metric: accuracy
          max_decrease: 0.10
          min_samples: 40
services:
  iris:
    input_width: 4
    output: { classes: [setosa, versicolor, virginica] }
    versions:
      v1: { onnx: "builtin:iris-v1" }
      bad: { onnx: "builtin:iris-bad" }
    route: { stable: v1, candidate: bad, weights: { v1: 100 } }
"#;

fn candidate_requests(node: &Rollgate) -> f64 {
    let m = common::metrics::scrape(node.data);
    m.sum(
        "rollgate_requests_total",
        &[("service", "iris"), ("version", "bad")],
    )
}

/// A bad canary behind three replicas is judged on the fleet's traffic: the users reach only
/// the two replicas that do not run the controller, and the leader, which served none of the
/// candidate's requests itself, rolls it back on theirs.
#[test]
fn a_bad_canary_across_replicas_is_rolled_back_on_the_fleets_traffic() {
    let pg = Postgres::start();
    let url = pg.url().to_owned();
    let nodes: Vec<Rollgate> = (0..3)
        .map(|i| {
            let id = format!("replica-{i}");
            Rollgate::start_with_args(JUDGED, &["--store", &url, "--replica-id", &id])
        })
        .collect();
    let lead = wait_leader(&pg);
    let users: Vec<_> = (0..3)
        .filter(|&i| i != lead)
        .map(|i| common::users::Traffic::start(nodes[i].data, &format!("r{i}")))
        .collect();
    let plan = "steps:\n  - canary: {steps: [30, 60], hold: 30s, analysis: quality}\n";
    begin(&nodes[lead], plan);
    let done = nodes[lead].wait_phase("iris", &["promoted", "rolled_back", "aborted"], 90);
    for u in users {
        u.finish();
    }
    assert_eq!(done["phase"], "rolled_back", "{done:#}");
    let judged = done["report"]["candidate"]["requests"].as_u64().unwrap() as f64;
    let own = candidate_requests(&nodes[lead]);
    let fleet: f64 = nodes.iter().map(candidate_requests).sum();
    println!("the bad canary was judged on {judged} requests: the leader served {own}, the fleet {fleet}");
    assert!(
        judged > own,
        "judged on {judged}, the leader alone served {own}"
    );
    assert!(
        judged <= fleet,
        "judged on {judged}, more than the fleet's {fleet}"
    );
}

/// Feedback posted to a replica that did not answer the request reaches the one that did,
/// which credits the answering version once however often the label is sent.
#[test]
fn feedback_posted_to_another_replica_is_credited_once() {
    let pg = Postgres::start();
    let nodes = replicas(&pg, 3);
    let body = json!({ "instances": [[5.1, 3.5, 1.4, 0.2]] }).to_string();
    let r = Request::post("/v1/models/iris/predict", body)
        .header("x-request-id", "asked-on-a")
        .send(nodes[0].data);
    assert_eq!(r.status, 200, "{}", r.text());
    let version = r.version();

    let label = json!({"request_id": "asked-on-a", "label": 0}).to_string();
    let first = Request::post("/v1/feedback", label.clone()).send(nodes[1].data);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["version"], version.as_str());
    assert_eq!(first.json()["duplicate"], false);
    for node in [&nodes[2], &nodes[1], &nodes[0]] {
        let again = Request::post("/v1/feedback", label.clone()).send(node.data);
        assert_eq!(again.status, 200, "{}", again.text());
        assert_eq!(again.json()["duplicate"], true, "credited once");
    }
    let labelled = |n: &Rollgate| {
        common::metrics::scrape(n.data).sum(
            "rollgate_labelled_predictions_total",
            &[("service", "iris"), ("version", version.as_str())],
        )
    };
    assert_eq!(
        labelled(&nodes[0]),
        1.0,
        "the answering replica counted one label"
    );
    assert_eq!(labelled(&nodes[1]) + labelled(&nodes[2]), 0.0);

    let unknown = json!({"request_id": "never-asked", "label": 0}).to_string();
    let r = Request::post("/v1/feedback", unknown).send(nodes[2].data);
    assert_eq!(
        (r.status, r.error_code()),
        (404, "unknown_request".to_owned())
    );
}

/// A replica serving on a fixed data port (the balancer's configuration names it), so a
/// replacement can take the place of the one it replaces.
fn replica_on(pg: &Postgres, id: &str, data: std::net::SocketAddr, extra: &[&str]) -> Rollgate {
    let dir = common::TempDir::new();
    let config = dir.write("rollgate.yaml", CONFIG);
    let mut cmd = common::command();
    cmd.arg("serve")
        .args([
            "--listen",
            &data.to_string(),
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(config)
        .args(["--store", pg.url(), "--replica-id", id])
        .args(extra);
    Rollgate::from_command_in(cmd, dir)
}

fn fixed_ports(n: usize) -> Vec<std::net::SocketAddr> {
    (0..n)
        .map(|_| std::net::SocketAddr::from(([127, 0, 0, 1], common::closed_port())))
        .collect()
}

/// Each replica in turn is stopped (SIGTERM, with a drain) and replaced while clients send
/// predictions through nginx: not one request fails.
#[test]
fn a_rolling_restart_behind_a_load_balancer_fails_no_request() {
    let pg = Postgres::start();
    let ports = fixed_ports(3);
    let mut nodes: Vec<Rollgate> = (0..3)
        .map(|i| replica_on(&pg, &format!("r{i}"), ports[i], &["--drain", "1s"]))
        .collect();
    let lb = common::balancer::Balancer::start(&ports);
    let load = Load::through(lb.addr);
    for i in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        nodes[i].wait_for_signal_handlers();
        nodes[i].signal("TERM");
        let status = nodes[i].wait_exit(Duration::from_secs(20));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "{}",
            nodes[i].stderr()
        );
        nodes[i] = replica_on(&pg, &format!("r{i}-new"), ports[i], &["--drain", "1s"]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = load.finish_without_failures(200);
    println!("rolling restart of 3 replicas: {sent} predictions through nginx, none failed");
}

/// kill -9 of the leader during a canary, under load through nginx: nginx moves on to the
/// other replicas (a refused connection, or a prediction cut off, is retried), so no request
/// fails; another replica takes the lease and the rollout finishes from the step it was at.
#[test]
fn the_leader_killed_behind_a_load_balancer_fails_no_request() {
    let pg = Postgres::start();
    let ports = fixed_ports(3);
    let nodes: Vec<Rollgate> = (0..3)
        .map(|i| replica_on(&pg, &format!("r{i}"), ports[i], &["--lease", "3s"]))
        .collect();
    let first = wait_leader(&pg);
    let plan = "steps:\n  - set_weight: \"25%\"\n  - pause: {}\n  - set_weight: \"60%\"\n";
    begin(&nodes[first], plan);
    let before = nodes[first].wait_phase("iris", &["paused"], 10);
    let lb = common::balancer::Balancer::start(&ports);
    let load = Load::through(lb.addr);
    std::thread::sleep(Duration::from_millis(500));
    nodes[first].signal("KILL");
    let mut next = None;
    assert!(eventually(Duration::from_secs(10), || {
        next = leader(&pg);
        next.is_some_and(|n| n != first)
    }));
    let next = next.unwrap();
    let resumed = nodes[next].wait_phase("iris", &["paused"], 10);
    assert_eq!(resumed["step"], before["step"], "resumed at the same step");
    let r = nodes[next].admin(Request::post("/api/v1/services/iris/rollout/approve", ""));
    assert_eq!(r.status, 200, "{}", r.text());
    nodes[next].wait_phase("iris", &["promoted"], 20);
    std::thread::sleep(Duration::from_millis(500));
    load.finish_without_failures(200);
    let started = pg.sql("SELECT count(*) FROM events WHERE kind = 'rollout_started'");
    assert_eq!(started, "1", "the rollout was started once");
}

/// An operator's manual ratio, set on a replica that does not run the controller, pauses the
/// rollout there as it would on the leader, and the operator's ratio is kept.
#[test]
fn a_manual_change_on_another_replica_pauses_the_rollout() {
    let pg = Postgres::start();
    let nodes = replicas(&pg, 2);
    let lead = wait_leader(&pg);
    let other = 1 - lead;
    let plan = "steps:\n  - canary: {steps: [10, 50], hold: 1h}\n";
    begin(&nodes[other], plan);
    assert!(eventually(Duration::from_secs(10), || weight(
        &nodes[other],
        "v2"
    ) == 10));
    set_ratio(&nodes[other], 0.3);
    let paused = nodes[other].wait_phase("iris", &["paused"], 10);
    assert!(
        paused["phase_detail"]
            .to_string()
            .contains("set-canary-ratio"),
        "{paused:#}"
    );
    assert!(eventually(Duration::from_secs(5), || weight(
        &nodes[lead],
        "v2"
    ) == 30));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        weight(&nodes[other], "v2"),
        30,
        "the operator's ratio is kept"
    );
}
