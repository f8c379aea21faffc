//! `pb:jobs` — the persistent job queue (`wit/deps/pb-jobs/jobs.wit`), on
//! the host's database: table `pbs_jobs` (SQL in [`store`]). This file is
//! the WIT face: validation, which function and version consume a job,
//! errors. The workers that run jobs are in `crate::triggers::jobs`; the
//! admin API in `crate::admin::jobs`.
//!
//! - **Who consumes a job.** The function bound to the job's name
//!   (`PUT /api/pb_serverless/_admin/jobs/bindings`, the manifest's `jobs`
//!   section), else the function that enqueued it. Enqueue refuses
//!   (`invalid`) a job its consumer cannot run: a component without the
//!   `pb:serverless/job-handler` export, or a JS bundle without an export
//!   of that name.
//! - **Versions.** A job records the version it runs on: the caller's own
//!   running version, or the bound function's current one. It runs on that
//!   version while the version is stored, never silently on a newer one.
//! - **Options.** `delay-ms` (at most [`MAX_DELAY_MS`]), `max-attempts`
//!   (default [`DEFAULT_MAX_ATTEMPTS`], 1 to [`MAX_ATTEMPTS`]), `dedupe-key`
//!   (a second enqueue while the first job with that key is unfinished
//!   returns the first job's id), `priority` (higher first, default 0).
//! - **Limits**: [`MAX_NAME_LEN`], [`MAX_PAYLOAD_LEN`] (`quota` beyond),
//!   [`MAX_DEDUPE_KEY_LEN`].
//! - `status(id)` answers for jobs the calling function enqueued or
//!   consumes; any other id is `none`.
//! - `enqueue-in` inserts with [`enqueue_in_tx`] on a `pb:data`
//!   transaction's connection ([`crate::caps::data::Transaction`]): the job exists
//!   only if the transaction commits, and this host's workers are woken
//!   after the commit (PostgreSQL's `NOTIFY` is delivered at commit).
//!
//! Not in single-component mode (`pbs serve COMPONENT`): there is no
//! database, and every call answers `unavailable`.

pub mod store;

use crate::caps::bindings::jobs::queue::{self, EnqueueOptions, Error, Host, JobState, JobStatus};
use crate::caps::data::Transaction;
use crate::caps::error::{self as failure, Answer};
use crate::caps::services::Services;
use crate::engine::Invocation;
use crate::store::{now_ms, Conn, Db};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use store::NewJob;
use tokio::sync::{mpsc, oneshot, Notify};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// Longest job name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Largest payload (JSON text); a larger one is a `quota` error.
pub const MAX_PAYLOAD_LEN: usize = 1 << 20;
/// Longest dedupe key, in bytes.
pub const MAX_DEDUPE_KEY_LEN: usize = 512;
/// Runs of a job before it goes to dead letter, when the caller gives none.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Most runs a job may ask for.
pub const MAX_ATTEMPTS: u32 = 100;
/// Longest delay: one year.
pub const MAX_DELAY_MS: u64 = 365 * 24 * 3600 * 1000;
/// How long the job bindings read from the database are trusted (hosts
/// sharing one database see each other's changes within this time).
pub const BINDINGS_TTL: Duration = Duration::from_secs(1);
/// Versions whose exports are remembered (versions are immutable).
const EXPORTS_CACHE: usize = 1024;
/// Most jobs one insert statement of the enqueue batcher carries.
pub const MAX_INSERT_BATCH: usize = 256;

/// An enqueue waiting for the batcher: the job and where to answer.
type Pending = (NewJob, oneshot::Sender<Result<(), ()>>);

/// Job name → the function that consumes it.
pub type Bindings = Arc<HashMap<String, String>>;

