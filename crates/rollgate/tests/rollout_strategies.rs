//! Shadow and A/B rollouts end to end: a shadow candidate's answers are compared and never
//! returned, and a slow one does not slow users down; an A/B test finds a known effect and
//! finds none where there is none.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::Request;
use common::metrics::scrape;
use common::upstream::{Mode, Upstreams};
use common::Rollgate;
use common::{eventually, TempDir};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn start(dir: &TempDir, candidate: &str) -> Rollgate {
    let config = format!(
        r#"
rollouts:
  tick_ms: 100
  templates:
    agreement:
      checks:
        - metric: shadow_disagreement
          max: 0.5
          min_samples: 20
    healthy:
      checks:
        - metric: error_rate
          max: 0.2
          min_samples: 20
        - metric: invalid_rate
          max: 0.2
          min_samples: 20
        - metric: drift_js
          max: 0.1
          min_samples: 20
services:
  iris:
    input_width: 4
    output: {{ classes: [setosa, versicolor, virginica] }}
    versions:
      v1: {{ onnx: "builtin:iris-v1" }}
      v2: {{ {candidate} }}
    route:
      stable: v1
      candidate: v2
      weights: {{ v1: 100 }}
"#
    );
    let path = dir.write("rollgate.yaml", config);
    Rollgate::on(dir, "gw.log", &["--config", path.to_str().unwrap()])
}

fn begin(node: &Rollgate, plan: &str) {
    let r = node.admin(Request::post("/api/v1/services/iris/rollout", plan));
    assert_eq!(r.status, 201, "{}", r.text());
}

/// Waits (bounded by `within`) for the rollout to end, and returns its last state.
fn ended(node: &Rollgate, within: Duration, what: &str) -> Value {
    let mut last = Value::Null;
    assert!(
        eventually(within, || {
            last = node.rollout();
            last["terminal"] == true
        }),
        "{what}: {last:#}"
    );
    last
}

fn predict(node: &Rollgate, id: &str) -> common::http::Response {
    Request::post(
        "/v1/models/iris/predict",
        r#"{"features": [6.0, 2.9, 4.5, 1.5]}"#,
    )
    .header("x-request-id", id)
    .send(node.data)
}

#[test]
fn shadow_answers_are_compared_never_returned_and_a_slow_candidate_delays_no_user() {
    let upstreams = Upstreams::new();
    let slow = upstreams.spawn("slow", Mode::Slow(Duration::from_millis(400)));
    let dir = TempDir::new();
    let node = start(
        &dir,
        &format!("http: {{ instances: [\"{}\"] }}", slow.url()),
    );
    begin(
        &node,
        "steps:\n  - mirror: \"100%\"\n  - pause: {duration: 1h}\n",
    );
    assert!(eventually(Duration::from_secs(5), || node.rollout()
        ["mirror_percent"]
        == "100"));
    for i in 0..40 {
        let started = Instant::now();
        let r = predict(&node, &format!("m-{i}"));
        let took = started.elapsed();
        assert_eq!(r.status, 200);
        assert_eq!(r.version(), "v1", "users only see stable");
        assert!(
            took < Duration::from_millis(400),
            "request {i} waited for the mirror: {took:?}"
        );
    }
    assert!(
        eventually(Duration::from_secs(10), || slow.arrived() >= 40),
        "the slow candidate received the copies: {}",
        slow.arrived()
    );
}

