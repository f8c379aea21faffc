//! `pb:files` from a JS guest: save and read of a 1 MiB file, on local
//! storage and on S3 (moto, the tests' throwaway server):
//!
//! ```sh
//! cargo bench -p pbs-tests --bench files
//! FILES_BENCH_N=200 FILES_BENCH_KB=4096 cargo bench -p pbs-tests --bench files
//! ```
//!
//! A host started in-process (as the tests do, SQLite database) serves
//! `tests/js/src/files.ts`; one invocation makes N awaited `pb.files.save`
//! calls replacing one file, N saving under new names, or N `pb.files.read`,
//! timing each one in the guest (`performance.now()`). We print p50 and p99 per call and MB/s at the
//! median. Then the same file over HTTP (`GET /api/files/…`, streamed),
//! timed by the client. moto is a Python server (one request per
//! connection): its figures show the host's S3 path works at speed, not
//! what a real S3 would do.

use pbs::caps::files::config::FilesConfig;
use pbs::config::{HostConfig, Mode};
use pbs::server::Server;
use pbs_tests::{js, s3, test_limits, TestHost};
use serde_json::Value;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn start(files: FilesConfig) -> TestHost {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("data.db").to_string_lossy().into_owned();
    let config = HostConfig {
        mode: Mode::Host,
        addr: "127.0.0.1:0".parse().unwrap(),
        dir: dir.path().to_path_buf(),
        db: Some(db.clone()),
        admin_token: Some("bench-admin-token".into()),
        limits: pbs::config::Limits {
            headers_timeout: Duration::from_secs(300),
            ..test_limits()
        },
        files,
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

/// The p-th percentile of sorted values (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(storage: &str, what: &str, mut us: Vec<f64>, bytes: u64) {
    us.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (percentile(&us, 50.0), percentile(&us, 99.0));
    let mb_s = bytes as f64 / 1e6 / (p50 / 1e6);
    println!(
        "{storage:<6} {what:<34} {:>5} {:>10.0} {:>10.0} {:>9.0}",
        us.len(),
        p50,
        p99,
        mb_s
    );
}

async fn bench(storage: &str, files: FilesConfig, n: u64, kb: u64) {
    let host = start(files).await;
    let resp = host.deploy("files", js::build("files.ts").await).await;
    assert_eq!(resp.status(), 201, "deploy files.ts");
    for op in ["save", "savenew", "read"] {
        let path = format!("/api/pb_serverless/files/bench?op={op}&n={n}&kb={kb}");
        // A warm-up invocation, then the measured one.
        let warm = format!("/api/pb_serverless/files/bench?op={op}&n=3&kb={kb}");
        host.client
            .get(host.url(&warm))
            .send()
            .await
            .expect("warm up");
        let resp = host
            .client
            .get(host.url(&path))
            .send()
            .await
            .expect("bench");
        assert_eq!(resp.status(), 200, "{path}");
        let out: Value = resp.json().await.expect("json");
        let us: Vec<f64> = out["us"]
            .as_array()
            .expect("timings")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let what = match op {
            "save" => "pb.files.save from JS, replacing",
            "savenew" => "pb.files.save from JS, new names",
            _ => "pb.files.read from JS",
        };
        report(storage, what, us, kb << 10);
    }
    // The file over HTTP, as a browser would get it.
    let url = host.url("/api/files/bench/r1/blob.bin");
    let mut us = Vec::new();
    for i in 0..n + 3 {
        let started = Instant::now();
        let body = host
            .client
            .get(&url)
            .send()
            .await
            .expect("GET")
            .bytes()
            .await
            .expect("body");
        assert_eq!(body.len() as u64, kb << 10);
        if i >= 3 {
            us.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    report(storage, "GET /api/files/… (HTTP client)", us, kb << 10);
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once,
    // quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = env_or("FILES_BENCH_N", if quick { 5 } else { 100 });
    let kb = env_or("FILES_BENCH_KB", 1024);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split(' ').take(3).collect::<Vec<_>>().join(" ");
    println!(
        "pb:files benchmark: {kb} KiB file, N = {n} calls; {} cores, load average {load}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<6} {:<34} {:>5} {:>10} {:>10} {:>9}",
        "store", "measure", "n", "p50 µs", "p99 µs", "MB/s p50"
    );
    let big = FilesConfig {
        max_file_size: (kb << 10).max(1 << 20),
        ..FilesConfig::default()
    };
    bench("local", big.clone(), n, kb).await;
    let s3 = FilesConfig {
        max_file_size: big.max_file_size,
        ..s3::files_config("bench").await
    };
    bench("s3", s3, n, kb).await;
}
