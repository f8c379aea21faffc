//! Load for the benchmarks: many clients creating records through the REST
//! API at once.

use crate::TestHost;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Records per second created in `collection` (fields `title` text and `n`
/// number, a public create rule) by `concurrency` clients, `total` in all;
/// every create must answer 200.
pub async fn rest_creates(
    host: &Arc<TestHost>,
    collection: &str,
    total: u64,
    concurrency: u64,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let per = total / concurrency;
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let host = host.clone();
            let done = done.clone();
            let url = host.url(&format!("/api/collections/{collection}/records"));
            tokio::spawn(async move {
                for i in 0..per {
                    let resp = host
                        .client
                        .post(&url)
                        .json(&json!({"title": format!("note {w}-{i}"), "n": i}))
                        .send()
                        .await
                        .expect("create");
                    let status = resp.status();
                    let body = resp.text().await.expect("body");
                    assert_eq!(status, 200, "{body}");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
