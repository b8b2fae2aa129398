//! A gateway whose data and admin ports are both known, on a data directory that can outlive
//! it (so a restart sees the same store), and small builders for admin requests.

#![allow(clippy::unwrap_used)]

use super::http::{Request, Response};
use super::{eventually, serve_command, strip_ansi, workspace_root, TempDir};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

/// A gateway on a data directory that outlives it, so a restart sees the same store.
pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) data: SocketAddr,
    pub(crate) admin: SocketAddr,
}

impl Node {
    pub(crate) fn start(dir: &TempDir, log: &str) -> Self {
        Self::start_with(dir, log, &[])
    }

    /// Starts with extra `serve` arguments (e.g. `--config FILE`).
    pub(crate) fn start_with(dir: &TempDir, log: &str, args: &[&str]) -> Self {
        let log_path = dir.path().join(log);
        let file = std::fs::File::create(&log_path).unwrap();
        let child = serve_command(dir)
            .args(args)
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        let mut addrs = (None, None);
        let found = eventually(Duration::from_secs(30), || {
            let text = strip_ansi(&std::fs::read_to_string(&log_path).unwrap_or_default());
            addrs = (
                addr_of(&text, "data port listening"),
                addr_of(&text, "admin port listening"),
            );
            addrs.0.is_some() && addrs.1.is_some()
        });
        assert!(
            found,
            "gateway did not start: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        Self {
            child,
            data: addrs.0.unwrap(),
            admin: addrs.1.unwrap(),
        }
    }

    /// `kill -9`: no shutdown code runs.
    pub(crate) fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub(crate) fn admin(&self, req: Request) -> Response {
        req.send(self.admin)
    }

    /// Runs `rollgate ARGS` against this node's admin port: `(exit code, stdout, stderr)`.
    pub(crate) fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = super::command()
            .arg("--admin-url")
            .arg(format!("http://{}", self.admin))
            .args(args)
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    }

    pub(crate) fn service(&self) -> Value {
        let r = self.admin(Request::get("/api/v1/services/iris"));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn addr_of(log: &str, marker: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|l| l.contains(marker))?;
    let rest = &line[line.find("addr=")? + 5..];
    rest.split_whitespace()
        .next()?
        .trim_matches('"')
        .parse()
        .ok()
}

pub(crate) fn model(name: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("models").join(name)).unwrap()
}

pub(crate) fn post(path: &str, body: Value) -> Request {
    Request::post(path, body.to_string())
}
