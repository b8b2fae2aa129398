//! The control plane through the real binary: the seed verbs and resource API, state that
//! survives `kill -9`, and changes under continuous load that fail no request.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::Request;
use common::node::{model, post};
use common::Rollgate;
use common::{serve_command, workspace_root, TempDir};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn weights(svc: &Value) -> Value {
    svc["route"]["weights"].clone()
}

#[test]
fn seed_verbs_and_their_refusals() {
    let dir = TempDir::new();
    let node = Rollgate::on(&dir, "a.log", &[]);
    let up =
        node.admin(Request::new("POST", "/update-model?version=v3").body(model("iris-v2.onnx")));
    assert_eq!(up.status, 200, "{}", up.text());
    assert_eq!(up.json()["candidate"], "v3");
    let r = node.admin(post("/set-canary-ratio", json!({"ratio": 0.1})));
    assert_eq!(weights(&r.json()), json!({"v1": 90.0, "v3": 10.0}));
    let revision = r.json()["revision"].as_u64().unwrap();
    let stale = node.admin(post(
        "/set-canary-ratio",
        json!({"ratio": 0.2, "revision": revision - 1}),
    ));
    assert_eq!(
        (stale.status, stale.error_code()),
        (409, "revision_conflict".into())
    );
    let r = node.admin(Request::new("POST", "/accept-next-model"));
    assert_eq!(
        (r.json()["stable"].clone(), r.json()["previous"].clone()),
        (json!("v3"), json!("v1"))
    );
    let served = Request::post(
        "/v1/models/iris/predict",
        r#"{"features":[5.1,3.5,1.4,0.2]}"#,
    )
    .send(node.data);
    assert_eq!(served.version(), "v3");
    let r = node.admin(Request::new("POST", "/rollback"));
    assert_eq!(weights(&r.json()), json!({"v1": 100.0}));

    let garbage = node.admin(Request::new("POST", "/update-model").body(b"not onnx".to_vec()));
    assert_eq!(
        (garbage.status, garbage.error_code()),
        (400, "bad_model".into())
    );
    let bad_ratio = node.admin(post("/set-canary-ratio", json!({"ratio": 1.5})));
    assert_eq!(
        (bad_ratio.status, bad_ratio.error_code()),
        (400, "bad_ratio".into())
    );
    let dup =
        node.admin(Request::new("POST", "/update-model?version=v3").body(model("iris-v2.onnx")));
    assert_eq!(
        (dup.status, dup.error_code()),
        (409, "version_exists".into())
    );
    let bad_name =
        node.admin(Request::new("POST", "/update-model?version=a%2Fb").body(model("iris-v2.onnx")));
    assert_eq!(bad_name.status, 400, "{}", bad_name.text());
    let unknown = node.admin(post(
        "/api/v1/services/nope/set-canary-ratio",
        json!({"ratio": 0.1}),
    ));
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, "unknown_service".into())
    );
    let in_use = node.admin(Request::new("DELETE", "/api/v1/services/iris/versions/v1"));
    assert_eq!(
        (in_use.status, in_use.error_code()),
        (409, "version_in_use".into())
    );
    let before = node.service()["revision"].clone();
    let bad_path = node.admin(Request::new("POST", "/api/v1/services/%FF/rollback"));
    assert_eq!(
        (bad_path.status, bad_path.error_code()),
        (400, "bad_path".into())
    );
    assert_eq!(
        node.service()["revision"],
        before,
        "a bad path changes nothing"
    );
    let not_admin = Request::post("/set-canary-ratio", r#"{"ratio":0.5}"#).send(node.data);
    assert_eq!(
        not_admin.status, 404,
        "the data port never serves admin routes"
    );
    let events = node
        .admin(Request::get("/api/v1/events?service=iris&limit=50"))
        .json();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "rolled_back",
            "next_model_accepted",
            "canary_ratio_set",
            "model_updated",
            "service_seeded"
        ]
    );
}

#[test]
fn wrong_width_models_are_refused() {
    let dir = TempDir::new();
    let node = Rollgate::on(&dir, "a.log", &[]);
    let r = node.admin(Request::new("POST", "/update-model").body(model("diabetes-linear.onnx")));
    assert_eq!((r.status, r.error_code()), (400, "bad_model".into()));
    assert!(
        r.error_message().contains("4 features"),
        "{}",
        r.error_message()
    );
    assert_eq!(node.service()["revision"], 1, "nothing changed");
}

#[test]
fn acknowledged_changes_survive_kill_9() {
    let dir = TempDir::new();
    let mut expected: Option<Value> = None;
    for round in 0..3 {
        let node = Rollgate::on(&dir, &format!("run{round}.log"), &[]);
        if let Some(want) = &expected {
            let got = node.service();
            assert_eq!(
                (&got["revision"], &got["route"], &got["previous"]),
                (&want["revision"], &want["route"], &want["previous"]),
                "round {round}"
            );
        }
        let version = format!("r{round}");
        let up = node.admin(
            Request::new("POST", &format!("/update-model?version={version}"))
                .body(model("iris-v2.onnx")),
        );
        assert_eq!(up.status, 200, "{}", up.text());
        let last = node.admin(post("/set-canary-ratio", json!({"ratio": 0.25})));
        assert_eq!(last.status, 200);
        expected = Some(last.json());
        node.kill9();
    }
    let node = Rollgate::on(&dir, "final.log", &[]);
    let got = node.service();
    let want = expected.unwrap();
    assert_eq!(got["revision"], want["revision"]);
    assert_eq!(got["route"], want["route"]);
    let names: BTreeSet<&str> = got["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(
        ["r0", "r1", "r2"].iter().all(|v| names.contains(v)),
        "{names:?}"
    );
    let served = Request::post(
        "/v1/models/iris/predict",
        r#"{"features":[5.1,3.5,1.4,0.2]}"#,
    )
    .header("x-canary", "always")
    .send(node.data);
    assert_eq!(
        served.version(),
        "r2",
        "the restarted gateway serves the stored candidate"
    );
}

