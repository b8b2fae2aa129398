//! Client mistakes get a 4xx with a stable code and a message that says what to fix; never a
//! 5xx.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::{get, post_json, Request, Response};
use common::{Rollgate, IRIS_ROWS};
use serde_json::json;

const LIMIT: usize = 4096;

/// The bundled models with a small body limit.
fn gateway() -> Rollgate {
    Rollgate::start(
        r#"
limits: { max_body_bytes: 4096, shutdown_grace_ms: 2000 }
services:
  iris:
    input_width: 4
    output: { classes: [setosa, versicolor, virginica] }
    versions:
      v1: { onnx: "builtin:iris-v1" }
      v2: { onnx: "builtin:iris-v2" }
    route:
      stable: v1
      weights: { v1: 100 }
"#,
    )
}

fn assert_client_error(resp: &Response, status: u16, what: &str) {
    assert_eq!(resp.status, status, "{what}: {}", resp.text());
    assert!(
        resp.header("x-request-id").is_some(),
        "{what}: no x-request-id"
    );
}

#[test]
fn unknown_service_names_the_known_ones() {
    let gw = gateway();
    let resp = post_json(
        gw.data,
        "/v1/models/tulips/predict",
        &json!({"instances": IRIS_ROWS}),
    );
    assert_client_error(&resp, 404, "unknown service");
    assert_eq!(resp.error_code(), "unknown_service");
    let msg = resp.error_message();
    assert!(msg.contains("tulips") && msg.contains("iris"), "{msg}");

    // Open Inference routes answer `{"error": "..."}`.
    let resp = post_json(gw.data, "/v2/models/tulips/infer", &json!({}));
    assert_client_error(&resp, 404, "unknown service (v2)");
    assert!(resp.json()["error"].as_str().unwrap().contains("iris"));
    assert_client_error(&get(gw.data, "/v2/models/tulips"), 404, "metadata");
    assert_client_error(&get(gw.data, "/v2/models/tulips/ready"), 404, "ready");
}

#[test]
fn malformed_json_is_bad_json() {
    let gw = gateway();
    for body in ["{", "not json", r#"{"instances": [[1,2,3,"x"]]}"#] {
        let resp = Request::post("/v1/models/iris/predict", body).send(gw.data);
        assert_client_error(&resp, 400, body);
        assert_eq!(resp.error_code(), "bad_json", "{body}: {}", resp.text());
    }
}

#[test]
fn wrong_shape_names_the_expected_shape() {
    let gw = gateway();
    let resp = post_json(
        gw.data,
        "/v1/models/iris/predict",
        &json!({"instances": [[1.0, 2.0, 3.0]]}),
    );
    assert_client_error(&resp, 400, "3 features");
    assert_eq!(resp.error_code(), "bad_shape");
    let msg = resp.error_message();
    assert!(msg.contains("[N, 4]"), "{msg}");

    let resp = post_json(gw.data, "/v1/models/iris/predict", &json!({"rows": []}));
    assert_client_error(&resp, 400, "no instances");
    assert_eq!(resp.error_code(), "bad_shape");

    let resp = post_json(
        gw.data,
        "/v1/models/iris/predict",
        &json!({"features": [1.0, 2.0, 3.0, 4.0, 5.0]}),
    );
    assert_client_error(&resp, 400, "5 features");
    assert!(resp.error_message().contains("[N, 4]"));

    // The same on Open Inference: a 400 with a message.
    let body = json!({"inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP32",
                                  "data": [1, 2, 3, 4, 5, 6]}]});
    let resp = post_json(gw.data, "/v2/models/iris/infer", &body);
    assert_client_error(&resp, 400, "v2 shape");
    assert!(resp.json()["error"].is_string(), "{}", resp.text());
}

#[test]
fn body_over_the_limit_declared_is_refused_before_reading() {
    let gw = gateway();
    // Only the head is sent: the answer must come from the declared length alone.
    let resp =
        Request::post("/v1/models/iris/predict", Vec::new()).send_head_only(gw.data, LIMIT + 1);
    assert_client_error(&resp, 413, "declared length");
    assert_eq!(resp.error_code(), "body_too_large");
    assert!(resp.error_message().contains("4096"), "{}", resp.text());

    // A full body over the limit, actually sent.
    let big = format!(r#"{{"instances": [], "pad": "{}"}}"#, "x".repeat(LIMIT));
    let resp = Request::post("/v1/models/iris/predict", big).send(gw.data);
    assert_client_error(&resp, 413, "sent body");

    // Exactly at the limit is fine (a valid body padded to 4096 bytes).
    let prefix = r#"{"instances": [[5.1, 3.5, 1.4, 0.2]], "pad": ""#;
    let pad = LIMIT - prefix.len() - 2;
    let exact = format!("{prefix}{}\"}}", "x".repeat(pad));
    assert_eq!(exact.len(), LIMIT);
    let resp = Request::post("/v1/models/iris/predict", exact).send(gw.data);
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[test]
fn chunked_body_over_the_limit_is_refused() {
    let gw = gateway();
    let chunk = vec![b' '; 1024];
    let mut chunks: Vec<&[u8]> = vec![br#"{"instances": [[5.1, 3.5, 1.4, 0.2]]"#];
    chunks.extend(std::iter::repeat_n(chunk.as_slice(), 6));
    chunks.push(b"}");
    let resp = Request::post("/v1/models/iris/predict", Vec::new()).send_chunked(gw.data, &chunks);
    assert_client_error(&resp, 413, "chunked");
    assert_eq!(resp.error_code(), "body_too_large");

    // A small chunked body is served.
    let ok: Vec<&[u8]> = vec![br#"{"instances": "#, br#"[[5.1, 3.5, 1.4, 0.2]]}"#];
    let resp = Request::post("/v1/models/iris/predict", Vec::new()).send_chunked(gw.data, &ok);
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[test]
fn unknown_routes_and_versions_are_404() {
    let gw = gateway();
    let resp = get(gw.data, "/no/such/route");
    assert_client_error(&resp, 404, "unknown route");
    assert_eq!(resp.error_code(), "not_found");

    let resp = get(gw.data, "/v1/models/iris/predict");
    assert!(
        (400..500).contains(&resp.status),
        "GET on a POST route: {}",
        resp.status
    );

    let body = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                  "data": [5.1, 3.5, 1.4, 0.2]}]});
    let resp = post_json(gw.data, "/v2/models/iris/versions/nope/infer", &body);
    assert_client_error(&resp, 404, "unknown version");
    let msg = resp.json()["error"].as_str().unwrap().to_owned();
    assert!(msg.contains("nope") && msg.contains("v1"), "{msg}");

    assert_client_error(
        &get(gw.data, "/v2/models/iris/versions/nope"),
        404,
        "metadata",
    );
    assert_client_error(
        &get(gw.data, "/v2/models/iris/versions/nope/ready"),
        404,
        "version ready",
    );
}
