//! `/metrics` after known traffic: per-version request, error, latency and class counts, the
//! route weights, and a `promtool check metrics` pass.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::{predict, Request};
use common::metrics::{promtool, scrape, to_prometheus_text, Metrics};
use common::{Rollgate, IRIS_ROWS};
use std::collections::HashMap;

const CONFIG: &str = r#"
services:
  iris:
    input_width: 4
    output: { classes: [setosa, versicolor, virginica] }
    versions:
      v1: { onnx: "builtin:iris-v1" }
      v2: { onnx: "builtin:iris-v2" }
    route:
      stable: v1
      candidate: v2
      weights: { v1: 70, v2: 30 }
"#;

/// What the test sent and what came back, per version.
#[derive(Debug, Default)]
struct Sent {
    requests: HashMap<String, u64>,
    rows: HashMap<String, u64>,
    bad: HashMap<String, u64>,
}

fn traffic(gw: &Rollgate) -> Sent {
    let mut sent = Sent::default();
    for i in 0..60 {
        let rows = &IRIS_ROWS[..1 + i % 3];
        let resp = predict(gw.data, "iris", rows);
        assert_eq!(resp.status, 200, "{}", resp.text());
        let v = resp.version();
        *sent.requests.entry(v.clone()).or_default() += 1;
        *sent.rows.entry(v).or_default() += rows.len() as u64;
    }
    // Client mistakes, pinned to v1: counted against v1 as `bad_request`.
    for body in ["{", r#"{"instances": [[1, 2, 3]]}"#, r#"{"nope": 1}"#] {
        let resp = Request::post("/v1/models/iris/predict", body)
            .header("x-canary", "never")
            .send(gw.data);
        assert_eq!(resp.status, 400, "{}", resp.text());
        let v = resp.version();
        assert_eq!(v, "v1");
        *sent.requests.entry(v.clone()).or_default() += 1;
        *sent.bad.entry(v).or_default() += 1;
    }
    // An unknown service is nobody's version.
    assert_eq!(predict(gw.data, "tulips", &IRIS_ROWS).status, 404);
    sent
}

