//! A bad config stops `rollgate serve` at once, with a non-zero exit and a message naming the
//! config file, the field and the problem.

#![allow(clippy::unwrap_used)]

mod common;

use common::{serve_command, wait_child, TempDir};
use std::io::Read;
use std::time::Duration;

/// How long a refused config may take to be reported.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

const GOOD: &str = r#"
services:
  iris:
    input_width: 4
    versions:
      v1: { onnx: "builtin:iris-v1" }
      v2: { onnx: "builtin:iris-v2" }
    route:
      weights: { v1: 50, v2: 50 }
"#;

/// Runs `serve --config` on `config` (written in `dir`) and returns its stderr, requiring a
/// non-zero exit within the timeout.
fn refused(dir: &TempDir, config: &str) -> (String, String) {
    let path = dir.write("bad.yaml", config);
    let mut child = serve_command(dir)
        .arg("--config")
        .arg(&path)
        .spawn()
        .expect("spawn rollgate");
    let status = wait_child(&mut child, EXIT_TIMEOUT);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let stderr = common::strip_ansi(&stderr);
    let status = status.unwrap_or_else(|| {
        panic!("rollgate kept running on a bad config for {EXIT_TIMEOUT:?}; stderr:\n{stderr}")
    });
    assert!(
        !status.success(),
        "rollgate accepted a bad config; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("data port listening"),
        "it must not start serving:\n{stderr}"
    );
    (path.display().to_string(), stderr)
}

fn assert_names(stderr: &str, what: &[&str]) {
    for w in what {
        assert!(stderr.contains(w), "stderr does not name {w:?}:\n{stderr}");
    }
}

#[test]
fn the_good_config_starts() {
    // The base every case below breaks in one place is itself valid.
    let gw = common::Rollgate::start(GOOD);
    assert_eq!(common::http::get(gw.data, "/v2/health/ready").status, 200);
}

#[test]
fn unknown_key() {
    let dir = TempDir::new();
    let config = GOOD.replace("input_width: 4", "input_width: 4\n    colour: red");
    let (path, stderr) = refused(&dir, &config);
    assert_names(&stderr, &[&path, "services.iris", "unknown field `colour`"]);
}

#[test]
fn weights_not_summing_to_100() {
    let dir = TempDir::new();
    let config = GOOD.replace("v2: 50 }", "v2: 45 }");
    let (path, stderr) = refused(&dir, &config);
    assert_names(&stderr, &[&path, "services.iris.route", "95"]);
}

#[test]
fn duplicate_version_name() {
    let dir = TempDir::new();
    let config = GOOD.replace("v2: { onnx", "v1: { onnx");
    let (path, stderr) = refused(&dir, &config);
    assert_names(
        &stderr,
        &[&path, "services.iris.versions", "duplicate", "`v1`"],
    );
}

#[test]
fn missing_model_file() {
    let dir = TempDir::new();
    let config = GOOD.replace("builtin:iris-v2", "models/missing.onnx");
    let (path, stderr) = refused(&dir, &config);
    assert_names(
        &stderr,
        &[
            &path,
            "services.iris.versions.v2",
            "missing.onnx",
            "No such file",
        ],
    );
}

#[test]
fn model_file_that_is_not_onnx() {
    let dir = TempDir::new();
    let garbage: Vec<u8> = (0..512u32).map(|i| (i * 7919 % 251) as u8).collect();
    dir.write("garbage.onnx", garbage);
    let config = GOOD.replace("builtin:iris-v2", "garbage.onnx");
    let (path, stderr) = refused(&dir, &config);
    assert_names(
        &stderr,
        &[
            &path,
            "services.iris.versions.v2",
            "garbage.onnx",
            "not a model",
        ],
    );
}

#[test]
fn model_with_the_wrong_input_width() {
    let dir = TempDir::new();
    let config = GOOD.replace("input_width: 4", "input_width: 3");
    let (path, stderr) = refused(&dir, &config);
    assert_names(
        &stderr,
        &[
            &path,
            "services.iris.versions.v1",
            "3 features",
            "4 features",
        ],
    );
    assert!(
        !stderr.contains("panicked"),
        "a clean error, not a crash:\n{stderr}"
    );
}

#[test]
fn a_refused_config_leaves_the_store_as_it_was() {
    // A bad model is refused at start; once the config is fixed, the same data directory must
    // start: the refused version must not have been kept in the store.
    let dir = TempDir::new();
    dir.write(
        "garbage.onnx",
        b"definitely not a protobuf model".as_slice(),
    );
    let config = GOOD.replace("builtin:iris-v2", "garbage.onnx");
    refused(&dir, &config);
    let gw = common::Rollgate::start_in(dir, GOOD, &[]);
    let resp = common::http::Request::post(
        "/v2/models/iris/versions/v2/infer",
        r#"{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}"#,
    )
    .send(gw.data);
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[test]
fn unreadable_config_file() {
    let dir = TempDir::new();
    let missing = dir.path().join("nope.yaml");
    let mut child = serve_command(&dir)
        .arg("--config")
        .arg(&missing)
        .spawn()
        .expect("spawn rollgate");
    let status = wait_child(&mut child, EXIT_TIMEOUT).expect("exits");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(&missing.display().to_string()),
        "names the file:\n{stderr}"
    );
    assert!(stderr.contains("cannot read"), "says why:\n{stderr}");
}