/// What pb:jobs needs to know of deployed functions. The registry answers
/// (`crate::triggers::jobs::install` gives it), since a capability may not
/// import `deploy`.
pub trait Functions: Send + Sync {
    /// The version function `name` serves now, as stored (hosts sharing the
    /// database see each other's deploys).
    fn current_version<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>>;
    /// The exports a stored version declares (for a JS function: its
    /// bundle's export names); none when it is not stored.
    fn exports<'a>(
        &'a self,
        version: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<Vec<String>>>>;
}

/// What the queue of one host shares between the capability (enqueue) and
/// the workers: the in-process wake-up and two small caches.
#[derive(Default)]
pub struct JobsHub {
    /// Woken on every enqueue on this host, so an idle worker starts the
    /// job at once (PostgreSQL also sends `NOTIFY pbs_jobs` to every host).
    pub wake: Notify,
    /// Woken when this host changed the cron schedules, so its scheduler
    /// reads them at once (`crate::triggers::cron`).
    pub cron_wake: Notify,
    bindings: Mutex<Option<(Instant, Bindings)>>,
    exports: Mutex<HashMap<String, Arc<Vec<String>>>>,
    /// The enqueue batcher, started at the first enqueue.
    inserter: OnceLock<mpsc::UnboundedSender<Pending>>,
    /// The deployed functions, once the host's registry exists.
    functions: OnceLock<Arc<dyn Functions>>,
}

impl JobsHub {
    /// Stores a new job; its id. Jobs without a dedupe key go through the
    /// batcher: enqueues that arrive together (several invocations at once)
    /// share one `INSERT` (and, on PostgreSQL, one `NOTIFY`), and an enqueue
    /// that arrives alone is inserted at once.
    pub async fn insert(&self, db: &Db, job: NewJob) -> sqlx::Result<String> {
        if job.dedupe_key.is_some() {
            return store::insert_alone(db, &job).await.map(|(id, _)| id);
        }
        let inserter = self.inserter.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(insert_batches(db.clone(), rx));
            tx
        });
        let id = job.id.clone();
        let (answer, answered) = oneshot::channel();
        inserter
            .send((job, answer))
            .map_err(|_| sqlx::Error::PoolClosed)?;
        match answered.await {
            Ok(Ok(())) => Ok(id),
            // The batcher logged the database's error.
            _ => Err(sqlx::Error::Protocol("the batched insert failed".into())),
        }
    }

    /// The job bindings (job name → function), cached for [`BINDINGS_TTL`].
    pub async fn bindings(&self, db: &Db) -> sqlx::Result<Bindings> {
        if let Some((at, b)) = &*lock(&self.bindings) {
            if at.elapsed() < BINDINGS_TTL {
                return Ok(b.clone());
            }
        }
        let fresh: Bindings = Arc::new(store::bindings(db).await?.into_iter().collect());
        *lock(&self.bindings) = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// Forgets the cached bindings (after this host changed them).
    pub fn bindings_changed(&self) {
        *lock(&self.bindings) = None;
    }

    /// Gives the queue the host's deployed functions (once).
    pub fn set_functions(&self, functions: Arc<dyn Functions>) {
        let _ = self.functions.set(functions);
    }

    fn functions(&self) -> anyhow::Result<&dyn Functions> {
        match self.functions.get() {
            Some(f) => Ok(&**f),
            None => anyhow::bail!("the host's functions are not loaded yet"),
        }
    }

    /// The version function `name` serves now.
    pub async fn current_version(&self, name: &str) -> anyhow::Result<Option<String>> {
        self.functions()?.current_version(name).await
    }

    /// The exports of a stored version; none when it is not stored.
    pub async fn exports(&self, version: &str) -> anyhow::Result<Option<Arc<Vec<String>>>> {
        if let Some(e) = lock(&self.exports).get(version) {
            return Ok(Some(e.clone()));
        }
        let Some(exports) = self.functions()?.exports(version).await? else {
            return Ok(None);
        };
        let exports = Arc::new(exports);
        let mut cache = lock(&self.exports);
        if cache.len() >= EXPORTS_CACHE {
            cache.clear();
        }
        cache.insert(version.to_string(), exports.clone());
        Ok(Some(exports))
    }
}

