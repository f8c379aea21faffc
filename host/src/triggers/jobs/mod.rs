//! The job trigger: a pool of workers that claim jobs from `pbs_jobs` and
//! run them through the consuming function's `pb:serverless/job-handler`
//! export (`crate::triggers::invoke_export::call_job`). The queue itself —
//! enqueue, the SQL, the admin API — is `crate::caps::jobs`.
//!
//! **One dispatcher per host** claims as many due jobs as it has free
//! workers (at most [`CLAIM_BATCH`] per statement) and starts one task per
//! job. When nothing is due it sleeps until the earliest of: an enqueue on
//! this host (`JobsHub::wake`), a `NOTIFY pbs_jobs` from any host sharing
//! the PostgreSQL database (a `PgListener`), the next delayed job's
//! `run_at`, the first lease to run out, or [`MAX_IDLE_CHECK`] — no busy
//! polling.
//!
//! **At least once, with leases.** A claim leases the job for
//! `JobsConfig::lease`; while the job runs, its worker extends the lease
//! every third of it. A job whose worker died (the host was killed, lost
//! the database) keeps its lease until it runs out, then is claimed again
//! ([`crate::caps::jobs::store::reclaim_expired`]); so a job runs twice at
//! most once per crash of a host that was running it. When the heartbeat
//! finds the job is no longer its own (cancelled, or claimed again after
//! the lease ran out during a database outage), the worker stops the guest.
//!
//! **Retries.** A handler error, a trap or a time-out is a failed attempt:
//! the job is `failed` and due again after an exponential backoff with
//! jitter ([`backoff`]), until its `max_attempts`, then `dead` with the last
//! error. A version that is no longer stored, or has no handler for the
//! job, sends it to `dead` at once with that reason. A full instance pool is
//! not an attempt: the job is put back ([`BUSY_RETRY`]).
//!
//! **Versions.** A job runs on the version recorded at enqueue: the
//! function's current version (no database read), or an older one loaded
//! from its stored artifact ([`Registry::load`]) and kept compiled for
//! [`OLD_VERSION_TTL`] after its last use.

use crate::caps::jobs::{handles_job, store, Functions, JobsHub};
use crate::deploy::{Registry, Version};
use crate::store::{now_ms, Db};
use crate::triggers::invoke_export::{self, CallError, Job, Target};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// Jobs one host runs at once (`pbs serve --job-workers`).
pub const DEFAULT_WORKERS: usize = 16;
/// How long a claim holds a job before another worker may take it, unless
/// extended by the running worker's heartbeat (`--job-lease`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Wall-clock limit of one run of a job (`--job-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The wait before the second attempt; doubled for each further one.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// Jobs one claim statement takes at most.
pub const CLAIM_BATCH: usize = 64;
/// When the instance pool was full, the job is due again after this.
pub const BUSY_RETRY: Duration = Duration::from_secs(1);
/// The longest an idle dispatcher sleeps without looking at the table (a
/// safety net for a missed notification; leases and delays have timers).
pub const MAX_IDLE_CHECK: Duration = Duration::from_secs(30);
/// Completed and cancelled jobs are deleted this long after they finished.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Dead jobs are deleted this long after they died.
pub const DEAD_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often old jobs are swept.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// An older version loaded for a job stays compiled this long after its
/// last use.
pub const OLD_VERSION_TTL: Duration = Duration::from_secs(60);
/// The longest `last_error` stored.
pub const MAX_ERROR_LEN: usize = 4096;

/// The worker pool's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobsConfig {
    /// Jobs run at once; 0 = this host runs no jobs (it may still enqueue).
    pub workers: usize,
    pub lease: Duration,
    /// Wall-clock limit of one run.
    pub timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            workers: DEFAULT_WORKERS,
            lease: DEFAULT_LEASE,
            timeout: DEFAULT_TIMEOUT,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
        }
    }
}

