//! Late ground truth: labels posted to `/v1/feedback` are joined to the answers by request id,
//! and each version is credited with exactly the rows it got right; a mirrored candidate is
//! compared with stable on the same requests and credited through the same labels.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::{Request, Response};
use common::metrics::scrape;
use common::{eventually, Rollgate};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

const SPLIT: &str = r#"
services:
  iris:
    input_width: 4
    output: { classes: [setosa, versicolor, virginica] }
    versions:
      v1: { onnx: "builtin:iris-v1" }
      bad: { onnx: "builtin:iris-bad" }
    route:
      stable: v1
      weights: { v1: 50, bad: 50 }
"#;

const SHADOW: &str = r#"
services:
  iris:
    input_width: 4
    output: { classes: [setosa, versicolor, virginica] }
    versions:
      v1: { onnx: "builtin:iris-v1" }
      bad: { onnx: "builtin:iris-bad" }
    route:
      stable: v1
      weights: { v1: 100 }
      mirror: { to: bad, percent: 100 }
"#;

fn predict(addr: SocketAddr, id: &str, row: [f32; 4]) -> Response {
    let body = json!({ "instances": [row] }).to_string();
    Request::post("/v1/models/iris/predict", body)
        .header("x-request-id", id)
        .send(addr)
}

fn feedback(addr: SocketAddr, body: Value) -> Response {
    Request::post("/v1/feedback", body.to_string()).send(addr)
}

#[test]
fn labels_credit_the_version_that_answered() {
    let gw = Rollgate::start(SPLIT);
    let mut expected = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for (i, (row, truth)) in common::iris_rows("iris-eval.csv").into_iter().enumerate() {
        let id = format!("req-{i}");
        let r = predict(gw.data, &id, row);
        assert_eq!(r.status, 200, "{}", r.text());
        let label = r.json()["predictions"][0]["label"].as_i64().unwrap();
        let e = expected.entry(r.version()).or_default();
        e.0 += 1;
        e.1 += u64::from(label == truth);
        let names = ["setosa", "versicolor", "virginica"];
        let f = feedback(
            gw.data,
            json!({"request_id": id, "label": names[truth as usize]}),
        );
        assert_eq!(f.status, 200, "{}", f.text());
        assert_eq!(f.json()["version"], r.version());
        assert_eq!(f.json()["correct"], json!([label == truth]));
    }
    assert_eq!(expected.len(), 2, "both versions served: {expected:?}");
    let m = scrape(gw.data);
    for (version, (labelled, correct)) in &expected {
        let l = [("service", "iris"), ("version", version.as_str())];
        assert_eq!(
            m.value("rollgate_labelled_predictions_total", &l),
            *labelled as f64
        );
        assert_eq!(
            m.value("rollgate_correct_predictions_total", &l),
            *correct as f64
        );
    }
    let (v1, bad) = (expected["v1"], expected["bad"]);
    let acc = |(n, k): (u64, u64)| k as f64 / n as f64;
    assert!(acc(v1) > acc(bad) + 0.2, "v1 {v1:?} vs bad {bad:?}");
}

#[test]
fn duplicates_are_idempotent_and_unknown_ids_are_404() {
    let gw = Rollgate::start(SPLIT);
    let r = predict(gw.data, "once", [5.1, 3.5, 1.4, 0.2]);
    assert_eq!(r.status, 200);
    let first = feedback(
        gw.data,
        json!({"request_id": "once", "label": 0, "reward": 1.0}),
    );
    assert_eq!(first.json()["duplicate"], false);
    let again = feedback(
        gw.data,
        json!({"request_id": "once", "label": 0, "reward": 1.0}),
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["duplicate"], true);
    let m = scrape(gw.data);
    let version = r.version();
    let l = [("service", "iris"), ("version", version.as_str())];
    assert_eq!(m.value("rollgate_labelled_predictions_total", &l), 1.0);
    assert_eq!(m.value("rollgate_rewards_total", &l), 1.0);

    let unknown = feedback(gw.data, json!({"request_id": "never", "label": 0}));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "unknown_request");
    for (body, code) in [
        (json!({"request_id": "once"}), "bad_feedback"),
        (json!({"request_id": "once", "label": "tulip"}), "bad_label"),
        (json!({"request_id": "once", "label": [0, 1]}), "bad_label"),
        (json!({"id": "once", "label": 0}), "bad_json"),
    ] {
        let r = feedback(gw.data, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(r.error_code(), code, "{body}");
    }
}

#[test]
fn a_shadow_candidate_is_compared_and_credited_on_the_same_requests() {
    let gw = Rollgate::start(SHADOW);
    let rows = common::iris_rows("iris-eval.csv");
    for (i, (row, _)) in rows.iter().enumerate() {
        let r = predict(gw.data, &format!("s-{i}"), *row);
        assert_eq!(r.version(), "v1", "users only ever see stable");
    }
    let bad = [("service", "iris"), ("version", "bad")];
    let n = rows.len() as f64;
    assert!(
        eventually(Duration::from_secs(10), || {
            scrape(gw.data).value("rollgate_shadow_compared_total", &bad) == n
        }),
        "every mirrored row compared"
    );
    let m = scrape(gw.data);
    assert!(m.value("rollgate_shadow_disagreements_total", &bad) > 0.0);
    for (i, (_, truth)) in rows.iter().enumerate() {
        let f = feedback(
            gw.data,
            json!({"request_id": format!("s-{i}"), "label": truth}),
        );
        assert_eq!(f.status, 200, "{}", f.text());
    }
    let m = scrape(gw.data);
    assert_eq!(m.value("rollgate_labelled_predictions_total", &bad), n);
    let v1 = [("service", "iris"), ("version", "v1")];
    assert!(
        m.value("rollgate_correct_predictions_total", &v1)
            > m.value("rollgate_correct_predictions_total", &bad)
    );
}
