//! `pb.secrets.get` from a JS guest, on SQLite and on PostgreSQL:
//!
//! ```sh
//! cargo bench -p pbs-tests --bench secrets
//! SECRETS_BENCH_N=20000 SECRETS_BENCH_R=500 cargo bench -p pbs-tests --bench secrets
//! ```
//!
//! For each backend, a host started in-process (as the tests do; the
//! PostgreSQL is the tests' throwaway cluster) serves
//! `tests/js/src/secrets.ts`, and we measure:
//!
//! - the first `pb.secrets.get` of an invocation (one query + AES-GCM open),
//!   timed in the guest (`performance.now()` around the call), the median
//!   over R invocations;
//! - later gets of the same name in that invocation (served from the
//!   invocation's cache): N awaited calls in a JS loop, µs per call;
//! - the same read in-process, without the guest: `store::get` (one query
//!   through a pool like the host's + AES-GCM open), median over R calls;
//! - for scale, opening one sealed value in-process (AES-256-GCM, no I/O).

use pbs::caps::secrets::crypto::{KeySource, MasterKey};
use pbs_tests::{js, Backend, TestHost};
use serde_json::{json, Value};
use std::time::Instant;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn get_json(host: &TestHost, path: &str) -> Value {
    let resp = host
        .client
        .get(host.url(path))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200, "{path}");
    let v: Value = resp.json().await.expect("json");
    assert!(v.get("error").is_none(), "{path}: {v}");
    v
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run(backend: Backend, n: u64, r: u64) -> (f64, f64, f64) {
    // SECRETS_BENCH_N calls in one invocation: the host-call budget is not
    // measured here.
    let limits = pbs::config::Limits {
        max_host_calls: u64::MAX,
        ..pbs_tests::test_limits()
    };
    let host = TestHost::start_with(backend, limits).await;
    let resp = host.deploy("sec", js::build("secrets.ts").await).await;
    assert_eq!(resp.status(), 201);
    let resp = host
        .client
        .put(host.url("/api/pb_serverless/_admin/secrets/OPENAI_API_KEY"))
        .bearer_auth(&host.token)
        .json(&json!({"value": "sk-proj-0123456789abcdef0123456789abcdef0123456789"}))
        .send()
        .await
        .expect("set");
    assert_eq!(resp.status(), 200);
    let first = "/api/pb_serverless/sec/first?name=OPENAI_API_KEY";
    for _ in 0..20 {
        get_json(&host, first).await;
    }
    let mut firsts = Vec::new();
    for _ in 0..r {
        firsts.push(get_json(&host, first).await["us"].as_f64().unwrap());
    }
    let path = format!("/api/pb_serverless/sec/bench?name=OPENAI_API_KEY&n={n}");
    get_json(&host, &path).await;
    let mut cached = Vec::new();
    for _ in 0..5 {
        let out = get_json(&host, &path).await;
        cached.push(out["us"].as_f64().unwrap() / n as f64);
    }
    // The host's own read, without the guest.
    let db = pbs::store::Db::open(&host.db).await.expect("db");
    let key = MasterKey::from_base64(
        &std::fs::read_to_string(host.dir.path().join("secrets_key")).expect("key file"),
        KeySource::Env,
    )
    .expect("key");
    let mut direct = Vec::new();
    for i in 0..r + 20 {
        let started = Instant::now();
        let got = pbs::caps::secrets::store::get(&db, &key, "prod", "OPENAI_API_KEY")
            .await
            .expect("get");
        std::hint::black_box(got);
        if i >= 20 {
            direct.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    db.close().await;
    (median(firsts), median(cached), median(direct))
}

fn main() {
    let n = env_or("SECRETS_BENCH_N", 10_000);
    let r = env_or("SECRETS_BENCH_R", 300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let (key, _) = MasterKey::generate(KeySource::Env).unwrap();
    let sealed = key.seal("prod", "OPENAI_API_KEY", &[b'x'; 51]).unwrap();
    let rounds = 100_000;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(key.open("prod", "OPENAI_API_KEY", &sealed).unwrap());
    }
    let open_us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;

    println!("pb.secrets.get from JS (N={n} cached calls, median of R={r} first calls)");
    println!(
        "{:<10} {:>28} {:>20} {:>28}",
        "backend", "first get in invocation µs", "cached get µs/call", "host store::get µs (no JS)"
    );
    for (backend, label) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
        let (first, cached, direct) = rt.block_on(run(backend, n, r));
        println!("{label:<10} {first:>28.1} {cached:>20.2} {direct:>28.1}");
    }
    println!("AES-256-GCM open of a 51-byte value, in-process: {open_us:.2} µs");
}
