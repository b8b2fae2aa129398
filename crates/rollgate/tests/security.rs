//! The security model of `SECURITY.md`, checked on the real binary: every operation of the
//! control API (read from its OpenAPI document) is absent from the data port and refused
//! without the token; without a token the admin port stays on loopback; names never reach the
//! file system.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::Request;
use common::node::model;
use common::Rollgate;
use common::TempDir;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const TOKEN: &str = "security-token-5678";
const DOCUMENT: &str = include_str!("../src/control/openapi.json");

fn config(dir: &TempDir, admin: &str) -> String {
    let text = format!(
        "{admin}services:\n  iris:\n    input_width: 4\n    versions:\n      \
         v1: {{ onnx: \"builtin:iris-v1\" }}\n    route:\n      weights: {{ v1: 100 }}\n"
    );
    dir.write("security.yaml", text)
        .to_str()
        .unwrap()
        .to_owned()
}

/// Every `(method, concrete path, public)` of the OpenAPI document; `public` operations say
/// `security: []`.
fn operations() -> Vec<(String, String, bool)> {
    let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{service}", "iris")
            .replace("{version}", "v1")
            .replace("{verb}", "pause");
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let public = op["security"].as_array().is_some_and(Vec::is_empty);
            out.push((method.to_uppercase(), concrete.clone(), public));
        }
    }
    assert!(out.len() > 15, "the document lists the operations");
    out
}

fn events(node: &Rollgate) -> usize {
    let r = node.admin(
        Request::get("/api/v1/events?limit=500")
            .header("authorization", &format!("Bearer {TOKEN}")),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["events"].as_array().unwrap().len()
}

#[test]
fn admin_operations_are_absent_from_the_data_port_and_need_the_token() {
    let dir = TempDir::new();
    let admin = format!("admin: {{ token: {TOKEN} }}\n");
    let node = Rollgate::on(&dir, "gw.log", &["--config", &config(&dir, &admin)]);
    let wrong = format!("Bearer {}", "x".repeat(TOKEN.len()));
    let before = events(&node);
    for (method, path, public) in operations() {
        let on_data = Request::new(&method, &path)
            .header("authorization", &format!("Bearer {TOKEN}"))
            .body("{}")
            .send(node.data);
        assert_eq!(on_data.status, 404, "{method} {path} on the data port");
        assert_eq!(on_data.error_code(), "not_found", "{method} {path}");
        for auth in ["", wrong.as_str()] {
            let r = node.admin(
                Request::new(&method, &path)
                    .header("authorization", auth)
                    .body("{}"),
            );
            if public {
                assert_eq!(r.status, 200, "{method} {path} is public");
            } else {
                assert_eq!(r.status, 401, "{method} {path} with {auth:?}");
                assert_eq!(r.header("www-authenticate"), Some("Bearer"));
                assert_eq!(r.error_code(), "unauthorized");
            }
        }
    }
    assert_eq!(events(&node), before, "refused calls changed nothing");
}

#[test]
fn without_a_token_the_admin_port_stays_on_loopback() {
    let dir = TempDir::new();
    let cfg = config(&dir, "");
    let mut serve = common::command();
    serve
        .args(["serve", "--config", &cfg, "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path().join("data"));
    let gw = common::Rollgate::from_command(serve);
    assert!(gw.admin.ip().is_loopback(), "admin on {}", gw.admin);
    assert!(gw.stderr().contains("loopback only"), "{}", gw.stderr());
}

fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        out.insert(path.display().to_string());
        if path.is_dir() {
            out.extend(files_under(&path));
        }
    }
    out
}

#[test]
fn names_never_become_paths() {
    let dir = TempDir::new();
    let cfg = config(&dir, "");
    let node = Rollgate::on(&dir, "gw.log", &["--config", &cfg]);
    let before = files_under(dir.path());
    for name in [
        "..%2Fescaped",
        "a%2Fb",
        "%2e%2e",
        "..%5Cescaped",
        "%2Ftmp%2Fescaped",
    ] {
        let r = node.admin(
            Request::post(
                &format!("/update-model?version={name}"),
                model("iris-v2.onnx"),
            )
            .header("content-type", "application/octet-stream"),
        );
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert_eq!(r.error_code(), "bad_name", "{name}");
    }
    // A good upload lands in the store's database, not in a file named after the version.
    let r = node.admin(
        Request::post("/update-model?version=v9", model("iris-v2.onnx"))
            .header("content-type", "application/octet-stream"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let added: Vec<String> = files_under(dir.path())
        .difference(&before)
        .filter(|p| !p.contains("rollgate.db"))
        .cloned()
        .collect();
    assert!(added.is_empty(), "files appeared: {added:?}");
    let parent = dir.path().parent().unwrap();
    assert!(!parent.join("escaped").exists());
}