impl JobsConfig {
    /// The idle dispatcher's longest sleep: half a lease, 10 ms to
    /// [`MAX_IDLE_CHECK`].
    fn idle_check(&self) -> Duration {
        (self.lease / 2).clamp(Duration::from_millis(10), MAX_IDLE_CHECK)
    }
}

/// The wait after failed attempt `attempt` (1 = the first run):
/// `base · 2^(attempt-1)`, at most `max`, with "equal jitter" (a uniformly
/// random point in the upper half), so jobs that failed together do not
/// retry together.
pub fn backoff(config: &JobsConfig, attempt: i32) -> Duration {
    let exp = attempt.clamp(1, 32) as u32 - 1;
    let full = config
        .backoff_base
        .saturating_mul(1u32 << exp.min(31))
        .min(config.backoff_max);
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// Tells the queue of `registry`'s host which functions are deployed
/// ([`Functions`]), for enqueues.
pub fn install(registry: &Arc<Registry>) {
    if let Some(services) = registry.runtime().services() {
        services.jobs.set_functions(Arc::new(Deployed {
            registry: Arc::downgrade(registry),
        }));
    }
}

/// The registry as pb:jobs sees it (weakly: the registry holds the
/// services, which hold this).
struct Deployed {
    registry: std::sync::Weak<Registry>,
}

impl Deployed {
    fn registry(&self) -> anyhow::Result<Arc<Registry>> {
        self.registry
            .upgrade()
            .ok_or_else(|| anyhow::anyhow!("the host is shutting down"))
    }
}

impl Functions for Deployed {
    fn current_version<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async move { self.registry()?.current_version(name).await })
    }

    fn exports<'a>(
        &'a self,
        version: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<Vec<String>>>> {
        Box::pin(async move { self.registry()?.version_exports(version).await })
    }
}

/// Starts the worker pool of a host (none with `workers = 0`); it stops
/// when `stopped` changes, stopping the jobs under way and putting them
/// back in the queue.
pub fn start(
    registry: Arc<Registry>,
    config: JobsConfig,
    stopped: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if config.workers == 0 {
        return None;
    }
    let services = registry.runtime().services()?.clone();
    let (completions, completed) = mpsc::unbounded_channel();
    tokio::spawn(complete_batches(registry.db().clone(), completed));
    let pool = Arc::new(Pool {
        completions,
        db: registry.db().clone(),
        hub: services.jobs.clone(),
        registry,
        config,
        old_versions: Mutex::new(HashMap::new()),
        running: Mutex::new(HashMap::new()),
    });
    Some(tokio::spawn(dispatch(pool, stopped)))
}

struct Pool {
    registry: Arc<Registry>,
    db: Db,
    hub: Arc<JobsHub>,
    config: JobsConfig,
    /// Versions other than a function's current one, with their last use.
    old_versions: Mutex<HashMap<String, (Arc<Version>, Instant)>>,
    /// The attempts this host runs now: job id → attempt.
    running: Mutex<HashMap<String, i32>>,
    /// To the completion batcher.
    completions: mpsc::UnboundedSender<Completion>,
}

/// A completed attempt waiting for the batcher, and where to answer
/// whether it was still this worker's.
type Completion = (String, i32, oneshot::Sender<Result<bool, ()>>);

/// Most completions one statement records.
pub const MAX_COMPLETE_BATCH: usize = 256;

