//! SSRF: a function allowed to reach only a few names tries to reach a
//! loopback canary by every spelling of its address, by names that resolve
//! to loopback, through userinfo tricks and through a redirect. The canary
//! counts accepted connections and must see none; the positive controls
//! list the canary's address and reach it, so the suite can fail.

use pbs::config::{HostConfig, Mode};
use pbs::server::Server;
use pbs_tests::{guests, test_limits, Backend, TestHost};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback listener that counts the connections it accepts and answers
/// each request with `response` (or holds the connection when `None`).
struct Listener {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Listener {
    async fn start(response: Option<String>) -> Listener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    match response {
                        Some(r) => {
                            let _ = sock.write_all(r.as_bytes()).await;
                        }
                        // Hold the connection open, silent, for a while.
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        Listener { port, hits }
    }

    /// Answers `200 canary` to everything.
    async fn canary() -> Listener {
        Self::start(Some(
            "HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\ncanary".into(),
        ))
        .await
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A host whose functions may reach `allowed`, with fetch_proxy deployed
/// as `fetch`.
async fn host_allowing(allowed: &[String]) -> TestHost {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = pbs_tests::new_database(Backend::Sqlite, dir.path()).await;
    let config = HostConfig {
        mode: Mode::Host,
        addr: "127.0.0.1:0".parse().unwrap(),
        dir: dir.path().to_path_buf(),
        db: Some(db.clone()),
        admin_token: Some("test-admin-token".into()),
        limits: test_limits(),
        allowed_hosts: allowed.to_vec(),
        registry_refresh: Duration::from_millis(200),
        secrets: Default::default(),
        jobs: Default::default(),
        files: Default::default(),
        telemetry: Default::default(),
    };
    let server = Server::start(config).await.expect("start host");
    let base = format!("http://{}", server.addr());
    let host = TestHost {
        server,
        dir,
        db,
        base,
        token: "test-admin-token".into(),
        client: pbs_tests::client(),
    };
    host.deploy_ok("fetch", guests::FETCH_PROXY).await;
    host
}

/// Percent-encodes everything but the unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Fetched {
    status: u16,
    body: String,
    fetched: String,
    hops: String,
}

/// Asks fetch_proxy to fetch `url` (`extra` appends query parameters).
async fn fetch(host: &TestHost, url: &str, extra: &str) -> Fetched {
    let resp = host
        .client
        .get(format!(
            "{}?url={}{extra}",
            host.function_url("fetch"),
            encode(url)
        ))
        .send()
        .await
        .expect("function request");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (status, fetched, hops) = (
        resp.status().as_u16(),
        header("x-fetched"),
        header("x-hops"),
    );
    let body = resp.text().await.unwrap_or_default();
    Fetched {
        status,
        body,
        fetched,
        hops,
    }
}

/// The machine's own name when it resolves only to loopback addresses (it
/// does in most containers, through /etc/hosts): a real DNS answer of
/// 127.0.0.1 for a name on the allowlist.
async fn loopback_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_ascii_lowercase();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return None;
    }
    let addrs: Vec<_> = tokio::net::lookup_host((name.as_str(), 0))
        .await
        .ok()?
        .collect();
    (!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())).then_some(name)
}

/// How a spelling must fail.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// An address literal: not on a names-only list (`HttpRequestDenied`);
    /// covered by `0.0.0.0/0` or `::/0` but special, so still refused
    /// (`DestinationIpProhibited`).
    Literal,
    /// A name on the list that is loopback: `DestinationIpProhibited`.
    Name,
    /// Userinfo, names not on the list, metadata names: `HttpRequestDenied`.
    Denied,
    /// Not an authority at all: wasmtime's `set-authority` or our parser
    /// refuses it.
    Invalid,
}