/// The enqueue batcher: takes every enqueue waiting (up to
/// [`MAX_INSERT_BATCH`]), inserts them in one statement, answers each.
async fn insert_batches(db: Db, mut pending: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_INSERT_BATCH);
    while pending.recv_many(&mut batch, MAX_INSERT_BATCH).await > 0 {
        let jobs: Vec<NewJob> = batch.iter().map(|(j, _)| j.clone()).collect();
        let result = store::insert_many(&db, &jobs).await;
        if let Err(e) = &result {
            tracing::error!(target: "pb.jobs", jobs = jobs.len(), "inserting jobs failed: {e}");
        }
        for (_, answer) in batch.drain(..) {
            let _ = answer.send(result.as_ref().map(|_| ()).map_err(|_| ()));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a version with these exports runs job `name`: a component
/// exporting `pb:serverless/job-handler` runs every name; a JS bundle
/// (whose exports are its export names) runs the names it exports.
pub fn handles_job(exports: &[String], name: &str) -> bool {
    if exports
        .iter()
        .any(|e| e.starts_with("pb:serverless/job-handler@"))
    {
        return true;
    }
    is_js_bundle(exports) && exports.iter().any(|e| e == name)
}

/// A JS function's stored exports are its bundle's export names, never an
/// interface name (`ns:pkg/iface@v`).
pub fn is_js_bundle(exports: &[String]) -> bool {
    !exports.iter().any(|e| e.contains(':'))
}

/// Per-call view of an invocation for `pb:jobs`.
pub struct JobsView<'a> {
    /// Holds the `pb:data` transactions `enqueue-in` borrows.
    pub table: &'a mut ResourceTable,
    pub function: &'a Arc<str>,
    pub version: Option<&'a Arc<str>>,
    /// The invocation's telemetry: a span and a ledger entry per call.
    pub obs: &'a crate::telemetry::Scope,
    pub services: Option<&'a Arc<Services>>,
    /// Inside a before-hook: the write's transaction, which `enqueue`
    /// joins (the job exists only if the write commits).
    pub scope: Option<&'a Transaction>,
}

struct HasJobsView;
impl HasData for HasJobsView {
    type Data<'a> = JobsView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    queue::add_to_linker::<_, HasJobsView>(linker, |s| JobsView {
        table: &mut s.table,
        function: &s.trace.function,
        obs: &s.trace.scope,
        version: s.version.as_ref(),
        services: s.services.as_ref(),
        scope: s.hook.scope.as_ref(),
    })
}

impl JobsView<'_> {
    /// Enqueues inside `tx`: the job exists only if it commits.
    async fn enqueue_within(
        &mut self,
        tx: Transaction,
        name: String,
        payload: String,
        options: EnqueueOptions,
    ) -> Answer<String, Error> {
        let Some(services) = self.services else {
            return Ok(Err(unavailable()));
        };
        let obs = self.obs;
        let mut traced = obs.call("pb.jobs.enqueue-in", crate::telemetry::CallKind::Jobs);
        if let Err(e) = failure::budget(&traced)? {
            return Ok(Err(failure::refused(traced, e)));
        }
        traced.attr_str("pb.job.name", &name);
        let mut guard = tx.lock().await;
        let conn = match guard.conn() {
            Ok(c) => c,
            Err(e) => return Ok(Err(Error::Invalid(e.message()))),
        };
        let call = enqueue_in_tx(
            services,
            conn,
            self.function,
            self.version.map(|v| &**v),
            &name,
            &payload,
            &options,
        );
        let enqueued = traced.run(call).await;
        traced.end(failure::case(&enqueued));
        let id = match enqueued {
            Ok(id) => id,
            Err(e) => return Ok(Err(e)),
        };
        // Wake this host's workers once the job is visible (never if the
        // transaction rolls back; PostgreSQL's NOTIFY goes with the commit).
        let services = services.clone();
        guard.after_commit(move || committed(&services));
        Ok(Ok(id))
    }
}

