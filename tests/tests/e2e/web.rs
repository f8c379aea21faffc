//! The Web platform of the JS engine (WinterTC's Minimum Common API):
//! `crypto.subtle` against Node's WebCrypto on the same vectors, real npm
//! packages bundled by the normal pipeline and unmodified (`jose`, `stripe`,
//! `hono`), Compression Streams against Node's zlib, URLPattern and the
//! small globals. Node runs the other side (`tests/js/node/peer.mjs`).

use std::io::Write;
use std::process::{Command, Stdio};

use pbs_tests::{js, Backend, TestHost};
use serde_json::{json, Value};

/// Runs `node node/peer.mjs ARGS` in `tests/js` with `stdin`; its stdout.
async fn node_peer(args: &[&str], stdin: Vec<u8>) -> Vec<u8> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("node")
            .arg("node/peer.mjs")
            .args(&args)
            .current_dir(js::project_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run node (scripts/setup.sh expects Node 20)");
        child.stdin.take().unwrap().write_all(&stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "node peer.mjs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    })
    .await
    .unwrap()
}

async fn node_json(args: &[&str], stdin: Vec<u8>) -> Value {
    serde_json::from_slice(&node_peer(args, stdin).await).expect("node peer prints JSON")
}

async fn deploy_js(host: &TestHost, name: &str, file: &str) {
    let resp = host.deploy(name, js::build(file).await).await;
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 201, "deploy {file}: {body}");
}

