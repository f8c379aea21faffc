//! Deploying through the admin API: what is accepted, what is refused and
//! with which status, and that a refusal stores nothing.

use pbs_tests::{guests, on_both_backends, Backend, TestHost, CORE_MODULE};

async fn deploy_then_invoke(backend: Backend) {
    let host = TestHost::start(backend).await;
    let body = host.deploy_ok("hello", guests::HELLO).await;
    let bytes = guests::bytes(guests::HELLO);
    use sha2::Digest;
    assert_eq!(body["version"], hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(body["triggers"], serde_json::json!(["http"]));

    for path in ["", "/", "/deeper/path?q=1"] {
        let resp = host
            .client
            .get(format!("{}{path}", host.function_url("hello")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "path {path:?}");
        assert_eq!(resp.text().await.unwrap(), "Hello, world!\n");
    }

    // The function sees the full path and query.
    host.deploy_ok("echo", guests::ECHO).await;
    let resp = host
        .client
        .post(format!("{}/x/y?z=1", host.function_url("echo")))
        .body("ping")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-echo-path"],
        "/api/pb_serverless/echo/x/y?z=1"
    );
    assert_eq!(resp.text().await.unwrap(), "ping");
}

async fn bad_input_is_refused_and_nothing_is_stored(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_ok("hello", guests::HELLO).await;

    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "text",
            b"definitely not wasm".to_vec(),
            "",
            400,
            "not a WebAssembly binary",
        ),
        (
            "core",
            CORE_MODULE.to_vec(),
            "",
            400,
            "core WebAssembly module",
        ),
        ("empty", Vec::new(), "", 400, "not a WebAssembly binary"),
        (
            "truncated",
            guests::bytes(guests::HELLO)[..2000].to_vec(),
            "",
            400,
            "not valid",
        ),
        (
            "evil",
            guests::bytes(guests::BAD_IMPORT),
            "",
            400,
            "test:evil/api",
        ),
        (
            "worker",
            guests::bytes(guests::HELLO),
            "?triggers=jobs",
            400,
            "pb:serverless/job-handler",
        ),
        (
            "trig",
            guests::bytes(guests::HELLO),
            "?triggers=bogus",
            400,
            "unknown trigger",
        ),
        (
            "Bad Name",
            guests::bytes(guests::HELLO),
            "",
            400,
            "invalid function name",
        ),
        (
            "_admin",
            guests::bytes(guests::HELLO),
            "",
            400,
            "invalid function name",
        ),
    ];
    for (name, bytes, query, status, needle) in cases {
        let resp = host
            .deploy_with(&name.replace(' ', "%20"), bytes, query)
            .await;
        assert_eq!(resp.status().as_u16(), status, "case {name}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], status, "case {name}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(needle), "case {name}: {message}");
    }
    // The world to target is named in import refusals.
    let resp = host.deploy("evil", guests::bytes(guests::BAD_IMPORT)).await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("pb:serverless/http-function"));

    // Too large: 413, read no further than the limit.
    let huge = vec![0u8; pbs::config::DEFAULT_MAX_COMPONENT_SIZE + 1];
    let resp = host.deploy("huge", huge).await;
    assert_eq!(resp.status(), 413);

    // Only the good function exists, and only its version is stored.
    let (status, list) = host.admin_get("functions").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello"]);
    assert_eq!(stored_versions(&host).await, 1);

    // A missing function is a 404 with PocketBase's error shape.
    let resp = host.get("nope").await;
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert!(body["message"].as_str().unwrap().contains("nope"));
}

async fn stored_versions(host: &TestHost) -> i64 {
    let db = pbs::store::Db::open(&host.db).await.unwrap();
    let n: i64 = db
        .query("SELECT COUNT(*) FROM pbs_versions")
        .scalar()
        .await
        .unwrap();
    db.close().await;
    n
}

async fn admin_api_needs_the_token(backend: Backend) {
    let host = TestHost::start(backend).await;
    let url = host.url("/api/pb_serverless/_admin/functions");
    let resp = host.client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = host
        .client
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = host
        .client
        .put(host.url("/api/pb_serverless/_admin/functions/hello"))
        .bearer_auth("test-admin-token-but-longer")
        .body(guests::bytes(guests::HELLO))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (status, list) = host.admin_get("functions").await;
    assert_eq!(status, 200);
    assert_eq!(list["items"], serde_json::json!([]));
}

async fn list_show_and_delete(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_ok("hello", guests::HELLO).await;
    host.deploy_ok("hello", guests::ECHO).await;
    let (status, info) = host.admin_get("functions/hello").await;
    assert_eq!(status, 200);
    assert_eq!(info["deployments"].as_array().unwrap().len(), 2);
    assert_eq!(info["version"], info["deployments"][0]["version"]);

    let resp = host
        .client
        .delete(host.url("/api/pb_serverless/_admin/functions/hello"))
        .bearer_auth(&host.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = host.get("hello").await;
    assert_eq!(resp.status(), 404);
    let (status, _) = host.admin_get("functions/hello").await;
    assert_eq!(status, 404);
    let resp = host
        .client
        .delete(host.url("/api/pb_serverless/_admin/functions/hello"))
        .bearer_auth(&host.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

on_both_backends!(
    deploy_then_invoke,
    bad_input_is_refused_and_nothing_is_stored,
    admin_api_needs_the_token,
    list_show_and_delete,
    handler_exports_are_type_checked,
);

/// The example function the README deploys answers as the tutorial says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_example_answers() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_ok("hello", guests::EXAMPLE_HELLO).await;
    let resp = host
        .client
        .get(format!("{}?name=you", host.function_url("hello")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Hello, you!");
    assert_eq!(body["trace_id"].as_str().unwrap().len(), 32);
    // pb:kv is on the full host (it was `Unavailable` before it landed).
    assert_eq!(body["kv"], "available");
}

/// Handler exports are type-checked at deploy: a worker with the right
/// `job-handler` deploys for the jobs trigger; one whose `run` has other
/// types is refused, and a worker is refused for a trigger it cannot serve.
async fn handler_exports_are_type_checked(backend: Backend) {
    let host = TestHost::start(backend).await;
    let resp = host
        .deploy_with(
            "worker",
            guests::bytes(guests::JOB_WORKER),
            "?triggers=jobs",
        )
        .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["triggers"], serde_json::json!(["jobs"]), "{body}");

    let resp = host
        .deploy_with(
            "worker2",
            guests::bytes(guests::JOB_WORKER),
            "?triggers=http",
        )
        .await;
    pbs_tests::expect_error(resp, 400, "wasi:http/incoming-handler").await;

    let resp = host
        .deploy_with(
            "bad",
            guests::bytes(guests::BAD_JOB_WORKER),
            "?triggers=jobs",
        )
        .await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("does not have the type of `pb:serverless/job-handler@0.1.0`"),
        "{message}"
    );

    // An HTTP request to a function without an HTTP handler is a 404.
    let resp = host.get("worker").await;
    assert_eq!(resp.status(), 404);
}