fn unavailable() -> Error {
    failure::unavailable("pb:jobs")
}

/// A host failure: logged in full; the guest gets no SQL.
fn failed(function: &str, op: &str, e: impl std::fmt::Display) -> Error {
    failure::internal("pb:jobs", op, function, e)
}

/// The first characters of a name for an error message.
fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Checks a job name: 1 to [`MAX_NAME_LEN`] bytes, no control characters.
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::Invalid("the job name is empty".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::Invalid(format!(
            "the job name is {} bytes long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "the job name contains a control character".into(),
        ));
    }
    Ok(())
}

/// Checks what a job is enqueued with, independent of the database: name,
/// payload, options. Returns (max attempts, priority, delay ms, dedupe key).
fn check_request(
    name: &str,
    payload: &str,
    options: &EnqueueOptions,
) -> Result<(i32, i32, i64, Option<String>), Error> {
    check_name(name)?;
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(Error::Quota(format!(
            "the payload is {} bytes; at most {MAX_PAYLOAD_LEN} are allowed",
            payload.len()
        )));
    }
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(payload) {
        return Err(Error::Invalid(format!("the payload is not JSON: {e}")));
    }
    let attempts = options.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if !(1..=MAX_ATTEMPTS).contains(&attempts) {
        return Err(Error::Invalid(format!(
            "max-attempts is {attempts}; it must be between 1 and {MAX_ATTEMPTS}"
        )));
    }
    let delay = options.delay_ms.unwrap_or(0);
    if delay > MAX_DELAY_MS {
        return Err(Error::Invalid(format!(
            "the delay is {delay} ms; at most {MAX_DELAY_MS} ms (one year) is allowed"
        )));
    }
    if let Some(key) = &options.dedupe_key {
        if key.is_empty() || key.len() > MAX_DEDUPE_KEY_LEN {
            return Err(Error::Invalid(format!(
                "the dedupe key must be 1 to {MAX_DEDUPE_KEY_LEN} bytes long"
            )));
        }
        if key.contains('\0') {
            return Err(Error::Invalid(
                "the dedupe key contains a NUL character".into(),
            ));
        }
    }
    Ok((
        attempts as i32,
        options.priority.unwrap_or(0),
        delay as i64,
        options.dedupe_key.clone(),
    ))
}

/// Validates an enqueue by `caller` (running `caller_version`) and decides
/// which function and version consume the job: everything but the insert.
/// Reads the database (bindings, versions) on the host's pool.
pub async fn prepare(
    services: &Services,
    caller: &str,
    caller_version: Option<&str>,
    name: &str,
    payload: &str,
    options: &EnqueueOptions,
) -> Result<NewJob, Error> {
    let (max_attempts, priority, delay, dedupe_key) = check_request(name, payload, options)?;
    let db = &services.db;
    let hub = &services.jobs;
    let bindings = hub
        .bindings(db)
        .await
        .map_err(|e| failed(caller, "enqueue", e))?;
    let function = bindings.get(name).map(String::as_str).unwrap_or(caller);
    let version = match caller_version.filter(|_| function == caller) {
        Some(v) => v.to_string(),
        None => match hub.current_version(function).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Err(Error::Invalid(format!(
                    "job `{}` is bound to function `{function}`, which is not deployed",
                    shown(name)
                )))
            }
            Err(e) => return Err(failed(caller, "enqueue", e)),
        },
    };
    let exports = match hub.exports(&version).await {
        Ok(Some(e)) => e,
        Ok(None) => {
            return Err(Error::Invalid(format!(
                "the version of function `{function}` that would run job `{}` is not stored",
                shown(name)
            )))
        }
        Err(e) => return Err(failed(caller, "enqueue", e)),
    };
    if !handles_job(&exports, name) {
        let how = if is_js_bundle(&exports) {
            format!("its bundle has no export named `{}`", shown(name))
        } else {
            "it does not export `pb:serverless/job-handler`".to_string()
        };
        return Err(Error::Invalid(format!(
            "function `{function}` cannot run job `{}`: {how} (bind the job to another function \
             with the manifest's `jobs` section)",
            shown(name)
        )));
    }
    let now = now_ms();
    Ok(NewJob {
        id: uuid::Uuid::now_v7().to_string(),
        function: function.to_string(),
        version,
        name: name.to_string(),
        payload: payload.to_string(),
        max_attempts,
        priority,
        run_at: now + delay,
        dedupe_key,
        enqueued_by: caller.to_string(),
        // The span enqueueing it (when spans are exported): its run links
        // to it.
        trace_parent: crate::telemetry::current_traceparent(),
        now,
    })
}

