//! `pb:kv` conformance: every behaviour on SQLite and on PostgreSQL, through
//! the JS face (`tests/js/src/kv.ts`, which calls `pb.kv`), real HTTP and
//! real concurrency. (The Rust guest `pb_imports` covers the raw WIT calls,
//! see imports.rs.)

use pbs_tests::{js, on_both_backends, test_limits, Backend, TestHost};
use serde_json::{json, Value};
use std::time::Duration;

/// A deployed `kv.ts` function.
struct Kv<'a> {
    host: &'a TestHost,
    name: &'static str,
}

impl<'a> Kv<'a> {
    async fn deploy(host: &'a TestHost, name: &'static str) -> Kv<'a> {
        let resp = host.deploy(name, js::build("kv.ts").await).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 201, "deploy kv.ts as {name}: {body}");
        Kv { host, name }
    }

    /// One `pb.kv` call: {ok} or {error}.
    async fn call(&self, request: Value) -> Value {
        self.host.call_fn(self.name, request).await
    }

    /// A call that must succeed: its result.
    async fn ok(&self, request: Value) -> Value {
        self.host.call_ok(self.name, request).await
    }

    /// A call that must fail with `PbError` code `code`: its message.
    async fn fails(&self, request: Value, code: &str) -> String {
        let error = &self.host.call_fails(self.name, request, code).await;
        error["message"].as_str().unwrap().to_string()
    }

    /// A call the JS face refuses before reaching the host: its message.
    async fn type_error(&self, request: Value) -> String {
        let out = self.call(request.clone()).await;
        assert_eq!(out["error"]["name"], "TypeError", "{request}: {out}");
        out["error"]["message"].as_str().unwrap().to_string()
    }

    async fn get(&self, key: &str) -> Value {
        self.ok(json!({"op": "get", "key": key})).await
    }

    async fn route(&self, path: &str) -> Value {
        let url = format!("{}/{path}", self.host.function_url(self.name));
        let resp = self.host.client.get(url).send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

/// Rows of `pbs_kv` holding `key`, expired or not, read straight from the
/// database.
async fn stored_rows(host: &TestHost, key: &str) -> i64 {
    let db = pbs::store::Db::open(&host.db).await.unwrap();
    let n: i64 = db
        .query("SELECT COUNT(*) FROM pbs_kv WHERE key = $1")
        .bind(key)
        .scalar()
        .await
        .unwrap();
    db.close().await;
    n
}

async fn get_set_delete(backend: Backend) {
    let host = TestHost::start(backend).await;
    let kv = Kv::deploy(&host, "kv").await;
    assert_eq!(kv.get("k").await, Value::Null);
    kv.ok(json!({"op": "set", "key": "k", "value": {"stage": "step_1"}}))
        .await;
    assert_eq!(kv.get("k").await, json!({"stage": "step_1"}));
    kv.ok(json!({"op": "set", "key": "k", "value": [1, "two", null]}))
        .await;
    assert_eq!(kv.get("k").await, json!([1, "two", null]));
    // Bytes that are not JSON come back as bytes.
    kv.ok(json!({"op": "set", "key": "raw", "raw": [255, 0, 1]}))
        .await;
    assert_eq!(kv.get("raw").await, json!({"raw": [255, 0, 1]}));
    kv.ok(json!({"op": "set", "key": "empty", "raw": []})).await;
    assert_eq!(kv.get("empty").await, json!({"raw": []}));
    assert_eq!(kv.ok(json!({"op": "delete", "key": "k"})).await, true);
    assert_eq!(kv.ok(json!({"op": "delete", "key": "k"})).await, false);
    assert_eq!(kv.get("k").await, Value::Null);
    // The example: `{ttl: 600}` is seconds; get parses the JSON.
    assert_eq!(
        kv.route("chat").await,
        json!({"session": {"stage": "step_2"}})
    );
}

/// A key past its TTL is never returned, even while its row is still in
/// the table (the sweeper runs every 30 s); the sweep then removes it.
async fn expired_keys_are_never_returned(backend: Backend) {
    let host = TestHost::start(backend).await;
    let kv = Kv::deploy(&host, "kv").await;
    for key in ["short", "counter", "lock", "gone"] {
        kv.ok(json!({"op": "set", "key": key, "value": 7, "ttl": 0.3}))
            .await;
    }
    kv.ok(json!({"op": "set", "key": "kept", "value": 1, "ttl": 0.3}))
        .await;
    // `set` without a TTL clears the earlier one.
    kv.ok(json!({"op": "set", "key": "kept", "value": 2})).await;
    assert_eq!(kv.get("short").await, 7);
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(kv.get("short").await, Value::Null);
    assert_eq!(stored_rows(&host, "short").await, 1, "not swept yet");
    assert_eq!(kv.get("kept").await, 2);
    let keys = kv.ok(json!({"op": "listKeys", "prefix": ""})).await;
    assert_eq!(keys, json!(["kept"]));
    // Expired = absent for every operation.
    assert_eq!(kv.ok(json!({"op": "incr", "key": "counter"})).await, 1);
    assert_eq!(
        kv.ok(json!({"op": "setIfAbsent", "key": "lock", "value": "me"}))
            .await,
        true
    );
    assert_eq!(kv.ok(json!({"op": "delete", "key": "gone"})).await, false);
    assert_eq!(
        kv.ok(json!({"op": "compareAndSwap", "key": "short", "expected": 7, "value": 8}))
            .await,
        false
    );

    let db = pbs::store::Db::open(&host.db).await.unwrap();
    assert_eq!(pbs::caps::kv::sweep(&db).await.unwrap(), 1);
    db.close().await;
    assert_eq!(stored_rows(&host, "short").await, 0);
    assert_eq!(stored_rows(&host, "kept").await, 1);
    // The counter lost its TTL when it was counted from 0 again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(kv.get("counter").await, 1);
}

async fn incr_counts_from_zero_and_refuses_non_numbers(backend: Backend) {
    let host = TestHost::start(backend).await;
    let kv = Kv::deploy(&host, "kv").await;
    assert_eq!(kv.ok(json!({"op": "incr", "key": "n"})).await, 1);
    assert_eq!(kv.ok(json!({"op": "incr", "key": "n", "by": 5})).await, 6);
    assert_eq!(
        kv.ok(json!({"op": "incr", "key": "n", "by": -10})).await,
        -4
    );
    assert_eq!(kv.get("n").await, -4);
    // A JSON number set from JS is a counter; an existing TTL is kept.
    kv.ok(json!({"op": "set", "key": "m", "value": 41, "ttl": 0.3}))
        .await;
    assert_eq!(kv.ok(json!({"op": "incr", "key": "m"})).await, 42);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kv.get("m").await, Value::Null);

    for (key, raw) in [
        ("text", b"\"abc\"".to_vec()),
        ("padded", b"007".to_vec()),
        ("real", b"1.5".to_vec()),
        ("spaces", b" 5".to_vec()),
        ("empty", Vec::new()),
        ("binary", vec![255, 0]),
        ("huge", b"99999999999999999999".to_vec()),
        ("max", i64::MAX.to_string().into_bytes()),
    ] {
        kv.ok(json!({"op": "set", "key": key, "raw": raw})).await;
        let message = kv.fails(json!({"op": "incr", "key": key}), "invalid").await;
        assert!(message.contains("not a decimal integer"), "{message}");
        let unchanged = kv
            .call(json!({"op": "get", "key": key}))
            .await
            .get("ok")
            .cloned();
        assert!(unchanged.is_some(), "{key}");
    }
    // Nothing was written: the text is still there, the max still counts down.
    assert_eq!(kv.get("text").await, "abc");
    let counted = kv.ok(json!({"op": "incr", "key": "max", "by": -7})).await;
    assert_eq!(counted.as_f64(), Some((i64::MAX - 7) as f64), "{counted}");
    kv.ok(json!({"op": "set", "key": "min", "raw": i64::MIN.to_string().into_bytes()}))
        .await;
    kv.fails(json!({"op": "incr", "key": "min", "by": -1}), "invalid")
        .await;
    kv.type_error(json!({"op": "incr", "key": "n", "by": 1.5}))
        .await;
}

