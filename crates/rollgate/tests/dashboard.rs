//! The dashboard in a real headless Chromium: the page signs in with the admin token, shows
//! the same numbers the control API gives, keeps them live, and drives a rollout's verbs
//! through its confirmation dialog.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the tests fail with the
//! install command rather than skip. Screenshots are kept in `$CARGO_TARGET_TMPDIR`, and copied
//! to `docs/` only with `ROLLGATE_UPDATE_SCREENSHOTS=1`.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "dashboard/page.rs"]
mod page;
#[path = "dashboard/webdriver.rs"]
mod webdriver;

use common::http::Request;
use common::TempDir;
use page::{settles, Gateway, Shown};
use serde_json::{json, Value};
use std::time::Duration;
use webdriver::Browser;

/// How long the page may take to show what the API says (it polls every second).
const SETTLE: Duration = Duration::from_secs(20);

const CONFIG: &str = r#"
admin:
  token: dashboard-test-token
services:
  iris:
    input_width: 4
    output: { classes: [setosa, versicolor, virginica] }
    versions:
      v1: { onnx: "builtin:iris-v1" }
      v2: { onnx: "builtin:iris-v2" }
      bad: { onnx: "builtin:iris-bad" }
    route:
      stable: v1
      candidate: v2
      weights: { v1: 90, v2: 10 }
"#;

/// Where the page and the API disagree about a version.
// Read through `Debug`, in the failure messages of the assertions.
#[allow(dead_code)]
#[derive(Debug)]
enum Disagreement {
    /// The API does not list the version.
    NoVersion(String),
    /// The page shows another value than the API's.
    Value {
        version: String,
        metric: &'static str,
        page: String,
        api: String,
    },
}

impl Disagreement {
    fn value(
        version: &str,
        metric: &'static str,
        page: impl std::fmt::Debug,
        api: impl std::fmt::Debug,
    ) -> Self {
        Disagreement::Value {
            version: version.to_owned(),
            metric,
            page: format!("{page:?}"),
            api: format!("{api:?}"),
        }
    }
}