/// `enqueue-in`: enqueues inside the caller's transaction, so the job
/// exists only if it commits. For the `pb:data` transaction resource: call
/// it with the transaction's connection and, once the transaction has
/// committed, call [`committed`] so this host's idle workers wake at once
/// (PostgreSQL's `NOTIFY` is sent with the commit on its own).
pub async fn enqueue_in_tx(
    services: &Services,
    conn: Conn<'_>,
    caller: &str,
    caller_version: Option<&str>,
    name: &str,
    payload: &str,
    options: &EnqueueOptions,
) -> Result<String, Error> {
    let job = prepare(services, caller, caller_version, name, payload, options).await?;
    store::insert(conn, &job)
        .await
        .map(|(id, _)| id)
        .map_err(|e| failed(caller, "enqueue-in", e))
}

/// Jobs by state (`queued`, `running`, …), for the queue-depth metric.
pub async fn queue_depth(db: &crate::store::Db) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = db
        .query("SELECT state, COUNT(*) AS n FROM pbs_jobs GROUP BY state ORDER BY state")
        .fetch_all()
        .await?;
    rows.iter()
        .map(|r| Ok((r.get::<String>("state")?, r.get::<i64>("n")?)))
        .collect()
}

/// Wakes this host's idle workers after a transaction holding an
/// [`enqueue_in_tx`] committed.
pub fn committed(services: &Services) {
    services.jobs.wake.notify_one();
}

fn state(s: &str) -> JobState {
    match s {
        store::RUNNING => JobState::Running,
        store::COMPLETED => JobState::Completed,
        store::FAILED => JobState::Failed,
        store::DEAD => JobState::Dead,
        store::CANCELLED => JobState::Cancelled,
        _ => JobState::Queued,
    }
}

