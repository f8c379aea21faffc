//! Opt-in instance reuse (`reuse: N`, `engine::warm`): one instance serves
//! up to N requests of the same function version in turn and its globals
//! persist; nothing crosses versions or functions; a timeout or a memory
//! limit retires the instance; logs, trace ids and secret redaction stay
//! per request. Fresh instances stay the default (js.rs checks that).

use pbs_tests::{expect_error, on_both_backends, Backend, TestHost};
use serde_json::Value;

/// `GET /api/pb_serverless/<name>/<route>` → its status and body.
async fn get(host: &TestHost, name: &str, route: &str) -> (u16, String) {
    let resp = host
        .client
        .get(host.url(&format!("/api/pb_serverless/{name}/{route}")))
        .send()
        .await
        .expect("request");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The counts `n` sequential requests see. The client may have the whole
/// response a moment before its instance is back in the pool (a request
/// that comes in that moment gets a fresh one), so after each request of a
/// function with reuse on this waits for its instance to be back (2 s at
/// most, as after its last request: then it goes on, and the counts say so).
async fn counts(host: &TestHost, name: &str, n: usize) -> Vec<u64> {
    let warm = name != "cold";
    let mut seen = Vec::new();
    for _ in 0..n {
        let idle = idle_after(host, name);
        let (status, body) = get(host, name, "count").await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        seen.push(body["count"].as_u64().expect("a count"));
        if warm {
            back_in_pool(host, idle).await;
        }
    }
    seen
}

/// The host's idle instances once the next request of `name` is over and
/// its instance back: as many as now if the request takes one of them, one
/// more if it starts a fresh one (other functions' idle instances count
/// too, so "at least one" would not do).
fn idle_after(host: &TestHost, name: &str) -> usize {
    let registry = host.server.registry().unwrap();
    let fresh = registry
        .get(name)
        .and_then(|d| d.warm.clone())
        .is_none_or(|pool| pool.idle() == 0);
    registry.runtime().warm_idle() + usize::from(fresh)
}

/// Waits (2 s at most) until the host holds at least `idle.max(1)` idle
/// instances: the one the last request used is back (the client can have
/// the whole answer a moment before, more so when the invocation finished
/// in the long lane).
async fn back_in_pool(host: &TestHost, idle: usize) {
    let runtime = host.server.registry().unwrap().runtime().clone();
    let back = std::time::Instant::now();
    while runtime.warm_idle() < idle.max(1) && back.elapsed() < std::time::Duration::from_secs(2) {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

async fn one_instance_serves_n_requests_in_turn(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_js_with("warm", "reuse.ts", "?reuse=3").await;
    host.deploy_js("cold", "reuse.ts").await;
    assert_eq!(counts(&host, "warm", 7).await, [1, 2, 3, 1, 2, 3, 1]);
    assert_eq!(
        counts(&host, "cold", 3).await,
        [1, 1, 1],
        "fresh by default"
    );
    let (_, info) = host.admin_get("functions").await;
    let reuse: Vec<(String, Value)> = info["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["reuse"].clone()))
        .collect();
    assert_eq!(
        reuse,
        [("cold".into(), 0.into()), ("warm".into(), 3.into())],
        "{info}"
    );
}

async fn nothing_crosses_versions_or_functions(backend: Backend) {
    let host = TestHost::start(backend).await;
    let version = host.deploy_js_with("a", "reuse.ts", "?reuse=100").await;
    assert_eq!(counts(&host, "a", 2).await, [1, 2]);
    // The same code under another name: its own instances.
    host.deploy_js_with("b", "reuse.ts", "?reuse=100").await;
    assert_eq!(counts(&host, "b", 1).await, [1]);
    // A redeploy (even of the same version) starts from a fresh instance.
    host.deploy_js_with("a", "reuse.ts", "?reuse=100").await;
    assert_eq!(counts(&host, "a", 2).await, [1, 2]);
    // So does a rollback, and a host restart keeps the setting.
    let (status, out) = host
        .admin(
            reqwest::Method::POST,
            "functions/a/rollback",
            Some(serde_json::json!({ "version": version })),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["reuse"], 100, "a rollback keeps the setting: {out}");
    assert_eq!(counts(&host, "a", 2).await, [1, 2]);
    let host = host.restart().await;
    assert_eq!(counts(&host, "a", 3).await, [1, 2, 3]);
}

async fn a_timeout_or_a_memory_limit_retires_the_instance(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_js_with("warm", "reuse.ts", "?reuse=100").await;
    assert_eq!(counts(&host, "warm", 2).await, [1, 2]);
    let (status, _) = get(&host, "warm", "spin").await;
    assert_eq!(status, 504);
    assert_eq!(counts(&host, "warm", 2).await, [1, 2], "after a timeout");
    let resp = host
        .client
        .get(host.url("/api/pb_serverless/warm/hog"))
        .send()
        .await
        .unwrap();
    expect_error(resp, 500, "memory").await;
    assert_eq!(
        counts(&host, "warm", 2).await,
        [1, 2],
        "after a memory limit"
    );
    // Every idle instance is one that ended well: the pool holds one.
    assert_eq!(host.server.registry().unwrap().runtime().warm_idle(), 1);
}

async fn logs_and_redaction_stay_per_request(backend: Backend) {
    let host = TestHost::start(backend).await;
    let (status, out) = host
        .admin(
            reqwest::Method::PUT,
            "secrets/reuse_canary",
            Some(serde_json::json!({"value": "canary-7f3e9a2c41"})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    host.deploy_js_with("warm", "reuse.ts", "?reuse=100").await;
    assert_eq!(counts(&host, "warm", 2).await, [1, 2]);
    let idle = idle_after(&host, "warm");
    assert_eq!(get(&host, "warm", "secret").await, (200, "kept".into()));
    back_in_pool(&host, idle).await;
    // A later request of the same instance logs the value it kept.
    assert_eq!(get(&host, "warm", "leak").await, (200, "logged".into()));
    let (status, logs) = host.admin_get("logs?function=warm&limit=100").await;
    assert_eq!(status, 200, "{logs}");
    let lines: Vec<&Value> = logs["items"].as_array().unwrap().iter().collect();
    let text = serde_json::to_string(&lines).unwrap();
    assert!(!text.contains("canary-7f3e9a2c41"), "{text}");
    let line = |msg: &str| {
        lines
            .iter()
            .find(|l| l["msg"] == msg)
            .unwrap_or_else(|| panic!("no line {msg:?} in {text}"))
    };
    assert!(line("kept: [redacted]")["trace_id"].is_string(), "{text}");
    let (one, two) = (line("request 1"), line("request 2"));
    assert_ne!(
        one["trace_id"], two["trace_id"],
        "each request its own trace"
    );
}

async fn hooks_of_the_deployed_version_reuse_instances_too(backend: Backend) {
    use crate::records::{admin, create_collection, create_record};
    let host = TestHost::start(backend).await;
    host.deploy_js_with("warm", "reuse.ts", "?reuse=100").await;
    host.deploy_js("cold", "reuse.ts").await;
    let mut hooks = Vec::new();
    for (collection, function) in [("warm_notes", "warm"), ("cold_notes", "cold")] {
        create_collection(
            &host,
            serde_json::json!({"name": collection, "fields": [{"name": "n", "type": "number"}]}),
        )
        .await;
        hooks.push(serde_json::json!({
            "collection": collection, "event": "before_create", "function": function, "func": "stamp"
        }));
    }
    admin(
        &host,
        reqwest::Method::PUT,
        "/api/pb_serverless/_admin/hooks",
        Some(serde_json::json!({ "hooks": hooks })),
        200,
    )
    .await;
    let stamps = |collection: &'static str| {
        let host = &host;
        async move {
            let mut seen = Vec::new();
            for _ in 0..3 {
                let record = create_record(host, collection, serde_json::json!({})).await;
                seen.push(record["n"].as_u64().expect("stamped"));
            }
            seen
        }
    };
    // The hook's instance is back in the pool before the write answers.
    assert_eq!(stamps("warm_notes").await, [1, 2, 3]);
    assert_eq!(stamps("cold_notes").await, [1, 1, 1], "fresh by default");
    // An HTTP request of the same version may take the same instance.
    assert_eq!(counts(&host, "warm", 1).await, [4]);
}

on_both_backends!(
    one_instance_serves_n_requests_in_turn,
    hooks_of_the_deployed_version_reuse_instances_too,
    nothing_crosses_versions_or_functions,
    a_timeout_or_a_memory_limit_retires_the_instance,
    logs_and_redaction_stay_per_request,
);

/// A bad `reuse` is a 400, and nothing is deployed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_reuse_is_refused() {
    let host = TestHost::start(Backend::Sqlite).await;
    let resp = host
        .deploy_with("warm", pbs_tests::js::build("reuse.ts").await, "?reuse=-1")
        .await;
    expect_error(resp, 400, "reuse").await;
    assert_eq!(host.get("warm").await.status(), 404);
}
