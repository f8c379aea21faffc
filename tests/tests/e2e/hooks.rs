//! Record hooks (`tests/js/src/hooks.ts`) on SQLite and PostgreSQL: bound
//! through the admin API, run for writes from the REST API, from `pb:data`
//! and inside `pb.tx`; a before-hook changes or rejects the write (400 with
//! its message, nothing written — not even what the hook itself wrote);
//! after-hooks see the committed record and do not run for a rolled-back
//! write; update and delete hooks see the old record; hooks that write
//! each other's collections stop at the depth limit with a clear error; a
//! hook that never returns is stopped and the write refused.

use crate::records::{admin, call, create_collection};
use pbs_tests::{guests, on_both_backends, test_limits, Backend, TestHost};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const HOOKS: &str = "/api/pb_serverless/_admin/hooks";

fn hook(collection: &str, event: &str, func: &str) -> Value {
    json!({"collection": collection, "event": event, "function": "hooks", "func": func})
}

async fn setup_on(host: &TestHost) {
    for def in [
        json!({"name": "posts", "listRule": "", "viewRule": "", "createRule": "",
               "updateRule": "", "deleteRule": "", "fields": [
            {"name": "title", "type": "text"},
            {"name": "slug", "type": "text"},
            {"name": "status", "type": "text"},
        ]}),
        json!({"name": "audit", "fields": [
            {"name": "action", "type": "text"},
            {"name": "post", "type": "text"},
            {"name": "title", "type": "text"},
            {"name": "depth", "type": "number"},
        ]}),
        json!({"name": "loops", "fields": [
            {"name": "n", "type": "number"},
            {"name": "depth", "type": "number"},
        ]}),
        json!({"name": "spins", "fields": [{"name": "n", "type": "number"}]}),
    ] {
        create_collection(host, def).await;
    }
    host.deploy_js("hooks", "hooks.ts").await;
    let bound = admin(
        host,
        Method::PUT,
        HOOKS,
        Some(json!({"hooks": [
            hook("posts", "before_create", "checkPost"),
            hook("posts", "after_create", "auditPost"),
            hook("posts", "before_update", "keepTitle"),
            hook("posts", "before_delete", "guardDelete"),
            hook("posts", "after_delete", "auditDelete"),
            hook("loops", "before_create", "recurse"),
            hook("spins", "before_create", "spin"),
        ]})),
        200,
    )
    .await;
    assert_eq!(bound["items"].as_array().unwrap().len(), 7, "{bound}");
}

async fn setup(backend: Backend) -> TestHost {
    let host = TestHost::start(backend).await;
    setup_on(&host).await;
    host
}

/// Every record of `collection` (admin).
async fn all(host: &TestHost, collection: &str) -> Vec<Value> {
    let v = admin(
        host,
        Method::GET,
        &format!("/api/collections/{collection}/records?perPage=500&sort=created"),
        None,
        200,
    )
    .await;
    v["items"].as_array().unwrap().clone()
}

/// A client's (not the admin's) request.
async fn public(host: &TestHost, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    call(host, method, path, body, false).await
}

async fn kv(host: &TestHost, key: &str) -> Value {
    let url = format!("{}?kv={key}", host.function_url("hooks"));
    let v: Value = host
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["value"].clone()
}

async fn function(host: &TestHost, body: Value) -> Value {
    host.call_fn("hooks", body).await
}

const POSTS: &str = "/api/collections/posts/records";

async fn before_create_changes_or_rejects_a_rest_write(backend: Backend) {
    let host = setup(backend).await;
    let (s, post) = public(
        &host,
        Method::POST,
        POSTS,
        Some(json!({"title": "Hello, World!"})),
    )
    .await;
    assert_eq!(s, 200, "{post}");
    assert_eq!(post["slug"], "hello-world");
    assert_eq!(post["status"], "draft");
    // What the hook wrote to pb:kv committed with the record.
    assert_eq!(kv(&host, "hook:checked:hello-world").await, json!(0));

    // Rejected: the client gets 400 with the hook's message.
    let (s, e) = public(&host, Method::POST, POSTS, Some(json!({"status": "x"}))).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["message"], "title is required");
    assert_eq!(e["status"], 400);

    // Rejected after the hook wrote a record and a key: both are undone.
    let (s, e) = public(
        &host,
        Method::POST,
        POSTS,
        Some(json!({"title": "reject-after-write"})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["message"], "refused after writing");
    assert_eq!(all(&host, "posts").await.len(), 1);
    assert!(all(&host, "audit")
        .await
        .iter()
        .all(|a| a["action"] != "side-write"));
    assert_eq!(kv(&host, "hook:side-write").await, Value::Null);

    // The after-hook saw the committed record.
    let audit = all(&host, "audit").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["action"], "created");
    assert_eq!(audit[0]["post"], post["id"]);
    assert_eq!(audit[0]["title"], "Hello, World!");
    assert_eq!(audit[0]["depth"], 0);
}

