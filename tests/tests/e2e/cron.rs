//! Cron on SQLite and PostgreSQL: the admin API's checks, a 6-field
//! every-second schedule firing each tick once, exactly once across two
//! hosts sharing one PostgreSQL, a missed run fired once at start-up, and a
//! JS named export as the handler.

use crate::jobs::{host_on, js_kv, start, test_jobs, Tester};
use pbs_tests::{guests, on_both_backends, Backend, TestHost};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

async fn put_cron(host: &TestHost, schedules: Value) -> (u16, Value) {
    let resp = host
        .client
        .put(host.url("/api/pb_serverless/_admin/cron"))
        .bearer_auth(&host.token)
        .json(&json!({ "schedules": schedules }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

/// Fired ticks of every schedule: scheduled time → state.
async fn ticks(db_url: &str) -> BTreeMap<i64, String> {
    let db = pbs::store::Db::open(db_url).await.unwrap();
    let rows: Vec<(i64, String)> = db
        .query("SELECT scheduled_ms, state FROM pbs_cron_ticks")
        .fetch_all_as()
        .await
        .unwrap();
    db.close().await;
    rows.into_iter().collect()
}

/// How many times the tester's cron handler ran for the tick at `ms`.
async fn runs(t: &Tester<'_>, ms: i64) -> i64 {
    t.kv(&format!("tick:{ms}"))
        .await
        .map(|v| v.parse().unwrap())
        .unwrap_or(0)
}

/// Waits until the ticks after `after` are all finished (none `running`);
/// returns them.
async fn settled(host: &TestHost, after: i64) -> BTreeMap<i64, String> {
    let started = Instant::now();
    loop {
        let mut t = ticks(&host.db).await;
        t.retain(|ms, _| *ms > after);
        if t.values().all(|s| s != "running") {
            return t;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "ticks still running: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn every_second(function: &str) -> Value {
    json!([{"function": function, "func": "beat", "cron": "* * * * * *"}])
}

/// A PUT is checked in full: expressions, time zones, functions and
/// handlers; GET lists the schedules with their last and next runs.
async fn the_admin_api_checks_and_lists_schedules(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    Tester::deploy(&host, "reports").await;
    host.deploy_ok("web", guests::HELLO).await;
    for (entry, needle) in [
        (
            json!({"function": "reports", "func": "daily", "cron": "0 8 * *"}),
            "4 fields",
        ),
        (
            json!({"function": "reports", "func": "daily", "cron": "0 25 * * *"}),
            "not a valid cron expression",
        ),
        (
            json!({"function": "reports", "func": "daily", "cron": "0 8 * * *", "timezone": "Mars/Base"}),
            "unknown time zone",
        ),
        (
            json!({"function": "nobody", "func": "daily", "cron": "0 8 * * *"}),
            "unknown function `nobody`",
        ),
        (
            json!({"function": "web", "func": "daily", "cron": "0 8 * * *"}),
            "no cron handler",
        ),
        (
            json!({"func": "daily", "cron": "0 8 * * *"}),
            "`function` is missing",
        ),
    ] {
        let (status, body) = put_cron(&host, json!([entry])).await;
        assert_eq!(status, 400, "{entry}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{entry}: {body}"
        );
    }
    let (status, body) = put_cron(
        &host,
        json!([
            {"function": "reports", "func": "daily_report", "cron": "0 8 * * *", "timezone": "Europe/Paris"},
            {"function": "reports", "func": "weekly", "cron": "0 0 9 * * 1"},
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{body}");
    let daily = items.iter().find(|i| i["func"] == "daily_report").unwrap();
    assert_eq!(daily["timezone"], "Europe/Paris");
    assert!(daily["last_run"].is_null(), "{daily}");
    let next = daily["next_run_ms"].as_i64().unwrap();
    assert!(next > pbs::store::now_ms() && next <= pbs::store::now_ms() + 86_400_000);
    // Replacing the set keeps the unchanged schedule (same id).
    let (_, again) = put_cron(
        &host,
        json!([{"function": "reports", "func": "daily_report", "cron": "0  8 * * *", "timezone": "Europe/Paris"}]),
    )
    .await;
    assert_eq!(again["items"].as_array().unwrap().len(), 1, "{again}");
    assert_eq!(again["items"][0]["id"], daily["id"]);
    assert_eq!(again["items"][0]["created_ms"], daily["created_ms"]);
    let (status, listed) = host.admin_get("cron").await;
    assert_eq!(status, 200);
    assert_eq!(listed, again);
}

/// A 6-field every-second schedule fires each second, each tick once, and
/// the admin API shows its last run.
async fn an_every_second_schedule_fires_each_tick_once(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    let t = Tester::deploy(&host, "ticker").await;
    let (status, body) = put_cron(&host, every_second("ticker")).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (_, listed) = host.admin_get("cron").await;
    put_cron(&host, json!([])).await;
    let fired = settled(&host, 0).await;
    // (A scheduler woken late under load fires the latest tick only, so
    // ticks are not checked to be consecutive.)
    assert!(fired.len() >= 3, "{fired:?}");
    assert!(fired.keys().all(|ms| ms % 1000 == 0), "{fired:?}");
    for (ms, state) in &fired {
        assert_eq!(state, "completed");
        assert_eq!(runs(&t, *ms).await, 1, "tick {ms}");
    }
    assert_eq!(t.kv("last_tick_name").await.as_deref(), Some("beat"));
    let last = &listed["items"][0]["last_run"];
    assert!(
        last["scheduled_ms"].as_i64().unwrap() % 1000 == 0,
        "{listed}"
    );
}

/// A host that was down over several ticks fires the schedule once at
/// start-up (the latest missed tick), not once per missed tick.
async fn a_missed_run_fires_once_at_start_up(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    Tester::deploy(&host, "ticker").await;
    put_cron(&host, every_second("ticker")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let TestHost {
        server, dir, db, ..
    } = host;
    server.stop();
    drop(server);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let last_before = *ticks(&db)
        .await
        .keys()
        .last()
        .expect("a tick before the stop");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let restarted_at = pbs::store::now_ms();
    let host = host_on(dir, db, test_jobs()).await;
    let t = Tester {
        host: &host,
        name: "ticker",
    };
    tokio::time::sleep(Duration::from_millis(1800)).await;
    put_cron(&host, json!([])).await;
    let fired = settled(&host, last_before).await;
    let after: Vec<i64> = fired.keys().copied().collect();
    assert!(after.len() >= 2, "{after:?}");
    let first = after[0];
    assert!(
        first - last_before >= 3000,
        "the missed ticks ran one by one: {after:?} after {last_before}"
    );
    assert!(
        first >= restarted_at - 1000,
        "not the latest missed tick: {first} < {restarted_at} - 1 s"
    );
    for ms in &after {
        assert_eq!(runs(&t, *ms).await, 1, "tick {ms}");
    }
}

/// Two hosts sharing one PostgreSQL fire each tick exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_on_one_postgresql_fire_each_tick_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = pbs_tests::new_database(Backend::Postgres, dir.path()).await;
    let a = host_on(dir, db.clone(), test_jobs()).await;
    let b = host_on(tempfile::tempdir().unwrap(), db, test_jobs()).await;
    let t = Tester::deploy(&a, "ticker").await;
    // B sees the deploy within its registry refresh.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = put_cron(&a, every_second("ticker")).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    put_cron(&b, json!([])).await;
    let fired = settled(&a, 0).await;
    assert!(fired.len() >= 4, "{fired:?}");
    let mut total = 0;
    for ms in fired.keys() {
        let n = runs(&t, *ms).await;
        assert_eq!(n, 1, "tick {ms} ran {n} times");
        total += n;
    }
    assert_eq!(t.kv("ticks").await.unwrap().parse::<i64>().unwrap(), total);
    drop(b);
}

/// A JS function's named export is a cron handler.
async fn a_js_export_runs_on_each_tick(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    host.deploy_js("app", "jobs.ts").await;
    let (status, body) = put_cron(
        &host,
        json!([{"function": "app", "func": "nope", "cron": "* * * * * *"}]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no export named `nope`"),
        "{body}"
    );
    let (status, body) = put_cron(
        &host,
        json!([{"function": "app", "func": "tick", "cron": "* * * * * *"}]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(2300)).await;
    put_cron(&host, json!([])).await;
    let fired = settled(&host, 0).await;
    assert!(fired.len() >= 2, "{fired:?}");
    for (ms, state) in &fired {
        assert_eq!(state, "completed");
        assert_eq!(js_kv(&host, "app", &format!("tick:{ms}")).await, json!(1));
    }
}

on_both_backends!(
    the_admin_api_checks_and_lists_schedules,
    an_every_second_schedule_fires_each_tick_once,
    a_missed_run_fires_once_at_start_up,
    a_js_export_runs_on_each_tick,
);
