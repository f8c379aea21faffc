//! Hostile guests (issue 17), Rust (`tests/guests/hostile_calls`) and JS
//! (the routes of `tests/js/src/hostile.ts`): a pb host-call flood stopped by the
//! per-invocation budget, oversized arguments, listings that would be
//! result bombs, a trap storm, unbounded recursion, a canary left across
//! instances and malformed uploads. Each case states its bound and prints
//! its figure (`--nocapture`); nothing here asserts a time.
//!
//! The counts are small by default (the file costs well under a minute in
//! CI); `PBS_HARDENING_FULL=1` runs the full counts (10,000 trapping
//! invocations, 1,000 canary readers and malformed uploads, the default
//! budget of 100,000 host calls).

use pbs::config::{Limits, DEFAULT_MAX_HOST_CALLS};
use pbs_tests::{guests, metric, Backend, TestHost};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

/// Whether the full counts were asked for.
fn full() -> bool {
    std::env::var("PBS_HARDENING_FULL").is_ok_and(|v| v == "1")
}

/// `small` in CI, `full` with `PBS_HARDENING_FULL=1`.
pub(crate) fn scaled(small: u64, full_count: u64) -> u64 {
    if full() {
        full_count
    } else {
        small
    }
}

/// Panics anywhere in this process since [`count_panics`] was first called.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() -> usize {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
    PANICS.load(Ordering::SeqCst)
}

/// `GET /api/pb_serverless/<name><rest>` → (status, body).
async fn call(host: &TestHost, name: &str, rest: &str) -> (u16, String) {
    let resp = host
        .client
        .get(host.url(&format!("/api/pb_serverless/{name}{rest}")))
        .send()
        .await
        .expect("function request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The value of `key=` in a `hostile_calls` answer.
fn field<'a>(body: &'a str, key: &str) -> &'a str {
    body.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {body:?}"))
}

/// The message of a host error body.
fn message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.to_string())
}

