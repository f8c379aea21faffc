//! Telemetry of outbound requests: each one counts in the invocation's
//! ledger (requests, bytes out and in), and when spans are exported gets a
//! client span whose W3C `traceparent` goes out with it, so the server
//! called continues the trace. The span ends with the response body.

use crate::telemetry::{Ledger, Scope};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use opentelemetry::trace::{Span as _, SpanKind, Status};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::Span as SdkSpan;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi_http::{Error, WasiBody};

/// Counts a request in `scope`'s ledger and starts its client span (with
/// its `traceparent` set on the request); the request's body bytes are
/// counted as they go.
pub fn start(scope: &Arc<Scope>, request: &mut http::Request<WasiBody>) -> Option<SdkSpan> {
    Ledger::add(&scope.ledger.fetches, 1);
    let span = scope.child(
        request.method().as_str().to_string(),
        SpanKind::Client,
        || {
            let uri = request.uri();
            let mut attrs = vec![
                KeyValue::new("http.request.method", request.method().as_str().to_string()),
                KeyValue::new(
                    "url.full",
                    crate::telemetry::scope::clip(format!(
                        "{}://{}{}",
                        uri.scheme_str().unwrap_or("http"),
                        uri.authority().map(|a| a.as_str()).unwrap_or(""),
                        uri.path()
                    )),
                ),
            ];
            if let Some(host) = uri.host() {
                attrs.push(KeyValue::new("server.address", host.to_string()));
            }
            attrs
        },
    );
    if let Some(span) = &span {
        let tp = crate::telemetry::traceparent(span.span_context());
        if let Ok(value) = http::HeaderValue::from_str(&tp) {
            request.headers_mut().insert("traceparent", value);
        }
    }
    let body = std::mem::take(request.body_mut());
    *request.body_mut() = Counted {
        inner: body,
        bytes: scope.clone(),
        out: true,
        span: None,
    }
    .boxed_unsync();
    span
}

/// The response: its body's bytes counted, the span ended with it.
pub fn finish(
    scope: &Arc<Scope>,
    mut span: Option<SdkSpan>,
    resp: http::Response<WasiBody>,
) -> http::Response<WasiBody> {
    if let Some(s) = &mut span {
        let status = resp.status().as_u16();
        s.set_attribute(KeyValue::new("http.response.status_code", status as i64));
        if status >= 500 {
            s.set_status(Status::error(format!("HTTP {status}")));
        }
    }
    resp.map(|body| {
        Counted {
            inner: body,
            bytes: scope.clone(),
            out: false,
            span,
        }
        .boxed_unsync()
    })
}

/// The request failed: its span ends with the error.
pub fn fail(span: Option<SdkSpan>, e: &Error) {
    if let Some(mut s) = span {
        s.set_status(Status::error(format!("{e:?}")));
        s.end();
    }
}

/// A body whose data bytes are added to the ledger (out or in); ends
/// `span` at its end.
struct Counted {
    inner: WasiBody,
    bytes: Arc<Scope>,
    out: bool,
    span: Option<SdkSpan>,
}

impl Counted {
    fn counter(&self) -> &AtomicU64 {
        if self.out {
            &self.bytes.ledger.fetch_bytes_out
        } else {
            &self.bytes.ledger.fetch_bytes_in
        }
    }
}

impl Body for Counted {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    Ledger::add(self.counter(), data.len() as u64);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let message = format!("{e:?}");
                if let Some(mut span) = self.span.take() {
                    span.set_status(Status::error(message));
                    span.end();
                }
            }
            Poll::Ready(None) => {
                if let Some(mut span) = self.span.take() {
                    span.end();
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
