//! The Rust SDK's handler attributes and helpers in one component
//! (`tests/guests/sdk_handlers`): `#[http_handler]`, `#[job_handler]` and
//! `#[cron_handler]` export together; a job enqueued through
//! `pb_sdk::jobs` runs with its typed payload; a cron tick runs; and
//! `pb_sdk::data::transaction` commits, or rolls back the record and the
//! `pb:kv` write made through it when the closure fails.

use crate::jobs::{start, test_jobs, wait_state};
use crate::records::create_collection;
use pbs_tests::{guests, Backend, TestHost};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn post(host: &TestHost, path: &str) -> (u16, Value) {
    let resp = host
        .client
        .post(host.url(&format!("/api/pb_serverless/sdk/{path}")))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn kv(host: &TestHost, key: &str) -> Option<String> {
    let resp = host
        .client
        .get(host.url("/api/pb_serverless/sdk/kv"))
        .query(&[("key", key)])
        .send()
        .await
        .unwrap();
    match resp.status().as_u16() {
        200 => Some(resp.text().await.unwrap()),
        404 => None,
        s => panic!("kv {key}: {s} {}", resp.text().await.unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_serves_http_jobs_cron_and_transactions() {
    let host = start(Backend::Sqlite, test_jobs()).await;
    let deployed = host
        .deploy_with(
            "sdk",
            guests::bytes(guests::SDK_HANDLERS),
            "?triggers=http,jobs,cron",
        )
        .await;
    assert_eq!(deployed.status(), 201, "{}", deployed.text().await.unwrap());

    // A job with a typed payload; one whose payload does not fit fails.
    let (status, body) = post(&host, "enqueue?n=21").await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    wait_state(&host, &id, "completed", Duration::from_secs(10)).await;
    assert_eq!(
        kv(&host, &format!("double:{id}")).await.as_deref(),
        Some("42")
    );
    let (status, body) = post(&host, "enqueue?n=x").await;
    assert_eq!((status, &body["status"]), (400, &json!(400)), "{body}");

    // A cron tick every second reaches `#[cron_handler]`.
    let resp = host
        .client
        .put(host.url("/api/pb_serverless/_admin/cron"))
        .bearer_auth(&host.token)
        .json(&json!({"schedules": [{"function": "sdk", "func": "beat", "cron": "* * * * * *"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let started = Instant::now();
    while kv(&host, "tick:beat").await.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no cron tick ran"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Transactions: both writes or neither.
    create_collection(
        &host,
        json!({"name": "notes", "fields": [{"name": "text", "type": "text"}]}),
    )
    .await;
    let (status, body) = post(&host, "tx?text=kept").await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap();
    assert_eq!(kv(&host, "note:kept").await.as_deref(), Some(id));
    let (status, body) = post(&host, "tx?text=gone&fail=1").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["message"], "failed on purpose after the writes");
    assert_eq!(kv(&host, "note:gone").await, None);
    let (status, list) = crate::records::call(
        &host,
        reqwest::Method::GET,
        "/api/collections/notes/records",
        None,
        true,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["totalItems"], 1, "{list}");
    assert_eq!(list["items"][0]["text"], "kept");
}
