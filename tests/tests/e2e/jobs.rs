//! `pb:jobs` conformance on SQLite and PostgreSQL: enqueue, workers,
//! retries and dead letter, dedupe, delays, priorities, leases, version
//! pinning, the admin API and CLI, the JS face — and the crash test, which
//! SIGKILLs a `pbs serve` process in the middle of 2,000 jobs.
//!
//! Most tests use the Rust guest `jobs_tester` (see its header for the
//! routes and job payloads); it records what its jobs did in its pb:kv
//! namespace, which the tests read back.

use crate::cli::pbs_bin;
use pbs::config::{HostConfig, Mode};
use pbs::server::Server;
use pbs::triggers::jobs::JobsConfig;
use pbs_tests::{guests, js, on_both_backends, test_limits, Backend, TestHost};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const TOKEN: &str = "test-admin-token";

/// Workers for tests: short leases and backoffs, so the behaviours show in
/// seconds.
pub(crate) fn test_jobs() -> JobsConfig {
    JobsConfig {
        workers: 4,
        lease: Duration::from_secs(1),
        timeout: Duration::from_secs(30),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
    }
}

/// A host over `dir` and `db` with these workers.
pub(crate) async fn host_on(dir: tempfile::TempDir, db: String, jobs: JobsConfig) -> TestHost {
    let config = HostConfig {
        mode: Mode::Host,
        addr: "127.0.0.1:0".parse().unwrap(),
        dir: dir.path().to_path_buf(),
        db: Some(db.clone()),
        admin_token: Some(TOKEN.into()),
        limits: test_limits(),
        registry_refresh: Duration::from_millis(200),
        jobs,
        ..HostConfig::default()
    };
    let server = Server::start(config).await.expect("start host");
    let base = format!("http://{}", server.addr());
    TestHost {
        server,
        dir,
        db,
        base,
        token: TOKEN.into(),
        client: pbs_tests::client(),
    }
}

pub(crate) async fn start(backend: Backend, jobs: JobsConfig) -> TestHost {
    let dir = tempfile::tempdir().unwrap();
    let db = pbs_tests::new_database(backend, dir.path()).await;
    host_on(dir, db, jobs).await
}

/// A deployed `jobs_tester`.
pub(crate) struct Tester<'a> {
    pub host: &'a TestHost,
    pub name: &'a str,
}

