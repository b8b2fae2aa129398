//! The control API refuses bad requests with the JSON error document and a precise status,
//! and a refused request changes nothing: no stored state, no event, no blob.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::Request;
use common::node::{model, post};
use common::Rollgate;
use common::TempDir;
use serde_json::json;

fn events(node: &Rollgate) -> usize {
    let r = node.admin(Request::get("/api/v1/events?limit=500"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["events"].as_array().unwrap().len()
}

/// Model blobs in the store, read straight from its SQLite file (WAL mode lets a reader in
/// beside the running gateway): the API shows versions, not orphaned blobs.
fn blobs(dir: &TempDir) -> usize {
    let db = dir.path().join("data").join("rollgate.db");
    let out = std::process::Command::new("python3")
        .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from blobs').fetchone()[0])"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn framework_refusals_answer_json() {
    let dir = TempDir::new();
    let node = Rollgate::on(&dir, "gw.log", &[]);
    for path in ["/api/v1/events?limit=-1", "/api/v1/events?before=x"] {
        let r = node.admin(Request::get(path));
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.error_code(), "bad_request", "{path}");
        assert!(r.error_message().contains("query"), "{}", r.error_message());
    }
    let r = node.admin(Request::new("DELETE", "/api/v1/events"));
    assert_eq!(r.status, 405);
    assert_eq!(r.error_code(), "method_not_allowed");
    assert!(r.header("allow").is_some(), "405 keeps its Allow header");
}

#[test]
fn reads_carry_the_revision_as_an_etag_and_if_match_is_checked() {
    let dir = TempDir::new();
    let node = Rollgate::on(&dir, "gw.log", &[]);
    let r = node.admin(Request::get("/api/v1/services/iris"));
    let rev = r.json()["revision"].as_u64().unwrap();
    assert_eq!(r.header("etag"), Some(format!("\"{rev}\"").as_str()));

    let stale = format!("\"{}\"", rev + 7);
    let r = node.admin(post("/set-canary-ratio", json!({"ratio": 0.1})).header("if-match", &stale));
    assert_eq!(r.status, 409, "{}", r.text());
    let r = node.admin(
        post("/set-canary-ratio", json!({"ratio": 0.1, "revision": rev}))
            .header("if-match", &stale),
    );
    assert_eq!(r.status, 400, "body and If-Match disagree: {}", r.text());
    assert_eq!(r.error_code(), "bad_revision");
    let r = node.admin(post("/set-canary-ratio", json!({"ratio": 0.1})).header("if-match", "*"));
    assert_eq!(
        r.status,
        200,
        "If-Match: * means any revision: {}",
        r.text()
    );
}

#[test]
fn a_stale_upload_is_refused_before_its_model_is_stored() {
    let dir = TempDir::new();
    let node = Rollgate::on(&dir, "gw.log", &[]);
    let (before_events, before_blobs) = (events(&node), blobs(&dir));
    let r = node.admin(
        Request::post("/update-model?version=v9", model("iris-v2.onnx"))
            .header("content-type", "application/octet-stream")
            .header("if-match", "\"999\""),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(events(&node), before_events);
    assert_eq!(blobs(&dir), before_blobs, "a refused upload stored no blob");
}

#[test]
fn a_taken_upstream_name_is_a_conflict() {
    let dir = TempDir::new();
    let node = Rollgate::on(&dir, "gw.log", &[]);
    let body = json!({"name": "v1", "http": {"instances": ["http://127.0.0.1:9"]}});
    let r = node.admin(
        post("/api/v1/services/iris/versions", body).header("content-type", "application/json"),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.error_code(), "version_exists");
}

#[test]
fn a_route_whose_candidate_is_its_stable_is_refused() {
    let dir = TempDir::new();
    let node = Rollgate::on(&dir, "gw.log", &[]);
    let route = json!({"route": {"stable": "v1", "candidate": "v1", "weights": {"v1": 100}}});
    let r = node.admin(Request::new("PUT", "/api/v1/services/iris/route").body(route.to_string()));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code(), "bad_route");
    assert!(
        r.error_message().contains("must not be the stable"),
        "{}",
        r.error_message()
    );
}

#[test]
fn oversized_uploads_are_413_in_every_form() {
    let dir = TempDir::new();
    let config = dir.write(
        "small.yaml",
        "limits: { max_model_bytes: 2000 }\nservices:\n  iris:\n    input_width: 4\n    \
         versions:\n      v1: { onnx: \"builtin:iris-v1\" }\n    route:\n      weights: { v1: 100 }\n",
    );
    let node = Rollgate::on(&dir, "gw.log", &["--config", config.to_str().unwrap()]);
    let big = vec![b'x'; 10_000];
    let raw = Request::post("/update-model", big.clone())
        .header("content-type", "application/octet-stream");
    let boundary = "rollgateboundary";
    let mut form = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"m.onnx\"\r\n\
         content-type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&big);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let multipart = Request::post("/update-model", form).header(
        "content-type",
        &format!("multipart/form-data; boundary={boundary}"),
    );
    let json_body = post(
        "/set-canary-ratio",
        json!({"ratio": 0.1, "pad": "x".repeat(10_000)}),
    );
    for (what, req) in [("raw", raw), ("multipart", multipart), ("json", json_body)] {
        let r = node.admin(req);
        assert_eq!(r.status, 413, "{what}: {}", r.text());
        assert!(r.json()["error"]["code"].is_string(), "{what}: JSON error");
    }
}