/// The completion batcher: records every completion waiting (up to
/// [`MAX_COMPLETE_BATCH`]) in one `UPDATE`, so a busy host writes once per
/// batch rather than once per job.
async fn complete_batches(db: Db, mut pending: mpsc::UnboundedReceiver<Completion>) {
    let mut batch = Vec::with_capacity(MAX_COMPLETE_BATCH);
    while pending.recv_many(&mut batch, MAX_COMPLETE_BATCH).await > 0 {
        let done: Vec<(String, i32)> = batch.iter().map(|(id, a, _)| (id.clone(), *a)).collect();
        let result = store::complete_many(&db, &done, now_ms()).await;
        if let Err(e) = &result {
            tracing::error!(target: "pb.jobs", jobs = done.len(), "recording completed jobs failed (they run again after their lease): {e}");
        }
        for (id, _, answer) in batch.drain(..) {
            let _ = answer.send(match &result {
                Ok(ids) => Ok(ids.contains(&id)),
                Err(_) => Err(()),
            });
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn dispatch(pool: Arc<Pool>, mut stopped: watch::Receiver<bool>) {
    let listener = pool
        .db
        .postgres()
        .map(|pg| tokio::spawn(listen(pg.clone(), pool.hub.clone(), stopped.clone())));
    let config = pool.config;
    let slots = Arc::new(Semaphore::new(config.workers));
    let mut runners = JoinSet::new();
    let mut reclaim_at = Instant::now();
    let mut sweep_at = Instant::now() + Duration::from_secs(60);
    loop {
        if *stopped.borrow() {
            break;
        }
        while runners.try_join_next().is_some() {}
        let now = Instant::now();
        if now >= reclaim_at {
            match store::reclaim_expired(&pool.db, now_ms()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(target: "pb.jobs", "{n} jobs whose worker stopped are queued again (lease expired)")
                }
                Err(e) => {
                    tracing::warn!(target: "pb.jobs", "reclaiming expired leases failed: {e}")
                }
            }
            reclaim_at = now + config.idle_check();
        }
        if now >= sweep_at {
            sweep(&pool.db).await;
            sweep_at = now + SWEEP_EVERY;
        }
        let free = slots.available_permits();
        if free == 0 {
            tokio::select! {
                _ = runners.join_next() => {}
                _ = stopped.changed() => break,
            }
            continue;
        }
        let n = free.min(CLAIM_BATCH);
        let start = now_ms();
        let claimed = match store::claim(
            &pool.db,
            n as i64,
            start,
            start + config.lease.as_millis() as i64,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "pb.jobs", "claiming jobs failed: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopped.changed() => break,
                }
                continue;
            }
        };
        let got = claimed.len();
        for job in claimed {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            lock(&pool.running).insert(job.id.clone(), job.attempt);
            // A CPU-heavy job moves to the long lane like an HTTP
            // invocation does.
            runners.spawn(crate::engine::lanes::Lane::spawned(run(
                pool.clone(),
                job,
                permit,
            )));
        }
        if got == n {
            continue;
        }
        // Nothing more is due: sleep until something may be.
        let mut wait = config.idle_check();
        match store::next_times(&pool.db).await {
            Ok((due, lease)) => {
                let now = now_ms();
                let until = |at: i64| Duration::from_millis((at - now).max(0) as u64);
                if let Some(due) = due {
                    wait = wait.min(until(due).max(Duration::from_millis(2)));
                }
                if let Some(lease) = lease {
                    let expiry = until(lease + 1);
                    if expiry < wait {
                        wait = expiry;
                        reclaim_at = Instant::now() + expiry;
                    }
                }
            }
            Err(e) => tracing::warn!(target: "pb.jobs", "reading the next due job failed: {e}"),
        }
        tokio::select! {
            _ = pool.hub.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => break,
        }
    }
    if let Some(l) = listener {
        l.abort();
    }
    // Stop the jobs under way and put them back: the next host (or this
    // one after a restart) runs them again at once instead of after their
    // lease.
    runners.abort_all();
    while runners.join_next().await.is_some() {}
    let running: Vec<(String, i32)> = lock(&pool.running).drain().collect();
    let now = now_ms();
    let release = async {
        for (id, attempt) in &running {
            let _ = store::release(&pool.db, id, *attempt, now, now).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(2), release)
        .await
        .is_err()
    {
        tracing::warn!(target: "pb.jobs", "could not put every running job back; they run again when their lease runs out");
    }
}

/// Forwards `NOTIFY pbs_jobs` from every host to this host's dispatcher.
async fn listen(pg: sqlx::PgPool, hub: Arc<JobsHub>, mut stopped: watch::Receiver<bool>) {
    loop {
        let connected = async {
            let mut l = sqlx::postgres::PgListener::connect_with(&pg).await?;
            l.listen(store::CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = match connected.await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(target: "pb.jobs", "listening for new jobs failed: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stopped.changed() => return,
                }
            }
        };
        // Notifications sent while not listening are lost: look now.
        hub.wake.notify_one();
        loop {
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(_) => hub.wake.notify_one(),
                    Err(e) => {
                        tracing::warn!(target: "pb.jobs", "listening for new jobs failed: {e}");
                        break;
                    }
                },
                _ = stopped.changed() => return,
            }
        }
    }
}

