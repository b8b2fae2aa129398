//! Reads what the router needs off a request: the sticky key and the overrides a service
//! honours. Only the sources the route table names are looked at.

use http::HeaderMap;
use rollgate_core::route::{RouteTable, StickySource};
use rollgate_core::router::RequestFacts;
use serde_json::{Map, Value};

/// Owned values of the facts, so the body can be parsed without borrowing the request.
#[derive(Debug, Default)]
pub(crate) struct OwnedFacts {
    sticky_key: Option<String>,
    canary_header: Option<String>,
    pinned: Option<String>,
}

impl OwnedFacts {
    /// The borrowed view the router takes.
    pub(crate) fn view(&self) -> RequestFacts<'_> {
        RequestFacts {
            sticky_key: self.sticky_key.as_deref(),
            canary_header: self.canary_header.as_deref(),
            pinned: self.pinned.as_deref(),
            flag: None,
        }
    }

    /// Pins the request to a version, e.g. one named in an Open Inference `versions/{v}` path.
    pub(crate) fn pin(&mut self, version: &str) {
        self.pinned = Some(version.to_owned());
    }
}

/// The evaluation context of a service's routing flag: the user key (the route's sticky key,
/// else the `x-user-id` header) and the request's headers by lower-case name.
pub(crate) fn flag_context<'a>(
    sticky: Option<&'a str>,
    headers: &'a HeaderMap,
) -> rollgate_core::flags::Context<'a> {
    let key = sticky.or_else(|| headers.get("x-user-id").and_then(|v| v.to_str().ok()));
    let mut ctx = key.map_or_else(
        rollgate_core::flags::Context::new,
        rollgate_core::flags::Context::with_key,
    );
    for (name, value) in headers {
        if let Ok(v) = value.to_str() {
            ctx.set(name.as_str(), v);
        }
    }
    ctx
}

/// True when the sticky key lives in the JSON body, which must then be read before routing.
pub(crate) fn needs_body(table: &RouteTable) -> bool {
    matches!(table.sticky(), Some(StickySource::JsonField(_)))
}

/// Extracts the facts; `body` is the parsed top-level JSON object when [`needs_body`] said so.
pub(crate) fn extract(
    table: &RouteTable,
    headers: &HeaderMap,
    body: Option<&Map<String, Value>>,
) -> OwnedFacts {
    let overrides = table.overrides();
    let sticky_key = match table.sticky() {
        None => None,
        Some(StickySource::Header(name)) => header(headers, name),
        Some(StickySource::Cookie(name)) => cookie(headers, name),
        Some(StickySource::JsonField(field)) => body.and_then(|b| json_key(b.get(field)?)),
    };
    OwnedFacts {
        sticky_key,
        canary_header: overrides
            .canary_header
            .as_deref()
            .and_then(|h| header(headers, h)),
        pinned: overrides
            .pin_cookie
            .as_deref()
            .and_then(|c| cookie(headers, c)),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The value of one cookie from every `Cookie` header (RFC 6265 `name=value; name2=value2`).
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// Strings and numbers make keys; a user id sent as `42` or `"42"` lands in the same bucket.
fn json_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollgate_core::route::{Overrides, RouteSpec};

    fn table(sticky: StickySource) -> RouteTable {
        RouteSpec {
            versions: vec!["v1".into(), "v2".into()],
            weights: vec![("v1".into(), 10_000)],
            sticky: Some(sticky),
            overrides: Overrides {
                canary_header: Some("x-canary".into()),
                pin_cookie: Some("rollgate-version".into()),
            },
            ..RouteSpec::default()
        }
        .build()
        .expect("valid")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn header_key_and_overrides() {
        let t = table(StickySource::Header("x-user-id".into()));
        let h = headers(&[
            ("x-user-id", "u1"),
            ("x-canary", "always"),
            ("cookie", "a=1; rollgate-version=v2"),
        ]);
        let f = extract(&t, &h, None);
        assert_eq!(
            f.view(),
            RequestFacts {
                sticky_key: Some("u1"),
                canary_header: Some("always"),
                pinned: Some("v2"),
                flag: None,
            }
        );
    }

    #[test]
    fn cookie_key_across_headers() {
        let t = table(StickySource::Cookie("uid".into()));
        let h = headers(&[("cookie", "x=1"), ("cookie", "uid=\"abc\"")]);
        assert_eq!(extract(&t, &h, None).view().sticky_key, Some("abc"));
    }

    #[test]
    fn json_field_key_accepts_strings_and_numbers() {
        let t = table(StickySource::JsonField("user_id".into()));
        assert!(needs_body(&t));
        let body: Map<String, Value> = serde_json::from_str(r#"{"user_id": 42}"#).expect("json");
        assert_eq!(
            extract(&t, &HeaderMap::new(), Some(&body))
                .view()
                .sticky_key,
            Some("42")
        );
        let body: Map<String, Value> = serde_json::from_str(r#"{"user_id": null}"#).expect("json");
        assert_eq!(
            extract(&t, &HeaderMap::new(), Some(&body))
                .view()
                .sticky_key,
            None
        );
    }
}