async fn set_if_absent_is_a_lock_with_a_ttl(backend: Backend) {
    let host = TestHost::start(backend).await;
    let kv = Kv::deploy(&host, "kv").await;
    let take = |ttl: Option<f64>| {
        let mut request = json!({"op": "setIfAbsent", "key": "lock", "value": {"holder": "a"}});
        if let Some(ttl) = ttl {
            request["ttl"] = json!(ttl);
        }
        request
    };
    assert_eq!(kv.ok(take(Some(0.3))).await, true);
    assert_eq!(kv.ok(take(Some(0.3))).await, false);
    assert_eq!(kv.get("lock").await, json!({"holder": "a"}));
    // Released by its TTL.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kv.ok(take(None)).await, true);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(kv.ok(take(Some(10.0))).await, false, "no TTL: held");
    // Released by delete.
    assert_eq!(kv.ok(json!({"op": "delete", "key": "lock"})).await, true);
    assert_eq!(kv.ok(take(Some(10.0))).await, true);
}

async fn compare_and_swap(backend: Backend) {
    let host = TestHost::start(backend).await;
    let kv = Kv::deploy(&host, "kv").await;
    let cas = |expected: Value, value: Value| json!({"op": "compareAndSwap", "key": "k", "expected": expected, "value": value});
    // Expected absent.
    assert_eq!(kv.ok(cas(Value::Null, json!({"v": 1}))).await, true);
    assert_eq!(kv.ok(cas(Value::Null, json!({"v": 2}))).await, false);
    // Expected a value: compared as stored bytes.
    assert_eq!(kv.ok(cas(json!({"v": 9}), json!({"v": 2}))).await, false);
    assert_eq!(kv.get("k").await, json!({"v": 1}));
    assert_eq!(kv.ok(cas(json!({"v": 1}), json!({"v": 2}))).await, true);
    assert_eq!(kv.get("k").await, json!({"v": 2}));
    assert_eq!(kv.ok(cas(json!({"v": 1}), json!({"v": 3}))).await, false);
    // With a TTL: once expired, it matches only "absent".
    let mut with_ttl = cas(json!({"v": 2}), json!({"v": 3}));
    with_ttl["ttl"] = json!(0.3);
    assert_eq!(kv.ok(with_ttl).await, true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kv.ok(cas(json!({"v": 3}), json!({"v": 4}))).await, false);
    assert_eq!(kv.ok(cas(Value::Null, json!({"v": 4}))).await, true);
    assert_eq!(kv.get("k").await, json!({"v": 4}));
    // Absent key with an expected value: no.
    let mut other = cas(json!(1), json!(2));
    other["key"] = json!("other");
    assert_eq!(kv.ok(other).await, false);
}

