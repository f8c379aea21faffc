//! `pb:data` transactions with an outbox (`pb.tx` from JS, `tests/js/src/tx.ts`)
//! on SQLite and PostgreSQL: records, `pb:kv` `set-in` and `pb:jobs`
//! `enqueue-in` commit together or not at all — on a throw, a failing
//! fetch, or a guest stopped by the host's timeout — and two transactions
//! on SQLite serialise instead of failing with "database is locked".

use crate::jobs::{start, test_jobs, wait_state};
use crate::records::{admin, create_collection};
use pbs_tests::{on_both_backends, Backend, TestHost};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

async fn setup(backend: Backend) -> TestHost {
    let host = start(backend, test_jobs()).await;
    create_collection(
        &host,
        json!({
            "name": "accounts",
            "fields": [
                {"name": "name", "type": "text"},
                {"name": "balance", "type": "number"},
            ],
        }),
    )
    .await;
    host.deploy_js("bank", "tx.ts").await;
    host
}

async fn post(host: &TestHost, body: Value) -> Value {
    host.call_fn("bank", body).await
}

async fn get(host: &TestHost, query: &str) -> Value {
    let url = format!("{}?{query}", host.function_url("bank"));
    let resp = host.client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn balance(host: &TestHost, id: &str) -> f64 {
    let out = get(host, &format!("record={id}")).await;
    out["record"]["balance"]
        .as_f64()
        .unwrap_or_else(|| panic!("record {id}: {out}"))
}

/// An account created (committed) through the transaction.
async fn account(host: &TestHost, tag: &str) -> String {
    let out = post(host, json!({"op": "commit", "tag": tag})).await;
    out["ok"]["record"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"))
        .to_string()
}

async fn commit_makes_record_kv_and_job_visible_together(backend: Backend) {
    let host = setup(backend).await;
    let out = post(&host, json!({"op": "commit", "tag": "a"})).await;
    let id = out["ok"]["record"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    let job = out["ok"]["jobId"].as_str().unwrap();
    assert_eq!(balance(&host, id).await, 100.0);
    assert_eq!(get(&host, "kv=tx:a").await["value"], json!({"tag": "a"}));
    wait_state(&host, job, "completed", Duration::from_secs(10)).await;
    assert_eq!(get(&host, "kv=job:a").await["value"], json!(true));
}

async fn a_throw_rolls_back_record_kv_and_job(backend: Backend) {
    let host = setup(backend).await;
    let out = post(&host, json!({"op": "throw", "tag": "b"})).await;
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("changed my mind"),
        "{out}"
    );
    let job = out["jobId"].as_str().unwrap_or_else(|| panic!("{out}"));
    let (status, body) = host.admin_get(&format!("jobs/{job}")).await;
    assert_eq!(status, 404, "the rolled-back job exists: {body}");
    assert_eq!(get(&host, "kv=tx:b").await["value"], Value::Null);
    let list = admin(
        &host,
        Method::GET,
        "/api/collections/accounts/records?filter=name%3D%27b%27",
        None,
        200,
    )
    .await;
    assert_eq!(list["totalItems"], 0, "{list}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get(&host, "kv=job:b").await["value"], Value::Null);
}

/// The test: deduct a balance, then a fetch fails → unchanged.
async fn a_failing_fetch_leaves_the_balance_unchanged(backend: Backend) {
    let host = setup(backend).await;
    let id = account(&host, "d").await;
    let out = post(&host, json!({"op": "deduct", "id": id})).await;
    assert!(out["error"].is_object(), "{out}");
    assert_eq!(balance(&host, &id).await, 100.0);
}

/// A guest stopped by the host's timeout inside the transaction: rolled
/// back, and the database is free for the next one.
async fn a_timed_out_guest_is_rolled_back(backend: Backend) {
    let host = setup(backend).await;
    let id = account(&host, "e").await;
    let resp = host
        .client
        .post(host.function_url("bank"))
        .json(&json!({"op": "spin", "id": id}))
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 200);
    assert_eq!(balance(&host, &id).await, 100.0);
    let out = post(&host, json!({"op": "slowIncr", "id": id})).await;
    assert_eq!(out["ok"]["record"]["balance"], 101.0, "{out}");
}

/// Two read-then-write transactions at once both succeed, serialised.
async fn concurrent_transactions_serialise(backend: Backend) {
    let host = setup(backend).await;
    let id = account(&host, "f").await;
    let body = json!({"op": "slowIncr", "id": id});
    let (a, b) = tokio::join!(post(&host, body.clone()), post(&host, body.clone()));
    assert!(a["ok"].is_object(), "{a}");
    assert!(b["ok"].is_object(), "{b}");
    if backend == Backend::Sqlite {
        // BEGIN IMMEDIATE: the second waits for the first, no lost update.
        assert_eq!(balance(&host, &id).await, 102.0);
    }
}

on_both_backends!(
    commit_makes_record_kv_and_job_visible_together,
    a_throw_rolls_back_record_kv_and_job,
    a_failing_fetch_leaves_the_balance_unchanged,
    a_timed_out_guest_is_rolled_back,
    concurrent_transactions_serialise,
);
