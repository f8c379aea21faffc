//! Resolving, connecting and sending: our replacement for
//! `wasmtime_wasi_http::default_send_request`, which resolves the
//! authority itself inside `TcpStream::connect` — after any check of ours,
//! so a DNS answer could change between check and connect (rebinding).
//! Here the caller resolves once ([`Resolve`]), checks every address, and
//! [`send`] connects to exactly those `SocketAddr`s. The HTTP/1 exchange,
//! TLS (rustls with the webpki roots) and the timeout handling follow
//! wasmtime-wasi-http 48's `default_send_request`.

use crate::config::OutboundLimits;
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::rustls;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Looks a DNS name up. The system resolver in production; tests answer
/// from a table to play DNS rebinding.
pub trait Resolve: Send + Sync + 'static {
    fn resolve(&self, name: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>>;
}

/// `getaddrinfo` through tokio.
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        let name = name.to_string();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((name.as_str(), port))
                .await?
                .collect())
        })
    }
}

/// The timeouts of one request: the guest's `request-options`, capped by
/// the host's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Resolve, connect and TLS handshake, together.
    pub connect: Duration,
    /// Until the response headers arrive.
    pub first_byte: Duration,
    /// Between two chunks of the response body.
    pub between_bytes: Duration,
}

impl Timeouts {
    pub fn new(limits: &OutboundLimits, options: Option<RequestOptions>) -> Timeouts {
        let options = options.unwrap_or_default();
        let capped = |asked: Option<Duration>, cap: Duration| asked.map_or(cap, |a| a.min(cap));
        Timeouts {
            connect: capped(options.connect_timeout, limits.connect_timeout),
            first_byte: capped(options.first_byte_timeout, limits.first_byte_timeout),
            // tokio's interval panics on zero.
            between_bytes: capped(options.between_bytes_timeout, limits.between_bytes_timeout)
                .max(Duration::from_nanos(1)),
        }
    }
}

/// Resolves `name` before `deadline`.
pub async fn resolve(
    resolver: &dyn Resolve,
    name: &str,
    port: u16,
    deadline: Instant,
) -> Result<Vec<SocketAddr>, Error> {
    match tokio::time::timeout_at(deadline, resolver.resolve(name, port)).await {
        Err(_) => Err(Error::DnsTimeout),
        Ok(Err(e)) => Err(Error::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        }),
        Ok(Ok(addrs)) if addrs.is_empty() => Err(Error::DestinationNotFound),
        Ok(Ok(addrs)) => Ok(addrs),
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// The future that drives the connection after the response headers.
pub type ConnectionIo = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// Sends `request` over a new connection to the first of `addrs` that
/// answers (they are all checked already), with TLS to `tls` when set.
/// `deadline` bounds connecting and the handshakes.
pub async fn send(
    mut request: http::Request<WasiBody>,
    addrs: Vec<SocketAddr>,
    tls: Option<rustls::pki_types::ServerName<'static>>,
    timeouts: Timeouts,
    deadline: Instant,
) -> Result<(http::Response<WasiBody>, ConnectionIo), Error> {
    let connect = async {
        let tcp = connect_any(&addrs).await?;
        let stream: Box<dyn Stream> = match tls {
            None => Box::new(tcp),
            Some(name) => {
                let connector = tokio_rustls::TlsConnector::from(tls_config()?);
                Box::new(connector.connect(name, tcp).await.map_err(Error::Tls)?)
            }
        };
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?;
        Ok::<_, Error>((sender, conn))
    };
    let (mut sender, conn) = tokio::time::timeout_at(deadline, connect)
        .await
        .map_err(|_| Error::ConnectionTimeout)??;

    // The request line carries only the path: the authority went into the
    // `Host` header, and an absolute URI is for proxies.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;

    let between_bytes = timeouts.between_bytes;
    let send = async move {
        let response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)??;
        let mut idle = tokio::time::interval(between_bytes);
        idle.reset();
        Ok::<_, Error>(response.map(|incoming| IdleTimeoutBody { incoming, idle }.boxed_unsync()))
    };
    // Wait for the response while driving the connection's I/O.
    let mut send = pin!(send);
    let mut conn = Some(conn);
    let response = poll_fn(|cx| match send.as_mut().poll(cx) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => {
            let Some(fut) = conn.as_mut() else {
                return Poll::Pending;
            };
            let done = ready!(Pin::new(fut).poll(cx));
            conn = None;
            match done {
                Ok(()) => send.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(Error::from(e))),
            }
        }
    })
    .await?;
    let io = async move {
        match conn {
            None => Ok(()),
            Some(conn) => conn.await.map_err(|e| {
                if e.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::from(e)
                }
            }),
        }
    };
    Ok((response, Box::new(io)))
}

/// Connects to each address in turn; the last error if none answers.
async fn connect_any(addrs: &[SocketAddr]) -> Result<TcpStream, Error> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Small requests and streamed chunks go out at once.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(Error::Connect(last))
}

/// One client config for the process: ring, the webpki roots, no client
/// certificate (what `default_send_request` builds per request).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::InternalError(Some(format!("TLS configuration: {e}"))))
}

/// A response body that fails when no chunk arrives for a while.
struct IdleTimeoutBody {
    incoming: hyper::body::Incoming,
    idle: tokio::time::Interval,
}

impl http_body::Body for IdleTimeoutBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(Some(Ok(frame))) => {
                self.idle.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.idle.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_timeouts_are_capped_by_the_host() {
        let limits = OutboundLimits {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            between_bytes_timeout: Duration::from_secs(60),
            max_requests: 100,
        };
        let t = Timeouts::new(&limits, None);
        assert_eq!(
            (t.connect, t.first_byte, t.between_bytes),
            (
                limits.connect_timeout,
                limits.first_byte_timeout,
                limits.between_bytes_timeout
            )
        );
        let asked = RequestOptions {
            connect_timeout: Some(Duration::from_secs(3600)),
            first_byte_timeout: Some(Duration::from_secs(5)),
            between_bytes_timeout: Some(Duration::ZERO),
        };
        let t = Timeouts::new(&limits, Some(asked));
        assert_eq!(t.connect, Duration::from_secs(10), "longer than the cap");
        assert_eq!(t.first_byte, Duration::from_secs(5), "shorter is honoured");
        assert_eq!(t.between_bytes, Duration::from_nanos(1), "zero is clamped");
    }
}
