//! Routing through the real binary: weighted splits, overrides, pins and sticky keys.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::{post_json, Request};
use common::{Rollgate, IRIS_ROWS};
use serde_json::json;
use std::collections::HashMap;

/// Two bundled versions with the given weights and extra `route:` lines.
fn config(w1: u32, w2: u32, route_extra: &str) -> String {
    format!(
        r#"
services:
  iris:
    input_width: 4
    output: {{ classes: [setosa, versicolor, virginica] }}
    versions:
      v1: {{ onnx: "builtin:iris-v1" }}
      v2: {{ onnx: "builtin:iris-v2" }}
    route:
      stable: v1
      candidate: v2
      weights: {{ v1: {w1}, v2: {w2} }}
      overrides: {{ canary_header: x-canary, pin_cookie: rollgate-version }}
{route_extra}
"#
    )
}

fn body() -> String {
    json!({ "instances": [IRIS_ROWS[0]] }).to_string()
}

fn version_of(gw: &Rollgate, req: Request) -> String {
    let resp = req.send(gw.data);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let v = resp.version();
    assert_eq!(
        resp.json()["model_version"],
        v.as_str(),
        "header and body agree"
    );
    v
}

fn predict() -> Request {
    Request::post("/v1/models/iris/predict", body())
}

#[test]
fn weights_split_traffic_within_binomial_tolerance() {
    let gw = Rollgate::start(&config(90, 10, ""));
    let n = 2000u32;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..n {
        *counts.entry(version_of(&gw, predict())).or_default() += 1;
    }
    let v2 = f64::from(counts.get("v2").copied().unwrap_or(0));
    let (mean, sd) = (f64::from(n) * 0.1, (f64::from(n) * 0.1 * 0.9).sqrt());
    assert!(
        (v2 - mean).abs() <= 5.0 * sd,
        "v2 got {v2} of {n}; expected {mean} ± {:.0} (5 sigma): {counts:?}",
        5.0 * sd
    );
    assert_eq!(
        counts.values().sum::<u32>(),
        n,
        "only v1 and v2: {counts:?}"
    );
}

#[test]
fn canary_header_and_pin_cookie_override_weights() {
    let gw = Rollgate::start(&config(50, 50, ""));
    for _ in 0..20 {
        let always = predict().header("x-canary", "always");
        assert_eq!(
            version_of(&gw, always),
            "v2",
            "x-canary: always → candidate"
        );
        let never = predict().header("x-canary", "never");
        assert_eq!(version_of(&gw, never), "v1", "x-canary: never → stable");
        let pinned = predict().header("cookie", "theme=dark; rollgate-version=v2");
        assert_eq!(version_of(&gw, pinned), "v2", "pin cookie → v2");
        let pinned = predict().header("cookie", "rollgate-version=v1");
        assert_eq!(version_of(&gw, pinned), "v1", "pin cookie → v1");
    }
}

#[test]
fn candidate_at_zero_weight_is_reachable_by_override_only() {
    let gw = Rollgate::start(&config(100, 0, ""));
    for _ in 0..50 {
        assert_eq!(version_of(&gw, predict()), "v1");
    }
    let always = predict().header("x-canary", "always");
    assert_eq!(version_of(&gw, always), "v2");
}

/// Sends 20 requests for each of 50 users and checks each user always gets one version.
fn check_sticky(gw: &Rollgate, request_for: impl Fn(&str) -> Request) {
    let mut by_version: HashMap<String, u32> = HashMap::new();
    for u in 0..50 {
        let user = format!("user-{u}");
        let first = version_of(gw, request_for(&user));
        for _ in 1..20 {
            let again = version_of(gw, request_for(&user));
            assert_eq!(again, first, "{user} moved from {first} to {again}");
        }
        *by_version.entry(first).or_default() += 1;
    }
    assert_eq!(
        by_version.len(),
        2,
        "both versions get users: {by_version:?}"
    );
}

#[test]
fn sticky_by_header_keeps_each_user_on_one_version() {
    let gw = Rollgate::start(&config(50, 50, "      sticky: { header: x-user-id }"));
    check_sticky(&gw, |user| predict().header("x-user-id", user));
}

#[test]
fn sticky_by_cookie_keeps_each_user_on_one_version() {
    let gw = Rollgate::start(&config(50, 50, "      sticky: { cookie: uid }"));
    check_sticky(&gw, |user| {
        predict().header("cookie", &format!("a=b; uid={user}"))
    });
}

#[test]
fn sticky_by_json_field_keeps_each_user_on_one_version() {
    let gw = Rollgate::start(&config(50, 50, "      sticky: { json_field: user_id }"));
    check_sticky(&gw, |user| {
        let body = json!({ "user_id": user, "instances": [IRIS_ROWS[2]] });
        Request::post("/v1/models/iris/predict", body.to_string())
    });
    // The key in the body still leaves a valid prediction request.
    let body = json!({ "user_id": 7, "features": IRIS_ROWS[0] });
    let resp = post_json(gw.data, "/v1/models/iris/predict", &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["predictions"].as_array().unwrap().len(), 1);
}

#[test]
fn version_in_the_path_wins() {
    let gw = Rollgate::start(&config(100, 0, ""));
    let body = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                  "data": IRIS_ROWS[0]}]});
    for v in ["v1", "v2"] {
        let resp = post_json(
            gw.data,
            &format!("/v2/models/iris/versions/{v}/infer"),
            &body,
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.version(), v);
    }
}
