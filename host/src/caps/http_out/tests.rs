//! The policy end to end without Wasm: requests as wasmtime-wasi-http hands
//! them over, a table playing DNS, and a loopback canary that counts every
//! connection it accepts.

use super::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A listener on 127.0.0.1 that answers `200 ok` and counts connections.
struct Canary {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Canary {
    async fn start() -> Canary {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = sock
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                });
            }
        });
        Canary { port, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// DNS from a table; counts lookups.
#[derive(Default)]
struct TableResolver {
    answers: Mutex<HashMap<String, Vec<IpAddr>>>,
    lookups: AtomicUsize,
}

impl TableResolver {
    fn with(answers: &[(&str, &[&str])]) -> Arc<TableResolver> {
        let map = answers
            .iter()
            .map(|(name, ips)| {
                (
                    name.to_string(),
                    ips.iter().map(|ip| ip.parse().unwrap()).collect(),
                )
            })
            .collect();
        Arc::new(TableResolver {
            answers: Mutex::new(map),
            lookups: AtomicUsize::new(0),
        })
    }

    /// Changes the answer for `name`, as a rebinding DNS server would.
    fn rebind(&self, name: &str, ips: &[&str]) {
        let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        self.answers.lock().unwrap().insert(name.to_string(), ips);
    }
}

impl Resolve for TableResolver {
    fn resolve(
        &self,
        name: &str,
        port: u16,
    ) -> futures::future::BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = self.answers.lock().unwrap().get(name).cloned();
        Box::pin(async move {
            let ips = answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "NXDOMAIN"))?;
            Ok(ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect())
        })
    }
}

fn policy(allowed: &[&str], resolver: Arc<TableResolver>) -> OutboundPolicy {
    let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    OutboundPolicy::try_new(allowed.into())
        .unwrap()
        .with_resolver(resolver)
        .for_invocation("test".into())
}

fn request(url: &str) -> http::Request<WasiBody> {
    http::Request::get(url)
        .body(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync())
        .unwrap()
}

