//! HTTP upstream versions: forwarding as-is, the mapped path, retries on connection failure
//! only, timeouts, 5xx pass-through and passive ejection, and mirroring to an upstream.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::{predict, Request};
use common::metrics::scrape;
use common::upstream::{Mode, Upstream, Upstreams};
use common::{closed_port, eventually, Rollgate, IRIS_ROWS};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// A service whose only routed version is the HTTP version `remote` over `instances`.
fn remote_config(instances: &[String], timeout_ms: u64, eject_after: u32) -> String {
    let list = instances
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
limits: {{ max_body_bytes: 4096 }}
services:
  iris:
    input_width: 4
    versions:
      remote:
        http:
          instances: [{list}]
          predict_path: /predict
          request_timeout_ms: {timeout_ms}
          eject_after_failures: {eject_after}
          eject_for_ms: 30000
    route:
      weights: {{ remote: 100 }}
"#
    )
}

fn urls(ups: &[&Upstream]) -> Vec<String> {
    ups.iter().map(|u| u.url()).collect()
}

#[test]
fn answers_pass_through_with_gateway_headers() {
    let pool = Upstreams::new();
    let (a, b) = (pool.spawn("a", Mode::Echo), pool.spawn("b", Mode::Echo));
    let gw = Rollgate::start(&remote_config(&urls(&[&a, &b]), 2000, 5));

    let body = json!({ "instances": IRIS_ROWS }).to_string();
    let mut answered_by = HashMap::new();
    for i in 0..4 {
        let id = format!("req-{i}");
        let resp = Request::post("/v1/models/iris/predict?trace=1", body.clone())
            .header("x-custom", "hello")
            .header("x-request-id", &id)
            .send(gw.data);
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.header("x-model-version"), Some("remote"));
        assert_eq!(resp.header("x-request-id"), Some(id.as_str()));
        let upstream = resp.header("x-upstream").unwrap().to_owned();
        let doc = resp.json();
        assert_eq!(
            doc["instance"],
            upstream.as_str(),
            "the body is the upstream's own"
        );
        assert_eq!(doc["path"], "/predict", "the predict path is mapped");
        assert_eq!(doc["query"], "trace=1", "the query string is kept");
        assert_eq!(doc["method"], "POST");
        assert_eq!(doc["x_custom"], "hello", "client headers are forwarded");
        assert_eq!(
            doc["request_id"],
            id.as_str(),
            "the request id is forwarded"
        );
        assert_eq!(doc["body_len"], body.len(), "the body is forwarded whole");
        *answered_by.entry(upstream).or_insert(0) += 1;
    }
    assert_eq!(
        answered_by.len(),
        2,
        "round-robin over both: {answered_by:?}"
    );

    assert_eq!(a.seen().len() + b.seen().len(), 4);
    for up in [&a, &b] {
        for s in up.seen() {
            assert_eq!(
                s.body,
                body.as_bytes(),
                "the upstream got the client's body"
            );
            assert!(s
                .headers
                .get("x-request-id")
                .is_some_and(|v| v.starts_with("req-")));
            let host = up.addr.to_string();
            assert_eq!(
                s.headers.get("host"),
                Some(&host),
                "Host names the instance"
            );
        }
    }

    // Without a client id, the gateway's own id reaches the upstream and the client alike.
    let resp = predict(gw.data, "iris", &IRIS_ROWS);
    let id = resp.header("x-request-id").unwrap().to_owned();
    assert_eq!(resp.json()["request_id"], id.as_str());

    // Open Inference requests keep their path when no `infer_path` is set.
    let resp = Request::post("/v2/models/iris/infer", "{}").send(gw.data);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["path"], "/v2/models/iris/infer");
}

/// A model server's JSON answer is passed on unchanged and read on the way: its classes are
/// counted per version, labels are judged against it, and an answer that claims to be JSON
/// but is not counts as an invalid output.
#[test]
fn an_upstream_answer_is_read_for_classes_accuracy_and_invalid_outputs() {
    const ANSWER: &str = r#"{"predictions": [{"class": "versicolor", "score": 0.9}]}"#;
    let pool = Upstreams::new();
    let good = pool.spawn("good", Mode::Answer(ANSWER));
    let config = remote_config(&urls(&[&good]), 2000, 5).replace(
        "    input_width: 4\n",
        "    input_width: 4\n    output: { classes: [setosa, versicolor, virginica] }\n",
    );
    let gw = Rollgate::start(&config);
    for (i, label) in ["versicolor", "setosa", "versicolor", "virginica"]
        .iter()
        .enumerate()
    {
        let id = format!("req-{i}");
        let resp = Request::post(
            "/v1/models/iris/predict",
            json!({"instances": [IRIS_ROWS[0]]}).to_string(),
        )
        .header("x-request-id", &id)
        .send(gw.data);
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.text(), ANSWER, "the answer is the upstream's own");
        let fb = Request::post(
            "/v1/feedback",
            json!({"request_id": id, "label": label}).to_string(),
        )
        .send(gw.data);
        assert_eq!(fb.status, 200, "{}", fb.text());
        assert_eq!(fb.json()["correct"], json!([*label == "versicolor"]));
    }
    let m = scrape(gw.data);
    let l = [("service", "iris"), ("version", "remote")];
    let class = [l[0], l[1], ("class", "versicolor")];
    assert_eq!(m.value("rollgate_predictions_total", &class), 4.0);
    assert_eq!(m.value("rollgate_labelled_predictions_total", &l), 4.0);
    assert_eq!(m.value("rollgate_correct_predictions_total", &l), 2.0);
    assert_eq!(m.sum("rollgate_invalid_predictions_total", &l), 0.0);
    drop(gw);

    let broken = pool.spawn("broken", Mode::Answer("{\"predictions\": [1"));
    let gw = Rollgate::start(&remote_config(&urls(&[&broken]), 2000, 5));
    let resp = predict(gw.data, "iris", &IRIS_ROWS[..1]);
    assert_eq!(resp.status, 200, "passed on as the upstream sent it");
    let m = scrape(gw.data);
    assert_eq!(m.sum("rollgate_invalid_predictions_total", &l), 1.0);
}