async fn list_keys_by_prefix_in_pages(backend: Backend) {
    let host = TestHost::start(backend).await;
    let kv = Kv::deploy(&host, "kv").await;
    let mut expected: Vec<String> = (1..=23).map(|i| format!("a:{i:02}")).collect();
    expected.push("a:z".into());
    expected.push("a:é".into()); // UTF-8 C3 A9 sorts after 'z'
    let others = ["a", "a;", "b:1", "A:1"].map(String::from);
    for key in expected.iter().rev().chain(&others) {
        kv.ok(json!({"op": "set", "key": key, "value": 1})).await;
    }
    kv.ok(json!({"op": "set", "key": "a:expired", "value": 1, "ttl": 0.2}))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let all = kv.ok(json!({"op": "listKeys", "prefix": "a:"})).await;
    assert_eq!(all, json!(expected));
    let mut paged: Vec<Value> = Vec::new();
    let mut cursor = Value::Null;
    let mut pages = 0;
    loop {
        let page = kv
            .ok(json!({"op": "listKeysPage", "prefix": "a:", "limit": 10, "cursor": cursor}))
            .await;
        pages += 1;
        let keys = page["keys"].as_array().unwrap();
        assert!(keys.len() <= 10, "{page}");
        paged.extend(keys.iter().cloned());
        cursor = page["cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!((pages, json!(paged)), (3, json!(expected)));
    // The default page, and everything in byte order.
    let page = kv.ok(json!({"op": "listKeysPage", "prefix": ""})).await;
    assert_eq!(page["cursor"], Value::Null);
    assert_eq!(page["keys"][0], "A:1");
    assert_eq!(page["keys"].as_array().unwrap().len(), 29, "{page}");
    assert_eq!(
        kv.ok(json!({"op": "listKeys", "prefix": "b"})).await,
        json!(["b:1"])
    );
    assert_eq!(
        kv.ok(json!({"op": "listKeys", "prefix": "nothing"})).await,
        json!([])
    );
    kv.fails(
        json!({"op": "listKeysPage", "prefix": "a:", "limit": 0}),
        "invalid",
    )
    .await;
    // A limit above the maximum is lowered to it.
    let page = kv
        .ok(json!({"op": "listKeysPage", "prefix": "a:", "limit": 100000}))
        .await;
    assert_eq!(page["keys"].as_array().unwrap().len(), 25);
}

async fn namespaces_are_per_function_and_shared(backend: Backend) {
    let host = TestHost::start(backend).await;
    let a = Kv::deploy(&host, "kv_a").await;
    let b = Kv::deploy(&host, "kv_b").await;
    a.ok(json!({"op": "set", "key": "k", "value": "a's"})).await;
    assert_eq!(b.get("k").await, Value::Null);
    b.ok(json!({"op": "set", "key": "k", "value": "b's"})).await;
    assert_eq!(a.get("k").await, "a's");
    assert_eq!(b.get("k").await, "b's");
    assert_eq!(a.ok(json!({"op": "incr", "key": "n"})).await, 1);
    assert_eq!(b.ok(json!({"op": "incr", "key": "n"})).await, 1);
    // The shared namespace is one for every function, apart from their own.
    a.ok(json!({"op": "set", "ns": "shared", "key": "k", "value": "everyone's"}))
        .await;
    assert_eq!(
        b.ok(json!({"op": "get", "ns": "shared", "key": "k"})).await,
        "everyone's"
    );
    assert_eq!(
        b.ok(json!({"op": "incr", "ns": "shared", "key": "n"}))
            .await,
        1
    );
    assert_eq!(
        a.ok(json!({"op": "incr", "ns": "shared", "key": "n"}))
            .await,
        2
    );
    assert_eq!(a.get("k").await, "a's");
    assert_eq!(
        a.ok(json!({"op": "listKeys", "prefix": ""})).await,
        json!(["k", "n"])
    );
    // Another function's namespace, or any other name: denied.
    for ns in ["kv_b", "fn:kv_b", "", "Shared"] {
        let message = a
            .fails(json!({"op": "get", "ns": ns, "key": "k"}), "denied")
            .await;
        assert!(message.contains("shared"), "{message}");
    }
}

async fn bad_keys_and_values_are_typed_errors(backend: Backend) {
    let host = TestHost::start(backend).await;
    let kv = Kv::deploy(&host, "kv").await;
    let long = "k".repeat(513);
    for key in ["", "a\0b", long.as_str()] {
        for op in ["get", "set", "delete", "incr", "setIfAbsent"] {
            kv.fails(json!({"op": op, "key": key, "value": 1}), "invalid")
                .await;
        }
    }
    let longest = "k".repeat(512);
    kv.ok(json!({"op": "set", "key": longest, "value": 1}))
        .await;
    assert_eq!(kv.get(&longest).await, 1);
    // Values: at most 1 MiB (a JSON string of 1 MiB is 2 bytes more).
    let big = "x".repeat(1 << 20);
    let message = kv
        .fails(json!({"op": "set", "key": "big", "value": big}), "quota")
        .await;
    assert!(message.contains("1048576"), "{message}");
    kv.fails(
        json!({"op": "setIfAbsent", "key": "big", "value": big}),
        "quota",
    )
    .await;
    kv.ok(json!({"op": "set", "key": "big", "value": "x".repeat((1 << 20) - 2)}))
        .await;
    // TTLs are positive numbers of seconds.
    for ttl in [json!(0), json!(-1), json!("10"), json!(f64::MAX)] {
        let request = json!({"op": "set", "key": "k", "value": 1, "ttl": ttl});
        if ttl == json!(f64::MAX) {
            kv.fails(request, "invalid").await;
        } else {
            let message = kv.type_error(request).await;
            assert!(message.contains("ttl"), "{message}");
        }
    }
    kv.fails(
        json!({"op": "listKeys", "prefix": "p".repeat(513)}),
        "invalid",
    )
    .await;
    kv.fails(
        json!({"op": "listKeysPage", "prefix": "", "cursor": "a\0"}),
        "invalid",
    )
    .await;
    // Nothing was written by the refused calls.
    assert_eq!(
        kv.ok(json!({"op": "listKeys", "prefix": ""})).await,
        json!(["big", longest])
    );
}

/// The test: 8 concurrent invocations each `incr` one key 1,000
/// times → exactly 8,000.
async fn concurrent_incr_counts_exactly(backend: Backend) {
    let limits = pbs::config::Limits {
        headers_timeout: Duration::from_secs(60),
        ..test_limits()
    };
    let host = TestHost::start_with(backend, limits).await;
    let kv = Kv::deploy(&host, "kv").await;
    let runs = (0..8).map(|_| kv.route("incr?key=hits&n=1000"));
    let lasts: Vec<i64> = futures::future::join_all(runs)
        .await
        .iter()
        .map(|out| out["last"].as_i64().unwrap())
        .collect();
    assert_eq!(kv.get("hits").await, 8000);
    // Some invocation made the last increment.
    assert_eq!(lasts.iter().max(), Some(&8000), "{lasts:?}");
    assert!(lasts.iter().all(|&n| n >= 1000), "{lasts:?}");
}

/// More concurrent callers than pb:kv keeps connections of its own
/// (`store::leases::MAX_OWN`): the rest borrow from the pool, and nothing is lost.
async fn more_callers_than_own_connections(backend: Backend) {
    let limits = pbs::config::Limits {
        headers_timeout: Duration::from_secs(60),
        ..test_limits()
    };
    let host = TestHost::start_with(backend, limits).await;
    let kv = Kv::deploy(&host, "kv").await;
    let callers = 3 * pbs::store::leases::MAX_OWN;
    let runs = (0..callers).map(|_| kv.route("incr?key=hits&n=50"));
    futures::future::join_all(runs).await;
    assert_eq!(kv.get("hits").await, json!(50 * callers));
}

/// The test: two invocations racing for one lock → exactly one
/// wins (over many rounds, so the two really overlap).
async fn two_invocations_race_for_one_lock(backend: Backend) {
    let host = TestHost::start(backend).await;
    let kv = Kv::deploy(&host, "kv").await;
    for round in 0..25 {
        let path = format!("lock?key=lock-{round}&ttl=30");
        let (x, y) = tokio::join!(kv.route(&path), kv.route(&path));
        let winners = [&x, &y].iter().filter(|o| o["won"] == true).count();
        assert_eq!(winners, 1, "round {round}: {x} {y}");
    }
}

on_both_backends!(
    get_set_delete,
    expired_keys_are_never_returned,
    incr_counts_from_zero_and_refuses_non_numbers,
    set_if_absent_is_a_lock_with_a_ttl,
    compare_and_swap,
    list_keys_by_prefix_in_pages,
    namespaces_are_per_function_and_shared,
    bad_keys_and_values_are_typed_errors,
    concurrent_incr_counts_exactly,
    more_callers_than_own_connections,
    two_invocations_race_for_one_lock,
);

/// Single-component mode has no database: `open` answers `unavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_in_single_component_mode() {
    let open = pbs_tests::single_mode_import_outcome("pb:kv/store.open").await;
    assert!(
        open.contains("Unavailable(") && open.contains("needs the full host"),
        "{open}"
    );
}
