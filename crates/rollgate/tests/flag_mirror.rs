//! A routing flag and a mirror together: the flag picks the served version inside the one
//! routing decision, so a user the flag sends to the mirror target is served by it and not
//! also sent a copy (which would have compared the candidate with itself).

#![allow(clippy::unwrap_used)]

mod common;

use common::http::Request;
use common::metrics::scrape;
use common::Rollgate;
use common::TempDir;

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
      mirror: { to: v2, percent: 100 }
    flags:
      route_by: new-model
      flags:
        new-model:
          enabled: true
          variants: { stable: v1, candidate: v2 }
          default_variant: stable
          off_variant: stable
          targets:
            candidate: [alice]
"#;

fn predict_as(node: &Rollgate, user: &str) -> String {
    Request::post(
        "/v1/models/iris/predict",
        r#"{"features": [6.7, 3.0, 5.2, 2.3]}"#,
    )
    .header("x-user-id", user)
    .send(node.data)
    .version()
}

/// Copies mirrored to v2, once every copy sent has been counted (copies are detached).
fn mirrored_to_v2(node: &Rollgate, at_least: f64) -> f64 {
    let labels = [("service", "iris"), ("version", "v2")];
    let name = "rollgate_mirrored_requests_total";
    common::eventually(std::time::Duration::from_secs(10), || {
        scrape(node.data).sum(name, &labels) >= at_least
    });
    scrape(node.data).sum(name, &labels)
}

#[test]
fn a_user_flagged_onto_the_mirror_target_is_served_once_and_not_mirrored() {
    let dir = TempDir::new();
    let path = dir.write("rollgate.yaml", CONFIG);
    let node = Rollgate::on(&dir, "gw.log", &["--config", path.to_str().unwrap()]);
    for _ in 0..20 {
        assert_eq!(predict_as(&node, "carol"), "v1", "carol is not targeted");
    }
    assert_eq!(
        mirrored_to_v2(&node, 20.0),
        20.0,
        "stable's answers are mirrored"
    );
    for _ in 0..30 {
        assert_eq!(predict_as(&node, "alice"), "v2", "alice is targeted");
    }
    // Give a wrongly sent copy the time to be counted before reading the total again.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        mirrored_to_v2(&node, 20.0),
        20.0,
        "requests v2 served must not be copied to v2 as well"
    );
    let m = scrape(node.data);
    let served = m.sum(
        "rollgate_requests_total",
        &[("service", "iris"), ("version", "v2")],
    );
    assert_eq!(served, 30.0, "v2 served alice's requests, once each");
}
