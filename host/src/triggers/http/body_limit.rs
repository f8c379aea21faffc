//! The limit on the request body a function is given: [`MAX_REQUEST_BODY`].
//! A larger declared `content-length` is answered 413 before the function
//! runs ([`declared_too_large`]); a body without one (chunked) that streams
//! past the limit ends, for the guest reading it, with the `wasi:http` error
//! `HTTP-request-body-size` ([`LimitedBody`]), and the connection closes
//! (the rest of the body is never read). A refused body is read and dropped
//! for a moment before the connection closes ([`linger`]).
//!
//! A body that stops arriving is cut too: once a reader has waited
//! `idle` (the host's `--timeout`) with nothing coming, the body ends with
//! `connection-read-timeout` ([`LimitedBody::idle_timeout`]). Without it a
//! function that answered and then reads its body waited for a client that
//! sent nothing until its hard limit (15.5 min by default), holding its
//! instance and its slot; a body still flowing, however slowly, goes on.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::future::Future;
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

/// Longest pause in a request body to the host's own APIs (records,
/// collections, deploys, admin), as long as a client has to send its
/// headers: a body that stops for longer is answered 408.
pub const HOST_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Slowest average a request body to the host's own APIs may arrive at
/// once its first [`HOST_BODY_IDLE_TIMEOUT`] is over: every 500 bytes
/// received buys one more second (Apache's `mod_reqtimeout` default,
/// `body=…,MinRate=500`). Without it a client sending one byte every
/// 29 s held a request (and its buffer) open for ever.
pub const HOST_BODY_MIN_RATE: u64 = 500;

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

/// An incoming body that fails once more than `limit` bytes came through,
/// or (with [`Self::idle_timeout`]) once its reader waited that long for
/// the next frame.
pub struct LimitedBody<B = Incoming> {
    inner: B,
    seen: u64,
    limit: u64,
    failed: bool,
    idle: Option<Duration>,
    /// Runs while a reader waits for the next frame.
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The whole body's pace: a grace, then bytes per second.
    pace: Option<(Duration, u64)>,
    /// When the body is due at the pace so far (set at the first wait).
    started: Option<tokio::time::Instant>,
    late: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> LimitedBody<B> {
    pub fn new(inner: B, limit: u64) -> LimitedBody<B> {
        LimitedBody {
            inner,
            seen: 0,
            limit,
            failed: false,
            idle: None,
            waiting: None,
            pace: None,
            started: None,
            late: None,
        }
    }

    /// Ends the body with `connection-read-timeout` once it is slower than
    /// `rate` bytes per second after a `grace`: by `grace + seen / rate`
    /// from its first read, the body has to be done (a trickle that never
    /// pauses long enough for [`Self::idle_timeout`] still ends).
    pub fn min_rate(mut self, grace: Duration, rate: u64) -> LimitedBody<B> {
        self.pace = Some((grace, rate.max(1)));
        self
    }

    /// Whether the body is past its pace (and arms the timer that wakes the
    /// reader when it will be).
    fn too_slow(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((grace, rate)) = self.pace else {
            return false;
        };
        let started = *self.started.get_or_insert_with(tokio::time::Instant::now);
        let due = started + grace + Duration::from_millis(self.seen.saturating_mul(1000) / rate);
        let late = self
            .late
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if late.deadline() != due {
            late.as_mut().reset(due);
        }
        late.as_mut().poll(cx).is_ready()
    }

    /// Ends the body with `connection-read-timeout` when a reader has
    /// waited `idle` for the next frame.
    pub fn idle_timeout(mut self, idle: Duration) -> LimitedBody<B> {
        self.idle = Some(idle);
        self
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
        if this.pace.is_some() && this.started.is_none() {
            this.started = Some(tokio::time::Instant::now());
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                if this.too_slow(cx) {
                    this.failed = true;
                    return Poll::Ready(Some(Err(
                        wasmtime_wasi_http::Error::ConnectionReadTimeout,
                    )));
                }
                if let Some(idle) = this.idle {
                    let waiting = this
                        .waiting
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                    if waiting.as_mut().poll(cx).is_ready() {
                        this.failed = true;
                        return Poll::Ready(Some(Err(
                            wasmtime_wasi_http::Error::ConnectionReadTimeout,
                        )));
                    }
                }
                return Poll::Pending;
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        this.waiting = None;
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

    type Sender = tokio::sync::mpsc::Sender<Result<Frame<Bytes>, Infallible>>;

    /// A body whose frames a test sends when it likes (and that stays open
    /// while the sender lives).
    fn channel_body() -> (Sender, impl Body<Data = Bytes, Error = Infallible> + Unpin) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
        (tx, StreamBody::new(Box::pin(stream)))
    }

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

    #[tokio::test]
    async fn a_body_that_stops_ends_after_the_idle_timeout() {
        // Two chunks 50 ms apart, then nothing: with 1 s of idle allowed
        // both come through, then the body fails instead of waiting forever.
        let (tx, inner) = channel_body();
        let mut body = LimitedBody::new(inner, 100).idle_timeout(Duration::from_secs(1));
        let feeder = tokio::spawn(async move {
            for _ in 0..2 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                tx.send(Ok(Frame::data(Bytes::from_static(b"ab"))))
                    .await
                    .unwrap();
            }
            // Keep the body open, sending nothing.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(tx);
        });
        for _ in 0..2 {
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), "ab");
        }
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(
            err,
            wasmtime_wasi_http::Error::ConnectionReadTimeout
        ));
        assert!(body.frame().await.is_none(), "nothing after the error");
        feeder.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_ends_once_it_falls_below_the_minimum_rate() {
        // One byte every 20 s never trips a 30 s idle timeout; at 500 B/s
        // after a 30 s grace the body has to be done by 30 s + 2 ms per
        // byte, so it fails after the byte at 20 s, at ~30 s.
        let (tx, inner) = channel_body();
        let mut body = LimitedBody::new(inner, 1 << 20)
            .idle_timeout(Duration::from_secs(30))
            .min_rate(Duration::from_secs(30), 500);
        let feeder = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(20)).await;
                if tx
                    .send(Ok(Frame::data(Bytes::from_static(b"x"))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let start = tokio::time::Instant::now();
        let mut got = 0;
        let err = tokio::time::timeout(Duration::from_secs(300), async {
            loop {
                match body.frame().await.unwrap() {
                    Ok(_) => got += 1,
                    Err(e) => break e,
                }
            }
        })
        .await
        .expect("the trickle was never cut");
        assert!(matches!(
            err,
            wasmtime_wasi_http::Error::ConnectionReadTimeout
        ));
        assert_eq!(got, 1);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(30) && took < Duration::from_secs(31),
            "{took:?}"
        );
        feeder.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_at_the_minimum_rate_goes_through() {
        // 600 B/s for 100 s, in 60-byte chunks every 100 ms: faster than
        // the minimum, slower than any grace: it all arrives.
        let (tx, inner) = channel_body();
        let body = LimitedBody::new(inner, 1 << 20)
            .idle_timeout(Duration::from_secs(30))
            .min_rate(Duration::from_secs(1), 500);
        tokio::spawn(async move {
            for _ in 0..1000 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                tx.send(Ok(Frame::data(Bytes::from(vec![1u8; 60]))))
                    .await
                    .unwrap();
            }
        });
        let whole = body.collect().await.unwrap().to_bytes();
        assert_eq!(whole.len(), 60_000);
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
