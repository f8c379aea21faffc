//! The limit on the request body a function is given: [`MAX_REQUEST_BODY`].
//! A larger declared `content-length` is answered 413 before the function
//! runs ([`declared_too_large`]); a body without one (chunked) that streams
//! past the limit ends, for the guest reading it, with the `wasi:http` error
//! `HTTP-request-body-size` ([`LimitedBody`]), and the connection closes
//! (the rest of the body is never read). A refused body is read and dropped
//! for a moment before the connection closes ([`linger`]).

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Largest request body given to a function: 100 MiB (Cloudflare Workers'
/// default too).
pub const MAX_REQUEST_BODY: u64 = 100 << 20;

/// The declared `content-length` when it is larger than `limit`.
pub fn declared_too_large<B>(req: &http::Request<B>, limit: u64) -> Option<u64> {
    let declared = req.headers().get(http::header::CONTENT_LENGTH)?;
    let len: u64 = declared.to_str().ok()?.trim().parse().ok()?;
    (len > limit).then_some(len)
}

/// How long the host goes on reading (and dropping) a body it refused
/// before it closes the connection.
pub const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much of a refused body the host reads (and drops) at most.
pub const LINGER_BYTES: u64 = 256 << 20;

/// Reads and drops what the client goes on sending of a body refused with
/// an early answer (for [`LINGER_TIME`] and [`LINGER_BYTES`] at most),
/// the way a lingering close does: a connection closed on unread bytes is
/// reset, and the reset can reach a client still sending before it reads
/// the answer — it would see "connection reset" instead of the 413.
/// Nothing is kept, so this costs bandwidth, never memory.
pub fn linger(body: Incoming) {
    tokio::spawn(async move {
        let mut body = body;
        let mut seen = 0u64;
        let _ = tokio::time::timeout(LINGER_TIME, async {
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if seen > LINGER_BYTES {
                    return;
                }
            }
        })
        .await;
    });
}

/// An incoming body that fails once more than `limit` bytes came through.
pub struct LimitedBody<B = Incoming> {
    inner: B,
    seen: u64,
    limit: u64,
    failed: bool,
}

impl<B> LimitedBody<B> {
    pub fn new(inner: B, limit: u64) -> LimitedBody<B> {
        LimitedBody {
            inner,
            seen: 0,
            limit,
            failed: false,
        }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        if let Some(data) = frame.data_ref() {
            this.seen += data.len() as u64;
            if this.seen > this.limit {
                this.failed = true;
                return Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpRequestBodySize(
                    Some(this.seen),
                ))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use std::convert::Infallible;

    fn chunks(n: usize, size: usize) -> impl Body<Data = Bytes, Error = Infallible> + Unpin {
        let frames =
            (0..n).map(move |_| Ok::<_, Infallible>(Frame::data(Bytes::from(vec![7u8; size]))));
        StreamBody::new(futures::stream::iter(frames.collect::<Vec<_>>()))
    }

    #[tokio::test]
    async fn a_body_past_the_limit_fails_with_its_size() {
        // 10 chunks of 100 bytes: 1,000 pass a limit of 1,000, not of 999.
        let whole = LimitedBody::new(chunks(10, 100), 1000)
            .collect()
            .await
            .unwrap();
        assert_eq!(whole.to_bytes().len(), 1000);
        let mut body = LimitedBody::new(chunks(10, 100), 999);
        let mut read = 0;
        let err = loop {
            match body.frame().await {
                Some(Ok(f)) => read += f.into_data().unwrap().len(),
                Some(Err(e)) => break e,
                None => panic!("the whole body came through"),
            }
        };
        assert_eq!(read, 900, "the chunk that crosses the limit is not given");
        assert!(matches!(
            err,
            wasmtime_wasi_http::Error::HttpRequestBodySize(Some(1000))
        ));
        assert!(body.frame().await.is_none(), "nothing after the error");
        let one = LimitedBody::new(Full::new(Bytes::from_static(b"12345")), 4);
        assert!(one.collect().await.is_err());
    }

    #[test]
    fn declared_lengths() {
        let req = |v: &str| {
            http::Request::builder()
                .header("content-length", v)
                .body(())
                .unwrap()
        };
        assert_eq!(declared_too_large(&req("11"), 10), Some(11));
        assert_eq!(declared_too_large(&req("10"), 10), None);
        assert_eq!(declared_too_large(&req("x"), 10), None);
        let none = http::Request::builder().body(()).unwrap();
        assert_eq!(declared_too_large(&none, 0), None);
    }
}