/// The numbers of one version the page must agree with the API on.
fn agrees(shown: &Shown, api: &Value, version: &str) -> Result<(), Disagreement> {
    let v = api["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == version))
        .ok_or_else(|| Disagreement::NoVersion(version.to_owned()))?;
    let stats = &v["stats"];
    let checks = [
        ("requests", stats["requests"].to_string()),
        ("errors", stats["errors"].to_string()),
        ("labelled", stats["labelled"].to_string()),
        (
            "weight",
            v["weight_percent"].as_str().unwrap_or_default().to_owned(),
        ),
    ];
    for (metric, want) in checks {
        let got = shown.value(&format!("version-{version}-{metric}"));
        if got != want {
            return Err(Disagreement::value(version, metric, got, want));
        }
    }
    let got = shown.number(&format!("version-{version}-accuracy"));
    let want = stats["accuracy"].as_f64();
    let same = match (got, want) {
        (Some(g), Some(w)) => (g - w).abs() < 1e-9,
        (g, w) => g == w,
    };
    if !same {
        return Err(Disagreement::value(version, "accuracy", got, want));
    }
    Ok(())
}

#[test]
fn the_page_shows_what_the_api_says_and_stays_live() {
    // Every request is also mirrored to `bad`, whose shadow rows the page must show.
    let config = CONFIG.replace(
        "weights: { v1: 90, v2: 10 }",
        "weights: { v1: 90, v2: 10 }\n      mirror: { to: bad, percent: 100 }",
    );
    let dir = TempDir::new();
    let gw = Gateway::start(&dir, &config, Some("dashboard-test-token"));
    let sent = gw.traffic(0..45);
    assert_eq!(sent.len(), 2, "both versions served: {sent:?}");

    let browser = Browser::start();
    browser.goto(&gw.url("/"));
    // The token is required: the page asks for it before showing anything.
    browser.click("[data-testid=login-token]", SETTLE);
    browser.type_into("[data-testid=login-token]", "dashboard-test-token");
    browser.click("[data-testid=login-submit]", SETTLE);
    let _ = browser.console(); // the 401 that opened the sign-in form is expected

    let mut last = String::new();
    let settled = settles(SETTLE, || {
        let shown = Shown::read(&browser);
        let api = gw.service();
        let r = ["v1", "v2"]
            .iter()
            .try_for_each(|v| agrees(&shown, &api, v));
        last = format!("{r:?}");
        r.is_ok()
    });
    assert!(settled, "the page never matched the API: {last}");
    let shadow_shown = settles(SETTLE, || {
        let api = gw.service();
        let bad = api["versions"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == "bad"))
            .map(|v| v["stats"]["shadow"].clone())
            .unwrap_or_default();
        let page = Shown::read(&browser).text("version-bad-shadow-errors");
        last = format!("API {bad}, page {page:?}");
        bad["requests"].as_u64().is_some_and(|n| n > 0)
            && page == format!("{} of {}", bad["candidate_errors"], bad["requests"])
    });
    assert!(shadow_shown, "the mirrored version's shadow errors: {last}");
    let shown = Shown::read(&browser);
    assert_eq!(shown.text("service-name"), "iris");
    assert_eq!(shown.text("list-iris-v2-weight"), "10 %");
    assert!(shown.text("connection").starts_with("Live"), "{shown:?}");

    // More traffic while the page is open: the rate appears and the counts follow.
    let sender = {
        let gw = gw.clone();
        std::thread::spawn(move || gw.paced_traffic(100..160, Duration::from_millis(50)))
    };
    let rate_seen = settles(SETTLE, || {
        Shown::read(&browser)
            .number("version-v1-rate")
            .is_some_and(|r| r > 0.0)
    });
    sender.join().unwrap();
    assert!(
        rate_seen,
        "no request rate shown for v1 while traffic flowed"
    );
    let caught_up = settles(SETTLE, || {
        let shown = Shown::read(&browser);
        let api = gw.service();
        ["v1", "v2"].iter().all(|v| agrees(&shown, &api, v).is_ok())
    });
    assert!(caught_up, "the page did not follow the new traffic");

    // Charts were drawn, and the page asked nothing of any other origin.
    let canvases = browser.eval(
        "return document.querySelectorAll('[data-testid^=chart-] canvas').length",
        json!([]),
    );
    assert!(canvases.as_u64().unwrap_or(0) >= 6, "charts: {canvases}");
    let foreign = browser.eval(
        "return performance.getEntriesByType('resource').map(e => e.name)\
         .filter(n => !n.startsWith(location.origin))",
        json!([]),
    );
    assert_eq!(foreign, json!([]), "requests to other origins");
    let severe: Vec<Value> = browser
        .console()
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "browser console errors: {severe:?}");

    page::keep_screenshot(&browser, "dashboard.png");
}

#[test]
fn abort_from_the_page_returns_all_traffic_to_stable() {
    let config = CONFIG.replace("weights: { v1: 90, v2: 10 }", "weights: { v1: 100 }");
    let dir = TempDir::new();
    let gw = Gateway::start(&dir, &config, Some("dashboard-test-token"));
    let plan = "steps:\n  - canary: {steps: [10, 50], hold: 1h}\n";
    let r = gw.admin(
        Request::new("POST", "/api/v1/services/iris/rollout")
            .header("content-type", "application/yaml")
            .body(plan),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    gw.traffic(0..30);

    let browser = Browser::start();
    browser.goto(&gw.url("/"));
    browser.click("[data-testid=login-token]", SETTLE);
    browser.type_into("[data-testid=login-token]", "dashboard-test-token");
    browser.click("[data-testid=login-submit]", SETTLE);
    let live = settles(SETTLE, || {
        let shown = Shown::read(&browser);
        ["pending", "progressing"].contains(&shown.attr("rollout-phase", "phase").as_str())
            && shown.text("rollout-strategy") == "canary"
    });
    assert!(
        live,
        "the page never showed a live canary: {:?}",
        Shown::read(&browser)
    );
    page::keep_screenshot(&browser, "dashboard-rollout.png");

    browser.click("[data-testid=btn-abort]", SETTLE);
    browser.click("[data-testid=confirm-yes]", SETTLE);

    let aborted = settles(Duration::from_secs(30), || {
        let r = gw.admin(Request::get("/api/v1/services/iris/rollout"));
        r.status == 200 && r.json()["rollout"]["phase"] == "aborted"
    });
    assert!(aborted, "the rollout was not aborted");
    let svc = gw.service();
    let v2 = svc["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == "v2"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(v2["weight_percent"], "0", "{svc}");
    let shown_aborted = settles(SETTLE, || {
        Shown::read(&browser).attr("rollout-phase", "phase") == "aborted"
    });
    assert!(shown_aborted, "the page did not show the abort");
}