fn labels(version: &str) -> [(&'static str, &str); 2] {
    [("service", "iris"), ("version", version)]
}

#[test]
fn counts_match_the_traffic() {
    let gw = Rollgate::start(CONFIG);
    let sent = traffic(&gw);
    let m = scrape(gw.data);
    assert!(
        sent.requests.contains_key("v1") && sent.requests.contains_key("v2"),
        "70/30 over 60 requests reaches both: {sent:?}"
    );
    for v in ["v1", "v2"] {
        let l = labels(v);
        let requests = sent.requests.get(v).copied().unwrap_or(0);
        assert_eq!(
            m.value("rollgate_requests_total", &l),
            requests as f64,
            "requests of {v}"
        );
        let bad = sent.bad.get(v).copied().unwrap_or(0);
        let kind = |k| [l[0], l[1], ("kind", k)];
        assert_eq!(
            m.value("rollgate_request_errors_total", &kind("bad_request")),
            bad as f64,
            "bad requests of {v}"
        );
        for other in ["model_error", "upstream_5xx", "unavailable", "timeout"] {
            assert_eq!(
                m.value("rollgate_request_errors_total", &kind(other)),
                0.0,
                "{other} of {v}"
            );
        }
        assert_eq!(
            m.value("rollgate_request_duration_seconds_count", &l),
            requests as f64,
            "latency observations of {v}"
        );
        let rows = sent.rows.get(v).copied().unwrap_or(0);
        assert_eq!(
            m.sum("rollgate_predictions_total", &l),
            rows as f64,
            "predicted classes of {v} sum to its rows"
        );
        assert_eq!(m.value("rollgate_requests_in_flight", &l), 0.0);
    }
    // Classes are labelled by their declared names (the default config names the iris ones).
    let classes = m.find("rollgate_predictions_total", &[]);
    assert!(!classes.is_empty());
    for s in classes {
        let class = s.labels.get("class").map(String::as_str);
        assert!(
            matches!(class, Some("setosa" | "versicolor" | "virginica")),
            "{s:?}"
        );
    }
    // Every version says its role, so stable and candidate can be compared in PromQL.
    let roles = [("service", "iris"), ("version", "v1"), ("role", "stable")];
    assert_eq!(m.value("rollgate_version_info", &roles), 1.0);
    assert!(
        m.text.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
}

#[test]
fn latency_histogram_buckets_are_cumulative_once() {
    let gw = Rollgate::start(CONFIG);
    let n = 25;
    for _ in 0..n {
        let resp = predict(gw.data, "iris", &IRIS_ROWS);
        assert_eq!(resp.status, 200);
    }
    let m = scrape(gw.data);
    let mut total = 0.0;
    for v in ["v1", "v2"] {
        let l = labels(v);
        let count = m.value("rollgate_request_duration_seconds_count", &l);
        total += count;
        let buckets = m.find("rollgate_request_duration_seconds_bucket", &l);
        assert!(buckets.len() >= 2, "{}", m.text);
        let values: Vec<f64> = buckets.iter().map(|s| s.value).collect();
        assert!(
            values.windows(2).all(|w| w[0] <= w[1]),
            "buckets of {v} are non-decreasing: {values:?}"
        );
        let inf = m.value(
            "rollgate_request_duration_seconds_bucket",
            &[l[0], l[1], ("le", "+Inf")],
        );
        assert_eq!(
            inf, count,
            "the +Inf bucket of {v} equals the observation count (buckets: {values:?})"
        );
        let sum = m.value("rollgate_request_duration_seconds_sum", &l);
        assert!(sum >= 0.0 && (count == 0.0 || sum > 0.0), "sum {sum}");
    }
    assert_eq!(total, f64::from(n));
}

#[test]
fn regression_value_histogram_counts_each_row_once() {
    let model = common::workspace_root().join("models/diabetes-linear.onnx");
    let config = format!(
        r#"
services:
  diabetes:
    input_width: 10
    output: {{ range: [0, 400] }}
    versions:
      lin: {{ onnx: "{}" }}
    route:
      weights: {{ lin: 100 }}
"#,
        model.display()
    );
    let gw = Rollgate::start(&config);
    let row = [
        0.01f32, -0.04, 0.06, 0.02, -0.03, -0.02, 0.01, -0.01, 0.03, 0.0,
    ];
    for _ in 0..5 {
        let body = serde_json::json!({ "instances": [row, row] });
        let resp = common::http::post_json(gw.data, "/v1/models/diabetes/predict", &body);
        assert_eq!(resp.status, 200, "{}", resp.text());
        let preds = resp.json()["predictions"].clone();
        assert_eq!(preds.as_array().map(Vec::len), Some(2), "{preds}");
        assert!(
            preds[0].is_number(),
            "a regressor predicts numbers: {preds}"
        );
    }
    let m = scrape(gw.data);
    let l = [("service", "diabetes"), ("version", "lin")];
    assert_eq!(m.value("rollgate_prediction_value_count", &l), 10.0);
    let buckets: Vec<f64> = m
        .find("rollgate_prediction_value_bucket", &l)
        .iter()
        .map(|s| s.value)
        .collect();
    assert_eq!(
        buckets.len(),
        22,
        "21 bounds over the range and +Inf: {buckets:?}"
    );
    assert_eq!(
        m.value(
            "rollgate_prediction_value_bucket",
            &[l[0], l[1], ("le", "+Inf")]
        ),
        10.0,
        "the +Inf bucket equals the count (buckets: {buckets:?})"
    );
}

#[test]
fn route_weights_are_exposed() {
    let gw = Rollgate::start(CONFIG);
    let m = scrape(gw.data);
    let w = |v| m.value("rollgate_route_weight_ratio", &labels(v));
    assert!((w("v1") - 0.7).abs() < 1e-9, "{}", w("v1"));
    assert!((w("v2") - 0.3).abs() < 1e-9, "{}", w("v2"));
}

#[test]
fn promtool_accepts_the_exposition() {
    let gw = Rollgate::start(CONFIG);
    traffic(&gw);
    let resp = common::http::get(gw.data, "/metrics");
    let content_type = resp.header("content-type").unwrap_or_default().to_owned();
    let text = resp.text();

    // As served (OpenMetrics): promtool parses it with the Prometheus text parser, to which
    // `# UNIT` and `# EOF` are comments. Its linter then misses the help of counters, because
    // OpenMetrics names a counter family without `_total` on `# HELP`/`# TYPE`. Parsing must
    // succeed (exit 1 is a parse error); the only problems allowed are those.
    let (code, out) = promtool(&text);
    assert_ne!(
        code, 1,
        "promtool cannot parse /metrics ({content_type}):\n{out}\n{text}"
    );
    for problem in out.lines().filter(|l| !l.trim().is_empty()) {
        let family = problem
            .strip_suffix(" no help text")
            .and_then(|n| n.strip_suffix("_total"))
            .unwrap_or_else(|| panic!("promtool problem {problem:?} on /metrics:\n{text}"));
        assert!(
            text.contains(&format!("# HELP {family} "))
                && text.contains(&format!("# TYPE {family} counter")),
            "{problem}: the family has no OpenMetrics help either"
        );
    }

    // The same exposition in the Prometheus 0.0.4 form promtool lints: no problems at all.
    let classic = to_prometheus_text(&text);
    let (code, out) = promtool(&classic);
    assert_eq!(code, 0, "promtool check metrics failed:\n{out}\n{classic}");
    Metrics::parse(&classic);
}
