//! `pb:jobs` end to end, on SQLite and on PostgreSQL:
//!
//! ```sh
//! cargo bench -p pbs-tests --bench jobs            # release build
//! JOBS_BENCH_N=50000 JOBS_BENCH_WORKERS=32 JOBS_BENCH_BACKEND=postgres cargo bench -p pbs-tests --bench jobs
//! ```
//!
//! For each backend, a host started in-process (as the tests do; the
//! PostgreSQL is the tests' throwaway cluster, run with `fsync=off` and
//! `synchronous_commit=off`) with the Rust guest `jobs_tester` deployed:
//!
//! - **throughput**: N no-op jobs enqueued through `pb:jobs/queue.enqueue`
//!   by the guest (8 HTTP clients, 250 enqueues per request) while the
//!   host's workers run them; jobs per second from the first enqueue to
//!   the last completion (all rows `completed`), and the enqueue rate alone;
//! - **latency**: with the queue idle, one job at a time: the guest reads
//!   the wall clock just before `enqueue`, the job's handler reads it when
//!   it starts; p50 / p99 of the difference over M jobs.
//!
//! The goals (from the issue): at least 2,000 jobs/s end to end on
//! PostgreSQL on a 2-core machine; enqueue-to-start p50 under 10 ms.

use pbs::config::{HostConfig, Limits, Mode};
use pbs::server::Server;
use pbs::store::Db;
use pbs::triggers::jobs::JobsConfig;
use pbs_tests::{guests, test_limits, Backend, TestHost};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Row {
    backend: &'static str,
    what: String,
    value: f64,
}

async fn host(backend: Backend, workers: usize) -> TestHost {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = pbs_tests::new_database(backend, dir.path()).await;
    let config = HostConfig {
        mode: Mode::Host,
        addr: "127.0.0.1:0".parse().unwrap(),
        dir: dir.path().to_path_buf(),
        db: Some(db.clone()),
        admin_token: Some("bench-admin-token".into()),
        limits: Limits {
            headers_timeout: Duration::from_secs(60),
            ..test_limits()
        },
        jobs: JobsConfig {
            workers,
            ..JobsConfig::default()
        },
        ..HostConfig::default()
    };
    let server = Server::start(config).await.expect("start host");
    let base = format!("http://{}", server.addr());
    TestHost {
        server,
        dir,
        db,
        base,
        token: "bench-admin-token".into(),
        client: pbs_tests::client(),
    }
}

async fn completed(db: &Db) -> i64 {
    db.query("SELECT COUNT(*) FROM pbs_jobs WHERE state = 'completed'")
        .scalar()
        .await
        .expect("count")
}

