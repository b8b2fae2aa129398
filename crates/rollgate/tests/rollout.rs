//! Rollouts end to end through the real binary: a canary of the better model is promoted, a
//! canary of the bad model is rolled back early with an incident report, a blue/green switch
//! runs its smoke checks, an operator abort and a manual intervention act at once, and a
//! rollout survives `kill -9` at the same step.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::Request;
use common::upstream::{Mode, Upstreams};
use common::users::Traffic;
use common::Rollgate;
use common::{eventually, TempDir};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// Fast ticks, a quality template judging accuracy from labels, and a webhook receiver.
fn config(candidate: &str, webhook: Option<SocketAddr>) -> String {
    let hooks = webhook.map_or(String::new(), |a| {
        format!("  webhooks: [\"http://{a}/hook\"]\n  webhook_backoff_ms: 50\n")
    });
    format!(
        r#"
rollouts:
  tick_ms: 100
{hooks}  templates:
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
    output: {{ classes: [setosa, versicolor, virginica] }}
    versions:
      v1: {{ onnx: "builtin:iris-v1" }}
      {candidate}: {{ onnx: "builtin:iris-{candidate}" }}
    route:
      stable: v1
      candidate: {candidate}
      weights: {{ v1: 100 }}
"#
    )
}

fn start(dir: &TempDir, candidate: &str, webhook: Option<SocketAddr>) -> Rollgate {
    let path = dir.write("rollgate.yaml", config(candidate, webhook));
    Rollgate::on(dir, "gw.log", &["--config", path.to_str().unwrap()])
}

