//! A small blocking WebDriver client: `chromedriver` on a loopback port driving headless
//! Debian Chromium. The W3C protocol is a handful of JSON calls, so it rides on the tests'
//! own HTTP client instead of an async WebDriver crate and its dependency tree.
//!
//! A missing browser or driver is a failure with the install command, never a skipped test:
//! a machine that cannot run the check must not report it green.

use crate::common::http::Request;
use crate::common::{closed_port, eventually, wait_child};
use base64::Engine;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "install them with `apt-get install -y chromium chromium-driver` \
                       (or point CHROMIUM and CHROMEDRIVER at the binaries)";

/// Finds an executable: the environment variable if set, else the first candidate on disk.
fn find(var: &str, candidates: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "{var}={} does not exist; {INSTALL}",
            p.display()
        );
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for name in candidates {
        for dir in &dirs {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "none of {candidates:?} is installed (the dashboard test needs a real browser); {INSTALL}"
    );
}

/// A `chromedriver` process and one browser session, both ended on drop.
pub(crate) struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fixed window size.
    pub(crate) fn start() -> Self {
        let chromium = find(
            "CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let chromedriver = find("CHROMEDRIVER", &["chromedriver"]);
        let port = closed_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL}", chromedriver.display()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut me = Self {
            driver,
            addr,
            session: String::new(),
        };
        let ready = eventually(Duration::from_secs(20), || {
            Request::get("/status")
                .try_send(addr)
                .is_ok_and(|r| r.status == 200)
        });
        assert!(ready, "chromedriver did not answer on {addr} within 20 s");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         "--window-size=1400,1700", "--lang=en-GB"],
            },
        }}});
        let v = me.call("POST", "/session", Some(caps));
        me.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {v}"))
            .to_owned();
        me
    }

    /// One WebDriver command; panics with the driver's error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut req = Request::new(method, path);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = req
            .try_send(self.addr)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        assert!(
            r.status == 200,
            "WebDriver {method} {path} answered {}: {}",
            r.status,
            r.text()
        );
        v["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub(crate) fn goto(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({"url": url})),
        );
    }

    /// Runs a script in the page and returns what it returns.
    pub(crate) fn eval(&self, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.call("POST", &self.session_path("/execute/sync"), Some(body))
    }

    /// The element matching a CSS selector, if any (no wait).
    pub(crate) fn find(&self, css: &str) -> Option<String> {
        let body = json!({"using": "css selector", "value": css});
        let path = self.session_path("/element");
        let r = Request::post(&path, body.to_string()).send(self.addr);
        if r.status != 200 {
            return None;
        }
        // The reference sits under a fixed `element-6066-...` key, whose spelling differs
        // between the W3C text and chromedriver releases: take the object's only value.
        let value = r.json()["value"].clone();
        let id = value.as_object()?.values().next()?.as_str()?.to_owned();
        Some(id)
    }

    /// Waits until an element matches `css` and is displayed, then clicks it like a user.
    pub(crate) fn click(&self, css: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.find(css) {
                let shown = self.call(
                    "GET",
                    &self.session_path(&format!("/element/{id}/displayed")),
                    None,
                );
                let enabled = self.call(
                    "GET",
                    &self.session_path(&format!("/element/{id}/enabled")),
                    None,
                );
                if shown == json!(true) && enabled == json!(true) {
                    let path = self.session_path(&format!("/element/{id}/click"));
                    self.call("POST", &path, Some(json!({})));
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` was not shown and enabled within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types into the element matching `css`.
    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let id = self
            .find(css)
            .unwrap_or_else(|| panic!("no element `{css}`"));
        let path = self.session_path(&format!("/element/{id}/value"));
        self.call("POST", &path, Some(json!({"text": text})));
    }

    /// Grows the window to the page's height, so a screenshot shows the whole page.
    pub(crate) fn fit_to_page(&self) {
        // The window's height includes the browser's own frame around the page.
        let sizes = self.eval(
            "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]",
            json!([]),
        );
        let page = sizes[0].as_u64().unwrap_or(1700);
        let frame = sizes[1].as_u64().unwrap_or(0);
        let rect = json!({"width": 1400, "height": (page + frame).clamp(600, 4000)});
        self.call("POST", &self.session_path("/window/rect"), Some(rect));
    }

    /// A PNG of the viewport.
    pub(crate) fn screenshot(&self) -> Vec<u8> {
        let v = self.call("GET", &self.session_path("/screenshot"), None);
        let b64 = v.as_str().unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|e| panic!("screenshot is not base64: {e}"))
    }

    /// The browser console since the last call (Chromium's log endpoint).
    pub(crate) fn console(&self) -> Vec<Value> {
        let v = self.call(
            "POST",
            &self.session_path("/se/log"),
            Some(json!({"type": "browser"})),
        );
        v.as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = Request::new("DELETE", &self.session_path("")).try_send(self.addr);
        }
        let _ = self.driver.kill();
        let _ = wait_child(&mut self.driver, Duration::from_secs(5));
    }
}
