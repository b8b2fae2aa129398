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
    let starts: Vec<_> = (0..n)
        .map(|i| {
            let url = pg.url().to_owned();
            std::thread::spawn(move || {
                let id = format!("replica-{i}");
                Rollgate::start_with_args(CONFIG, &["--store", &url, "--replica-id", &id])
            })
        })
        .collect();
    starts.into_iter().map(|s| s.join().unwrap()).collect()
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
         WHERE query ILIKE 'LISTEN%'",
    );
    assert_eq!(killed, "2", "each replica had one listening connection");
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