fn begin(node: &Rollgate, plan: &str) -> Value {
    let r = node.admin(
        Request::post("/api/v1/services/iris/rollout", plan)
            .header("content-type", "application/yaml"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["rollout"].clone()
}

fn weight(node: &Rollgate, version: &str) -> String {
    let svc = node.service();
    let v = svc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .unwrap()
        .clone();
    v["weight_percent"].as_str().unwrap().to_owned()
}

const CANARY: &str = "steps:\n  - canary: {steps: [20, 50], hold: 2s, analysis: quality}\n";

#[test]
fn a_canary_of_the_better_model_is_promoted() {
    let dir = TempDir::new();
    let node = start(&dir, "v2", None);
    let _traffic = Traffic::start(node.data, "t");
    begin(&node, CANARY);
    let done = node.wait_phase("iris", &["promoted", "rolled_back", "aborted"], 90);
    assert_eq!(done["phase"], "promoted", "{done:#}");
    assert_eq!(node.service()["stable"], "v2");
    assert_eq!(weight(&node, "v2"), "100");
    assert!(done["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["outcome"] == "pass"));
}

#[test]
fn a_canary_of_the_bad_model_is_rolled_back_with_a_report() {
    let dir = TempDir::new();
    let node = start(&dir, "bad", None);
    let _traffic = Traffic::start(node.data, "t");
    begin(&node, CANARY);
    let done = node.wait_phase("iris", &["promoted", "rolled_back", "aborted"], 90);
    assert_eq!(done["phase"], "rolled_back", "{done:#}");
    assert_eq!(
        done["step"], 1,
        "failed at the first stage's analysis: {done:#}"
    );
    assert_eq!(weight(&node, "bad"), "0");
    assert_eq!(node.service()["stable"], "v1");
    let report = &done["report"];
    assert!(
        report["text"].as_str().unwrap().contains("INCIDENT"),
        "{report:#}"
    );
    let failed = report["failed_checks"].as_array().unwrap();
    assert!(
        failed.iter().any(|c| c["metric"] == "accuracy"),
        "{report:#}"
    );
}

#[test]
fn abort_and_manual_intervention_act_at_once() {
    let dir = TempDir::new();
    let node = start(&dir, "v2", None);
    begin(&node, "steps:\n  - canary: {steps: [10, 50], hold: 1h}\n");
    node.wait_phase("iris", &["progressing", "analysing"], 10);
    assert!(eventually(Duration::from_secs(5), || weight(&node, "v2") == "10"));
    let (code, out, err) = node.cli(&["status", "iris"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("rollout canary") && out.contains("candidate 10%"),
        "{out}"
    );
    let (code, out, _) = node.cli(&["rollout", "status", "iris"]);
    assert_eq!(code, 0);
    assert!(out.contains("▶"), "the current step is marked: {out}");
    let (code, _, err) = node.cli(&["rollout", "promote", "iris"]);
    assert_eq!(code, 2, "promote without --full is a usage error: {err}");
    let r = node.admin(Request::post(
        "/set-canary-ratio",
        json!({"ratio": 0.3}).to_string(),
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let paused = node.wait_phase("iris", &["paused"], 10);
    assert!(
        paused["phase_detail"]
            .to_string()
            .contains("set-canary-ratio"),
        "{paused:#}"
    );
    assert_eq!(weight(&node, "v2"), "30", "the operator's ratio is kept");
    let r = node.admin(Request::post("/api/v1/services/iris/rollout/abort", ""));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rollout"]["phase"], "aborted");
    assert_eq!(weight(&node, "v2"), "0");
    let again = node.admin(Request::post("/api/v1/services/iris/rollout/abort", ""));
    assert_eq!(again.status, 409);
}

#[test]
fn a_rollout_continues_at_the_same_step_after_kill_9() {
    let dir = TempDir::new();
    let node = start(&dir, "v2", None);
    begin(
        &node,
        "steps:\n  - set_weight: \"25%\"\n  - pause: {}\n  - set_weight: \"60%\"\n",
    );
    let before = node.wait_phase("iris", &["paused"], 10);
    assert_eq!(weight(&node, "v2"), "25");
    node.kill9();
    let node = start(&dir, "v2", None);
    let after = node.rollout();
    assert_eq!(after["phase"], "paused");
    assert_eq!(after["step"], before["step"]);
    assert_eq!(weight(&node, "v2"), "25");
    let r = node.admin(Request::post("/api/v1/services/iris/rollout/approve", ""));
    assert_eq!(r.status, 200, "{}", r.text());
    node.wait_phase("iris", &["promoted"], 10);
}

#[test]
fn blue_green_smoke_checks_gate_the_switch_and_webhooks_are_delivered() {
    let upstreams = Upstreams::new();
    let receiver = upstreams.spawn("hooks", Mode::Echo);
    let dir = TempDir::new();
    let node = start(&dir, "v2", Some(receiver.addr));
    let plan = r#"
steps:
  - blue_green:
      preview_header: x-preview
      smoke:
        - body: '{"features": [5.1, 3.5, 1.4, 0.2]}'
          expect_prediction: setosa
      rollback_window: 1s
      unload_blue: false
"#;
    let traffic = Traffic::start(node.data, "t");
    begin(&node, plan);
    let done = node.wait_phase("iris", &["promoted", "rolled_back"], 30);
    assert_eq!(done["phase"], "promoted", "{done:#}");
    assert_eq!(node.service()["stable"], "v2");
    // The instant switch back: the old version was kept loaded (`unload_blue: false`).
    let back = node.admin(Request::post("/rollback", ""));
    assert_eq!(back.status, 200, "{}", back.text());
    assert_eq!(node.service()["stable"], "v1");
    let sent = traffic.finish();
    assert!(sent > 20, "load ran through both switches: {sent} requests");
    let bodies = || -> Vec<Value> {
        receiver
            .seen()
            .iter()
            .map(|s| serde_json::from_slice(&s.body).unwrap())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || bodies()
            .iter()
            .any(|b| b["event"] == "promoted")),
        "the promoted webhook arrived: {:?}",
        bodies()
    );
    assert!(bodies().iter().any(|b| b["event"] == "pre_rollout"));
}

/// By default blue is unloaded once green is promoted after the rollback window: nothing
/// returns to it any more, and users see no failure while it goes.
#[test]
fn blue_green_unloads_blue_after_the_rollback_window() {
    let dir = TempDir::new();
    let node = start(&dir, "v2", None);
    let plan = r#"
steps:
  - blue_green:
      preview_header: x-preview
      rollback_window: 1s
"#;
    let traffic = Traffic::start(node.data, "t");
    begin(&node, plan);
    let done = node.wait_phase("iris", &["promoted", "rolled_back"], 30);
    assert_eq!(done["phase"], "promoted", "{done:#}");
    let names = || -> Vec<String> {
        node.service()["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || !names()
            .contains(&"v1".to_owned())),
        "blue unloaded: {:?}",
        names()
    );
    assert_eq!(node.service()["stable"], "v2");
    let sent = traffic.finish();
    assert!(
        sent > 20,
        "load ran through the switch and the unload: {sent}"
    );
    let back = node.admin(Request::post("/rollback", ""));
    assert_eq!(back.status, 409, "nothing to go back to: {}", back.text());
}