async fn pb_data_writes_run_hooks_too(backend: Backend) {
    let host = setup(backend).await;
    let out = function(
        &host,
        json!({"op": "create", "collection": "posts", "data": {"title": "From a function"}}),
    )
    .await;
    assert_eq!(out["ok"]["slug"], "from-a-function", "{out}");
    let out = function(
        &host,
        json!({"op": "create", "collection": "posts", "data": {"title": ""}}),
    )
    .await;
    assert_eq!(out["error"]["status"], 400, "{out}");
    assert_eq!(out["error"]["message"], "title is required");

    // Inside pb.tx: the before-hook runs in the transaction; the after-hook
    // only once it commits, never when it rolls back.
    let out = function(
        &host,
        json!({"op": "txCreate", "data": {"title": "Rolled back"}, "fail": true}),
    )
    .await;
    assert_eq!(out["error"]["message"], "changed my mind", "{out}");
    let out = function(
        &host,
        json!({"op": "txCreate", "data": {"title": "In a tx"}, "fail": false}),
    )
    .await;
    assert_eq!(out["ok"]["slug"], "in-a-tx", "{out}");
    // A refused create inside a transaction that commits: what its hook
    // wrote is undone (a savepoint), the rest of the transaction stands.
    let out = function(&host, json!({"op": "txCatch"})).await;
    assert_eq!(out["ok"]["refused"], "refused after writing", "{out}");
    assert_eq!(out["ok"]["kept"]["slug"], "kept", "{out}");
    assert_eq!(kv(&host, "hook:side-write").await, Value::Null);
    assert_eq!(kv(&host, "hook:checked:side-post").await, Value::Null);

    let titles: Vec<Value> = all(&host, "posts")
        .await
        .iter()
        .map(|p| p["title"].clone())
        .collect();
    assert_eq!(
        titles,
        vec![json!("From a function"), json!("In a tx"), json!("Kept")]
    );
    let audited: Vec<Value> = all(&host, "audit")
        .await
        .iter()
        .map(|a| a["title"].clone())
        .collect();
    assert_eq!(
        audited,
        vec![json!("From a function"), json!("In a tx"), json!("Kept")]
    );
    assert_eq!(kv(&host, "hook:checked:rolled-back").await, Value::Null);
}

async fn update_and_delete_hooks_see_the_old_record(backend: Backend) {
    let host = setup(backend).await;
    let (_, post) = public(&host, Method::POST, POSTS, Some(json!({"title": "First"}))).await;
    let url = format!("{POSTS}/{}", post["id"].as_str().unwrap());
    let (s, p) = public(
        &host,
        Method::PATCH,
        &url,
        Some(json!({"status": "published"})),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["status"], "published");

    let (s, e) = public(
        &host,
        Method::PATCH,
        &url,
        Some(json!({"title": "Renamed"})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["message"], "published posts keep their title");
    let (s, e) = public(&host, Method::DELETE, &url, None).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["message"], "unpublish before deleting");
    assert_eq!(all(&host, "posts").await[0]["title"], "First");

    let (s, _) = public(&host, Method::PATCH, &url, Some(json!({"status": "draft"}))).await;
    assert_eq!(s, 200);
    let (s, p) = public(&host, Method::PATCH, &url, Some(json!({"title": "Second"}))).await;
    assert_eq!(s, 200, "{p}");
    let (s, _) = public(&host, Method::DELETE, &url, None).await;
    assert_eq!(s, 204);
    assert!(all(&host, "posts").await.is_empty());
    let audit = all(&host, "audit").await;
    let last = audit.last().unwrap();
    assert_eq!(last["action"], "deleted", "{audit:?}");
    assert_eq!(last["post"], post["id"]);
    assert_eq!(last["title"], "Second");
}

async fn recursive_hooks_stop_at_the_depth_limit(backend: Backend) {
    let host = setup(backend).await;
    let (s, e) = public(
        &host,
        Method::POST,
        "/api/collections/loops/records",
        Some(json!({"n": 0})),
    )
    .await;
    // Admin-only collection without the token: refused before any hook.
    assert_eq!(s, 403, "{e}");
    let (s, e) = call(
        &host,
        Method::POST,
        "/api/collections/loops/records",
        Some(json!({"n": 0})),
        true,
    )
    .await;
    assert_eq!(s, 400, "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("record hooks nested too deep"),
        "{message}"
    );
    assert!(all(&host, "loops").await.is_empty());
}