/// Sends `url` through the policy; `Ok(status and body)` or the error.
async fn fetch(policy: &mut OutboundPolicy, url: &str) -> Result<(u16, String), Error> {
    let fut = policy.send_request(request(url), None, Box::new(async { Ok(()) }));
    let (response, io) = Pin::from(fut).await?;
    tokio::spawn(Pin::from(io));
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn assert_refused(result: Result<(u16, String), Error>, want: &str, url: &str) {
    match result {
        Err(e) => assert_eq!(format!("{e:?}"), want, "{url}"),
        Ok(r) => panic!("{url} must be refused, got {r:?}"),
    }
}

#[tokio::test]
async fn default_policy_allows_nothing() {
    let canary = Canary::start().await;
    let mut p = OutboundPolicy::default();
    for url in [
        format!("http://127.0.0.1:{}/", canary.port),
        "https://example.com/".to_string(),
    ] {
        assert_refused(fetch(&mut p, &url).await, "HttpRequestDenied", &url);
    }
    assert_eq!(canary.hits(), 0);
}

#[tokio::test]
async fn listed_names_resolving_to_special_addresses_are_refused() {
    let canary = Canary::start().await;
    let port = canary.port;
    let dns = TableResolver::with(&[
        ("loop.example", &["127.0.0.1"]),
        ("mixed.example", &["93.184.216.34", "127.0.0.1"]),
        ("mapped.example", &["::ffff:127.0.0.1"]),
        ("nat64.example", &["64:ff9b::7f00:1"]),
        ("sixtofour.example", &["2002:7f00:1::1"]),
        ("meta.example", &["169.254.169.254"]),
        ("private.example", &["10.1.2.3"]),
        ("v6loop.example", &["::1"]),
    ]);
    let mut p = policy(
        &["*.example", "localhost", "*.localhost", "0.0.0.0/0", "::/0"],
        dns.clone(),
    );
    for name in [
        "loop.example",
        "mixed.example",
        "mapped.example",
        "nat64.example",
        "sixtofour.example",
        "meta.example",
        "private.example",
        "v6loop.example",
        "localhost",
        "LocalHost.",
        "db.localhost",
    ] {
        let url = format!("http://{name}:{port}/");
        assert_refused(fetch(&mut p, &url).await, "DestinationIpProhibited", &url);
    }
    assert_eq!(canary.hits(), 0);
    // localhost never reaches the resolver.
    assert_eq!(dns.lookups.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn the_checked_address_is_the_one_dialled() {
    let canary = Canary::start().await;
    let port = canary.port;
    // `canary.test` exists only in this table: a connection to the canary
    // proves the checked answer was dialled, not a second lookup.
    let dns = TableResolver::with(&[("canary.test", &["127.0.0.1"])]);
    let entry = format!("127.0.0.1:{port}");
    let mut p = policy(&["canary.test", &entry], dns.clone());
    let url = format!("http://canary.test:{port}/");
    assert_eq!(fetch(&mut p, &url).await.unwrap(), (200, "ok".to_string()));
    assert_eq!(canary.hits(), 1);
    assert_eq!(
        dns.lookups.load(Ordering::SeqCst),
        1,
        "one lookup per request"
    );

    // The name now points at a private address (a rebinding DNS server):
    // the next request looks it up again and is refused before dialling.
    dns.rebind("canary.test", &["10.0.0.1"]);
    assert_refused(fetch(&mut p, &url).await, "DestinationIpProhibited", &url);
    assert_eq!(canary.hits(), 1);

    // The loopback address listed on another port is not listed on this one.
    let mut other_port = policy(&["canary.test", "127.0.0.1:1"], dns.clone());
    dns.rebind("canary.test", &["127.0.0.1"]);
    assert_refused(
        fetch(&mut other_port, &url).await,
        "DestinationIpProhibited",
        &url,
    );
    assert_eq!(canary.hits(), 1);
}

#[tokio::test]
async fn literal_spellings_match_the_listed_address() {
    let canary = Canary::start().await;
    let port = canary.port;
    let entry = format!("127.0.0.1:{port}");
    let mut p = policy(&[&entry], TableResolver::with(&[]));
    for host in [
        "127.0.0.1",
        "127.1",
        "0x7f000001",
        "2130706433",
        "[::ffff:127.0.0.1]",
    ] {
        let url = format!("http://{host}:{port}/");
        assert_eq!(fetch(&mut p, &url).await.unwrap().0, 200, "{url}");
    }
    assert_eq!(canary.hits(), 5);
    // Listing the address does not list its NAT64 or IPv6 loopback forms.
    for host in ["[64:ff9b::7f00:1]", "[::1]", "127.0.0.2", "localhost"] {
        let url = format!("http://{host}:{port}/");
        assert!(fetch(&mut p, &url).await.is_err(), "{url}");
    }
    assert_eq!(canary.hits(), 5);
}

#[tokio::test]
async fn userinfo_metadata_names_and_bad_authorities_are_refused() {
    let dns = TableResolver::with(&[("metadata.google.internal", &["8.8.8.8"])]);
    let mut p = policy(
        &["allowed.example", "*.internal", "*.google.internal"],
        dns.clone(),
    );
    for (url, want) in [
        ("http://allowed.example@127.0.0.1/", "HttpRequestDenied"),
        ("http://user:pw@allowed.example/", "HttpRequestDenied"),
        ("http://metadata.google.internal/", "HttpRequestDenied"),
        ("http://1.2.3.4.5/", "HttpRequestUriInvalid"),
        ("http://[fe80::1%25eth0]/", "HttpRequestUriInvalid"),
        ("ftp://allowed.example/", "HttpProtocolError"),
    ] {
        assert_refused(fetch(&mut p, url).await, want, url);
    }
    assert_eq!(
        dns.lookups.load(Ordering::SeqCst),
        0,
        "nothing was resolved"
    );
}

#[tokio::test]
async fn the_request_budget_is_per_invocation() {
    let template = OutboundPolicy::default().with_limits(OutboundLimits {
        max_requests: 2,
        ..OutboundLimits::default()
    });
    let mut p = template.for_invocation("f".into());
    let url = "http://example.com/";
    assert_refused(fetch(&mut p, url).await, "HttpRequestDenied", url);
    assert_refused(fetch(&mut p, url).await, "HttpRequestDenied", url);
    assert_refused(fetch(&mut p, url).await, "ConnectionLimitReached", url);
    let mut next = template.for_invocation("f".into());
    assert_refused(fetch(&mut next, url).await, "HttpRequestDenied", url);
}

#[tokio::test]
async fn a_silent_server_hits_the_first_byte_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let entry = format!("127.0.0.1:{port}");
    let mut p = policy(&[&entry], TableResolver::with(&[])).with_limits(OutboundLimits {
        first_byte_timeout: std::time::Duration::from_millis(200),
        ..OutboundLimits::default()
    });
    let url = format!("http://127.0.0.1:{port}/");
    let started = std::time::Instant::now();
    assert_refused(fetch(&mut p, &url).await, "ConnectionReadTimeout", &url);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// The TLS path runs (SNI from the name or the address): a plain-text
/// server fails the handshake instead of being spoken to in clear.
#[tokio::test]
async fn https_speaks_tls_to_the_checked_address() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let entry = format!("127.0.0.1:{port}");
    let dns = TableResolver::with(&[("tls.test", &["127.0.0.1"])]);
    let mut p = policy(&[&entry, "tls.test"], dns);
    for url in [
        format!("https://127.0.0.1:{port}/"),
        format!("https://tls.test:{port}/"),
    ] {
        match fetch(&mut p, &url).await {
            Err(Error::Tls(_)) => {}
            other => panic!("{url}: expected a TLS error, got {other:?}"),
        }
    }
}