impl<'a> Tester<'a> {
    pub async fn deploy(host: &'a TestHost, name: &'a str) -> Tester<'a> {
        host.deploy_ok(name, guests::JOBS_TESTER).await;
        Tester { host, name }
    }

    fn url(&self, route: &str) -> String {
        format!("{}/{route}", self.host.function_url(self.name))
    }

    /// Enqueues `name` with `payload` and options (`delay`, `attempts`,
    /// `dedupe`, `priority`): the id, or the guest's error text.
    pub async fn try_enqueue(
        &self,
        name: &str,
        payload: Value,
        options: &[(&str, &str)],
    ) -> Result<String, String> {
        let payload = payload.to_string();
        let mut query = vec![("name", name), ("payload", payload.as_str())];
        query.extend_from_slice(options);
        let resp = self
            .host
            .client
            .post(self.url("enqueue"))
            .query(&query)
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        match body["id"].as_str() {
            Some(id) => Ok(id.to_string()),
            None => Err(body["error"].as_str().unwrap_or_default().to_string()),
        }
    }

    pub async fn enqueue(&self, payload: Value, options: &[(&str, &str)]) -> String {
        self.try_enqueue("work", payload.clone(), options)
            .await
            .unwrap_or_else(|e| panic!("enqueue {payload}: {e}"))
    }

    /// A value of the function's pb:kv namespace, as text.
    pub async fn kv(&self, key: &str) -> Option<String> {
        let resp = self
            .host
            .client
            .get(self.url("kv"))
            .query(&[("key", key)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        Some(resp.text().await.unwrap()).filter(|v| v != "null")
    }

    /// How many times job `id` recorded a run.
    pub async fn runs(&self, id: &str) -> i64 {
        self.kv(&format!("done:{id}"))
            .await
            .map(|v| v.parse().unwrap())
            .unwrap_or(0)
    }

    /// `pb:jobs/queue.status` from the guest (its Debug form).
    async fn status(&self, id: &str) -> String {
        let resp = self
            .host
            .client
            .get(self.url("status"))
            .query(&[("id", id)])
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        body["status"].as_str().unwrap().to_string()
    }
}

/// `GET _admin/jobs/{id}`.
pub(crate) async fn job(host: &TestHost, id: &str) -> Value {
    let (status, body) = host.admin_get(&format!("jobs/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until job `id` is in `state`; returns it.
pub(crate) async fn wait_state(host: &TestHost, id: &str, state: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let j = job(host, id).await;
        if j["state"] == state {
            return j;
        }
        assert!(
            started.elapsed() < within,
            "job {id} is not {state} after {within:?}: {j}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs `sql` (with one text parameter) on the host's database.
async fn execute(host: &TestHost, sql: &str, param: &str) {
    let db = pbs::store::Db::open(&host.db).await.unwrap();
    db.query(sql).bind(param).execute().await.unwrap();
    db.close().await;
}

/// Makes a delayed job due now (the workers find it within half a lease).
async fn due_now(host: &TestHost, id: &str) {
    execute(host, "UPDATE pbs_jobs SET run_at = 0 WHERE id = $1", id).await;
}

fn now_ms() -> i64 {
    pbs::store::now_ms()
}

/// Enqueue answers at once; the job runs on its function, once, and its
/// status and admin record say so.
async fn enqueue_returns_at_once_and_the_job_completes(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    let info = host.deploy_ok("worker", guests::JOBS_TESTER).await;
    let t = Tester {
        host: &host,
        name: "worker",
    };
    let started = Instant::now();
    let id = t.enqueue(json!({"op": "sleep", "ms": 300}), &[]).await;
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "enqueue waited for the job"
    );
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(&id[14..15], "7", "a UUID v7: {id}");
    let j = wait_state(&host, &id, "completed", Duration::from_secs(10)).await;
    assert_eq!(t.runs(&id).await, 1);
    assert_eq!(j["attempts"], 1, "{j}");
    assert_eq!(j["max_attempts"], 5, "{j}");
    assert_eq!(j["function"], "worker", "{j}");
    assert_eq!(j["enqueued_by"], "worker", "{j}");
    assert_eq!(j["name"], "work", "{j}");
    assert_eq!(j["payload"], json!({"op": "sleep", "ms": 300}), "{j}");
    assert_eq!(j["version"], info["version"], "{j}");
    assert!(j["finished_ms"].as_i64().unwrap() >= j["started_ms"].as_i64().unwrap() + 300);
    let status = t.status(&id).await;
    assert!(
        status.contains("JobState::Completed") && status.contains("attempts: 1,"),
        "{status}"
    );
    assert_eq!(
        t.status("0190a0a0-0000-7000-8000-000000000000").await,
        "none"
    );
    // A bad payload or option is refused with a typed error.
    let e = t.try_enqueue("work", json!(1), &[("attempts", "0")]).await;
    assert!(e.unwrap_err().contains("Invalid(\"max-attempts is 0"));
    let e = t.try_enqueue("", json!(1), &[]).await;
    assert!(e.unwrap_err().contains("the job name is empty"));
}

/// A failing job is retried with growing, jittered waits, then goes to
/// dead letter with the last error; one that succeeds on a later attempt
/// completes; a trap is a failed attempt too.
async fn failures_retry_with_backoff_then_go_to_dead_letter(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    let t = Tester::deploy(&host, "worker").await;
    let started = Instant::now();
    let id = t.enqueue(json!({"op": "fail"}), &[("attempts", "3")]).await;
    let j = wait_state(&host, &id, "dead", Duration::from_secs(10)).await;
    // Two waits: 50–100 ms, then 100–200 ms.
    assert!(started.elapsed() >= Duration::from_millis(150), "{j}");
    assert_eq!(j["attempts"], 3, "{j}");
    assert_eq!(j["last_error"], "boom on attempt 3", "{j}");
    assert!(j["finished_ms"].is_i64(), "{j}");

    let id = t.enqueue(json!({"op": "fail_until", "n": 3}), &[]).await;
    let j = wait_state(&host, &id, "completed", Duration::from_secs(10)).await;
    assert_eq!(j["attempts"], 3, "{j}");
    assert_eq!(t.runs(&id).await, 1);
    assert!(j["last_error"].is_null(), "{j}");

    let id = t.enqueue(json!({"op": "trap"}), &[("attempts", "2")]).await;
    let j = wait_state(&host, &id, "dead", Duration::from_secs(10)).await;
    let error = j["last_error"].as_str().unwrap();
    assert!(error.contains("trapped"), "{j}");

    // While it waits for its retry, a job is `failed`.
    let id = t.enqueue(json!({"op": "fail"}), &[]).await;
    let j = wait_state(&host, &id, "failed", Duration::from_secs(10)).await;
    assert!(
        j["run_at_ms"].as_i64().unwrap() > j["updated_ms"].as_i64().unwrap() - 1,
        "{j}"
    );
}

/// A second enqueue with a dedupe key held by an unfinished job returns that
/// job; once it is finished, the key is free again.
async fn a_dedupe_key_returns_the_first_job(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    let t = Tester::deploy(&host, "worker").await;
    let later = [("delay", "60000"), ("dedupe", "invoice-7")];
    let first = t.enqueue(json!({"op": "record"}), &later).await;
    let second = t
        .enqueue(json!({"op": "record", "other": true}), &later)
        .await;
    assert_eq!(first, second);
    let other = t
        .enqueue(
            json!({"op": "record"}),
            &[("delay", "60000"), ("dedupe", "invoice-8")],
        )
        .await;
    assert_ne!(first, other);
    let (_, list) = host.admin_get("jobs?function=worker").await;
    assert_eq!(list["totalItems"], 2, "{list}");
    // Concurrent enqueues with one key: one job.
    let ids = futures::future::join_all((0..8).map(|_| {
        t.enqueue(
            json!({"op": "record"}),
            &[("delay", "60000"), ("dedupe", "race")],
        )
    }))
    .await;
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    let (status, _) = host
        .admin(reqwest::Method::POST, &format!("jobs/{first}/cancel"), None)
        .await;
    assert_eq!(status, 200);
    let third = t.enqueue(json!({"op": "record"}), &later).await;
    assert_ne!(first, third);
}

/// A delayed job is queued until its time and never starts before it.
async fn a_delayed_job_does_not_start_early(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    let t = Tester::deploy(&host, "worker").await;
    let id = t
        .enqueue(json!({"op": "record"}), &[("delay", "1500")])
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(job(&host, &id).await["state"], "queued");
    let j = wait_state(&host, &id, "completed", Duration::from_secs(10)).await;
    let created = j["created_ms"].as_i64().unwrap();
    let started = j["started_ms"].as_i64().unwrap();
    assert!(
        started >= created + 1500,
        "started {} ms after enqueue",
        started - created
    );
    assert!(
        started < created + 6000,
        "started {} ms after enqueue",
        started - created
    );
    assert_eq!(j["run_at_ms"].as_i64().unwrap(), created + 1500);
}

/// With one worker busy, the waiting jobs run highest priority first, then
/// in enqueue order.
async fn higher_priority_runs_first(backend: Backend) {
    let host = start(
        backend,
        JobsConfig {
            workers: 1,
            ..test_jobs()
        },
    )
    .await;
    let t = Tester::deploy(&host, "worker").await;
    let blocker = t.enqueue(json!({"op": "sleep", "ms": 800}), &[]).await;
    wait_state(&host, &blocker, "running", Duration::from_secs(10)).await;
    for (tag, priority) in [("low", "-1"), ("mid", "0"), ("high", "5"), ("mid2", "0")] {
        t.enqueue(
            json!({"op": "order", "tag": tag}),
            &[("priority", priority)],
        )
        .await;
    }
    let started = Instant::now();
    while t.kv("seq").await.as_deref() != Some("4") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the jobs did not all run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut order = Vec::new();
    for n in 1..=4 {
        order.push(t.kv(&format!("order:{n}")).await.unwrap());
    }
    assert_eq!(order, ["high", "mid", "mid2", "low"]);
}

/// A job left `running` by a worker that died is claimed again once its
/// lease runs out (not before), and completes; at its last attempt it goes
/// to dead letter with the reason.
async fn an_expired_lease_is_claimed_again(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    let t = Tester::deploy(&host, "worker").await;
    let id = t
        .enqueue(json!({"op": "record"}), &[("delay", "600000")])
        .await;
    // What a worker that claimed it and died leaves behind.
    let lease_until = now_ms() + 1500;
    execute(
        &host,
        &format!(
            "UPDATE pbs_jobs SET state = 'running', attempts = 1, run_at = 0, \
             lease_until = {lease_until} WHERE id = $1"
        ),
        &id,
    )
    .await;
    let j = wait_state(&host, &id, "completed", Duration::from_secs(10)).await;
    assert_eq!(j["attempts"], 2, "{j}");
    assert!(j["started_ms"].as_i64().unwrap() >= lease_until, "{j}");
    assert_eq!(t.runs(&id).await, 1);

    let id = t
        .enqueue(
            json!({"op": "record"}),
            &[("delay", "600000"), ("attempts", "1")],
        )
        .await;
    let lease_until = now_ms() + 300;
    execute(
        &host,
        &format!(
            "UPDATE pbs_jobs SET state = 'running', attempts = 1, lease_until = {lease_until} \
             WHERE id = $1"
        ),
        &id,
    )
    .await;
    let j = wait_state(&host, &id, "dead", Duration::from_secs(10)).await;
    assert!(
        j["last_error"].as_str().unwrap().contains("lease expired"),
        "{j}"
    );
    assert_eq!(t.runs(&id).await, 0);
}

/// A job runs on the version that enqueued it, even after a redeploy; new
/// jobs run on the new version (the JS face: `pb.jobs.enqueue` in an HTTP
/// handler, `export async function process_pdf` in the same bundle).
async fn a_job_runs_on_the_version_that_enqueued_it(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    let v2_bytes = js::build("jobs_v2.ts").await;
    let v1 = host.deploy_js("pdf", "jobs.ts").await;
    let id = js_enqueue(
        &host,
        "pdf",
        json!({"name": "process_pdf", "payload": {"fileId": 1}, "options": {"delay": 600000}}),
    )
    .await;
    let resp = host.deploy("pdf", v2_bytes).await;
    assert_eq!(resp.status(), 201);
    due_now(&host, &id).await;
    let v2: Value = resp.json().await.unwrap();
    assert_ne!(v1, v2["version"].as_str().unwrap());
    let j = wait_state(&host, &id, "completed", Duration::from_secs(10)).await;
    assert_eq!(j["version"], v1, "{j}");
    let ran = js_kv(&host, "pdf", "pdf:1").await;
    assert_eq!(ran, json!({"id": id, "attempt": 1, "version": "v1"}));
    let id = js_enqueue(
        &host,
        "pdf",
        json!({"name": "process_pdf", "payload": {"fileId": 2}}),
    )
    .await;
    wait_state(&host, &id, "completed", Duration::from_secs(10)).await;
    assert_eq!(js_kv(&host, "pdf", "pdf:2").await["version"], "v2");
}

/// A job whose version is no longer stored goes to dead letter saying so,
/// and never runs on the newer version.
async fn a_job_whose_version_is_gone_is_dead_with_the_reason(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    let v1 = host.deploy_ok("worker", guests::JOBS_TESTER).await["version"]
        .as_str()
        .unwrap()
        .to_string();
    let t = Tester {
        host: &host,
        name: "worker",
    };
    let id = t
        .enqueue(json!({"op": "record"}), &[("delay", "600000")])
        .await;
    let resp = host
        .deploy("worker", with_custom_section(guests::JOBS_TESTER))
        .await;
    assert_eq!(resp.status(), 201);
    for table in [
        "DELETE FROM pbs_artifacts WHERE version = $1",
        "DELETE FROM pbs_deployments WHERE version = $1",
        "DELETE FROM pbs_versions WHERE hash = $1",
    ] {
        execute(&host, table, &v1).await;
    }
    due_now(&host, &id).await;
    let j = wait_state(&host, &id, "dead", Duration::from_secs(10)).await;
    let error = j["last_error"].as_str().unwrap();
    assert!(
        error.contains(&v1[..12]) && error.contains("no longer stored"),
        "{j}"
    );
    assert_eq!(j["attempts"], 1, "{j}");
    assert_eq!(t.runs(&id).await, 0);
}

/// The same component with a custom section appended: another version.
fn with_custom_section(path: &str) -> Vec<u8> {
    let mut bytes = guests::bytes(path);
    let name = b"pbs-test";
    let payload = b"v2";
    bytes.push(0);
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    bytes
}

/// Cancel and retry through the admin API, the list and its filters, and
/// what is refused.
async fn admin_lists_cancels_and_retries(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    let t = Tester::deploy(&host, "worker").await;
    let waiting = t
        .enqueue(json!({"op": "record"}), &[("delay", "600000")])
        .await;
    let (status, j) = host
        .admin(
            reqwest::Method::POST,
            &format!("jobs/{waiting}/cancel"),
            None,
        )
        .await;
    assert_eq!(
        (status, j["state"].as_str()),
        (200, Some("cancelled")),
        "{j}"
    );
    let (status, body) = host
        .admin(
            reqwest::Method::POST,
            &format!("jobs/{waiting}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("cancelled"),
        "{body}"
    );
    // Retry runs it now, with fresh attempts.
    let (status, j) = host
        .admin(
            reqwest::Method::POST,
            &format!("jobs/{waiting}/retry"),
            None,
        )
        .await;
    assert_eq!((status, j["state"].as_str()), (200, Some("queued")), "{j}");
    wait_state(&host, &waiting, "completed", Duration::from_secs(10)).await;
    assert_eq!(t.runs(&waiting).await, 1);
    let (status, _) = host
        .admin(
            reqwest::Method::POST,
            &format!("jobs/{waiting}/retry"),
            None,
        )
        .await;
    assert_eq!(status, 409);

    let dead = t.enqueue(json!({"op": "fail"}), &[("attempts", "1")]).await;
    wait_state(&host, &dead, "dead", Duration::from_secs(10)).await;
    let (status, _) = host
        .admin(reqwest::Method::POST, &format!("jobs/{dead}/retry"), None)
        .await;
    assert_eq!(status, 200);
    let j = wait_state(&host, &dead, "dead", Duration::from_secs(10)).await;
    assert_eq!(j["attempts"], 1, "{j}");

    let (status, _) = host
        .admin(
            reqwest::Method::POST,
            "jobs/0190a0a0-0000-7000-8000-000000000000/retry",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, list) = host.admin_get("jobs?state=dead").await;
    assert_eq!(status, 200);
    assert_eq!(list["totalItems"], 1, "{list}");
    assert_eq!(list["items"][0]["id"], dead, "{list}");
    let (_, list) = host
        .admin_get("jobs?function=worker&name=work&perPage=1")
        .await;
    assert_eq!(
        (list["totalItems"].as_i64(), list["totalPages"].as_i64()),
        (Some(2), Some(2)),
        "{list}"
    );
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], dead, "newest first: {list}");
    let (_, list) = host.admin_get("jobs?name=other").await;
    assert_eq!(list["totalItems"], 0, "{list}");
    let (status, _) = host.admin_get("jobs?state=sleeping").await;
    assert_eq!(status, 400);
    let resp = host
        .client
        .get(host.url("/api/pb_serverless/_admin/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

/// Job bindings: a job name bound to another function runs there; a
/// binding to a function that is not deployed is refused; a job no
/// function can run is refused at enqueue.
async fn bindings_route_jobs_to_another_function(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    host.deploy_js("pdf", "jobs.ts").await;
    let worker = Tester::deploy(&host, "worker").await;
    let out = js_call(
        &host,
        "pdf",
        json!({"name": "resize", "payload": {"op": "record"}}),
    )
    .await;
    assert_eq!(out["error"]["code"], "invalid", "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no export named `resize`"),
        "{out}"
    );

    let (status, body) = host
        .admin(
            reqwest::Method::PUT,
            "jobs/bindings",
            Some(json!({"bindings": {"resize": "nobody"}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = host
        .admin(
            reqwest::Method::PUT,
            "jobs/bindings",
            Some(json!({"bindings": {"resize": "worker"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = host.admin_get("jobs/bindings").await;
    assert_eq!(body, json!({"bindings": {"resize": "worker"}}));

    let id = js_enqueue(
        &host,
        "pdf",
        json!({"name": "resize", "payload": {"op": "record"}}),
    )
    .await;
    let j = wait_state(&host, &id, "completed", Duration::from_secs(10)).await;
    assert_eq!(
        (j["function"].as_str(), j["enqueued_by"].as_str()),
        (Some("worker"), Some("pdf"))
    );
    assert_eq!(worker.runs(&id).await, 1);
    // The enqueuing function may ask for its status; others may not.
    let out = js_get(&host, "pdf", &format!("status={id}")).await;
    assert_eq!(out["status"]["state"], "completed", "{out}");
    assert_eq!(out["status"]["maxAttempts"], 5, "{out}");
    host.deploy_js("other", "jobs.ts").await;
    let out = js_get(&host, "other", &format!("status={id}")).await;
    assert_eq!(out["status"], Value::Null, "{out}");
}

/// `pb.jobs.enqueue` from a JS HTTP handler returns at once; the bundle's
/// `process_pdf` runs it, retried after a thrown error.
async fn js_enqueue_and_named_export_consumer(backend: Backend) {
    let host = start(backend, test_jobs()).await;
    host.deploy_js("pdf", "jobs.ts").await;
    let id = js_enqueue(
        &host,
        "pdf",
        json!({"name": "process_pdf", "payload": {"fileId": 7, "failUntil": 2}, "options": {"maxAttempts": 3, "priority": 1}}),
    )
    .await;
    let j = wait_state(&host, &id, "completed", Duration::from_secs(10)).await;
    assert_eq!(j["attempts"], 2, "{j}");
    assert_eq!(j["priority"], 1, "{j}");
    assert_eq!(
        js_kv(&host, "pdf", "pdf:7").await,
        json!({"id": id, "attempt": 2, "version": "v1"})
    );
    let out = js_call(
        &host,
        "pdf",
        json!({"name": "process_pdf", "payload": {"fileId": 8}, "options": {"delay": -5}}),
    )
    .await;
    assert!(out["id"].is_string(), "a negative delay is no delay: {out}");
}

on_both_backends!(
    enqueue_returns_at_once_and_the_job_completes,
    failures_retry_with_backoff_then_go_to_dead_letter,
    a_dedupe_key_returns_the_first_job,
    a_delayed_job_does_not_start_early,
    higher_priority_runs_first,
    an_expired_lease_is_claimed_again,
    a_job_runs_on_the_version_that_enqueued_it,
    a_job_whose_version_is_gone_is_dead_with_the_reason,
    admin_lists_cancels_and_retries,
    bindings_route_jobs_to_another_function,
    js_enqueue_and_named_export_consumer,
    the_host_survives_sigkill_without_losing_jobs,
);

async fn js_call(host: &TestHost, function: &str, body: Value) -> Value {
    host.call_fn(function, body).await
}

async fn js_enqueue(host: &TestHost, function: &str, body: Value) -> String {
    let out = js_call(host, function, body.clone()).await;
    out["id"]
        .as_str()
        .unwrap_or_else(|| panic!("enqueue {body}: {out}"))
        .to_string()
}

async fn js_get(host: &TestHost, function: &str, query: &str) -> Value {
    let resp = host
        .client
        .get(format!("{}?{query}", host.function_url(function)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

pub(crate) async fn js_kv(host: &TestHost, function: &str, key: &str) -> Value {
    js_get(host, function, &format!("kv={key}")).await["value"].clone()
}

/// `pbs jobs list/cancel/retry` against a running host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_cancels_and_retries() {
    let host = start(Backend::Sqlite, test_jobs()).await;
    let t = Tester::deploy(&host, "worker").await;
    let id = t
        .enqueue(json!({"op": "record"}), &[("delay", "600000")])
        .await;
    let pbs = |args: &[&str]| {
        let out = Command::new(pbs_bin())
            .args(args)
            .args(["--server", &host.base, "--token", TOKEN])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = pbs(&["jobs", "list", "--state", "queued"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&id) && out.contains("queued") && out.contains("0/5"),
        "{out}"
    );
    let (ok, out, err) = pbs(&["jobs", "cancel", &id]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("job {id} is cancelled"));
    let (ok, _, err) = pbs(&["jobs", "cancel", &id]);
    assert!(!ok && err.contains("409"), "{err}");
    let (ok, out, err) = pbs(&["jobs", "retry", &id]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("job {id} is queued"));
    wait_state(&host, &id, "completed", Duration::from_secs(10)).await;
    let (ok, out, _) = pbs(&["jobs", "list", "--json", "--function", "worker"]);
    assert!(ok);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["items"][0]["state"], "completed", "{list}");
}

/// How many jobs the crash test enqueues.
const CRASH_JOBS: usize = 2000;

/// `pbs serve` as a child process on `dir`/`db` with 8 workers and a 2 s
/// lease; returns it with its base URL.
fn spawn_host(dir: &std::path::Path, db: &str) -> (Child, String) {
    let mut child = Command::new(pbs_bin())
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--job-workers",
            "8",
            "--job-lease",
            "2",
        ])
        .arg("--dir")
        .arg(dir)
        .args(["--db", db])
        .env("PB_ADMIN_TOKEN", TOKEN)
        .env("PBS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("pb-serverless listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, base)
}

/// Counts of the crash test's jobs by state, and the runs its kv recorded.
async fn crash_counts(db: &pbs::store::Db) -> (i64, i64, Vec<i64>) {
    let count = |state: &'static str| async move {
        db.query("SELECT COUNT(*) FROM pbs_jobs WHERE state = $1")
            .bind(state)
            .scalar::<i64>()
            .await
            .unwrap()
    };
    let (completed, running) = (count("completed").await, count("running").await);
    let runs: Vec<Vec<u8>> = db
        .query("SELECT value FROM pbs_kv WHERE namespace = 'fn:crash' AND key LIKE 'done:%'")
        .scalars()
        .await
        .unwrap();
    let runs = runs
        .iter()
        .map(|v| std::str::from_utf8(v).unwrap().parse().unwrap())
        .collect();
    (completed, running, runs)
}

/// 2,000 jobs; `pbs serve` is SIGKILLed in the middle and restarted: every
/// job completes, none is lost, and the jobs that ran twice are at most
/// the jobs that were running when the host was killed.
async fn the_host_survives_sigkill_without_losing_jobs(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db_url = pbs_tests::new_database(backend, dir.path()).await;
    let data = dir.path().join("pb_data");
    let (mut child, base) = spawn_host(&data, &db_url);
    let client = pbs_tests::client();
    let resp = client
        .put(format!("{base}/api/pb_serverless/_admin/functions/crash"))
        .bearer_auth(TOKEN)
        .body(guests::bytes(guests::JOBS_TESTER))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    // Delayed, so that none runs before all are enqueued.
    let payload = json!({"op": "sleep", "ms": 10}).to_string();
    let n = (CRASH_JOBS / 4).to_string();
    for _ in 0..4 {
        let resp = client
            .post(format!("{base}/api/pb_serverless/crash/enqueue-many"))
            .query(&[
                ("name", "work"),
                ("n", n.as_str()),
                ("payload", payload.as_str()),
                ("delay", "600000"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }
    let db = pbs::store::Db::open(&db_url).await.unwrap();
    db.query("UPDATE pbs_jobs SET run_at = 0")
        .execute()
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let (completed, _, _) = crash_counts(&db).await;
        if completed >= (CRASH_JOBS / 3) as i64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {completed} jobs completed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (completed_at_kill, in_flight, _) = crash_counts(&db).await;
    assert!(
        completed_at_kill < CRASH_JOBS as i64,
        "every job finished before the kill"
    );

    let (mut child, _base) = spawn_host(&data, &db_url);
    let started = Instant::now();
    let (runs, completed) = loop {
        let (completed, _, runs) = crash_counts(&db).await;
        if completed == CRASH_JOBS as i64 {
            break (runs, completed);
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {completed} of {CRASH_JOBS} jobs completed after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let ran = runs.len();
    let twice = runs.iter().filter(|n| **n > 1).count() as i64;
    println!(
        "crash test ({backend:?}): {CRASH_JOBS} jobs, SIGKILL with {completed_at_kill} completed and \
         {in_flight} running; after the restart {completed} completed, {ran} recorded a run, \
         {twice} ran twice"
    );
    assert_eq!(ran, CRASH_JOBS, "jobs lost");
    assert!(
        runs.iter().all(|n| *n <= 2),
        "a job ran more than twice: {runs:?}"
    );
    assert!(
        twice <= in_flight,
        "{twice} jobs ran twice, but only {in_flight} were running at the kill"
    );
    db.close().await;
}

/// Hosts sharing one PostgreSQL share the queue: a host without workers
/// enqueues, the others are woken by `NOTIFY` (their idle check is 30 s
/// away) and split the jobs without running any twice (`SKIP LOCKED`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_sharing_postgresql_share_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let db = pbs_tests::new_database(Backend::Postgres, dir.path()).await;
    let enqueuer = host_on(
        dir,
        db.clone(),
        JobsConfig {
            workers: 0,
            ..test_jobs()
        },
    )
    .await;
    let slow_idle = JobsConfig {
        workers: 4,
        lease: Duration::from_secs(60),
        ..test_jobs()
    };
    let b = host_on(tempfile::tempdir().unwrap(), db.clone(), slow_idle).await;
    let c = host_on(tempfile::tempdir().unwrap(), db.clone(), slow_idle).await;
    let t = Tester::deploy(&enqueuer, "shared").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = t.enqueue(json!({"op": "record"}), &[]).await;
    let j = wait_state(&enqueuer, &id, "completed", Duration::from_secs(3)).await;
    let waited = j["started_ms"].as_i64().unwrap() - j["created_ms"].as_i64().unwrap();
    assert!(waited < 1000, "started {waited} ms after the enqueue");

    for _ in 0..4 {
        let resp = enqueuer
            .client
            .post(format!("{}/enqueue-many", enqueuer.function_url("shared")))
            .query(&[
                ("name", "work"),
                ("n", "50"),
                ("payload", r#"{"op":"sleep","ms":5}"#),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let pg = pbs::store::Db::open(&db).await.unwrap();
    let started = Instant::now();
    let runs: Vec<Vec<u8>> = loop {
        let completed: i64 = pg
            .query("SELECT COUNT(*) FROM pbs_jobs WHERE state = 'completed'")
            .scalar()
            .await
            .unwrap();
        let runs: Vec<Vec<u8>> = pg
            .query("SELECT value FROM pbs_kv WHERE namespace = 'fn:shared' AND key LIKE 'done:%'")
            .scalars()
            .await
            .unwrap();
        if completed == 201 {
            break runs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{completed} of 201 completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(runs.len(), 201);
    assert!(runs.iter().all(|v| v == b"1"), "a job ran twice");
    pg.close().await;
    drop((b, c));
}
