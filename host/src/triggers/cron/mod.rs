//! The cron trigger: schedules (`PUT /api/pb_serverless/_admin/cron`, the
//! manifest's `cron` section) that call a function's
//! `pb:serverless/cron-handler` export (for a JS function: the named
//! export) on its current version, with a [`TIMEOUT`] limit.
//!
//! - **Exactly once across hosts.** Every host runs the scheduler; a tick is
//!   run by the host that inserts its row in `pbs_cron_ticks` (schedule id +
//!   scheduled time is the primary key), so hosts sharing one PostgreSQL
//!   fire each tick once. A host that dies during a run does not run it
//!   again (a tick is at most once; jobs are the at-least-once tool).
//! - **Missed runs.** When the scheduler wakes (at each tick, at start-up,
//!   after a pause) it fires only the *latest* tick due since the last one
//!   fired (or since the schedule was created): a host that was down over
//!   several ticks runs the schedule once at start-up, not once per missed
//!   tick.
//! - Expressions: [`schedule`] (5 or 6 fields, crontab weekday numbering,
//!   UTC or an IANA time zone).
//! - The scheduler re-reads the schedules every [`REFRESH`] (another host
//!   may have replaced them) and at once after a change on this host, and
//!   otherwise sleeps until the next tick.

pub mod schedule;
pub mod store;

use crate::caps::jobs::JobsHub;
use crate::deploy::Registry;
use crate::store::{now_ms, Db};
use crate::triggers::invoke_export::{self, Target, Tick};
use schedule::Spec;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Wall-clock limit of one run.
pub const TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How often the scheduler re-reads the schedules.
pub const REFRESH: Duration = Duration::from_secs(1);
/// Ticks are kept this long (the latest of each schedule is what the admin
/// API shows).
pub const TICK_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often old ticks are deleted.
pub const TIDY_EVERY: Duration = Duration::from_secs(600);

/// Starts the scheduler of a host; it stops when `stopped` changes (runs
/// under way are stopped).
pub fn start(
    registry: Arc<Registry>,
    stopped: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let hub = registry.runtime().services()?.jobs.clone();
    Some(tokio::spawn(scheduler(registry, hub, stopped)))
}

