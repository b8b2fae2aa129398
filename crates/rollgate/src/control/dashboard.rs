//! The live dashboard on the admin port: one page and its scripts, embedded in the binary so
//! an operator gets it with nothing to install, no files beside the binary and no build step.
//!
//! The assets are public (like `/api/v1/health`): they hold no data. Every data call the page
//! makes goes to the control API and carries the token, so the token still guards everything
//! the page shows or changes.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One embedded file: where it is served, its type and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// Everything the page loads. uPlot is vendored from npm with its licence beside it.
const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("dashboard/index.html"),
    },
    Asset {
        path: "/dashboard/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/app.js"),
    },
    Asset {
        path: "/dashboard/api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/api.js"),
    },
    Asset {
        path: "/dashboard/history.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/history.js"),
    },
    Asset {
        path: "/dashboard/charts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/charts.js"),
    },
    Asset {
        path: "/dashboard/format.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/format.js"),
    },
    Asset {
        path: "/dashboard/view.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/view.js"),
    },
    Asset {
        path: "/dashboard/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("dashboard/app.css"),
    },
    Asset {
        path: "/dashboard/vendor/uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/vendor/uPlot.iife.min.js"),
    },
    Asset {
        path: "/dashboard/vendor/uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("dashboard/vendor/uPlot.min.css"),
    },
    Asset {
        path: "/dashboard/vendor/uPlot.LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("dashboard/vendor/uPlot.LICENSE"),
    },
];

/// The page may load only what this binary serves and talk only to this port: a dashboard
/// that can abort rollouts must not run foreign script, nor be framed by another site
/// (clickjacking its buttons).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The routes serving the dashboard, to merge beside the public API routes.
pub(crate) fn routes() -> Router {
    ASSETS
        .iter()
        .enumerate()
        .fold(Router::new(), |router, (i, a)| {
            router.route(a.path, get(move |h: HeaderMap| async move { serve(i, &h) }))
        })
}

/// Strong validators, computed once: the assets change only with the binary, so a browser
/// revalidates (`no-cache`) and gets a body-less 304 on every reload of the same build, and
/// never runs a stale script against a newer API after an upgrade.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.body)[..12])))
            .collect()
    })
}

fn serve(index: usize, headers: &HeaderMap) -> Response {
    let (Some(asset), Some(etag)) = (ASSETS.get(index), etags().get(index)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file added to `dashboard/` but not to `ASSETS` would 404 only in a browser.
    #[test]
    fn every_asset_is_loaded_by_the_page_or_a_script() {
        let text = |a: &Asset| std::str::from_utf8(a.body).unwrap_or_default().to_owned();
        for a in ASSETS
            .iter()
            .filter(|a| a.path != "/" && !a.path.ends_with("LICENSE"))
        {
            let file = a.path.rsplit('/').next().unwrap_or_default();
            let named = ASSETS
                .iter()
                .filter(|b| b.path != a.path)
                .any(|b| text(b).contains(file));
            assert!(named, "nothing loads {}", a.path);
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for a in ASSETS.iter().filter(|a| !a.path.contains("vendor")) {
            let text = std::str::from_utf8(a.body).unwrap_or_default();
            assert!(!text.contains("http://"), "{} names http://", a.path);
            assert!(!text.contains("https://"), "{} names https://", a.path);
        }
    }

    #[test]
    fn a_matching_etag_answers_304() {
        let first = serve(1, &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers().get(header::ETAG).cloned();
        let mut h = HeaderMap::new();
        if let Some(e) = etag {
            h.insert(header::IF_NONE_MATCH, e);
        }
        assert_eq!(serve(1, &h).status(), StatusCode::NOT_MODIFIED);
    }
}
