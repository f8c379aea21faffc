//! What a record hook costs: REST record creates per second on SQLite and
//! PostgreSQL without hooks, with a JS before-hook (`touch`, which returns
//! the record with one field set), and with that plus an after-hook that
//! writes an audit record (`auditNote`) — `tests/js/src/hooks.ts`, each
//! hook a fresh instance of the function's snapshot, then the same with the
//! function deployed with instance reuse (`?reuse=`).
//!
//! ```sh
//! cargo bench -p pbs-tests --bench hooks
//! HOOKS_BENCH_CREATES=4000 HOOKS_BENCH_BACKENDS=sqlite cargo bench -p pbs-tests --bench hooks
//! ```

use pbs_tests::{js, Backend, TestHost};
use serde_json::{json, Value};
use std::sync::Arc;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An admin request that must succeed.
async fn admin(host: &TestHost, method: reqwest::Method, path: &str, body: Value) {
    let (status, out) = host.admin(method, path, Some(body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {out}");
}

fn hook(event: &str, func: &str) -> Value {
    json!({"collection": "notes", "event": event, "function": "hooks", "func": func})
}

async fn bench(backend: Backend, creates: u64) {
    let name = format!("{backend:?}").to_lowercase();
    let host = Arc::new(TestHost::start(backend).await);
    for def in [
        json!({"name": "notes", "createRule": "", "fields": [
            {"name": "title", "type": "text"},
            {"name": "n", "type": "number"},
            {"name": "status", "type": "text"},
        ]}),
        json!({"name": "audit", "fields": [
            {"name": "action", "type": "text"},
            {"name": "post", "type": "text"},
        ]}),
    ] {
        admin(&host, reqwest::Method::POST, "/api/collections", def).await;
    }
    let bundle = js::build("hooks.ts").await;
    let sets = [
        ("no hooks", "", json!([])),
        ("a before-hook", "", json!([hook("before_create", "touch")])),
        (
            "before- + after-hook",
            "",
            json!([
                hook("before_create", "touch"),
                hook("after_create", "auditNote")
            ]),
        ),
        // The same, the function deployed with instance reuse.
        (
            "a before-hook, reuse",
            "?reuse=100000",
            json!([hook("before_create", "touch")]),
        ),
        (
            "before- + after, reuse",
            "?reuse=100000",
            json!([
                hook("before_create", "touch"),
                hook("after_create", "auditNote")
            ]),
        ),
    ];
    for (label, deploy, hooks) in sets {
        let resp = host.deploy_with("hooks", bundle.clone(), deploy).await;
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
        admin(
            &host,
            reqwest::Method::PUT,
            "/api/pb_serverless/_admin/hooks",
            json!({ "hooks": hooks }),
        )
        .await;
        for concurrency in [1u64, 16] {
            let rate = pbs_tests::load::rest_creates(&host, "notes", creates, concurrency).await;
            println!("{name:<9} {label:<22} c={concurrency:<3} {rate:>7.0} creates/s");
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once,
    // small.
    let quick = !std::env::args().any(|a| a == "--bench");
    let creates = env_or("HOOKS_BENCH_CREATES", if quick { 64 } else { 2000 });
    let backends =
        std::env::var("HOOKS_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split(' ').take(3).collect::<Vec<_>>().join(" ");
    println!(
        "record hooks benchmark: {creates} REST creates per row; {} cores, load average {load}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for b in backends.split(',') {
        match b.trim() {
            "sqlite" => bench(Backend::Sqlite, creates).await,
            "postgres" => bench(Backend::Postgres, creates).await,
            other => panic!("unknown backend {other:?} in HOOKS_BENCH_BACKENDS"),
        }
    }
}