#[test]
fn connection_failures_are_retried_on_another_instance() {
    let pool = Upstreams::new();
    let live = pool.spawn("live", Mode::Echo);
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let gw = Rollgate::start(&remote_config(&[dead, live.url()], 2000, 1000));
    for _ in 0..50 {
        let resp = predict(gw.data, "iris", &IRIS_ROWS);
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.header("x-upstream"), Some("live"));
    }
    assert_eq!(
        live.arrived(),
        50,
        "each request reached the live instance once"
    );
    let m = scrape(gw.data);
    let l = [("service", "iris"), ("version", "remote")];
    assert_eq!(m.value("rollgate_requests_total", &l), 50.0);
    assert_eq!(
        m.sum("rollgate_request_errors_total", &l),
        0.0,
        "a retried connection failure is not an error"
    );
}

#[test]
fn every_instance_down_is_502_upstream_unavailable() {
    let dead: Vec<String> = (0..2)
        .map(|_| format!("http://127.0.0.1:{}", closed_port()))
        .collect();
    let gw = Rollgate::start(&remote_config(&dead, 2000, 1000));
    let resp = predict(gw.data, "iris", &IRIS_ROWS);
    assert_eq!(resp.status, 502, "{}", resp.text());
    assert_eq!(resp.error_code(), "upstream_unavailable");
    assert_eq!(resp.header("x-model-version"), Some("remote"));
    let m = scrape(gw.data);
    let l = [
        ("service", "iris"),
        ("version", "remote"),
        ("kind", "unavailable"),
    ];
    assert_eq!(m.value("rollgate_request_errors_total", &l), 1.0);
}

#[test]
fn slow_upstream_times_out_without_retry() {
    let pool = Upstreams::new();
    let slow = Duration::from_millis(2500);
    let (a, b) = (
        pool.spawn("a", Mode::Slow(slow)),
        pool.spawn("b", Mode::Slow(slow)),
    );
    let gw = Rollgate::start(&remote_config(&urls(&[&a, &b]), 500, 1000));
    for _ in 0..3 {
        let resp = predict(gw.data, "iris", &IRIS_ROWS);
        assert_eq!(resp.status, 504, "{}", resp.text());
        assert_eq!(resp.error_code(), "upstream_timeout");
        assert_eq!(resp.header("x-model-version"), Some("remote"));
    }
    // Each request reached an upstream once; none was sent a second time.
    let arrived = || a.arrived() + b.arrived();
    assert!(eventually(Duration::from_secs(2), || arrived() >= 3));
    assert_eq!(arrived(), 3, "a: {}, b: {}", a.arrived(), b.arrived());
    let m = scrape(gw.data);
    let l = [
        ("service", "iris"),
        ("version", "remote"),
        ("kind", "timeout"),
    ];
    assert_eq!(m.value("rollgate_request_errors_total", &l), 3.0);
}

#[test]
fn upstream_5xx_is_returned_as_is_and_counted() {
    let pool = Upstreams::new();
    let failing = pool.spawn("failing", Mode::Fail);
    let gw = Rollgate::start(&remote_config(&[failing.url()], 2000, 1000));
    for _ in 0..4 {
        let resp = predict(gw.data, "iris", &IRIS_ROWS);
        assert_eq!(resp.status, 500);
        assert_eq!(resp.json(), json!({"detail": "boom from failing"}));
        assert_eq!(resp.header("x-upstream"), Some("failing"));
        assert_eq!(resp.header("x-model-version"), Some("remote"));
        assert!(resp.header("x-request-id").is_some());
    }
    assert_eq!(failing.arrived(), 4, "a 5xx answer is not retried");
    let m = scrape(gw.data);
    let l = [("service", "iris"), ("version", "remote")];
    assert_eq!(
        m.value(
            "rollgate_request_errors_total",
            &[l[0], l[1], ("kind", "upstream_5xx")]
        ),
        4.0
    );
    assert_eq!(m.value("rollgate_requests_total", &l), 4.0);
}

