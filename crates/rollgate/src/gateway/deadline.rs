//! A deadline on reading a request body, against clients that trickle a body byte by byte to
//! hold a connection (and the memory of a half-read body) open: "slowloris" on the body.
//!
//! Each request body is wrapped so that once its deadline (arrival + `limits.body_read_timeout_ms`)
//! has passed, the next read that would wait fails with [`BodyTimeout`] instead; handlers map it
//! to 408. A body that is already buffered never touches the timer: the sleep is only created
//! when a read would wait.

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The request body did not arrive in full before its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} ms", .0.as_millis())]
pub(crate) struct BodyTimeout(pub(crate) Duration);

/// Wraps every request body with the deadline `timeout` after its arrival; the body becomes
/// an axum [`Body`] on the way, as the router would make it.
pub(crate) fn layer<B>(
    timeout: Duration,
) -> tower::util::MapRequestLayer<impl Fn(http::Request<B>) -> http::Request<Body> + Clone>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    tower::util::MapRequestLayer::new(move |req: http::Request<B>| {
        let deadline = Instant::now() + timeout;
        req.map(|inner| {
            Body::new(TimedBody {
                inner: Body::new(inner),
                deadline,
                timeout,
                sleep: None,
            })
        })
    })
}

/// True when `e`, or an error it wraps, is a [`BodyTimeout`].
pub(crate) fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<BodyTimeout>() {
            return true;
        }
        next = err.source();
    }
    false
}

struct TimedBody {
    inner: Body,
    deadline: Instant,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout(this.timeout).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn timed(inner: Body) -> TimedBody {
        let timeout = Duration::from_secs(5);
        TimedBody {
            inner,
            deadline: Instant::now() + timeout,
            timeout,
            sleep: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out() {
        let stalled = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
        let err = timed(Body::from_stream(stalled))
            .collect()
            .await
            .expect_err("a body that never ends times out");
        assert!(is_timeout(&*err), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_buffered_body_is_read_without_a_timer() {
        let mut body = timed(Body::from("abc"));
        let frame = body.frame().await.expect("a frame").expect("data");
        assert_eq!(frame.into_data().ok(), Some(Bytes::from("abc")));
        assert!(body.sleep.is_none(), "no sleep was created");
    }
}
