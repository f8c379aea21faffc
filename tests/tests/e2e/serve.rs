//! `pbs serve COMPONENT`: one component at `/`, as `wasmtime serve` runs it.

use bytes::Bytes;
use futures::StreamExt;
use pbs_tests::{client, guests, serve_single, test_limits};
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_answers() {
    let (_server, base) = serve_single(guests::HELLO, test_limits()).await.unwrap();
    let resp = client()
        .get(format!("{base}/anything?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.text().await.unwrap(), "Hello, world!\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_sees_method_path_query_headers_and_body() {
    let (_server, base) = serve_single(guests::ECHO, test_limits()).await.unwrap();
    let resp = client()
        .patch(format!("{base}/a/b%20c?x=1&status=202"))
        .header("x-custom", "value-1")
        .header("content-type", "application/json")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let h = resp.headers().clone();
    assert_eq!(h["x-echo-method"], "PATCH");
    assert_eq!(h["x-echo-path"], "/a/b%20c?x=1&status=202");
    assert_eq!(h["x-echo-header-x-custom"], "value-1");
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), r#"{"hello":"world"}"#);
}

/// 100 MB go up and come back while still going up: the first bytes of the
/// response arrive before most of the request is sent, so neither side
/// buffers the whole body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_streams_100_mb_both_ways() {
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 100;
    let (_server, base) = serve_single(guests::ECHO, test_limits()).await.unwrap();
    let (tx, body) = pbs_tests::streaming_body(2);
    let chunk = |i: usize| Bytes::from(vec![(i % 251) as u8; CHUNK]);

    tx.send(Ok(chunk(0))).await.unwrap();
    let resp = client()
        .post(format!("{base}/"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();

    // Read until the first chunk is back before sending any more.
    let mut got = Sha256::new();
    let mut received = 0usize;
    while received < CHUNK {
        let part = stream.next().await.expect("echo ended early").unwrap();
        received += part.len();
        got.update(&part);
    }
    let sender = tokio::spawn(async move {
        for i in 1..CHUNKS {
            tx.send(Ok(chunk(i))).await.unwrap();
        }
    });
    while let Some(part) = stream.next().await {
        let part = part.unwrap();
        received += part.len();
        got.update(&part);
    }
    sender.await.unwrap();
    let mut want = Sha256::new();
    for i in 0..CHUNKS {
        want.update(chunk(i));
    }
    assert_eq!(received, CHUNK * CHUNKS);
    assert_eq!(got.finalize(), want.finalize());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_is_a_500_and_the_server_goes_on() {
    let (_server, base) = serve_single(guests::TRAP, test_limits()).await.unwrap();
    for _ in 0..3 {
        let resp = client().get(format!("{base}/")).send().await.unwrap();
        assert_eq!(resp.status(), 500);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], 500);
        assert!(
            body["message"].as_str().unwrap().contains("trapped"),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_what_is_not_a_serveable_component() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, pbs_tests::CORE_MODULE).unwrap();
    let err = serve_single(core.to_str().unwrap(), test_limits())
        .await
        .err()
        .expect("a core module must be refused");
    assert!(
        format!("{err:#}").contains("core WebAssembly module"),
        "{err:#}"
    );

    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    let err = serve_single(text.to_str().unwrap(), test_limits())
        .await
        .err()
        .expect("text must be refused");
    assert!(
        format!("{err:#}").contains("not a WebAssembly binary"),
        "{err:#}"
    );

    let err = serve_single(guests::BAD_IMPORT, test_limits())
        .await
        .err()
        .expect("an unknown import must be refused");
    assert!(format!("{err:#}").contains("test:evil/api"), "{err:#}");
}
