//! Serving the bundled iris models with the embedded default config: the v1 and Open
//! Inference endpoints, request ids, metadata and health.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::{get, post_json, predict, Request};
use common::{Rollgate, IRIS_CLASSES, IRIS_ROWS};
use serde_json::{json, Value};

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks one v1 prediction row: a named class, its label, three probabilities summing to 1.
fn check_prediction(p: &Value) {
    let probs: Vec<f64> = p["probabilities"]
        .as_array()
        .unwrap_or_else(|| panic!("no probabilities in {p}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(probs.len(), 3, "{p}");
    let sum: f64 = probs.iter().sum();
    assert!((sum - 1.0).abs() < 1e-3, "probabilities sum to {sum}: {p}");
    assert!(probs.iter().all(|&x| (0.0..=1.0).contains(&x)), "{p}");
    let label = p["label"]
        .as_u64()
        .unwrap_or_else(|| panic!("label in {p}"));
    assert_eq!(p["class"], json!(IRIS_CLASSES[label as usize]), "{p}");
    let argmax = (0..3)
        .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
        .unwrap();
    assert_eq!(
        argmax as u64, label,
        "label is the most probable class: {p}"
    );
}

#[test]
fn v1_predict_with_instances() {
    let gw = Rollgate::start_default();
    let resp = predict(gw.data, "iris", &IRIS_ROWS);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("x-model-version"), Some("v1"));
    assert!(resp
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let doc = resp.json();
    assert_eq!(doc["model_version"], "v1");
    let preds = doc["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), IRIS_ROWS.len());
    preds.iter().for_each(check_prediction);
    // The three flowers are one of each species, and the stable model tells them apart.
    let classes: Vec<&str> = preds.iter().map(|p| p["class"].as_str().unwrap()).collect();
    assert_eq!(classes[0], "setosa", "{doc}");
    assert_eq!(classes[2], "virginica", "{doc}");
}

#[test]
fn v1_predict_with_features() {
    let gw = Rollgate::start_default();
    let body = json!({ "features": IRIS_ROWS[0] });
    let resp = post_json(gw.data, "/v1/models/iris/predict", &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let doc = resp.json();
    let preds = doc["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 1, "{doc}");
    check_prediction(&preds[0]);
}

#[test]
fn request_id_is_echoed_or_generated() {
    let gw = Rollgate::start_default();
    let body = json!({ "instances": [IRIS_ROWS[1]] }).to_string();
    let mine = Request::post("/v1/models/iris/predict", body.clone())
        .header("x-request-id", "client-id-42")
        .send(gw.data);
    assert_eq!(mine.status, 200);
    assert_eq!(mine.header("x-request-id"), Some("client-id-42"));
    assert_eq!(mine.json()["request_id"], "client-id-42");

    let a = Request::post("/v1/models/iris/predict", body.clone()).send(gw.data);
    let b = Request::post("/v1/models/iris/predict", body).send(gw.data);
    let (ida, idb) = (
        a.header("x-request-id").unwrap(),
        b.header("x-request-id").unwrap(),
    );
    assert!(is_hex32(ida), "generated id {ida:?} is not 32 hex digits");
    assert!(is_hex32(idb), "generated id {idb:?} is not 32 hex digits");
    assert_ne!(ida, idb, "ids are unique");
    assert_eq!(a.json()["request_id"], ida, "body and header agree");

    // Non-prediction answers carry one too.
    for path in ["/v2/health/live", "/metrics", "/no/such/route"] {
        let r = Request::get(path)
            .header("x-request-id", "probe-1")
            .send(gw.data);
        assert_eq!(r.header("x-request-id"), Some("probe-1"), "GET {path}");
        let r = get(gw.data, path);
        assert!(
            r.header("x-request-id").is_some_and(is_hex32),
            "GET {path}: {:?}",
            r.headers
        );
    }
}

#[test]
fn open_inference_json_infer() {
    let gw = Rollgate::start_default();
    let flat: Vec<f32> = IRIS_ROWS.iter().flatten().copied().collect();
    let body = json!({
        "id": "oip-1",
        "inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "data": flat}],
    });
    let resp = post_json(gw.data, "/v2/models/iris/infer", &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("x-model-version"), Some("v1"));
    let doc = resp.json();
    assert_eq!(doc["model_name"], "iris", "{doc}");
    assert_eq!(doc["model_version"], "v1", "{doc}");
    assert_eq!(doc["id"], "oip-1", "{doc}");
    let outputs = doc["outputs"].as_array().unwrap();
    let by_name = |n: &str| {
        outputs
            .iter()
            .find(|o| o["name"] == n)
            .unwrap_or_else(|| panic!("no output {n} in {doc}"))
    };
    let label = by_name("label");
    assert_eq!(label["datatype"], "INT64");
    assert_eq!(label["shape"], json!([3]));
    let probs = by_name("probabilities");
    assert_eq!(probs["datatype"], "FP32");
    assert_eq!(probs["shape"], json!([3, 3]));
    let p: Vec<f64> = probs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for row in p.chunks(3) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-3, "{row:?}");
    }

    // A version named in the path is served by that version.
    let resp = post_json(gw.data, "/v2/models/iris/versions/v2/infer", &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("x-model-version"), Some("v2"));
    assert_eq!(resp.json()["model_version"], "v2");
}

#[test]
fn metadata_and_health() {
    let gw = Rollgate::start_default();
    let meta = get(gw.data, "/v2/models/iris");
    assert_eq!(meta.status, 200, "{}", meta.text());
    let doc = meta.json();
    assert_eq!(doc["name"], "iris");
    assert_eq!(doc["versions"], json!(["v1", "v2", "bad"]), "{doc}");
    assert_eq!(
        doc["inputs"],
        json!([{"name": "input", "datatype": "FP32", "shape": [-1, 4]}])
    );
    let server = get(gw.data, "/v2");
    assert_eq!(server.status, 200);
    assert_eq!(server.json()["name"], "rollgate");
    for path in [
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/iris/ready",
        "/v2/models/iris/versions/v2/ready",
    ] {
        assert_eq!(get(gw.data, path).status, 200, "GET {path}");
    }
    assert_eq!(get(gw.data, "/v2/models/nope/ready").status, 404);
    assert_eq!(
        get(gw.data, "/v2/models/iris/versions/nope/ready").status,
        404
    );
}