async fn scheduler(registry: Arc<Registry>, hub: Arc<JobsHub>, mut stopped: watch::Receiver<bool>) {
    let db = registry.db().clone();
    // The latest tick of each schedule this host knows was claimed.
    let mut fired: HashMap<String, i64> = HashMap::new();
    let mut specs: HashMap<String, Arc<Spec>> = HashMap::new();
    let mut runs = JoinSet::new();
    // The ticks this host runs now.
    let running: Arc<Mutex<HashSet<(String, i64)>>> = Arc::default();
    let mut tidy_at = tokio::time::Instant::now();
    loop {
        while runs.try_join_next().is_some() {}
        if tokio::time::Instant::now() >= tidy_at {
            let now = now_ms();
            let stale = now - (TIMEOUT + Duration::from_secs(60)).as_millis() as i64;
            let before = now - TICK_RETENTION.as_millis() as i64;
            if let Err(e) = store::tidy(&db, before, stale, now).await {
                tracing::warn!(target: "pb.cron", "tidying old ticks failed: {e}");
            }
            tidy_at += TIDY_EVERY;
        }
        let mut wait = REFRESH;
        match store::schedules(&db).await {
            Ok(list) => {
                specs.retain(|id, _| list.iter().any(|s| &s.id == id));
                fired.retain(|id, _| list.iter().any(|s| &s.id == id));
                let now = now_ms();
                for s in list {
                    let spec = match specs.get(&s.id) {
                        Some(spec) => spec.clone(),
                        None => match schedule::parse(&s.cron, s.timezone.as_deref()) {
                            Ok(spec) => {
                                let spec = Arc::new(spec);
                                specs.insert(s.id.clone(), spec.clone());
                                spec
                            }
                            Err(e) => {
                                tracing::warn!(target: "pb.cron", schedule = %s.id, "stored schedule does not parse: {e}");
                                continue;
                            }
                        },
                    };
                    let lower = s
                        .created_ms
                        .max(s.last_ms.unwrap_or(i64::MIN))
                        .max(fired.get(&s.id).copied().unwrap_or(i64::MIN));
                    if let Some(due) = spec.latest_at_or_before(now).filter(|t| *t > lower) {
                        fired.insert(s.id.clone(), due);
                        match store::claim(&db, &s.id, due, now).await {
                            Ok(true) => {
                                lock(&running).insert((s.id.clone(), due));
                                let running = running.clone();
                                let registry = registry.clone();
                                let s = s.clone();
                                runs.spawn(crate::engine::lanes::Lane::spawned(async move {
                                    fire(&registry, &s, due).await;
                                    lock(&running).remove(&(s.id, due));
                                }));
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::warn!(target: "pb.cron", schedule = %s.id, "claiming a tick failed: {e}");
                                fired.remove(&s.id);
                            }
                        }
                    }
                    if let Some(next) = spec.next_after(now) {
                        let until = Duration::from_millis((next - now_ms()).max(0) as u64);
                        wait = wait.min(until);
                    }
                }
            }
            Err(e) => tracing::warn!(target: "pb.cron", "reading the schedules failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = hub.cron_wake.notified() => {}
            _ = stopped.changed() => break,
        }
    }
    // Stop the runs under way and say so (a tick is not run again).
    runs.abort_all();
    while runs.join_next().await.is_some() {}
    let stopped: Vec<(String, i64)> = lock(&running).drain().collect();
    let record = async {
        for (id, ms) in &stopped {
            let why = "the host stopped before the run finished";
            let _ = store::finish(&db, id, *ms, Some(why), now_ms()).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), record).await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs one claimed tick and records how it ended.
async fn fire(registry: &Registry, s: &store::Schedule, scheduled_ms: i64) {
    let span = tracing::info_span!(
        "pb.cron.run",
        function = %s.function,
        func = %s.func,
        scheduled_ms
    );
    let db: Db = registry.db().clone();
    let run = async {
        let Some(deployed) = registry.get(&s.function) else {
            return Err(format!("function `{}` is not deployed", s.function));
        };
        let target = Target::new(registry, &s.function, deployed.version.clone())
            .map_err(|e| format!("the host could not prepare the run: {e}"))?;
        if crate::caps::jobs::is_js_bundle(&target.version.exports)
            && !target.version.exports.contains(&s.func)
        {
            return Err(format!(
                "the current version of `{}` has no export named `{}`",
                s.function, s.func
            ));
        }
        let tick = Tick {
            name: s.func.clone(),
            schedule: s.cron.clone(),
            scheduled_ms: scheduled_ms.max(0) as u64,
        };
        let lag = (crate::store::now_ms() - scheduled_ms).max(0) as f64 / 1000.0;
        let telemetry = registry.runtime().telemetry();
        telemetry.metrics().cron_lag(&s.function, &s.func, lag);
        // A trace of its own.
        let start = crate::telemetry::Start {
            attributes: Some(Box::new({
                let (func, cron) = (s.func.clone(), s.cron.clone());
                move || {
                    vec![
                        opentelemetry::KeyValue::new("pb.cron.func", func),
                        opentelemetry::KeyValue::new("pb.cron.schedule", cron),
                        opentelemetry::KeyValue::new("pb.cron.lag_ms", (lag * 1000.0) as i64),
                    ]
                }
            })),
            ..crate::telemetry::Start::new(
                s.function.as_str().into(),
                crate::telemetry::Trigger::Cron,
            )
        };
        match invoke_export::call_cron(registry.runtime(), &target, &tick, TIMEOUT, start).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.to_string()),
        }
    };
    let result = tracing::Instrument::instrument(run, span.clone()).await;
    let error = result.err();
    if let Some(e) = &error {
        tracing::warn!(target: "pb.cron", parent: &span, "cron run failed: {e}");
    }
    let error = error.map(|e| crate::triggers::jobs::clip(&e));
    if let Err(e) = store::finish(&db, &s.id, scheduled_ms, error.as_deref(), now_ms()).await {
        tracing::error!(target: "pb.cron", parent: &span, "recording the run failed: {e}");
    }
}