async fn kv_value(db: &Db, key: &str) -> Option<String> {
    let v: Option<Vec<u8>> = db
        .query("SELECT value FROM pbs_kv WHERE namespace = 'fn:bench' AND key = $1")
        .bind(key)
        .optional_scalar()
        .await
        .expect("kv");
    v.map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// N no-op jobs enqueued by 8 clients; returns (jobs/s end to end,
/// enqueues/s).
async fn throughput(host: &Arc<TestHost>, db: &Db, n: u64) -> (f64, f64) {
    let batch = 250u64;
    let clients = 8u64;
    let before = completed(db).await;
    let started = Instant::now();
    let per_client = n / clients;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move {
                let url = host.url("/api/pb_serverless/bench/enqueue-many");
                let mut left = per_client;
                while left > 0 {
                    let k = left.min(batch).to_string();
                    let resp = host
                        .client
                        .post(&url)
                        .query(&[
                            ("name", "noop"),
                            ("n", k.as_str()),
                            ("payload", "{\"op\":\"noop\"}"),
                        ])
                        .send()
                        .await
                        .expect("enqueue");
                    assert_eq!(
                        resp.status(),
                        200,
                        "{}",
                        resp.text().await.unwrap_or_default()
                    );
                    left -= left.min(batch);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    let enqueued = started.elapsed();
    let total = per_client * clients;
    loop {
        if completed(db).await - before >= total as i64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "jobs did not finish"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = started.elapsed();
    (
        total as f64 / all.as_secs_f64(),
        total as f64 / enqueued.as_secs_f64(),
    )
}

/// Enqueue-to-start latencies (ms) of `m` jobs, one at a time, idle queue.
async fn latencies(host: &TestHost, db: &Db, m: u64) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..m {
        let resp = host
            .client
            .post(host.url("/api/pb_serverless/bench/enqueue"))
            .query(&[("name", "started"), ("payload", "{\"op\":\"started\"}")])
            .send()
            .await
            .expect("enqueue");
        let body: Value = resp.json().await.expect("json");
        let id = body["id"].as_str().expect("an id").to_string();
        let enqueued_us = body["enqueued_us"].as_u64().expect("enqueued_us");
        let key = format!("started:{id}");
        let waited = Instant::now();
        let started_us: u64 = loop {
            if let Some(v) = kv_value(db, &key).await {
                break v.parse().expect("µs");
            }
            assert!(
                waited.elapsed() < Duration::from_secs(10),
                "job {id} did not start"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        out.push(started_us.saturating_sub(enqueued_us) as f64 / 1000.0);
        // Let the queue go idle again.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out.sort_by(|a, b| a.total_cmp(b));
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn bench(backend: Backend, n: u64, m: u64, workers: usize, rows: &mut Vec<Row>) {
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let host = Arc::new(host(backend, workers).await);
    let resp = host
        .deploy("bench", guests::bytes(guests::JOBS_TESTER))
        .await;
    assert_eq!(resp.status(), 201);
    let db = Db::open(&host.db).await.expect("db");
    let mut push = |what: String, value: f64| {
        println!("{name:<9} {what:<46} {value:>10.1}");
        rows.push(Row {
            backend: name,
            what,
            value,
        });
    };
    // Warm-up: compile caches, connections.
    throughput(&host, &db, 400).await;
    let (rate, enqueue_rate) = throughput(&host, &db, n).await;
    push("no-op jobs/s, enqueued and completed".into(), rate);
    push(
        "enqueues/s (8 clients, 250 per request)".into(),
        enqueue_rate,
    );
    let lat = latencies(&host, &db, m).await;
    push(
        "enqueue-to-start p50, idle queue (ms)".into(),
        percentile(&lat, 0.5),
    );
    push(
        "enqueue-to-start p99, idle queue (ms)".into(),
        percentile(&lat, 0.99),
    );
    db.close().await;
}

fn find(rows: &[Row], backend: &str, what: &str) -> f64 {
    rows.iter()
        .find(|r| r.backend == backend && r.what.starts_with(what))
        .map(|r| r.value)
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once,
    // quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = env_or("JOBS_BENCH_N", if quick { 500 } else { 20_000 });
    let m = env_or("JOBS_BENCH_M", if quick { 20 } else { 200 });
    let workers = env_or(
        "JOBS_BENCH_WORKERS",
        pbs::triggers::jobs::DEFAULT_WORKERS as u64,
    ) as usize;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split(' ').take(3).collect::<Vec<_>>().join(" ");
    println!(
        "pb:jobs benchmark: N = {n} jobs, {workers} workers, M = {m} latency samples; \
         {} cores, load average {load}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("{:<9} {:<46} {:>10}", "backend", "measure", "value");
    let mut rows = Vec::new();
    let only = std::env::var("JOBS_BENCH_BACKEND").unwrap_or_default();
    if only != "postgres" {
        bench(Backend::Sqlite, n, m, workers, &mut rows).await;
    }
    if only != "sqlite" {
        bench(Backend::Postgres, n, m, workers, &mut rows).await;
    }
    println!();
    let pg = find(&rows, "postgres", "no-op jobs/s");
    println!(
        "goal: PostgreSQL ≥ 2,000 jobs/s end to end: {pg:.0} ({})",
        if pg >= 2000.0 { "met" } else { "missed" }
    );
    for backend in ["sqlite", "postgres"] {
        let p50 = find(&rows, backend, "enqueue-to-start p50");
        println!(
            "goal: {backend} enqueue-to-start p50 < 10 ms: {p50:.2} ms ({})",
            if p50 < 10.0 { "met" } else { "missed" }
        );
    }
}
