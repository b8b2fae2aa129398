//! `kill -9` in the middle of a rollout, ten times in a row, on the embedded store.
//!
//! A canary of many steps held by timed pauses runs while an operator registers versions
//! through the API. At a random moment (seeded; the seed is printed, and
//! `ROLLGATE_CRASH_SEED` replays it) the gateway is killed with `SIGKILL` and started again on
//! the same data directory. After every restart:
//! - the rollout is at a step no earlier than the last one observed before the kill (it may
//!   have advanced between that read and the kill), and the route's weights are the ones its
//!   step implies;
//! - the event log's ids run without a gap or a duplicate, each service change moves the
//!   revision by exactly one (so none is lost or recorded twice), and no rollout transition is
//!   recorded twice;
//! - every change the API acknowledged before the kill is there, with its event.
//!
//! At the end the rollout finishes: promoted, the candidate at 100%.
//!
//! A second test makes the store refuse writes (its write lock held from outside) while a
//! rollout step ends: the transition is held, not half taken, and the route follows once the
//! store answers again.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::Request;
use common::Rollgate;
use common::{closed_port, eventually, TempDir};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const KILLS: usize = 10;

/// The rollout controller ticks every 50 ms, so rollouts move within the test's time.
fn config() -> String {
    format!("rollouts:\n  tick_ms: 50\n{}", common::IRIS_V1_V2)
}

/// Eleven weights, each held by a timed pause: long enough to outlive ten restarts.
fn plan() -> String {
    let mut plan = String::from("steps:\n");
    for w in [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90] {
        plan.push_str(&format!(
            "  - set_weight: \"{w}%\"\n  - pause: {{duration: 4s}}\n"
        ));
    }
    plan
}

fn start(dir: &TempDir, n: usize) -> Rollgate {
    let path = dir.path().join("rollgate.yaml");
    Rollgate::on(
        dir,
        &format!("gw-{n}.log"),
        &["--config", path.to_str().unwrap()],
    )
}

/// The candidate's weight in the live route, as the API shows it (`"25"`).
fn candidate_weight(node: &Rollgate) -> String {
    let svc = node.service();
    svc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v2")
        .map(|v| v["weight_percent"].as_str().unwrap().to_owned())
        .unwrap()
}

/// The whole event log, oldest first.
fn events(node: &Rollgate) -> Vec<Value> {
    let mut all = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/api/v1/events?limit=500&before={b}"),
            None => "/api/v1/events?limit=500".to_owned(),
        };
        let page = node.admin(Request::get(&path)).json();
        all.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    all.reverse();
    all
}

/// A change the API acknowledged: the version registered and the revision it made.
#[derive(Debug, Clone)]
struct Acked {
    version: String,
    revision: u64,
}

/// Registers an HTTP version (a cheap change that does not touch the rollout's route).
fn register(node: &Rollgate, name: &str, port: u16) -> Option<Acked> {
    let body = json!({"name": name, "http": {"instances": [format!("http://127.0.0.1:{port}")]}});
    let r = Request::post("/api/v1/services/iris/versions", body.to_string())
        .try_send(node.admin)
        .ok()?;
    assert_eq!(r.status, 201, "register {name}: {}", r.text());
    Some(Acked {
        version: name.to_owned(),
        revision: r.json()["revision"].as_u64().unwrap(),
    })
}

/// Checks the event log: contiguous ids, revisions moving by one, no transition twice, the
/// rollout started once, and every acknowledged change present.
fn check_log(node: &Rollgate, acked: &[Acked], context: &str) -> usize {
    let log = events(node);
    let ids: Vec<i64> = log.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (1..=ids.len() as i64).collect();
    assert_eq!(
        ids, expected,
        "{context}: event ids have a gap or a duplicate"
    );
    let mut revisions = Vec::new();
    let mut transitions = BTreeSet::new();
    let mut started = 0;
    for e in &log {
        if let (Some(b), Some(a)) = (
            e["before"]["revision"].as_u64(),
            e["after"]["revision"].as_u64(),
        ) {
            assert_eq!(a, b + 1, "{context}: a change skipped a revision: {e:#}");
            revisions.push(a);
        }
        match e["kind"].as_str().unwrap() {
            "rollout_started" => started += 1,
            "rollout_transition" => {
                let key = (e["after"].to_string(), e["detail"]["actions"].to_string());
                assert!(
                    transitions.insert(key),
                    "{context}: a rollout transition was recorded twice: {e:#}"
                );
            }
            _ => {}
        }
    }
    assert_eq!(started, 1, "{context}: the rollout started once");
    let chain: Vec<u64> = (revisions[0]..revisions[0] + revisions.len() as u64).collect();
    assert_eq!(
        revisions, chain,
        "{context}: service revisions in the log are not one unbroken chain"
    );
    let svc = node.service();
    let names: BTreeSet<&str> = svc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    let added: BTreeMap<u64, &Value> = log
        .iter()
        .filter(|e| e["kind"] == "version_added")
        .map(|e| (e["after"]["revision"].as_u64().unwrap(), e))
        .collect();
    for a in acked {
        assert!(
            names.contains(a.version.as_str()),
            "{context}: acknowledged {a:?} is lost"
        );
        assert!(
            added.contains_key(&a.revision),
            "{context}: acknowledged {a:?} has no event"
        );
    }
    assert!(svc["revision"].as_u64().unwrap() >= revisions.last().copied().unwrap_or(0));
    log.len()
}

