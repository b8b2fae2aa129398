//! Every answer carries `x-request-id`: the client's own when it sent a sane one, else a new
//! UUID. The id is decided once, before routing, so logs, upstreams and answers agree.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

const HEADER: &str = "x-request-id";
/// Longest client id kept; longer ones are replaced, as are ids with non-visible characters.
const MAX_LEN: usize = 128;

/// Sets the request id on the request (for handlers) and on the answer.
pub(super) async fn layer(mut req: Request, next: Next) -> Response {
    let id = client_id(&req).unwrap_or_else(new_id);
    req.headers_mut().insert(HEADER, id.clone());
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(HEADER, id);
    resp
}

fn client_id(req: &Request) -> Option<HeaderValue> {
    let v = req.headers().get(HEADER)?;
    let ok =
        !v.is_empty() && v.len() <= MAX_LEN && v.as_bytes().iter().all(|b| b.is_ascii_graphic());
    ok.then(|| v.clone())
}

fn new_id() -> HeaderValue {
    let id = uuid::Uuid::new_v4().simple().to_string();
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The id the layer decided for this request.
pub(super) fn of(req: &Request) -> String {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