#[test]
fn failing_instance_is_ejected_after_consecutive_failures() {
    let pool = Upstreams::new();
    let bad = pool.spawn("bad", Mode::Fail);
    let good = pool.spawn("good", Mode::Echo);
    let gw = Rollgate::start(&remote_config(&urls(&[&bad, &good]), 2000, 3));
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(predict(gw.data, "iris", &IRIS_ROWS).status);
    }
    assert_eq!(
        bad.arrived(),
        3,
        "the failing instance is ejected after 3 failures in a row: {statuses:?}"
    );
    assert_eq!(good.arrived(), 27);
    assert_eq!(
        statuses.iter().filter(|&&s| s == 500).count(),
        3,
        "{statuses:?}"
    );
    assert!(
        statuses[6..].iter().all(|&s| s == 200),
        "after the ejection every answer is good: {statuses:?}"
    );
}

#[test]
fn body_over_the_limit_is_413_before_the_upstream() {
    let pool = Upstreams::new();
    let up = pool.spawn("up", Mode::Echo);
    let gw = Rollgate::start(&remote_config(&[up.url()], 2000, 1000));
    let resp = Request::post("/v1/models/iris/predict", Vec::new()).send_head_only(gw.data, 5000);
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert_eq!(resp.error_code(), "body_too_large");

    // A chunked body has no declared length: the limit applies while it streams.
    let chunk = vec![b' '; 1024];
    let chunks: Vec<&[u8]> = std::iter::repeat_n(chunk.as_slice(), 6).collect();
    let resp = Request::post("/v1/models/iris/predict", Vec::new()).send_chunked(gw.data, &chunks);
    assert_eq!(
        resp.status,
        413,
        "a client mistake, never a 5xx: {}",
        resp.text()
    );
    assert_eq!(resp.error_code(), "body_too_large");

    // A small chunked body is forwarded whole.
    let resp = Request::post("/v1/models/iris/predict", Vec::new())
        .send_chunked(gw.data, &[b"{\"instances\": ", b"[[1, 2, 3, 4]]}"]);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["body_len"], 29);
    assert_eq!(up.arrived(), 1, "refused bodies never reach the upstream");
}

#[test]
fn mirror_copies_go_to_the_upstream_and_answers_stay_stable() {
    let pool = Upstreams::new();
    let shadow = pool.spawn("shadow", Mode::Echo);
    let config = format!(
        r#"
services:
  iris:
    input_width: 4
    output: {{ classes: [setosa, versicolor, virginica] }}
    versions:
      v1: {{ onnx: "builtin:iris-v1" }}
      remote:
        http:
          instances: ["{}"]
          predict_path: /predict
          request_timeout_ms: 2000
    route:
      stable: v1
      weights: {{ v1: 100 }}
      mirror: {{ to: remote, percent: 100 }}
"#,
        shadow.url()
    );
    let gw = Rollgate::start(&config);
    let n = 20;
    let mut ids = Vec::new();
    for _ in 0..n {
        let resp = Request::post(
            "/v1/models/iris/predict",
            json!({ "instances": IRIS_ROWS }).to_string(),
        )
        .header("x-custom", "mirrored")
        .send(gw.data);
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.header("x-model-version"), Some("v1"));
        assert!(
            resp.header("x-upstream").is_none(),
            "the answer is v1's, not the mirror's"
        );
        assert_eq!(resp.json()["predictions"].as_array().unwrap().len(), 3);
        ids.push(resp.header("x-request-id").unwrap().to_owned());
    }
    // Copies are detached from the answers: wait (bounded) for them to land.
    assert!(
        eventually(Duration::from_secs(5), || shadow.seen().len() >= n),
        "the mirror received {} of {n} copies",
        shadow.seen().len()
    );
    let seen = shadow.seen();
    assert_eq!(seen.len(), n, "exactly one copy per request");
    for s in &seen {
        assert_eq!(
            s.path, "/predict",
            "the mirror copy goes to the mapped predict path"
        );
        assert_eq!(
            s.headers.get("x-custom").map(String::as_str),
            Some("mirrored")
        );
        let id = s.headers.get("x-request-id").cloned().unwrap_or_default();
        assert!(
            ids.contains(&id),
            "the copy carries the request's id, got {id:?}"
        );
    }
    let m = scrape(gw.data);
    let mirrored = [("service", "iris"), ("version", "remote")];
    assert_eq!(
        m.value("rollgate_mirrored_requests_total", &mirrored),
        n as f64
    );
    assert_eq!(m.value("rollgate_mirror_dropped_total", &mirrored), 0.0);
    let v1 = [("service", "iris"), ("version", "v1")];
    assert_eq!(m.value("rollgate_requests_total", &v1), n as f64);
    assert_eq!(
        m.value("rollgate_requests_total", &mirrored),
        0.0,
        "copies are not requests answered by the mirror"
    );
}