async fn sweep(db: &Db) {
    let now = now_ms();
    let before = now - RETENTION.as_millis() as i64;
    let dead_before = now - DEAD_RETENTION.as_millis() as i64;
    loop {
        match store::sweep(db, before, dead_before, 1000).await {
            Ok(1000) => tokio::task::yield_now().await,
            Ok(0) => return,
            Ok(n) => {
                tracing::debug!(target: "pb.jobs", "swept {n} old jobs");
                return;
            }
            Err(e) => {
                tracing::warn!(target: "pb.jobs", "sweeping old jobs failed: {e}");
                return;
            }
        }
    }
}

/// What became of one attempt.
enum Outcome {
    Completed,
    /// A failed attempt: retried after a backoff until `max_attempts`.
    Failed(String),
    /// Dead at once (no version, no handler).
    Dead(String),
    /// Not really run: put back, due again at once or after [`BUSY_RETRY`].
    Release(Duration),
    /// The job is no longer this worker's (cancelled, or claimed again).
    Lost,
}

async fn run(pool: Arc<Pool>, job: store::Claimed, _slot: OwnedSemaphorePermit) {
    let span = tracing::info_span!(
        "pb.jobs.run",
        function = %job.function,
        job = %job.id,
        name = %job.name,
        attempt = job.attempt
    );
    tracing::Instrument::instrument(run_and_record(&pool, &job), span).await;
    lock(&pool.running).remove(&job.id);
}

async fn run_and_record(pool: &Pool, job: &store::Claimed) {
    let lease = pool.config.lease;
    let outcome = leased(&pool.db, lease, job, pool.run(job), true)
        .await
        .unwrap_or(Outcome::Lost);
    let db = &pool.db;
    let now = now_ms();
    let recorded = match &outcome {
        Outcome::Completed => {
            let (answer, answered) = oneshot::channel();
            if pool
                .completions
                .send((job.id.clone(), job.attempt, answer))
                .is_err()
            {
                // No batcher (the host is stopping): the lease runs out
                // and the job runs again.
                return;
            }
            // The lease is kept until the batcher has written the
            // completion: a busy database can take longer than a lease,
            // and a job whose lease ran out is run again by some host.
            match leased(db, lease, job, answered, false).await {
                Some(Ok(Ok(mine))) => Ok(mine),
                // Logged by the batcher.
                _ => return,
            }
        }
        Outcome::Failed(e) => {
            let retry_at = now + backoff(&pool.config, job.attempt).as_millis() as i64;
            if job.attempt >= job.max_attempts {
                tracing::warn!(target: "pb.jobs", "job failed its last attempt and is dead: {e}");
            } else {
                tracing::info!(target: "pb.jobs", "job attempt failed, retrying: {e}");
            }
            store::fail(db, &job.id, job.attempt, &clip(e), retry_at, false, now).await
        }
        Outcome::Dead(e) => {
            tracing::warn!(target: "pb.jobs", "job is dead: {e}");
            store::fail(db, &job.id, job.attempt, &clip(e), now, true, now).await
        }
        Outcome::Release(after) => {
            let at = now + after.as_millis() as i64;
            store::release(db, &job.id, job.attempt, at, now).await
        }
        Outcome::Lost => Ok(true),
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(target: "pb.jobs", "the job was cancelled or claimed again while it ran; its result is dropped")
        }
        Err(e) => {
            tracing::error!(target: "pb.jobs", "recording the job's result failed (it runs again after its lease): {e}")
        }
    }
}