/// A change in flight at the kill is all there (version and event) or not at all.
fn check_all_or_nothing(node: &Rollgate, names: &[String], context: &str) {
    let svc = node.service();
    let log = events(node);
    for name in names {
        let in_service = version_named(&svc, name);
        let in_log = log.iter().any(|e| {
            e["kind"] == "version_added"
                && e["after"]["service"]["versions"].get(name).is_some()
                && e["before"]["service"]["versions"].get(name).is_none()
        });
        assert_eq!(
            in_service, in_log,
            "{context}: the change in flight at the kill ({name}) is half there"
        );
    }
}

fn version_named(svc: &Value, name: &str) -> bool {
    svc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["name"] == name)
}

/// The data plane answers from the rollout's versions right after a restart.
fn check_serving(node: &Rollgate, context: &str) {
    for _ in 0..20 {
        let r = common::http::predict(node.data, "iris", &common::IRIS_ROWS);
        assert_eq!(r.status, 200, "{context}: {}", r.text());
        assert!(
            ["v1", "v2"].contains(&r.version().as_str()),
            "{context}: served by {}",
            r.version()
        );
    }
}

/// After a restart: the rollout resumed no earlier than last seen, with its step's weight.
fn check_resumed(node: &Rollgate, last_step: u64, context: &str) -> u64 {
    let now = node.rollout();
    let step = now["step"].as_u64().unwrap();
    assert!(
        step >= last_step,
        "{context}: resumed at step {step}, before the step {last_step} observed: {now:#}"
    );
    assert!(
        ["progressing", "paused", "promoted"].contains(&now["phase"].as_str().unwrap()),
        "{context}: {now:#}"
    );
    let mut pair = (String::new(), String::new());
    let consistent = eventually(Duration::from_secs(10), || {
        let ro = node.rollout();
        pair = (
            candidate_weight(node),
            ro["candidate_percent"].as_str().unwrap().to_owned(),
        );
        // A tick may move the step between the two reads: read the rollout again.
        pair.0 == pair.1 && node.rollout()["candidate_percent"] == ro["candidate_percent"]
    });
    assert!(
        consistent,
        "{context}: route weight {} but the rollout's step says {}",
        pair.0, pair.1
    );
    step
}