fn spellings(port: u16, hostname: Option<&str>) -> Vec<(String, Kind)> {
    use Kind::*;
    let p = port;
    let mut list: Vec<(String, Kind)> = [
        // IPv4 in every inet_aton form.
        (format!("http://127.0.0.1:{p}/"), Literal),
        (format!("http://127.1:{p}/"), Literal),
        (format!("http://127.0.1:{p}/"), Literal),
        (format!("http://2130706433:{p}/"), Literal),
        (format!("http://0x7f000001:{p}/"), Literal),
        (format!("http://0X7F.1:{p}/"), Literal),
        (format!("http://0177.0.0.1:{p}/"), Literal),
        (format!("http://0177.1:{p}/"), Literal),
        (format!("http://017700000001:{p}/"), Literal),
        (format!("http://127.0.0.1.:{p}/"), Literal),
        (format!("http://127.000.000.001:{p}/"), Literal),
        (format!("http://0x7f.0x00.0x00.0x01:{p}/"), Literal),
        (format!("http://127.255.255.254:{p}/"), Literal),
        (format!("https://127.0.0.1:{p}/"), Literal),
        (format!("http://127.0.0.1:{p}#@allowed.example/"), Literal),
        (format!("http://127.0.0.1:{p}?@allowed.example/"), Literal),
        // IPv6 and IPv4 inside IPv6.
        (format!("http://[::ffff:127.0.0.1]:{p}/"), Literal),
        (format!("http://[::ffff:7f00:1]:{p}/"), Literal),
        (format!("http://[0:0:0:0:0:ffff:127.0.0.1]:{p}/"), Literal),
        (format!("http://[64:ff9b::7f00:1]:{p}/"), Literal),
        (format!("http://[64:ff9b::127.0.0.1]:{p}/"), Literal),
        (format!("http://[2002:7f00:1::]:{p}/"), Literal),
        (format!("http://[::127.0.0.1]:{p}/"), Literal),
        (format!("http://[::1]:{p}/"), Literal),
        (format!("http://[0:0:0:0:0:0:0:1]:{p}/"), Literal),
        (format!("http://[::]:{p}/"), Literal),
        (format!("http://0:{p}/"), Literal),
        (format!("http://0.0.0.0:{p}/"), Literal),
        // Other special ranges (refused before any dial).
        (
            "http://169.254.169.254/latest/meta-data/".to_string(),
            Literal,
        ),
        ("http://[fd00:ec2::254]/".to_string(), Literal),
        (format!("http://100.64.0.1:{p}/"), Literal),
        (format!("http://10.0.0.1:{p}/"), Literal),
        (format!("http://172.16.0.1:{p}/"), Literal),
        (format!("http://192.168.0.1:{p}/"), Literal),
        (format!("http://198.18.0.1:{p}/"), Literal),
        (format!("http://[fe80::1]:{p}/"), Literal),
        (format!("http://224.0.0.1:{p}/"), Literal),
        (format!("http://255.255.255.255:{p}/"), Literal),
        // Names on the allowlist that are loopback.
        (format!("http://localhost:{p}/"), Name),
        (format!("http://LOCALHOST:{p}/"), Name),
        (format!("http://localhost.:{p}/"), Name),
        (format!("http://LocalHost.:{p}/"), Name),
        (format!("http://canary.localhost:{p}/"), Name),
        // Userinfo, names not listed, metadata names behind a wildcard.
        (format!("http://allowed.example@127.0.0.1:{p}/"), Denied),
        (format!("http://allowed.example:{p}@127.0.0.1:{p}/"), Denied),
        (format!("http://127.0.0.1%2f@allowed.example:{p}/"), Denied),
        (format!("http://127.0.0.1:{p}%2f@allowed.example/"), Denied),
        (format!("http://localhost.localdomain:{p}/"), Denied),
        (format!("http://127.0.0.1.nip.io:{p}/"), Denied),
        (
            "http://metadata.google.internal/computeMetadata/v1/".to_string(),
            Denied,
        ),
        // Not an authority.
        (format!("http://[::1%25lo]:{p}/"), Invalid),
        (format!("http://127.0.0.0.1:{p}/"), Invalid),
        (format!("http://127.0.0.1:{p}:{p}/"), Invalid),
        (format!("http://127.0.0.1 :{p}/"), Invalid),
        (format!("http://0x7g.1:{p}/"), Invalid),
    ]
    .into_iter()
    .collect();
    if let Some(name) = hostname {
        list.push((format!("http://{name}:{p}/"), Name));
        list.push((format!("http://{}.:{p}/", name.to_uppercase()), Name));
    }
    list
}