async fn a_hook_that_never_returns_is_stopped(backend: Backend) {
    let mut limits = test_limits();
    limits.max_duration = Duration::from_secs(2);
    let host = TestHost::start_with(backend, limits).await;
    setup_on(&host).await;
    let (s, e) = call(
        &host,
        Method::POST,
        "/api/collections/spins/records",
        Some(json!({"n": 1})),
        true,
    )
    .await;
    assert_eq!(s, 500, "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("before_create hook `spin`") && message.contains("did not finish"),
        "{message}"
    );
    assert!(all(&host, "spins").await.is_empty());
    // The host is fine, and the database is not left locked.
    let (s, p) = public(&host, Method::POST, POSTS, Some(json!({"title": "After"}))).await;
    assert_eq!(s, 200, "{p}");
}

async fn bindings_are_checked_and_replaced(backend: Backend) {
    let host = setup(backend).await;
    for (entry, why) in [
        (
            hook("nope", "before_create", "checkPost"),
            "unknown collection `nope`",
        ),
        (
            hook("posts", "before_save", "checkPost"),
            "unknown event `before_save`",
        ),
        (
            hook("posts", "before_create", "missing"),
            "no export named `missing`",
        ),
        (
            json!({"collection": "posts", "event": "after_create", "function": "ghost", "func": "x"}),
            "unknown function `ghost`",
        ),
    ] {
        let e = admin(
            &host,
            Method::PUT,
            HOOKS,
            Some(json!({"hooks": [entry]})),
            400,
        )
        .await;
        assert!(e["message"].as_str().unwrap().contains(why), "{e}");
    }
    // Nothing was replaced by the refused sets.
    let listed = admin(&host, Method::GET, HOOKS, None, 200).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 7);
    assert_eq!(listed["items"][0]["event"], "before_create");
    // An empty set removes every hook: writes go through untouched.
    admin(&host, Method::PUT, HOOKS, Some(json!({"hooks": []})), 200).await;
    let (s, p) = public(&host, Method::POST, POSTS, Some(json!({"status": "raw"}))).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["slug"], "");
    assert!(all(&host, "audit").await.is_empty());

    // Hooks are bound by collection name and follow a rename.
    let one = json!({"hooks": [hook("posts", "before_create", "checkPost")]});
    admin(&host, Method::PUT, HOOKS, Some(one), 200).await;
    admin(
        &host,
        Method::PATCH,
        "/api/collections/posts",
        Some(json!({"name": "articles"})),
        200,
    )
    .await;
    let listed = admin(&host, Method::GET, HOOKS, None, 200).await;
    assert_eq!(listed["items"][0]["collection"], "articles", "{listed}");
    let (s, e) = public(
        &host,
        Method::POST,
        "/api/collections/articles/records",
        Some(json!({"status": "x"})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["message"], "title is required");
}

/// A component in another language (`tests/guests/hook_guard`, Rust)
/// hooks records through the same WIT.
async fn a_rust_component_hooks_records_too(backend: Backend) {
    let host = TestHost::start(backend).await;
    create_collection(
        &host,
        json!({"name": "memos", "listRule": "", "viewRule": "", "createRule": "",
               "updateRule": "", "deleteRule": "", "fields": [
            {"name": "title", "type": "text"},
            {"name": "source", "type": "text"},
            {"name": "depth", "type": "number"},
        ]}),
    )
    .await;
    let resp = host
        .deploy_with(
            "guard",
            guests::bytes(guests::HOOK_GUARD),
            "?triggers=hooks",
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let rust = |event: &str, func: &str| json!({"collection": "memos", "event": event, "function": "guard", "func": func});
    admin(
        &host,
        Method::PUT,
        HOOKS,
        Some(json!({"hooks": [
            rust("before_create", "stamp"),
            rust("before_update", "stamp"),
            rust("before_delete", "no_deletes"),
        ]})),
        200,
    )
    .await;
    let memos = "/api/collections/memos/records";
    let (s, m) = public(&host, Method::POST, memos, Some(json!({"title": "hi"}))).await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["source"], "rust-hook");
    assert_eq!(m["depth"], 0);
    let url = format!("{memos}/{}", m["id"].as_str().unwrap());
    let (s, e) = public(
        &host,
        Method::PATCH,
        &url,
        Some(json!({"title": "forbidden"})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["message"], "memos refused by a Rust hook");
    let (s, e) = public(&host, Method::DELETE, &url, None).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["message"], "deletes are off");
    assert_eq!(all(&host, "memos").await[0]["title"], "hi");
}

on_both_backends!(
    a_rust_component_hooks_records_too,
    before_create_changes_or_rejects_a_rest_write,
    pb_data_writes_run_hooks_too,
    update_and_delete_hooks_see_the_old_record,
    recursive_hooks_stop_at_the_depth_limit,
    a_hook_that_never_returns_is_stopped,
    bindings_are_checked_and_replaced,
);
