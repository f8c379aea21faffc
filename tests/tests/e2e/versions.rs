//! Versions of a function through the admin API: listing, rollback (to the
//! previous version or a named one), pruning with retention, and a delete
//! that lets requests under way finish.

use pbs_tests::{guests, on_both_backends, Backend, TestHost};
use reqwest::Method;
use serde_json::{json, Value};

fn versions(list: &Value) -> Vec<(String, bool)> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["active"] == json!(true),
            )
        })
        .collect()
}

/// Which guest answers: echo reports the method in `x-echo-method`.
async fn serves_echo(host: &TestHost) -> bool {
    let resp = host.get("svc").await;
    resp.headers().contains_key("x-echo-method")
}

async fn list_rollback_and_prune(backend: Backend) {
    let host = TestHost::start(backend).await;
    let hello = host.deploy_ok("svc", guests::HELLO).await["version"]
        .as_str()
        .unwrap()
        .to_string();
    let echo = host.deploy_ok("svc", guests::ECHO).await["version"]
        .as_str()
        .unwrap()
        .to_string();
    let trap = host.deploy_ok("svc", guests::TRAP).await["version"]
        .as_str()
        .unwrap()
        .to_string();
    host.deploy_ok("svc", guests::HELLO).await;

    let (status, list) = host.admin_get("functions/svc/versions").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        versions(&list),
        vec![
            (hello.clone(), true),
            (trap.clone(), false),
            (echo.clone(), false)
        ]
    );
    let first = &list["items"][0];
    assert_eq!(first["kind"], "component");
    assert_eq!(first["source_map"], false);
    assert_eq!(first["pinned_jobs"], 0);
    assert!(first["size"].as_i64().unwrap() > 0);

    // Back one: the version served before the current one.
    let (status, info) = host
        .admin(Method::POST, "functions/svc/rollback", None)
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["version"], trap.as_str());
    // Back to a named one, by a prefix.
    let (status, info) = host
        .admin(
            Method::POST,
            "functions/svc/rollback",
            Some(json!({"version": &echo[..8]})),
        )
        .await;
    assert_eq!(status, 200, "{info}");
    assert!(serves_echo(&host).await);
    let (_, list) = host.admin_get("functions/svc/versions").await;
    assert_eq!(versions(&list)[0], (echo.clone(), true));

    for (body, expected) in [
        (json!({"version": "zz"}), 400),
        (json!({"version": "abcdef0"}), 404),
        (json!({"nope": 1}), 400),
    ] {
        let (status, answer) = host
            .admin(Method::POST, "functions/svc/rollback", Some(body))
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    let (status, _) = host
        .admin(Method::POST, "functions/missing/rollback", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = host.admin_get("functions/missing/versions").await;
    assert_eq!(status, 404);

    // Keep 1 per function: svc serves echo; hello and trap go, unless
    // another function keeps them.
    host.deploy_ok("other", guests::TRAP).await;
    let (status, pruned) = host
        .admin(Method::POST, "versions/prune", Some(json!({"keep": 1})))
        .await;
    assert_eq!(status, 200, "{pruned}");
    assert_eq!(pruned["removed"], json!([hello.clone()]));
    assert!(serves_echo(&host).await);
    let (_, list) = host.admin_get("functions/svc/versions").await;
    assert_eq!(
        versions(&list),
        vec![(echo.clone(), true), (trap.clone(), false)]
    );
    let (status, _) = host
        .admin(
            Method::POST,
            "functions/svc/rollback",
            Some(json!({"version": hello})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = host
        .admin(Method::POST, "versions/prune", Some(json!({"keep": 0})))
        .await;
    assert_eq!(status, 400);

    // A host started later on the same database serves what was rolled to.
    let host = host.restart().await;
    assert!(serves_echo(&host).await);
}

/// DELETE of a function: new requests get 404 at once, a request under way
/// streams on to its end.
async fn delete_drains(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_ok("stream", guests::ECHO).await;
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    tx.unbounded_send(Ok(b"first ".to_vec())).unwrap();
    let resp = host
        .client
        .post(host.function_url("stream"))
        .body(reqwest::Body::wrap_stream(rx))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, _) = host.admin(Method::DELETE, "functions/stream", None).await;
    assert_eq!(status, 204);
    assert_eq!(host.get("stream").await.status(), 404);
    tx.unbounded_send(Ok(b"second".to_vec())).unwrap();
    drop(tx);
    assert_eq!(resp.text().await.unwrap(), "first second");
}

on_both_backends!(list_rollback_and_prune, delete_drains);