fn seed() -> u64 {
    std::env::var("ROLLGATE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

#[test]
fn a_rollout_survives_ten_kill_9_in_a_row_without_losing_a_step_an_event_or_a_change() {
    let seed = seed();
    println!("reliability/crash: seed {seed} (ROLLGATE_CRASH_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = TempDir::new();
    dir.write("rollgate.yaml", config());
    let port = closed_port();
    let mut node = start(&dir, 0);
    let r = node.admin(
        Request::post("/api/v1/services/iris/rollout", plan())
            .header("content-type", "application/yaml"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let began = Instant::now();
    let mut acked: Vec<Acked> = Vec::new();
    let mut in_flight: Vec<String> = Vec::new();
    let mut last_step = 0;
    let mut steps_at_kill = Vec::new();
    for kill in 1..=KILLS {
        let context = format!("seed {seed}, kill {kill}");
        // Run for a random while, making acknowledged changes and watching the step.
        let wait = Duration::from_millis(rng.random_range(100..1500));
        let until = Instant::now() + wait;
        let mut j = 0;
        while Instant::now() < until {
            j += 1;
            if let Some(a) = register(&node, &format!("k{kill}-{j}"), port) {
                acked.push(a);
            }
            let ro = node.rollout();
            assert_eq!(
                ro["terminal"], false,
                "{context}: every kill hits a running rollout"
            );
            last_step = last_step.max(ro["step"].as_u64().unwrap());
            std::thread::sleep(Duration::from_millis(rng.random_range(0..100)));
        }
        // And sometimes kill in the middle of a change: one sent, its answer not awaited.
        if rng.random_bool(0.5) {
            let name = format!("k{kill}-unacked");
            in_flight.push(name.clone());
            let body =
                json!({"name": name, "http": {"instances": [format!("http://127.0.0.1:{port}")]}});
            let admin = node.admin;
            std::thread::spawn(move || {
                let _ = Request::post("/api/v1/services/iris/versions", body.to_string())
                    .try_send(admin);
            });
            std::thread::sleep(Duration::from_millis(rng.random_range(0..40)));
        }
        steps_at_kill.push(last_step);
        node.kill9();
        node = start(&dir, kill);
        last_step = check_resumed(&node, last_step, &context);
        check_log(&node, &acked, &context);
        check_all_or_nothing(&node, &in_flight, &context);
        check_serving(&node, &context);
    }
    let mut last = Value::Null;
    let promoted = eventually(Duration::from_secs(90), || {
        last = node.rollout();
        last["phase"] == "promoted"
    });
    assert!(
        promoted,
        "the rollout did not finish after the kills: {last:#}"
    );
    assert!(eventually(Duration::from_secs(10), || candidate_weight(
        &node
    ) == "100"));
    let events = check_log(&node, &acked, &format!("seed {seed}, at the end"));
    let svc = node.service();
    let landed = in_flight.iter().filter(|n| version_named(&svc, n)).count();
    println!(
        "reliability/crash: {KILLS} kill -9 and restarts in {:.1} s, steps observed at each kill \
         {steps_at_kill:?}; {} acknowledged changes kept; {} changes in flight at a kill, \
         {landed} of them whole, none half; {events} events, ids contiguous; rollout promoted",
        began.elapsed().as_secs_f64(),
        acked.len(),
        in_flight.len(),
    );
}

/// Holds SQLite's write lock on the gateway's database for `hold` (another process writing,
/// a slow disk): the gateway's writes wait out their busy timeout and fail meanwhile.
fn hold_write_lock(db: &std::path::Path, hold: Duration) -> std::thread::JoinHandle<()> {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let db = db.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut conn = SqliteConnectOptions::new()
                .filename(&db)
                .connect()
                .await
                .unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            tx.send(()).unwrap();
            tokio::time::sleep(hold).await;
            sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the write lock was taken");
    t
}

#[test]
fn a_rollout_whose_state_cannot_be_stored_holds_instead_of_running_ahead_of_its_route() {
    let dir = TempDir::new();
    dir.write("rollgate.yaml", config());
    let node = start(&dir, 0);
    let plan = "steps:\n  - set_weight: \"20%\"\n  - pause: {duration: 1s}\n  - set_weight: \"60%\"\n  - pause: {}\n";
    let r = node.admin(
        Request::post("/api/v1/services/iris/rollout", plan)
            .header("content-type", "application/yaml"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(eventually(Duration::from_secs(5), || candidate_weight(
        &node
    ) == "20"));
    // The pause ends while nothing can be written: the transition to 60% is not stored, so
    // it must not be taken either (its route change would be skipped). The lock outlives two
    // busy timeouts (5 s each): the first tick's write fails, then the transition's.
    let lock = hold_write_lock(
        &dir.path().join("data/rollgate.db"),
        Duration::from_secs(11),
    );
    lock.join().unwrap();
    let mut seen = (String::new(), Value::Null);
    let consistent = eventually(Duration::from_secs(20), || {
        let ro = node.rollout();
        seen = (candidate_weight(&node), ro.clone());
        ro["phase"] == "paused" && ro["candidate_percent"] == "60" && seen.0 == "60"
    });
    let log = std::fs::read_to_string(dir.path().join("gw-0.log")).unwrap_or_default();
    assert!(
        log.contains("rollout state not stored"),
        "the store did refuse a write meanwhile: {log}"
    );
    assert!(
        consistent,
        "after the store came back the rollout and its route agree: route {} but rollout {:#}",
        seen.0, seen.1
    );
}
