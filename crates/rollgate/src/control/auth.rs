//! Bearer-token authentication of the control API.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;
use std::sync::Arc;

/// The token the admin port requires, if any. Without one the port only listens on loopback.
#[derive(Debug, Clone)]
pub(crate) struct Token(pub(crate) Option<Arc<str>>);

/// Refuses requests without `Authorization: Bearer <token>` when a token is configured.
pub(crate) async fn layer(State(token): State<Token>, req: Request, next: Next) -> Response {
    let Some(expected) = token.0 else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    if given.is_some_and(|g| same(g.as_bytes(), expected.as_bytes())) {
        return next.run(req).await;
    }
    let body = json!({"error": {"code": "unauthorized", "message": "a valid `Authorization: Bearer <token>` header is required"}});
    let mut resp = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    resp.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    resp
}

/// The credentials of a `Bearer` authorization; the scheme name is case-insensitive
/// (RFC 9110, section 11.1), so `bearer` and `BEARER` are the same scheme.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim_start_matches(' '))
}

/// Compares in constant time (`subtle`, which keeps the optimiser from reintroducing an early
/// exit), so the time taken does not reveal how much of a guess matches. Only the length,
/// which a token's holder chooses and an attacker cannot shorten, may show.
fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn comparison_is_exact() {
        assert!(super::same(b"secret", b"secret"));
        assert!(!super::same(b"secret", b"secreT"));
        assert!(!super::same(b"secret", b"secret2"));
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        assert_eq!(super::bearer("Bearer abc"), Some("abc"));
        assert_eq!(super::bearer("bearer  abc"), Some("abc"));
        assert_eq!(super::bearer("BEARER abc"), Some("abc"));
        assert_eq!(super::bearer("Basic abc"), None);
        assert_eq!(super::bearer("Bearerabc"), None);
    }
}