#[test]
fn shadow_divergence_of_an_onnx_candidate_is_measured_and_judged() {
    let dir = TempDir::new();
    let node = start(&dir, "onnx: \"builtin:iris-bad\"");
    begin(
        &node,
        "steps:\n  - shadow: {percent: 100, duration: 1s, analysis: agreement, min_requests: 20}\n",
    );
    for i in 0..60 {
        assert_eq!(predict(&node, &format!("s-{i}")).version(), "v1");
    }
    let svc = node.service();
    let v2 = svc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v2")
        .unwrap();
    assert!(
        v2["stats"]["shadow"]["compared"].as_u64().unwrap() > 0,
        "{v2:#}"
    );
    let mut last = Value::Null;
    assert!(
        eventually(Duration::from_secs(20), || {
            last = node.rollout();
            last["verdicts"].as_array().is_some_and(|v| !v.is_empty())
        }),
        "the shadow analysis reached a verdict: {last:#}"
    );
    assert!(
        last["verdicts"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("shadow"),
        "{last:#}"
    );
}

/// A shadow stage judged on the candidate's own health: its mirrored answers count as its
/// requests (for `min_requests`), errors, invalid outputs and output histogram.
#[test]
fn a_shadow_candidate_is_judged_on_its_mirrored_answers() {
    const PLAN: &str =
        "steps:\n  - shadow: {percent: 100, duration: 1s, analysis: healthy, min_requests: 20}\n";
    // A healthy candidate: the stage completes once 20 mirrored answers are in.
    let dir = TempDir::new();
    let node = start(&dir, "onnx: \"builtin:iris-v1\"");
    begin(&node, PLAN);
    for i in 0..40 {
        assert_eq!(predict(&node, &format!("h-{i}")).version(), "v1");
    }
    let last = ended(&node, Duration::from_secs(20), "the shadow stage completed");
    assert_eq!(last["phase"], "promoted", "{last:#}");
    let v2 = [("service", "iris"), ("version", "v2")];
    let metrics = scrape(node.data);
    assert!(metrics.sum("rollgate_shadow_requests_total", &v2) >= 20.0);
    assert!(
        metrics.sum("rollgate_predictions_total", &v2) >= 20.0,
        "the candidate's mirrored classes are counted (drift needs them)"
    );
    drop(node);

    // A failing HTTP candidate: rolled back on the errors of its mirrored copies.
    let upstreams = Upstreams::new();
    let failing = upstreams.spawn("failing", Mode::Fail);
    let dir = TempDir::new();
    let node = start(
        &dir,
        &format!("http: {{ instances: [\"{}\"] }}", failing.url()),
    );
    begin(&node, PLAN);
    for i in 0..40 {
        assert_eq!(
            predict(&node, &format!("f-{i}")).status,
            200,
            "users see stable"
        );
    }
    let last = ended(
        &node,
        Duration::from_secs(20),
        "the shadow analysis concluded",
    );
    assert_eq!(last["phase"], "rolled_back", "{last:#}");
    assert!(last.to_string().contains("error_rate"), "{last:#}");
    let failed = [
        ("service", "iris"),
        ("version", "v2"),
        ("kind", "upstream_5xx"),
    ];
    assert!(scrape(node.data).value("rollgate_shadow_errors_total", &failed) >= 1.0);
}

/// Runs an A/B test where v1 converts at `p1` and v2 at `p2` (deterministically interleaved),
/// after earlier stable traffic that must not count, and returns the concluded rollout.
fn ab(p1: f64, p2: f64) -> Value {
    let dir = TempDir::new();
    let node = start(&dir, "onnx: \"builtin:iris-v2\"");
    // Earlier traffic on stable, all converting: the test must judge only what follows.
    for i in 0..200 {
        let id = format!("before-{i}");
        predict(&node, &id);
        let fb = json!({"request_id": id, "reward": 1});
        Request::post("/v1/feedback", fb.to_string()).send(node.data);
    }
    begin(
        &node,
        "steps:\n  - ab_test: {variants: {v1: 50, v2: 50}, sample_size: 400, promote_winner: false}\n",
    );
    let mut seen = [0u64; 2];
    for i in 0..4000 {
        let id = format!("ab-{i}");
        let r = predict(&node, &id);
        let arm = usize::from(r.version() == "v2");
        seen[arm] += 1;
        let p = if arm == 0 { p1 } else { p2 };
        // The n-th visitor of an arm converts when the running rate is below p: exact rates.
        let converted = ((seen[arm] as f64) * p).floor() > (((seen[arm] - 1) as f64) * p).floor();
        let fb = json!({"request_id": id, "reward": u8::from(converted)});
        Request::post("/v1/feedback", fb.to_string()).send(node.data);
        if node.rollout()["terminal"] == true {
            break;
        }
    }
    ended(&node, Duration::from_secs(10), "the A/B test concluded")
}

#[test]
fn an_ab_test_finds_a_known_effect() {
    let r = ab(0.10, 0.25);
    assert_eq!(r["phase"], "concluded", "{r:#}");
    assert!(
        r["phase_detail"].as_str().unwrap().contains("winner v2"),
        "{r:#}"
    );
}

#[test]
fn an_ab_test_without_an_effect_names_no_winner() {
    let r = ab(0.20, 0.20);
    assert_eq!(r["phase"], "concluded", "{r:#}");
    assert!(
        r["phase_detail"]
            .as_str()
            .unwrap()
            .contains("without a winner"),
        "{r:#}"
    );
}
