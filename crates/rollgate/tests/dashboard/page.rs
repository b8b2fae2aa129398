//! What the dashboard tests share: a token-guarded gateway with labelled traffic, a snapshot
//! of everything the page shows under a `data-testid`, and screenshot keeping.

use crate::common::http::{Request, Response};
use crate::common::Rollgate;
use crate::common::{workspace_root, TempDir};
use crate::webdriver::Browser;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A running gateway and the token its admin port wants.
#[derive(Clone)]
pub(crate) struct Gateway {
    node: Arc<Rollgate>,
    token: Option<String>,
}

impl Gateway {
    pub(crate) fn start(dir: &TempDir, config: &str, token: Option<&str>) -> Self {
        let path = dir.write("rollgate.yaml", config);
        let path = path.to_str().unwrap();
        let node = Rollgate::on(dir, "gateway.log", &["--config", path]);
        Self {
            node: Arc::new(node),
            token: token.map(str::to_owned),
        }
    }

    /// `http://ADMIN{path}`, as the browser loads it.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.node.admin)
    }

    /// A control API call with the token.
    pub(crate) fn admin(&self, req: Request) -> Response {
        let req = match &self.token {
            Some(t) => req.header("authorization", &format!("Bearer {t}")),
            None => req,
        };
        req.send(self.node.admin)
    }

    /// The iris service as the API shows it now.
    pub(crate) fn service(&self) -> Value {
        let r = self.admin(Request::get("/api/v1/services"));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["services"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == "iris"))
            .cloned()
            .unwrap_or_else(|| panic!("no iris in {}", r.text()))
    }

    /// Predictions for the evaluation rows `ids` (every third forced to the candidate with
    /// `x-canary: always`), each followed by its true label; returns requests per version.
    pub(crate) fn traffic(&self, ids: std::ops::Range<usize>) -> BTreeMap<String, u64> {
        self.paced_traffic(ids, Duration::ZERO)
    }

    pub(crate) fn paced_traffic(
        &self,
        ids: std::ops::Range<usize>,
        pause: Duration,
    ) -> BTreeMap<String, u64> {
        let rows = crate::common::iris_rows("iris-eval.csv");
        let mut per_version = BTreeMap::new();
        for i in ids {
            let (row, truth) = rows[i % rows.len()];
            let id = format!("dash-{i}");
            let mut req = Request::post(
                "/v1/models/iris/predict",
                json!({ "instances": [row] }).to_string(),
            )
            .header("x-request-id", &id);
            if i % 3 == 0 {
                req = req.header("x-canary", "always");
            }
            let r = req.send(self.node.data);
            assert_eq!(r.status, 200, "{}", r.text());
            *per_version.entry(r.version()).or_insert(0) += 1;
            let label = json!({"request_id": id, "label": truth});
            let f = Request::post("/v1/feedback", label.to_string()).send(self.node.data);
            assert_eq!(f.status, 200, "{}", f.text());
            std::thread::sleep(pause);
        }
        per_version
    }
}

/// Checks every 200 ms until `check` holds or `timeout` passes: each check drives the browser
/// and the API, so a tighter loop would only steal CPU from the page under test.
pub(crate) fn settles(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Everything the page shows under a `data-testid`, read in one round trip so the values
/// belong to the same render.
#[derive(Debug)]
pub(crate) struct Shown(Value);

const READ: &str = "const out = {};\
    for (const el of document.querySelectorAll('[data-testid]')) {\
      out[el.dataset.testid] = { text: el.textContent.trim(), data: { ...el.dataset } };\
    }\
    return out;";

impl Shown {
    pub(crate) fn read(browser: &Browser) -> Self {
        Self(browser.eval(READ, json!([])))
    }

    /// The element's visible text ("" when absent).
    pub(crate) fn text(&self, testid: &str) -> String {
        self.0[testid]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A `data-*` attribute of the element ("" when absent).
    pub(crate) fn attr(&self, testid: &str, name: &str) -> String {
        self.0[testid]["data"][name]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The raw number behind a table cell (`data-value`), as the API sent it.
    pub(crate) fn value(&self, testid: &str) -> String {
        self.attr(testid, "value")
    }

    pub(crate) fn number(&self, testid: &str) -> Option<f64> {
        self.value(testid).parse().ok()
    }
}

/// Saves a screenshot under the target dir; with `ROLLGATE_UPDATE_SCREENSHOTS=1` also as the
/// one the docs show, so docs change only when someone means them to.
pub(crate) fn keep_screenshot(browser: &Browser, name: &str) {
    browser.fit_to_page();
    std::thread::sleep(Duration::from_millis(300)); // charts follow the resize on the next frame
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(dir.join(name), &png).unwrap();
    eprintln!("screenshot: {}", dir.join(name).display());
    if std::env::var("ROLLGATE_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = workspace_root().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), &png).unwrap();
    }
}