/// Waits (up to 5 s) for the host's instances in use to drop to 0, and
/// returns the last reading.
async fn instances_back_to_zero(host: &TestHost) -> f64 {
    let mut live = f64::NAN;
    for _ in 0..50 {
        live = metric(host, "pbs_instances_in_use").await;
        if live == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    live
}

/// Bound: one invocation makes at most `max_host_calls` pb host calls. The
/// next one gets the interface's `quota` error (`denied` for pb:secrets,
/// which has none) that the guest handles; a guest that ignores it and
/// calls again is stopped (500). The next invocation has a fresh budget.
async fn a_host_call_flood_is_stopped_by_the_budget(backend: Backend) {
    let budget = scaled(1_000, DEFAULT_MAX_HOST_CALLS);
    let limits = Limits {
        max_host_calls: budget,
        headers_timeout: Duration::from_secs(120),
        ..pbs_tests::test_limits()
    };
    let host = TestHost::start_with(backend, limits).await;
    host.deploy_ok("flood", guests::HOSTILE_CALLS).await;
    host.deploy_js("flood-js", "hostile.ts").await;
    let asked = 1_000_000;
    for (op, case) in [("kv", "Quota"), ("data", "Quota"), ("secrets", "Denied")] {
        let started = Instant::now();
        let (status, body) = call(&host, "flood", &format!("?mode=flood&op={op}&n={asked}")).await;
        let took = started.elapsed();
        assert_eq!(status, 200, "{body}");
        assert_eq!(field(&body, "refused_at"), budget.to_string(), "{body}");
        let refused = field(&body, "refused");
        assert!(
            refused.starts_with(&format!("Error::{case}(")) && refused.contains("--max-host-calls"),
            "{refused}"
        );
        println!(
            "host-call flood [{backend:?}] Rust pb:{op}: {asked} calls asked, {budget} served, \
             call {} refused with {case} after {:.0} ms",
            budget + 1,
            took.as_secs_f64() * 1e3
        );
    }
    // Ignoring the refusal: the next call traps.
    let started = Instant::now();
    let (status, body) = call(
        &host,
        "flood",
        &format!("?mode=flood&op=kv&n={asked}&ignore"),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert!(
        message(&body).contains("went on calling the host after its budget"),
        "the body names the budget: {body}"
    );
    // The function's log says why.
    let (_, logs) = host.admin_get("logs?function=flood").await;
    assert!(
        logs.to_string()
            .contains("went on calling the host after its budget"),
        "{logs}"
    );
    println!(
        "host-call flood [{backend:?}] Rust pb:kv ignoring the refusal: stopped (500) after {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    // JS: pb.kv.get throws the quota error; the handler sees its code.
    let started = Instant::now();
    let (status, body) = call(&host, "flood-js", &format!("/flood?n={asked}")).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["refused"]["at"], budget, "{v}");
    assert_eq!(v["refused"]["code"], "quota", "{v}");
    println!(
        "host-call flood [{backend:?}] JS pb.kv.get: {asked} calls asked, {budget} served, \
         call {} threw code \"quota\" after {:.0} ms",
        budget + 1,
        took.as_secs_f64() * 1e3
    );
    let (status, body) = call(&host, "flood-js", &format!("/flood?n={asked}&ignore")).await;
    assert_eq!(status, 500, "{body}");
    // Each invocation has its own budget.
    let (status, body) = call(&host, "flood", "?mode=flood&op=kv&n=10").await;
    assert_eq!(
        (status, field(&body, "refused_at")),
        (200, "none"),
        "{body}"
    );
    // Also when one instance serves request after request (reuse): every
    // request starts with the whole budget.
    let resp = host
        .deploy_with(
            "flood-reused",
            guests::bytes(guests::HOSTILE_CALLS),
            "?reuse=10",
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    for _ in 0..3 {
        let (status, body) = call(
            &host,
            "flood-reused",
            &format!("?mode=flood&op=kv&n={asked}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(field(&body, "refused_at"), budget.to_string(), "{body}");
    }
}

/// Bound: a host-call argument is copied out of the guest's linear memory,
/// so it is never larger than the guest's memory limit (here 64 MiB): a
/// 200 MiB string cannot even be built (the guest is stopped at its limit,
/// 500). What fits is refused by the capability after the copy (pb:kv
/// values over 1 MiB: `quota`; pb:trace keeps 64 fields); 10^6 items in a
/// list fail the guest's limit or come back as a typed error.
async fn oversized_arguments_are_refused(backend: Backend) {
    let host = TestHost::start_with(backend, pbs_tests::test_limits()).await;
    host.deploy_ok("big", guests::HOSTILE_CALLS).await;
    let (status, created) = host
        .admin(
            reqwest::Method::POST,
            "/api/collections",
            Some(serde_json::json!({"name": "items", "fields": [
                {"name": "embedding", "type": "vector", "dimensions": 3}]})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let cases: [(&str, String, u16, &str); 5] = [
        (
            "a 200 MiB value to kv.set",
            format!("?mode=big&bytes={}", 200 << 20),
            500,
            "memory limit of 64 MiB",
        ),
        (
            "a 24 MiB value to kv.set",
            format!("?mode=big&bytes={}", 24 << 20),
            200,
            "set=Err(Error::Quota(",
        ),
        (
            "a 2 MiB value to kv.set",
            format!("?mode=big&bytes={}", 2 << 20),
            200,
            "set=Err(Error::Quota(",
        ),
        (
            "10^6 f32s to records.vector-search (3 dimensions)",
            "?mode=items&op=vector&n=1000000".into(),
            200,
            "vector_search=Err(Error::Invalid(",
        ),
        (
            "10^6 fields to tracing.log",
            "?mode=items&op=trace&n=1000000".into(),
            500,
            "memory limit of 64 MiB",
        ),
    ];
    for (what, rest, want, needle) in cases {
        let started = Instant::now();
        let (status, body) = call(&host, "big", &rest).await;
        let took = started.elapsed();
        assert_eq!(status, want, "{what}: {body}");
        let text = if status == 200 {
            body.clone()
        } else {
            message(&body)
        };
        assert!(text.contains(needle), "{what}: {text}");
        println!(
            "oversized argument [{backend:?}] {what}: {status} {:?} in {:.0} ms",
            text.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(100)
                .collect::<String>(),
            took.as_secs_f64() * 1e3
        );
    }
    // 10^5 fields fit in the guest's memory: the host keeps 64.
    let (status, body) = call(&host, "big", "?mode=items&op=trace&n=100000").await;
    assert_eq!((status, body.as_str()), (200, "log=returned\n"));
    let (_, logs) = host.admin_get("logs?function=big").await;
    let line = logs["items"]
        .as_array()
        .and_then(|items| items.iter().find(|l| l["msg"] == "many fields"))
        .unwrap_or_else(|| panic!("no \"many fields\" line in {logs}"))
        .to_string();
    assert!(line.contains("\"f63\""), "{line}");
    assert!(
        !line.contains("\"f64\""),
        "more than 64 fields were kept: {line}"
    );
    println!("oversized argument [{backend:?}] 10^5 fields to tracing.log: 200, 64 kept");
}

/// Bound: `list-keys` answers at most 1,000 keys a page (with a cursor)
/// and `get-list` at most 1,000 records, whatever limit the guest asks.
async fn listings_come_back_paginated(backend: Backend) {
    let host = TestHost::start_with(
        backend,
        Limits {
            headers_timeout: Duration::from_secs(120),
            ..pbs_tests::test_limits()
        },
    )
    .await;
    host.deploy_ok("lists", guests::HOSTILE_CALLS).await;
    let keys = scaled(2_500, 50_000);
    let started = Instant::now();
    let (status, body) = call(&host, "lists", &format!("?mode=fill&n={keys}")).await;
    assert_eq!(status, 200, "{body}");
    let filled = started.elapsed();
    let started = Instant::now();
    let (status, body) = call(&host, "lists", "?mode=list&limit=1000000").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(field(&body, "keys"), "1000", "{body}");
    assert_eq!(field(&body, "more"), "true", "{body}");
    println!(
        "result bomb [{backend:?}] list-keys limit=10^6 over {keys} keys: 1000 keys and a cursor \
         in {:.0} ms (filling took {:.0} ms)",
        started.elapsed().as_secs_f64() * 1e3,
        filled.as_secs_f64() * 1e3
    );
    // Records: a collection of 1,200, asked for 10^6 a page.
    let (status, created) = host
        .admin(
            reqwest::Method::POST,
            "/api/collections",
            Some(serde_json::json!({"name": "items", "fields": [{"name": "n", "type": "number"}]})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let records = 1_200;
    let client = host.client.clone();
    let url = host.url("/api/collections/items/records");
    let token = host.token.clone();
    let mut tasks = Vec::new();
    for chunk in 0..8 {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for n in (chunk..records).step_by(8) {
                let resp = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "n": n }))
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let started = Instant::now();
    let (status, body) = call(&host, "lists", "?mode=page&per_page=1000000").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(field(&body, "items"), "1000", "{body}");
    assert_eq!(field(&body, "total"), records.to_string(), "{body}");
    println!(
        "result bomb [{backend:?}] get-list perPage=10^6 over {records} records: 1000 records in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
}

pbs_tests::on_both_backends!(
    a_host_call_flood_is_stopped_by_the_budget,
    oversized_arguments_are_refused,
    listings_come_back_paginated,
);

/// Bound: every trapping invocation is a 500, 0 host panics, and the
/// instances in use are back to 0 after; a well-behaved function answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_storm_leaves_no_trace() {
    let panics = count_panics();
    let host = Arc::new(TestHost::start(Backend::Sqlite).await);
    host.deploy_ok("trap", guests::TRAP).await;
    host.deploy_ok("hello", guests::HELLO).await;
    let total = scaled(1_000, 10_000);
    let concurrency = 16;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in (worker..total).step_by(concurrency as usize) {
                statuses.push(host.get("trap").await.status().as_u16());
            }
            statuses
        }));
    }
    let mut errors = 0;
    let mut n = 0;
    for t in tasks {
        for s in t.await.unwrap() {
            n += 1;
            errors += (s == 500) as u64;
        }
    }
    let took = started.elapsed();
    assert_eq!((n, errors), (total, total), "every trap is a 500");
    let live = instances_back_to_zero(&host).await;
    assert_eq!(live, 0.0, "instances still in use after the storm");
    let resp = host.get("hello").await;
    assert_eq!(resp.status(), 200);
    let new_panics = count_panics() - panics;
    assert_eq!(new_panics, 0, "the host panicked");
    println!(
        "trap storm: {total} trapping invocations ({concurrency} clients) in {:.1} s \
         ({:.0}/s): {errors} answered 500, {new_panics} panics, instances in use after: {live}",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64()
    );
}

/// Bound: recursion without end is stopped (wasm stack overflow in Rust,
/// QuickJS's stack limit in JS) with a 500; the host goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_recursion_is_a_500() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_ok("deep", guests::HOSTILE_CALLS).await;
    host.deploy_js("deep-js", "hostile.ts").await;
    for (lang, name, rest) in [
        ("Rust", "deep", "?mode=recurse"),
        ("JS", "deep-js", "/deep"),
    ] {
        for _ in 0..3 {
            let started = Instant::now();
            let (status, body) = call(&host, name, rest).await;
            let took = started.elapsed();
            assert_eq!(status, 500, "{lang}: {body}");
            println!(
                "unbounded recursion {lang}: 500 {:?} in {:.0} ms",
                message(&body),
                took.as_secs_f64() * 1e3
            );
        }
        // What the function's log says stopped it.
        let (_, logs) = host.admin_get(&format!("logs?function={name}")).await;
        let reason = logs["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["fields"]["error"].as_str().or(l["error"].as_str()))
            .next_back()
            .unwrap_or_else(|| panic!("no error in the log of {name}: {logs}"))
            .to_string();
        // wasmtime's call-stack limit, QuickJS's own check, or (a Rust
        // guest's shadow stack, which sits below its data in linear memory
        // and grows down) an access below address 0.
        let cause = [
            "call stack exhausted",
            "stack overflow",
            "Maximum call stack",
            "out of bounds memory access",
        ]
        .into_iter()
        .find(|c| reason.contains(c));
        assert!(cause.is_some(), "{lang}: {reason}");
        println!(
            "unbounded recursion {lang}: the log says {:?}",
            cause.unwrap()
        );
    }
    let (status, body) = call(&host, "deep-js", "/ok").await;
    assert_eq!((status, body.as_str()), (200, "fine"));
    // Recursion that ends is not cut short: 1,500 levels (the native
    // stack's old default, 512 KiB, stopped this at ~700; Node allows ~10,000).
    let (status, body) = call(&host, "deep-js", "/depth?n=1500").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "1500"),
        "1,500 levels of JS recursion"
    );
    assert_eq!(instances_back_to_zero(&host).await, 0.0);
}

/// This process's resident memory, in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

/// Bound: an instance holds at most 10,000 resource handles
/// (`MAX_RESOURCES`); the guest asking for more is stopped (500), the
/// instances in use go back to 0, and after many such floods the host's
/// memory is back near its baseline (asserted within 64 MiB in the full
/// run, which runs alone; printed either way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_handle_flood_hits_the_table_limit() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_ok("handles", guests::HOSTILE_CALLS).await;
    // Within the limit: every handle is given.
    let (status, body) = call(&host, "handles", "?mode=handles&n=9000").await;
    assert_eq!((status, field(&body, "opened")), (200, "9000"), "{body}");
    let repeats = scaled(10, 100);
    // Warm up (the first flood's allocations are kept by the allocator).
    let (status, body) = call(&host, "handles", "?mode=handles&n=1000000").await;
    assert_eq!(status, 500, "{body}");
    let before = rss();
    let started = Instant::now();
    for _ in 0..repeats {
        let (status, body) = call(&host, "handles", "?mode=handles&n=1000000").await;
        assert_eq!(status, 500, "{body}");
    }
    let took = started.elapsed();
    let after = rss();
    let (_, logs) = host.admin_get("logs?function=handles").await;
    assert!(
        logs.to_string().contains("resource table has no free keys"),
        "{logs}"
    );
    assert_eq!(instances_back_to_zero(&host).await, 0.0);
    let (status, body) = call(&host, "handles", "?mode=handles&n=10").await;
    assert_eq!((status, field(&body, "opened")), (200, "10"), "{body}");
    let grew = after as i64 - before as i64;
    if full() {
        assert!(grew < 64 << 20, "RSS grew by {grew} bytes");
    }
    println!(
        "resource-handle flood: 9,000 handles given; {repeats} invocations asking 10^6 each \
         stopped at the 10,000-handle table (500) in {:.0} ms each; RSS {:.0} → {:.0} MiB \
         ({:+.1} MiB); 0 instances in use after",
        took.as_secs_f64() * 1e3 / repeats as f64,
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        grew as f64 / 1048576.0
    );
}

/// Bound: a canary tenant A leaves in linear memory (4,096 copies) and in
/// JS globals is found 0 times by later instances of tenant B, nor by A's
/// own next instances (every invocation is a fresh instance).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_never_crosses_instances() {
    let limits = Limits {
        // Few slots, so B's instances reuse A's.
        max_instances: 4,
        ..pbs_tests::test_limits()
    };
    let host = TestHost::start_with(Backend::Sqlite, limits).await;
    host.deploy_ok("tenant-a", guests::HOSTILE_CALLS).await;
    host.deploy_ok("tenant-b", guests::HOSTILE_CALLS).await;
    host.deploy_js("js-a", "hostile.ts").await;
    host.deploy_js("js-b", "hostile.ts").await;
    let readers = scaled(50, 1_000);
    let token: String = (0..16).map(|_| format!("{:02x}", rand_byte())).collect();
    let started = Instant::now();
    let mut found = 0u64;
    let mut js_found = 0u64;
    for round in 0..readers {
        if round % 10 == 0 {
            let (status, body) = call(
                &host,
                "tenant-a",
                &format!("?mode=canary&token={token}&write"),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            // The scanner sees what it wrote: it can find a canary.
            assert!(
                field(&body, "found").parse::<u64>().unwrap() >= 4096,
                "{body}"
            );
            let (_, body) = call(&host, "js-a", &format!("/canary?token={token}&write")).await;
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                (&v["global"], &v["big"]),
                (&Value::Bool(true), &Value::Bool(true)),
                "{v}"
            );
        }
        let reader = if round % 2 == 0 {
            "tenant-b"
        } else {
            "tenant-a"
        };
        let (status, body) = call(&host, reader, &format!("?mode=canary&token={token}")).await;
        assert_eq!(status, 200, "{body}");
        found += field(&body, "found").parse::<u64>().unwrap();
        let reader = if round % 2 == 0 { "js-b" } else { "js-a" };
        let (_, body) = call(&host, reader, &format!("/canary?token={token}")).await;
        let v: Value = serde_json::from_str(&body).unwrap();
        js_found += ["global", "module", "big"]
            .iter()
            .filter(|k| v[**k] == Value::Bool(true))
            .count() as u64;
    }
    assert_eq!((found, js_found), (0, 0), "a canary crossed instances");
    println!(
        "cross-instance canary: {} writes by A, {readers} later Rust and {readers} JS instances \
         (half B, half A) in 4 slots: {found} copies found in linear memory, {js_found} in JS \
         globals ({:.1} s)",
        readers.div_ceil(10),
        started.elapsed().as_secs_f64()
    );
}