impl Host for JobsView<'_> {
    async fn enqueue(
        &mut self,
        name: String,
        payload: String,
        options: EnqueueOptions,
    ) -> Answer<String, Error> {
        if let Some(tx) = self.scope.cloned() {
            return self.enqueue_within(tx, name, payload, options).await;
        }
        let Some(services) = self.services else {
            return Ok(Err(unavailable()));
        };
        let obs = self.obs;
        let mut traced = obs.call("pb.jobs.enqueue", crate::telemetry::CallKind::Jobs);
        if let Err(e) = failure::budget(&traced)? {
            return Ok(Err(failure::refused(traced, e)));
        }
        traced.attr_str("pb.job.name", &name);
        let call = async {
            let job = prepare(
                services,
                self.function,
                self.version.map(|v| &**v),
                &name,
                &payload,
                &options,
            )
            .await?;
            let id = services
                .jobs
                .insert(&services.db, job)
                .await
                .map_err(|e| failed(self.function, "enqueue", e))?;
            services.jobs.wake.notify_one();
            Ok(id)
        };
        let enqueued = traced.run(call).await;
        traced.end(failure::case(&enqueued));
        Ok(enqueued)
    }

    async fn enqueue_in(
        &mut self,
        tx: Resource<Transaction>,
        name: String,
        payload: String,
        options: EnqueueOptions,
    ) -> Answer<String, Error> {
        let tx = self.table.get(&tx)?.clone();
        self.enqueue_within(tx, name, payload, options).await
    }

    async fn status(&mut self, id: String) -> Answer<Option<JobStatus>, Error> {
        let Some(services) = self.services else {
            return Ok(Err(unavailable()));
        };
        if id.len() > 64 {
            return Ok(Ok(None));
        }
        // A host call like the others: counted, and within the budget.
        let traced = self
            .obs
            .call("pb.jobs.status", crate::telemetry::CallKind::Jobs);
        if let Err(e) = failure::budget(&traced)? {
            return Ok(Err(failure::refused(traced, e)));
        }
        let row = match traced.run(store::get(&services.db, &id)).await {
            Ok(row) => {
                traced.end(None);
                row
            }
            Err(e) => {
                traced.end(Some("internal"));
                return Ok(Err(failed(self.function, "status", e)));
            }
        };
        let mine =
            |r: &store::JobRow| r.function == **self.function || r.enqueued_by == **self.function;
        Ok(Ok(row.filter(mine).map(|r| JobStatus {
            id: r.id,
            name: r.name,
            state: state(&r.state),
            attempts: r.attempts.max(0) as u32,
            max_attempts: r.max_attempts.max(0) as u32,
            last_error: r.last_error,
            created_ms: r.created_ms.max(0) as u64,
            updated_ms: r.updated_ms.max(0) as u64,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> EnqueueOptions {
        EnqueueOptions {
            delay_ms: None,
            max_attempts: None,
            dedupe_key: None,
            priority: None,
        }
    }

    #[test]
    fn requests_are_checked() {
        assert_eq!(
            check_request("a", "{}", &options()).unwrap(),
            (DEFAULT_MAX_ATTEMPTS as i32, 0, 0, None)
        );
        assert!(matches!(
            check_request("", "{}", &options()),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            check_request("a\nb", "{}", &options()),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            check_request("a", "{", &options()),
            Err(Error::Invalid(_))
        ));
        let big = format!("\"{}\"", "x".repeat(MAX_PAYLOAD_LEN));
        assert!(matches!(
            check_request("a", &big, &options()),
            Err(Error::Quota(_))
        ));
        let o = EnqueueOptions {
            max_attempts: Some(0),
            ..options()
        };
        assert!(matches!(
            check_request("a", "1", &o),
            Err(Error::Invalid(_))
        ));
        let o = EnqueueOptions {
            delay_ms: Some(u64::MAX),
            ..options()
        };
        assert!(matches!(
            check_request("a", "1", &o),
            Err(Error::Invalid(_))
        ));
        let o = EnqueueOptions {
            dedupe_key: Some(String::new()),
            ..options()
        };
        assert!(matches!(
            check_request("a", "1", &o),
            Err(Error::Invalid(_))
        ));
        let o = EnqueueOptions {
            delay_ms: Some(5),
            max_attempts: Some(2),
            dedupe_key: Some("k".into()),
            priority: Some(-3),
        };
        assert_eq!(
            check_request("a", "null", &o).unwrap(),
            (2, -3, 5, Some("k".into()))
        );
    }

    #[test]
    fn which_versions_run_a_job() {
        let component = vec!["pb:serverless/job-handler@0.1.0".to_string()];
        assert!(handles_job(&component, "anything"));
        let js = vec!["GET".to_string(), "process_pdf".to_string()];
        assert!(handles_job(&js, "process_pdf"));
        assert!(!handles_job(&js, "other"));
        let http_only = vec!["wasi:http/incoming-handler@0.2.12".to_string()];
        assert!(!handles_job(&http_only, "x"));
        assert!(!is_js_bundle(&http_only));
    }
}