/// Awaits `work` (an attempt, or the recording of its completion) while
/// extending the job's lease every third of `lease`. When the job is no
/// longer this worker's, an attempt (`stop`) is stopped (None); a
/// completion being recorded is awaited (the batcher may just have written
/// it, which ends the lease too).
async fn leased<T>(
    db: &Db,
    lease: Duration,
    job: &store::Claimed,
    work: impl std::future::Future<Output = T>,
    stop: bool,
) -> Option<T> {
    tokio::pin!(work);
    let every = (lease / 3).max(Duration::from_millis(10));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            done = &mut work => return Some(done),
            _ = heartbeat.tick() => {
                let until = now_ms() + lease.as_millis() as i64;
                match store::extend(db, &job.id, job.attempt, until).await {
                    Ok(true) => {}
                    Ok(false) if !stop => {}
                    Ok(false) => {
                        tracing::info!(target: "pb.jobs", "the job was cancelled or claimed again; stopping it");
                        return None;
                    }
                    Err(e) => tracing::warn!(target: "pb.jobs", "extending the job's lease failed: {e}"),
                }
            }
        }
    }
}

/// `e`, cut to [`MAX_ERROR_LEN`] bytes.
pub fn clip(e: &str) -> String {
    if e.len() <= MAX_ERROR_LEN {
        return e.to_string();
    }
    let mut end = MAX_ERROR_LEN;
    while !e.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &e[..end])
}