fn rand_byte() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish() as u8
}

/// A small deterministic generator (xorshift64*), so a failing case can be
/// replayed from the printed seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A core module generated by `wasm-smith` from `seed`, wrapped in a
/// component (so it passes the magic-number check and reaches the
/// compiler), exporting nothing a trigger could call.
pub(crate) fn smith_component(rng: &mut Rng) -> Vec<u8> {
    let entropy = rng.bytes(4096);
    let mut u = arbitrary::Unstructured::new(&entropy);
    let config = wasm_smith::Config {
        max_funcs: 50,
        max_instructions: 500,
        ..Default::default()
    };
    let module = wasm_smith::Module::new(config, &mut u)
        .expect("wasm-smith makes a module from any entropy")
        .to_bytes();
    let mut component = wasm_encoder::Component::new();
    component.section(&wasm_encoder::RawSection {
        id: wasm_encoder::ComponentSectionId::CoreModule as u8,
        data: &module,
    });
    component.finish()
}

/// Bound: every truncated, bit-flipped or `wasm-smith`-generated upload
/// is answered with a 4xx naming the problem, or (a flip that left a valid
/// component) deployed and run without harming the host; never a 5xx, 0
/// host panics; the slowest answer (compile time included) is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_uploads_are_refused() {
    let panics = count_panics();
    let host = TestHost::start(Backend::Sqlite).await;
    let hello = guests::bytes(guests::HELLO);
    let per_kind = scaled(40, 334) as usize;
    let seed = 0x5eed_0017_u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
    let mut rng = Rng(seed | 1);
    let mut refused = 0;
    let mut accepted = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    let mut statuses = std::collections::BTreeMap::new();
    for kind in ["truncated", "bit-flipped", "wasm-smith"] {
        for i in 0..per_kind {
            let bytes = match kind {
                "truncated" => hello[..rng.below(hello.len())].to_vec(),
                "bit-flipped" => {
                    let mut b = hello.clone();
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(b.len());
                        b[at] ^= 1 << rng.below(8);
                    }
                    b
                }
                _ => smith_component(&mut rng),
            };
            let name = format!("bad-{kind}-{i}");
            let started = Instant::now();
            let resp = host.deploy(&name, bytes).await;
            let took = started.elapsed();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            *statuses.entry(status).or_insert(0) += 1;
            if took > slowest.0 {
                slowest = (took, format!("{kind} #{i} ({status})"));
            }
            match status {
                400..=499 => {
                    assert!(!message(&body).is_empty(), "{kind} #{i}: {body}");
                    refused += 1;
                }
                201 if kind == "bit-flipped" => accepted.push(name),
                _ => panic!("{kind} #{i} (seed {seed:#x}): {status} {body}"),
            }
        }
    }
    // A flip that left a valid component runs like any function.
    let mut ran = std::collections::BTreeMap::new();
    for name in &accepted {
        let status = host.get(name).await.status().as_u16();
        assert!(status < 600, "{name}");
        *ran.entry(status).or_insert(0) += 1;
    }
    host.deploy_ok("hello", guests::HELLO).await;
    assert_eq!(host.get("hello").await.status(), 200);
    let new_panics = count_panics() - panics;
    assert_eq!(new_panics, 0, "the host panicked");
    println!(
        "malformed uploads (seed {seed:#x}): {} uploads ({per_kind} truncated, {per_kind} \
         bit-flipped, {per_kind} wasm-smith): {refused} refused with a 4xx, {} bit-flipped still \
         valid and deployed (their calls answered {ran:?}); statuses {statuses:?}; {new_panics} \
         panics; slowest answer {:.0} ms ({})",
        3 * per_kind,
        accepted.len(),
        slowest.0.as_secs_f64() * 1e3,
        slowest.1
    );
}