fn names_allowlist(hostname: Option<&str>) -> Vec<String> {
    let mut list: Vec<String> = [
        "allowed.example",
        "*.allowed.example",
        "localhost",
        "*.localhost",
        "*.google.internal",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    list.extend(hostname.map(str::to_string));
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_loopback_is_refused() {
    let canary = Listener::canary().await;
    let hostname = loopback_hostname().await;
    let table = spellings(canary.port, hostname.as_deref());
    assert!(table.len() >= 30);

    let names_only = names_allowlist(hostname.as_deref());
    // Catch-all networks and loopback on another port unlock nothing.
    let mut with_networks = names_only.clone();
    with_networks.extend(["0.0.0.0/0", "::/0", "127.0.0.1:1"].map(String::from));

    for (allowlist, literal_error) in [
        (names_only, "HttpRequestDenied"),
        (with_networks, "DestinationIpProhibited"),
    ] {
        let host = host_allowing(&allowlist).await;
        let mut failures = Vec::new();
        for (url, kind) in &table {
            let got = fetch(&host, url, "").await;
            let ok = got.status == 502
                && match kind {
                    Kind::Literal => got.body.contains(literal_error),
                    Kind::Name => got.body.contains("DestinationIpProhibited"),
                    Kind::Denied => got.body.contains("HttpRequestDenied"),
                    Kind::Invalid => {
                        got.body.contains("set-authority refused")
                            || got.body.contains("HttpRequestUriInvalid")
                    }
                };
            if !ok {
                failures.push(format!("{url} ({kind:?}): {} {}", got.status, got.body));
            }
        }
        assert!(
            failures.is_empty(),
            "allowlist {allowlist:?}:\n{}",
            failures.join("\n")
        );
        assert_eq!(canary.hits(), 0, "the canary saw a connection");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicitly_listed_loopback_is_reached() {
    let canary = Listener::canary().await;
    let p = canary.port;
    let hostname = loopback_hostname().await;
    let mut allowlist = vec![
        format!("127.0.0.1:{p}"),
        format!("[::1]:{p}"),
        format!("localhost:{p}"),
    ];
    allowlist.extend(hostname.clone());
    let host = host_allowing(&allowlist).await;

    let mut reached = vec![
        format!("http://127.0.0.1:{p}/"),
        format!("http://127.1:{p}/"),
        format!("http://0x7f000001:{p}/"),
        format!("http://[::ffff:127.0.0.1]:{p}/"),
        format!("http://localhost:{p}/"),
    ];
    reached.extend(hostname.map(|name| format!("http://{name}:{p}/")));
    for url in &reached {
        let got = fetch(&host, url, "").await;
        assert_eq!(
            (got.status, got.body.as_str()),
            (200, "status 200"),
            "{url}"
        );
    }
    assert_eq!(canary.hits(), reached.len());

    // The entry is for that port only, and for that address only.
    for url in [
        format!("http://127.0.0.1:{}/", p.wrapping_add(1).max(1)),
        format!("http://127.0.0.2:{p}/"),
        format!("http://[64:ff9b::7f00:1]:{p}/"),
    ] {
        let got = fetch(&host, &url, "").await;
        assert_eq!(got.status, 502, "{url}: {}", got.body);
        assert!(
            got.body.contains("HttpRequestDenied"),
            "{url}: {}",
            got.body
        );
    }
    assert_eq!(canary.hits(), reached.len());
}

/// wasi:http does not follow redirects: each hop is a new request from the
/// guest and passes the check again (the JS `fetch` follows them the same
/// way, in the guest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_loopback_is_checked_at_the_hop() {
    let canary = Listener::canary().await;
    let redirect = Listener::start(Some(format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        canary.port
    )))
    .await;
    let host = host_allowing(&[format!("127.0.0.1:{}", redirect.port)]).await;
    let url = format!("http://127.0.0.1:{}/", redirect.port);

    let got = fetch(&host, &url, "").await;
    assert_eq!((got.status, got.body.as_str()), (302, "status 302"));
    assert_eq!(redirect.hits(), 1);

    let got = fetch(&host, &url, "&follow=3").await;
    assert_eq!(got.status, 502, "{}", got.body);
    assert!(got.body.contains("HttpRequestDenied"), "{}", got.body);
    assert_eq!(
        got.hops,
        format!("{url} http://127.0.0.1:{}/", canary.port),
        "the guest followed the redirect and the hop was refused"
    );
    assert_eq!(redirect.hits(), 2);
    assert_eq!(canary.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_has_a_request_budget() {
    let canary = Listener::canary().await;
    let host = host_allowing(&[format!("127.0.0.1:{}", canary.port)]).await;
    let url = format!("http://127.0.0.1:{}/", canary.port);
    let budget = pbs::config::DEFAULT_OUTBOUND_MAX_REQUESTS;
    let got = fetch(&host, &url, &format!("&n={}", budget + 1)).await;
    assert_eq!(got.status, 502, "{}", got.body);
    assert!(got.body.contains("ConnectionLimitReached"), "{}", got.body);
    assert_eq!(got.fetched, budget.to_string());
    assert_eq!(canary.hits(), budget as usize);
    // The next invocation starts with a full budget.
    let got = fetch(&host, &url, "").await;
    assert_eq!(got.status, 200, "{}", got.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_first_byte_timeout_is_honoured() {
    let silent = Listener::start(None).await;
    let host = host_allowing(&[format!("127.0.0.1:{}", silent.port)]).await;
    let url = format!("http://127.0.0.1:{}/", silent.port);
    let started = Instant::now();
    let got = fetch(&host, &url, "&first_byte_ms=300").await;
    assert_eq!(got.status, 502, "{}", got.body);
    assert!(got.body.contains("ConnectionReadTimeout"), "{}", got.body);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(silent.hits(), 1);
}
