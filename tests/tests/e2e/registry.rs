//! Versions: immutable, content-addressed, switched atomically, shared by
//! hosts on one database, and still there after a restart.

use bytes::Bytes;
use futures::StreamExt;
use pbs_tests::{guests, on_both_backends, test_limits, Backend, TestHost};

/// A request in flight on version 1 finishes on version 1 while new
/// requests already get version 2.
async fn redeploy_switches_new_requests_and_lets_old_ones_finish(backend: Backend) {
    // The request body pauses while version 2 is deployed; on a loaded
    // machine that deploy can take longer than the tests' 2 s idle limit,
    // which would end the body (and the test) for a reason it is not about.
    let host = TestHost::start_with(
        backend,
        pbs::config::Limits {
            headers_timeout: std::time::Duration::from_secs(30),
            ..test_limits()
        },
    )
    .await;
    host.deploy_ok("svc", guests::ECHO).await;

    let (tx, body) = pbs_tests::streaming_body(4);
    tx.send(Ok(Bytes::from_static(b"first half, ")))
        .await
        .unwrap();
    let resp = host
        .client
        .post(host.function_url("svc"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"first half, ");

    let v2 = host.deploy_ok("svc", guests::HELLO).await;
    let resp = host.get("svc").await;
    assert_eq!(resp.text().await.unwrap(), "Hello, world!\n");

    tx.send(Ok(Bytes::from_static(b"second half")))
        .await
        .unwrap();
    drop(tx);
    let mut rest = Vec::new();
    while let Some(part) = stream.next().await {
        rest.extend_from_slice(&part.unwrap());
    }
    assert_eq!(rest, b"second half");

    let (_, info) = host.admin_get("functions/svc").await;
    assert_eq!(info["version"], v2["version"]);
}

/// The same bytes are the same version; a redeploy of them adds history,
/// not a second copy.
async fn versions_are_content_addressed(backend: Backend) {
    let host = TestHost::start(backend).await;
    let a = host.deploy_ok("a", guests::HELLO).await;
    let b = host.deploy_ok("b", guests::HELLO).await;
    let a2 = host.deploy_ok("a", guests::HELLO).await;
    assert_eq!(a["version"], b["version"]);
    assert_eq!(a["version"], a2["version"]);
    let (_, info) = host.admin_get("functions/a").await;
    assert_eq!(info["deployments"].as_array().unwrap().len(), 2);
}

/// Stop a host, start another on the same data: functions are served
/// (from the stored precompiled artifact) without redeploying.
async fn functions_survive_a_restart(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_ok("hello", guests::HELLO).await;
    let host = host.restart().await;
    let resp = host.get("hello").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "Hello, world!\n");
}

/// A damaged precompiled artifact is not loaded: the host notices the hash
/// mismatch at start, recompiles from the stored component, and repairs it.
async fn a_damaged_artifact_is_recompiled(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_ok("hello", guests::HELLO).await;
    // Flip one byte in the middle: the blob still looks like an artifact,
    // so only the hash tells it is damaged.
    let store = pbs::store::Db::open(&host.db).await.unwrap();
    let mut damaged: Vec<u8> = store
        .query("SELECT artifact FROM pbs_artifacts")
        .scalar()
        .await
        .unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xFF;
    store
        .query("UPDATE pbs_artifacts SET artifact = $1")
        .bind(&damaged)
        .execute()
        .await
        .unwrap();

    let host = host.restart().await;
    let resp = host.get("hello").await;
    assert_eq!(resp.text().await.unwrap(), "Hello, world!\n");
    let repaired: Vec<Vec<u8>> = store
        .query("SELECT artifact FROM pbs_artifacts")
        .scalars()
        .await
        .unwrap();
    assert!(
        repaired.iter().all(|a| a != &damaged),
        "the damaged artifact was kept"
    );
    store.close().await;
}

/// Precompiled code is authenticated, not only hashed: whoever can write
/// the database cannot make the hosts run native code of their choosing. A
/// host's artifact replaced by another valid one (the echo component's,
/// compiled by the same engine) — tagged once with a plain SHA-256 of the
/// new bytes, once with an HMAC under another key — is never loaded: the
/// host recompiles the stored, validated component and repairs the row.
async fn forged_artifacts_are_recompiled_not_loaded(backend: Backend) {
    let mut host = TestHost::start(backend).await;
    let hello = host.deploy_ok("hello", guests::HELLO).await["version"]
        .as_str()
        .unwrap()
        .to_string();
    let echo = host.deploy_ok("echo", guests::ECHO).await["version"]
        .as_str()
        .unwrap()
        .to_string();
    let db = pbs::store::Db::open(&host.db).await.unwrap();
    let (echo_code, engine): (Vec<u8>, String) = db
        .query("SELECT artifact, engine FROM pbs_artifacts WHERE version = $1")
        .bind(&echo)
        .fetch_optional_as()
        .await
        .unwrap()
        .unwrap();
    let rehashed = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&echo_code));
    let other_key = pbs::caps::secrets::MasterKey::from_bytes(
        &[9; 32],
        pbs::caps::secrets::crypto::KeySource::Env,
    );
    let wrong_hmac = other_key.artifact_tag(&engine, &hello, &echo_code);
    for forged_tag in [rehashed, wrong_hmac] {
        db.query("UPDATE pbs_artifacts SET artifact = $1, sha256 = $2 WHERE version = $3")
            .bind(&echo_code)
            .bind(&forged_tag)
            .bind(&hello)
            .execute()
            .await
            .unwrap();
        host = host.restart().await;
        let resp = host.get("hello").await;
        assert_eq!(
            resp.text().await.unwrap(),
            "Hello, world!\n",
            "{forged_tag}"
        );
        let (code, tag): (Vec<u8>, String) = db
            .query("SELECT artifact, sha256 FROM pbs_artifacts WHERE version = $1")
            .bind(&hello)
            .fetch_optional_as()
            .await
            .unwrap()
            .unwrap();
        assert_ne!(code, echo_code, "the forged artifact was kept");
        assert!(tag.starts_with("hmac-sha256:") && tag != forged_tag);
    }
    db.close().await;
}

/// Two hosts on one database: a deploy on one is served by the other.
async fn hosts_sharing_a_database_see_each_others_deploys(backend: Backend) {
    let a = TestHost::start(backend).await;
    let dir_b = tempfile::tempdir().unwrap();
    let b = TestHost::start_on(dir_b, a.db.clone(), test_limits()).await;

    a.deploy_ok("shared", guests::HELLO).await;
    let mut served = false;
    for _ in 0..50 {
        let resp = b.get("shared").await;
        if resp.status() == 200 {
            assert_eq!(resp.text().await.unwrap(), "Hello, world!\n");
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        served,
        "host B never served the function deployed on host A"
    );

    // And a redeploy on B reaches A.
    b.deploy_ok("shared", guests::ECHO).await;
    let mut switched = false;
    for _ in 0..50 {
        let resp = a
            .client
            .post(a.function_url("shared"))
            .body("from b")
            .send()
            .await
            .unwrap();
        if resp.text().await.unwrap() == "from b" {
            switched = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        switched,
        "host A never switched to the version deployed on host B"
    );
}

on_both_backends!(
    forged_artifacts_are_recompiled_not_loaded,
    redeploy_switches_new_requests_and_lets_old_ones_finish,
    versions_are_content_addressed,
    functions_survive_a_restart,
    a_damaged_artifact_is_recompiled,
    hosts_sharing_a_database_see_each_others_deploys,
);
