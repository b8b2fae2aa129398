//! Small builders for admin requests: a bundled model's bytes, a JSON POST.

#![allow(clippy::unwrap_used)]

use super::http::Request;
use super::workspace_root;
use serde_json::Value;

pub(crate) fn model(name: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("models").join(name)).unwrap()
}

pub(crate) fn post(path: &str, body: Value) -> Request {
    Request::post(path, body.to_string())
}