async fn get_json(host: &TestHost, path: &str) -> Value {
    let resp = host.client.get(host.url(path)).send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

async fn post_bytes(host: &TestHost, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let resp = host
        .client
        .post(host.url(path))
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

/// Digests, HMAC, AES-GCM/CBC/CTR/KW, PBKDF2, HKDF, ECDH, X25519, Ed25519 and
/// RSASSA-PKCS1-v1_5 give the same bytes as Node's WebCrypto; ECDSA, RSA-PSS
/// and RSA-OAEP outputs (randomised) and PKCS #8 exports are accepted by the
/// other side in both directions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webcrypto_agrees_with_node_on_the_same_vectors() {
    let host = TestHost::start(Backend::Sqlite).await;
    deploy_js(&host, "webcrypto", "webcrypto.ts").await;
    let ours = get_json(&host, "/api/pb_serverless/webcrypto").await;
    let node = node_json(&["vectors-compute"], Vec::new()).await;

    let ours_det = ours["deterministic"]
        .as_object()
        .expect("deterministic results");
    let node_det = node["deterministic"].as_object().unwrap();
    assert!(node_det.len() > 100, "{} vectors", node_det.len());
    let differing: Vec<String> = node_det
        .iter()
        .filter(|(name, value)| ours_det.get(*name) != Some(*value))
        .map(|(name, value)| {
            format!(
                "{name}: node {value}, engine {}",
                ours_det.get(name).unwrap_or(&Value::Null)
            )
        })
        .collect();
    assert!(
        differing.is_empty(),
        "the engine differs from Node:\n{}",
        differing.join("\n")
    );
    assert_eq!(ours_det.len(), node_det.len());

    // The engine checks Node's randomised outputs …
    let resp = host
        .client
        .post(host.function_url("webcrypto"))
        .json(&node["cross"])
        .send()
        .await
        .unwrap();
    let checked: Value = resp.json().await.unwrap();
    let checked = checked.as_object().expect("check results");
    assert!(
        checked.len() >= 9 && checked.values().all(|v| v == true),
        "{checked:?}"
    );
    // … and Node checks the engine's.
    let checked = node_json(&["vectors-check"], ours["cross"].to_string().into_bytes()).await;
    let checked = checked.as_object().unwrap();
    assert!(
        checked.len() >= 9 && checked.values().all(|v| v == true),
        "{checked:?}"
    );
}

/// A loopback server answering every request with `body` as JSON.
async fn json_server(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |_req: hyper::Request<hyper::body::Incoming>| {
                        let body = body.clone();
                        async move {
                            let mut resp = hyper::Response::new(http_body_util::Full::new(
                                bytes::Bytes::from(body),
                            ));
                            resp.headers_mut().insert(
                                "content-type",
                                hyper::header::HeaderValue::from_static("application/json"),
                            );
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// Percent-encodes a query value.
fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `jose` signs and verifies HS256, RS256, ES256 and EdDSA JWTs and rejects
/// a forged signature; verifies a token Node's jose issued against a JWKS
/// document fetched from a loopback server; and issues a token Node's jose
/// accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jose_signs_and_verifies_jwts_and_reads_a_remote_jwks() {
    let issued = node_json(&["jwt-issue"], Vec::new()).await;
    let jwks = json_server(issued["jwks"].to_string()).await;
    let host = TestHost::start_allowing(Backend::Sqlite, &[&jwks]).await;
    deploy_js(&host, "jose", "jose_jwt.ts").await;

    let results = get_json(&host, "/api/pb_serverless/jose/roundtrip").await;
    for alg in ["HS256", "RS256", "ES256", "EdDSA"] {
        assert_eq!(
            results[alg],
            json!({"sub": "user-42", "role": "admin", "alg": alg, "forged": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"}),
            "{alg}: {results}"
        );
    }

    let token = issued["token"].as_str().unwrap();
    let remote = |token: String| {
        format!(
            "/api/pb_serverless/jose/remote?jwks={}&token={}",
            encode_query(&format!("http://{jwks}/.well-known/jwks.json")),
            encode_query(&token)
        )
    };
    let ok = get_json(&host, &remote(token.to_string())).await;
    assert_eq!(
        ok,
        json!({"ok": true, "sub": "node-user", "kid": "node-key-1"})
    );
    // The same token with another payload: the signature no longer matches.
    let mut parts: Vec<&str> = token.split('.').collect();
    let other_payload = "eyJzdWIiOiJtYWxsb3J5IiwiaXNzIjoibm9kZS1wZWVyIiwiYXVkIjoicGJzIn0";
    parts[1] = other_payload;
    let resp = host
        .client
        .get(host.url(&remote(parts.join("."))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["code"], "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
        "{body}"
    );

    // Issued in the engine, verified by Node.
    for alg in ["ES256", "EdDSA"] {
        let issued = get_json(&host, &format!("/api/pb_serverless/jose/issue?alg={alg}")).await;
        let payload = node_json(&["jwt-verify"], issued.to_string().into_bytes()).await;
        assert_eq!(payload, json!({"from": "pbs", "sub": "engine"}), "{alg}");
    }
}

/// The `stripe` package's webhook check (HMAC-SHA256 through crypto.subtle)
/// accepts a signature made by the stripe package under Node and refuses a
/// tampered body or another secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_webhook_signatures_are_checked() {
    let host = TestHost::start(Backend::Sqlite).await;
    deploy_js(&host, "stripe", "stripe_webhook.ts").await;
    let payload = json!({"id": "evt_pbs_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {"amount": 4200}}}).to_string();
    let header = String::from_utf8(
        node_peer(
            &["stripe-header", "whsec_pbs_test_secret"],
            payload.clone().into_bytes(),
        )
        .await,
    )
    .unwrap();
    let wrong = String::from_utf8(
        node_peer(
            &["stripe-header", "whsec_another"],
            payload.clone().into_bytes(),
        )
        .await,
    )
    .unwrap();
    let send = |body: String, signature: String| {
        host.client
            .post(host.function_url("stripe"))
            .header("stripe-signature", signature)
            .body(body)
            .send()
    };
    let resp = send(payload.clone(), header.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"ok": true, "id": "evt_pbs_1", "type": "payment_intent.succeeded"})
    );
    for (body, signature) in [
        (payload.replace("4200", "1"), header.clone()),
        (payload.clone(), wrong),
    ] {
        let resp = send(body, signature).await.unwrap();
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "StripeSignatureVerificationError", "{body}");
    }
}

/// `hono` as the router: params, regex params, wildcards, middleware on every
/// route, JSON bodies, 404s, a streamed response, and hono's compress
/// middleware on CompressionStream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hono_routes_a_function() {
    let host = TestHost::start(Backend::Sqlite).await;
    deploy_js(&host, "hono", "hono_app.ts").await;
    let base = "/api/pb_serverless/hono";

    let resp = host
        .client
        .get(host.url(&format!("{base}/users/42?q=x")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-middleware"], "ran");
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"id": "42", "q": "x"})
    );
    assert_eq!(
        get_json(&host, &format!("{base}/posts/2026/hello-world")).await,
        json!({"year": "2026", "slug": "hello-world"})
    );
    let resp = host
        .client
        .get(host.url(&format!("{base}/posts/26/x")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["x-middleware"], "ran");
    let text = host
        .client
        .get(host.url(&format!("{base}/files/a/b.txt")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "file a/b.txt");
    let resp = host
        .client
        .post(host.url(&format!("{base}/echo")))
        .json(&json!({"n": [1, 2, 3]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"echo": {"n": [1, 2, 3]}})
    );

    let resp = host
        .client
        .get(host.url(&format!("{base}/stream")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=UTF-8");
    assert_eq!(resp.text().await.unwrap(), "line 0\nline 1\nline 2\n");

    let resp = host
        .client
        .get(host.url(&format!("{base}/big")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let compressed = resp.bytes().await.unwrap().to_vec();
    let plain = node_peer(&["gunzip", "gzip"], compressed.clone()).await;
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        "hono compress ".repeat(2000)
    );
    assert!(compressed.len() < 1000, "{} bytes", compressed.len());
}

/// CompressionStream output that Node's zlib reads, Node's output that
/// DecompressionStream reads, for gzip, deflate and deflate-raw; corrupt
/// or truncated input is a TypeError; many chunks round-trip in the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_streams_interoperate_with_zlib() {
    let host = TestHost::start(Backend::Sqlite).await;
    deploy_js(&host, "web", "web_platform.ts").await;
    let text: String = (0..3000)
        .map(|i| format!("line {i} of the body\n"))
        .collect();
    for format in ["gzip", "deflate", "deflate-raw"] {
        let (status, compressed) = post_bytes(
            &host,
            &format!("/api/pb_serverless/web/compress?format={format}"),
            text.clone().into_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{format}");
        assert!(
            compressed.len() < text.len() / 4,
            "{format}: {} bytes",
            compressed.len()
        );
        let back = node_peer(&["gunzip", format], compressed).await;
        assert_eq!(String::from_utf8(back).unwrap(), text, "{format}");

        let from_node = node_peer(&["gzip", format], text.clone().into_bytes()).await;
        let (status, plain) = post_bytes(
            &host,
            &format!("/api/pb_serverless/web/decompress?format={format}"),
            from_node.clone(),
        )
        .await;
        assert_eq!(status, 200, "{format}");
        assert_eq!(String::from_utf8(plain).unwrap(), text, "{format}");

        let truncated = from_node[..from_node.len() / 2].to_vec();
        let (status, body) = post_bytes(
            &host,
            &format!("/api/pb_serverless/web/decompress?format={format}"),
            truncated,
        )
        .await;
        assert_eq!(status, 400, "{format}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "TypeError", "{format}: {body}");
        let mut trailing = from_node.clone();
        trailing.extend_from_slice(b"junk");
        let (status, _) = post_bytes(
            &host,
            &format!("/api/pb_serverless/web/decompress?format={format}"),
            trailing,
        )
        .await;
        assert_eq!(status, 400, "{format}: data after the end of the stream");
    }
    let (status, _) = post_bytes(
        &host,
        "/api/pb_serverless/web/decompress?format=gzip",
        b"not gzip at all".to_vec(),
    )
    .await;
    assert_eq!(status, 400);

    for format in ["gzip", "deflate", "deflate-raw"] {
        let first = get_json(
            &host,
            &format!("/api/pb_serverless/web/first-chunk?format={format}"),
        )
        .await;
        assert_eq!(first, json!({"first": "expected output"}), "{format}");
    }

    let rt = get_json(&host, "/api/pb_serverless/web/roundtrip?n=500").await;
    assert_eq!(rt["lines"], 500);
    assert_eq!(rt["last"], format!("chunk 499 {}", "x".repeat(499 % 50)));
    assert!(
        rt["compressedBytes"].as_u64().unwrap() * 4 < rt["plainBytes"].as_u64().unwrap(),
        "{rt}"
    );
}

/// URLPattern matching and the Minimum Common API's globals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urlpattern_and_globals() {
    let host = TestHost::start(Backend::Sqlite).await;
    deploy_js(&host, "web", "web_platform.ts").await;
    let route = |url: &str| format!("/api/pb_serverless/web/route?url={}", encode_query(url));
    let r = get_json(&host, &route("https://example.com/books/123")).await;
    assert_eq!(r["matches"][0]["pathname"], json!({"id": "123"}));
    assert_eq!(r["matches"][1], Value::Null);
    assert_eq!(
        r["pathnames"],
        json!(["/books/:id(\\d+)", "/shelves/:shelf/*", "/search"])
    );
    let r = get_json(&host, &route("https://example.com/books/abc")).await;
    assert_eq!(r["matches"][0], Value::Null);
    let r = get_json(&host, &route("https://example.com/shelves/fiction/a/b")).await;
    assert_eq!(
        r["matches"][1]["pathname"],
        json!({"shelf": "fiction", "0": "a/b"})
    );
    let r = get_json(&host, &route("https://docs.example.com/search")).await;
    assert_eq!(r["matches"][2]["hostname"], json!({"sub": "docs"}));

    let g = get_json(&host, "/api/pb_serverless/web/globals").await;
    assert_eq!(
        g,
        json!({
            "self": true,
            "userAgent": "pb-serverless",
            "timeOrigin": "number",
            "reportError": "function",
            "classes": ["Crypto", "CryptoKey", "SubtleCrypto", "CompressionStream", "DecompressionStream", "URLPattern", "CustomEvent"],
        })
    );
}