/// A route table that may be in effect from `from` (when its change was sent) until the
/// acknowledgement of the next change.
struct Epoch {
    from: Instant,
    acked: Instant,
    allowed: BTreeSet<String>,
}

fn allowed(svc: &Value) -> BTreeSet<String> {
    svc["route"]["weights"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn changes_under_load_fail_no_request() {
    let dir = TempDir::new();
    let node = Rollgate::on(&dir, "a.log", &[]);
    let data = node.data;
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<(Instant, Instant, u16, String)>::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let start = Instant::now();
                    let r = Request::post(
                        "/v1/models/iris/predict",
                        r#"{"features":[6.7,3.0,5.2,2.3]}"#,
                    )
                    .send(data);
                    let version = r.header("x-model-version").unwrap_or("").to_owned();
                    seen.lock()
                        .unwrap()
                        .push((start, Instant::now(), r.status, version));
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    let mut epochs = vec![Epoch {
        from: t0,
        acked: t0,
        allowed: allowed(&node.service()),
    }];
    let changes: Vec<Request> = (0..3)
        .flat_map(|i| {
            [
                Request::new("POST", &format!("/update-model?version=u{i}"))
                    .body(model("iris-v2.onnx")),
                post("/set-canary-ratio", json!({"ratio": 0.3})),
                post("/set-canary-ratio", json!({"ratio": 0.7})),
                Request::new("POST", "/accept-next-model"),
                Request::new("POST", "/rollback"),
            ]
        })
        .collect();
    for change in changes {
        std::thread::sleep(Duration::from_millis(40));
        let from = Instant::now();
        let r = node.admin(change);
        assert_eq!(r.status, 200, "{}", r.text());
        epochs.push(Epoch {
            from,
            acked: Instant::now(),
            allowed: allowed(&r.json()),
        });
    }
    stop.store(true, Ordering::Relaxed);
    clients.into_iter().for_each(|c| c.join().unwrap());
    let seen = seen.lock().unwrap();
    assert!(
        seen.len() >= 400,
        "load too thin to mean anything: {}",
        seen.len()
    );
    let failed: Vec<_> = seen.iter().filter(|s| s.2 != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        seen.len(),
        &failed[..failed.len().min(5)]
    );
    for (start, end, _, version) in seen.iter() {
        let ok = epochs.iter().enumerate().any(|(i, e)| {
            let until = epochs.get(i + 1).map(|next| next.acked);
            e.from <= *end && until.is_none_or(|u| u >= *start) && e.allowed.contains(version)
        });
        assert!(
            ok,
            "{version} answered a request no route table in effect allowed"
        );
    }
}

/// Runs a CLI verb against a node; returns (exit code, stdout, stderr).
#[test]
fn cli_verbs_drive_the_gateway() {
    let dir = TempDir::new();
    let node = Rollgate::on(&dir, "a.log", &[]);
    let model_path = workspace_root().join("models/iris-v2.onnx");
    let (code, out, err) = node.cli(&[
        "update-model",
        model_path.to_str().unwrap(),
        "--version",
        "v5",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("v5"), "{out}");
    let (code, out, _) = node.cli(&["set-ratio", "0.2", "-o", "json"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["route"]["weights"], json!({"v1": 80.0, "v5": 20.0}));
    let (code, out, _) = node.cli(&["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("candidate") && out.contains("80"), "{out}");
    assert_eq!(node.cli(&["promote", "--service", "iris"]).0, 0);
    assert_eq!(node.service()["stable"], "v5");
    assert_eq!(node.cli(&["rollback"]).0, 0);
    assert_eq!(node.service()["stable"], "v1");
    let (code, out, _) = node.cli(&[
        "versions",
        "add",
        "iris",
        "remote",
        "--upstream",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = node.cli(&["versions", "list", "iris", "-o", "json"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"remote\""), "{out}");
    assert_eq!(node.cli(&["versions", "rm", "iris", "remote"]).0, 0);
    let (code, out, _) = node.cli(&["events", "--limit", "3", "-o", "json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["events"][0]["kind"],
        "version_removed"
    );
    let (code, _, err) = node.cli(&["set-ratio", "2"]);
    assert_eq!(code, 1, "refused by the server: {err}");
    let (code, _, err) = node.cli(&["rollback", "--service", "nope"]);
    assert_eq!(code, 1, "{err}");
    let unreachable = common::command()
        .args(["--admin-url", "http://127.0.0.1:9", "status"])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(3), "unreachable server");
    let (code, out, _) = node.cli(&["completions", "bash"]);
    assert!(code == 0 && out.contains("rollgate"), "completions");
}

#[test]
fn a_token_protects_the_control_api() {
    let dir = TempDir::new();
    let mut serve = serve_command(&dir);
    serve.env("ROLLGATE_ADMIN_TOKEN", "s3cret");
    let node = Rollgate::from_command(serve);
    assert_eq!(node.admin(Request::get("/api/v1/services")).status, 401);
    assert_eq!(
        node.admin(Request::get("/api/v1/services").header("authorization", "Bearer wrong"))
            .status,
        401
    );
    assert_eq!(
        node.admin(Request::get("/api/v1/services").header("authorization", "Bearer s3cret"))
            .status,
        200
    );
    assert_eq!(
        node.admin(Request::get("/api/v1/health")).status,
        200,
        "health needs no token"
    );
}
