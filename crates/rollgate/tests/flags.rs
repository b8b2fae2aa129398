//! Feature flags through the real binary: a user list and 10% of everyone else reach the
//! candidate, sticky per user; a flag change through the API takes effect at once and is in
//! the event log.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::Request;
use common::Rollgate;
use common::TempDir;
use serde_json::json;

const CONFIG: &str = r#"
services:
  iris:
    input_width: 4
    versions:
      v1: { onnx: "builtin:iris-v1" }
      v2: { onnx: "builtin:iris-v2" }
    route:
      stable: v1
      weights: { v1: 100 }
    flags:
      route_by: new-model
      flags:
        new-model:
          enabled: true
          variants: { stable: v1, candidate: v2 }
          default_variant: stable
          off_variant: stable
          targets:
            candidate: [alice, bob]
          rules:
            - serve:
                rollout:
                  percent: { stable: 90, candidate: 10 }
"#;

fn version_for(node: &Rollgate, user: &str) -> String {
    Request::post(
        "/v1/models/iris/predict",
        r#"{"features": [5.1, 3.5, 1.4, 0.2]}"#,
    )
    .header("x-user-id", user)
    .send(node.data)
    .version()
}

#[test]
fn a_flag_routes_a_user_list_and_ten_percent_sticky() {
    let dir = TempDir::new();
    let path = dir.write("rollgate.yaml", CONFIG);
    let node = Rollgate::on(&dir, "gw.log", &["--config", path.to_str().unwrap()]);
    for user in ["alice", "bob"] {
        assert_eq!(version_for(&node, user), "v2", "{user} is targeted");
    }
    let users = 2000;
    let mut on_candidate = Vec::new();
    for i in 0..users {
        if version_for(&node, &format!("user-{i}")) == "v2" {
            on_candidate.push(i);
        }
    }
    let share = on_candidate.len() as f64 / f64::from(users);
    // 10% of 2000: σ ≈ 0.0067; 5σ either side.
    assert!(
        (share - 0.10).abs() < 0.034,
        "share on the candidate {share}"
    );
    for i in on_candidate.iter().take(50) {
        assert_eq!(version_for(&node, &format!("user-{i}")), "v2", "sticky");
    }

    let current = node
        .admin(Request::get("/api/v1/services/iris/flags"))
        .json();
    let mut flags = current["flags"].clone();
    flags["flags"]["new-model"]["enabled"] = json!(false);
    let put = Request::new("PUT", "/api/v1/services/iris/flags")
        .body(json!({"flags": flags}).to_string());
    let r = node.admin(put);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(version_for(&node, "alice"), "v1", "the flag is off at once");
    let events = node
        .admin(Request::get("/api/v1/events?service=iris"))
        .json();
    assert_eq!(events["events"][0]["kind"], "flags_set");

    let mut bad = flags.clone();
    bad["flags"]["new-model"]["variants"]["candidate"] = json!("v9");
    let r = node.admin(
        Request::new("PUT", "/api/v1/services/iris/flags").body(json!({"flags": bad}).to_string()),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error_message().contains("v9"), "{}", r.error_message());
}