impl Pool {
    async fn run(&self, job: &store::Claimed) -> Outcome {
        let version = match self.version(&job.function, &job.version).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Outcome::Dead(format!(
                    "version {} of function `{}`, which enqueued this job, is no longer stored",
                    invoke_export::short(&job.version),
                    job.function
                ))
            }
            Err(e) => {
                tracing::error!(target: "pb.jobs", "loading version {} failed: {e:#}", job.version);
                return Outcome::Failed(format!(
                    "the host could not load version {} of function `{}`; see the host log",
                    invoke_export::short(&job.version),
                    job.function
                ));
            }
        };
        if !handles_job(&version.exports, &job.name) {
            return Outcome::Dead(format!(
                "version {} of function `{}` has no handler for job `{}`",
                invoke_export::short(&version.hash),
                job.function,
                job.name
            ));
        }
        let target = match Target::new(&self.registry, &job.function, version) {
            Ok(t) => t,
            Err(e) => return Outcome::Failed(format!("the host could not prepare the run: {e}")),
        };
        let input = Job {
            id: job.id.clone(),
            name: job.name.clone(),
            payload: job.payload.clone(),
            attempt: job.attempt.max(1) as u32,
        };
        let runtime = self.registry.runtime();
        // A trace of its own, linked to the span that enqueued it.
        let start = crate::telemetry::Start {
            links: job
                .trace_parent
                .as_deref()
                .and_then(|tp| crate::telemetry::parse_traceparent(tp, None))
                .into_iter()
                .collect(),
            attributes: Some(Box::new({
                let (id, name, attempt) = (job.id.clone(), job.name.clone(), job.attempt);
                move || {
                    vec![
                        opentelemetry::KeyValue::new("pb.job.id", id),
                        opentelemetry::KeyValue::new("pb.job.name", name),
                        opentelemetry::KeyValue::new("pb.job.attempt", attempt as i64),
                    ]
                }
            })),
            ..crate::telemetry::Start::new(
                job.function.as_str().into(),
                crate::telemetry::Trigger::Job,
            )
        };
        match invoke_export::call_job(runtime, &target, &input, self.config.timeout, start).await {
            Ok(Ok(())) => Outcome::Completed,
            Ok(Err(e)) => Outcome::Failed(e),
            Err(CallError::NoHandler(e)) => Outcome::Dead(e),
            Err(CallError::Busy(_)) => Outcome::Release(BUSY_RETRY),
            Err(CallError::Failed(e)) => Outcome::Failed(e),
        }
    }

    /// The version `hash` of `function`: the one it serves now, or a stored
    /// older one; none when it is not stored.
    async fn version(&self, function: &str, hash: &str) -> anyhow::Result<Option<Arc<Version>>> {
        if let Some(d) = self.registry.get(function) {
            if d.version.hash == hash {
                return Ok(Some(d.version.clone()));
            }
        }
        // Enqueued by a `pbs dev` preview whose version is not stored (yet).
        if let Some(v) = self.registry.preview_version(hash) {
            if self.registry.version_exports(hash).await?.is_none() {
                return Ok(Some(v));
            }
        }
        let cached = lock(&self.old_versions).get(hash).map(|(v, _)| v.clone());
        let version = match cached {
            // Still stored? (It must not run once removed.)
            Some(v) => self.registry.version_exports(hash).await?.map(|_| v),
            None => self.registry.load(hash).await?,
        };
        let mut cache = lock(&self.old_versions);
        cache.retain(|_, (_, used)| used.elapsed() < OLD_VERSION_TTL);
        match &version {
            Some(v) => {
                cache.insert(hash.to_string(), (v.clone(), Instant::now()));
            }
            None => {
                cache.remove(hash);
            }
        }
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let config = JobsConfig {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            ..JobsConfig::default()
        };
        for _ in 0..100 {
            let first = backoff(&config, 1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let third = backoff(&config, 3);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
            let late = backoff(&config, 30);
            assert!(late >= Duration::from_secs(5) && late <= Duration::from_secs(10));
        }
        assert!(backoff(&config, i32::MAX) <= Duration::from_secs(10));
    }

    /// A completion that takes longer than the lease to be written (a busy
    /// database) keeps the job: its lease is extended while it waits, so
    /// no host claims it again (which ran it twice). Without the
    /// heartbeat, the same wait loses the lease.
    #[tokio::test]
    async fn a_lease_is_kept_while_the_completion_waits() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("data.db").to_string_lossy())
            .await
            .unwrap();
        let lease = Duration::from_secs(1);
        let slow_write = || tokio::time::sleep(Duration::from_secs(3));
        for heartbeat in [true, false] {
            let now = now_ms();
            let id = format!("job-{heartbeat}");
            let job = store::NewJob {
                id: id.clone(),
                function: "f".into(),
                version: "v".into(),
                name: "n".into(),
                payload: "{}".into(),
                max_attempts: 3,
                priority: 0,
                run_at: now,
                dedupe_key: None,
                enqueued_by: "f".into(),
                trace_parent: None,
                now,
            };
            store::insert_alone(&db, &job).await.unwrap();
            let claimed = store::claim(&db, 1, now, now + lease.as_millis() as i64)
                .await
                .unwrap();
            assert_eq!(claimed.len(), 1);
            if heartbeat {
                leased(&db, lease, &claimed[0], slow_write(), false)
                    .await
                    .unwrap();
            } else {
                slow_write().await;
            }
            let reclaimed = store::reclaim_expired(&db, now_ms()).await.unwrap();
            let completed = store::complete_many(&db, &[(id, 1)], now_ms())
                .await
                .unwrap();
            if heartbeat {
                assert_eq!((reclaimed, completed.len()), (0, 1), "the lease was lost");
            } else {
                assert_eq!(
                    (reclaimed, completed.len()),
                    (1, 0),
                    "the lease outlived its time"
                );
            }
        }
    }

    #[test]
    fn long_errors_are_clipped_on_a_char_boundary() {
        let e = "é".repeat(MAX_ERROR_LEN);
        let c = clip(&e);
        assert!(c.len() <= MAX_ERROR_LEN + "…".len());
        assert!(c.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
