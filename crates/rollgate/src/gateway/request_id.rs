//! Every answer carries `x-request-id`: the client's own when it sent a sane one, else a new
//! 32-hex-digit id. The id is decided once, before routing, so logs, upstreams and answers agree.
//!
//! This runs on every request of the data port, so it is a plain tower layer (no boxed future,
//! no service clone, unlike `axum::middleware::from_fn`) and a new id costs no syscall and no
//! formatting machinery: a random per-thread prefix and a scrambled per-thread counter, written
//! as hex into a stack buffer.

use axum::extract::Request;
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// A typed name: a `&str` name is parsed and validated again at every map operation, and this
/// one is used four times per request.
const HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client id kept; longer ones are replaced, as are ids with non-visible characters.
const MAX_LEN: usize = 128;

/// Sets the request id on the request (for handlers) and on the answer.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Layer;

impl<S> tower::Layer<S> for Layer {
    type Service = RequestId<S>;

    fn layer(&self, inner: S) -> RequestId<S> {
        RequestId(inner)
    }
}

/// The service [`Layer`] wraps around each route.
#[derive(Debug, Clone)]
pub(crate) struct RequestId<S>(S);

impl<S> tower::Service<Request> for RequestId<S>
where
    S: tower::Service<Request, Response = Response>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = WithId<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = client_id(&req).unwrap_or_else(new_id);
        req.headers_mut().insert(HEADER, id.clone());
        WithId {
            inner: self.0.call(req),
            id: Some(id),
        }
    }
}

/// The inner answer, with the id set on it.
#[derive(Debug)]
pub(crate) struct WithId<F> {
    inner: F,
    id: Option<HeaderValue>,
}

impl<F, E> Future for WithId<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut resp = ready!(Pin::new(&mut self.inner).poll(cx))?;
        if let Some(id) = self.id.take() {
            resp.headers_mut().insert(HEADER, id);
        }
        Poll::Ready(Ok(resp))
    }
}

fn client_id(req: &Request) -> Option<HeaderValue> {
    let v = req.headers().get(&HEADER)?;
    let ok =
        !v.is_empty() && v.len() <= MAX_LEN && v.as_bytes().iter().all(|b| b.is_ascii_graphic());
    ok.then(|| v.clone())
}

thread_local! {
    /// (random prefix, counter): unique per thread by the prefix, within it by the counter.
    static NEXT: Cell<(u64, u64)> = Cell::new((rand::random(), rand::random()));
}

/// 128 bits as 32 hex digits: a random 64-bit prefix drawn once per thread, then a 64-bit
/// counter passed through a bijective mixer, so ids are unique and do not reveal a sequence.
fn new_id() -> HeaderValue {
    let (prefix, n) = NEXT.with(|c| {
        let (prefix, n) = c.get();
        c.set((prefix, n.wrapping_add(1)));
        (prefix, n)
    });
    let mut buf = [0u8; 32];
    hex(prefix, &mut buf[..16]);
    hex(mix(n), &mut buf[16..]);
    HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The splitmix64 finaliser: a bijection on `u64`, so distinct counters give distinct values.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hex(v: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in out.iter_mut().enumerate() {
        *b = DIGITS[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
}

/// The id the layer decided for this request.
pub(super) fn of(req: &Request) -> HeaderValue {
    req.headers()
        .get(&HEADER)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_32_hex_digits_and_distinct() {
        let ids: std::collections::HashSet<Vec<u8>> =
            (0..1000).map(|_| new_id().as_bytes().to_vec()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id
                .iter()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn hex_writes_most_significant_digit_first() {
        let mut buf = [0u8; 16];
        hex(0x0123_4567_89ab_cdef, &mut buf);
        assert_eq!(&buf, b"0123456789abcdef");
    }
}
