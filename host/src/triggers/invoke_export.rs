//! Calls a handler export other than HTTP — `pb:serverless/job-handler`,
//! `pb:serverless/cron-handler` — of one version of a function, in a fresh
//! instance under the same limits as an HTTP request (memory, the host's
//! memory budget, fuel, outbound allowlist) and a wall-clock limit of the
//! caller's choosing (jobs and cron: 15 minutes), enforced by epoch
//! interruption like HTTP's.
//!
//! What went wrong is sorted once, here: the guest's own `Err` is a
//! handler result ([`Ok`]`(Err(…))`); a version without the export is
//! [`CallError::NoHandler`] (it never will have it); a full instance pool is
//! [`CallError::Busy`] (try again later); anything that stopped or broke
//! the instance is [`CallError::Failed`] with a message for the job's
//! `last_error`, the detail in the host's log.

use crate::caps::http_out::OutboundPolicy;
use crate::deploy::handlers::{cron, job};
use crate::deploy::{Registry, Version, WarmInstance};
use crate::engine::warm::WarmPool;
use crate::engine::{Deadline, Invocation, Runtime};
use crate::telemetry::{Scope, Start};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Instance;
use wasmtime::{Store, Trap};

pub use cron::exports::pb::serverless::cron_handler::Tick;
pub use job::exports::pb::serverless::job_handler::Job;

/// Extra time past the limit before the host gives up on a guest blocked
/// in a host call rather than running (the epoch callback stops running
/// guests on time).
const HOST_GRACE: Duration = Duration::from_millis(500);

/// What runs: a function name, one of its versions, and the outbound
/// policy its invocations get.
#[derive(Clone)]
pub struct Target {
    pub function: Arc<str>,
    pub version: Arc<Version>,
    pub outbound: OutboundPolicy,
    /// The idle instances of that version, when it is the one deployed and
    /// it is deployed with reuse ([`crate::engine::warm`]).
    pub warm: Option<Arc<WarmPool<WarmInstance>>>,
    /// Whether the function's last invocation was long-running
    /// ([`crate::engine::lanes::Hint`]), when it is deployed.
    pub long_running: Option<Arc<crate::engine::lanes::Hint>>,
}

impl Target {
    /// `version` of `function`, with the function's outbound allowlist as
    /// deployed now (host-wide only, when the function is not deployed).
    pub fn new(
        registry: &Registry,
        function: &str,
        version: Arc<Version>,
    ) -> anyhow::Result<Target> {
        let deployed = registry.get(function);
        let outbound = match &deployed {
            Some(d) => d.outbound.clone(),
            None => registry.runtime().outbound_policy(&[])?,
        };
        // A job pinned to an older version runs fresh: the pool is the
        // deployed version's.
        let long_running = deployed.as_ref().map(|d| d.long_running.clone());
        let warm = deployed
            .filter(|d| d.version.hash == version.hash)
            .and_then(|d| d.warm.clone());
        Ok(Target {
            function: function.into(),
            version,
            outbound,
            warm,
            long_running,
        })
    }
}

/// Why a call produced no handler result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The version does not export the handler.
    NoHandler(String),
    /// The instance pool or memory budget is exhausted now: the call did not
    /// really run and may be tried again shortly.
    Busy(String),
    /// The instance was stopped (time, memory, fuel) or trapped.
    Failed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::NoHandler(m) | CallError::Busy(m) | CallError::Failed(m) => f.write_str(m),
        }
    }
}

/// The handler's own answer: `Ok(())`, or the error it returned.
pub type HandlerResult = Result<(), String>;

/// Runs `job` through the version's `pb:serverless/job-handler.run`.
pub async fn call_job(
    runtime: &Runtime,
    target: &Target,
    job: &Job,
    limit: Duration,
    start: Start,
) -> Result<HandlerResult, CallError> {
    job::JobExportsPre::new(target.version.pre.clone()).map_err(|e| {
        CallError::NoHandler(format!(
            "function `{}` (version {}) does not export `pb:serverless/job-handler`: {e}",
            target.function,
            short(&target.version.hash)
        ))
    })?;
    let job = job.clone();
    call(
        runtime,
        target,
        limit,
        "job",
        start,
        handler_error,
        move |store, instance| {
            Box::pin(async move {
                job::JobExports::new(&mut *store, &instance)?
                    .pb_serverless_job_handler()
                    .call_run(&mut *store, &job)
                    .await
            })
        },
    )
    .await
}

/// Runs `tick` through the version's `pb:serverless/cron-handler.run`.
pub async fn call_cron(
    runtime: &Runtime,
    target: &Target,
    tick: &Tick,
    limit: Duration,
    start: Start,
) -> Result<HandlerResult, CallError> {
    cron::CronExportsPre::new(target.version.pre.clone()).map_err(|e| {
        CallError::NoHandler(format!(
            "function `{}` (version {}) does not export `pb:serverless/cron-handler`: {e}",
            target.function,
            short(&target.version.hash)
        ))
    })?;
    let tick = tick.clone();
    call(
        runtime,
        target,
        limit,
        "cron",
        start,
        handler_error,
        move |store, instance| {
            Box::pin(async move {
                cron::CronExports::new(&mut *store, &instance)?
                    .pb_serverless_cron_handler()
                    .call_run(&mut *store, &tick)
                    .await
            })
        },
    )
    .await
}

type Call<'a, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>>;

/// The error a job or cron handler returned, for telemetry.
fn handler_error(r: &HandlerResult) -> Option<String> {
    r.as_ref().err().cloned()
}

/// Runs `f` on an instance of `target` (a fresh one, or one kept for reuse),
/// under the limits, and sorts what went wrong; an instance that ended well
/// goes back to the pool when the function is deployed with reuse. `start` places the invocation in a trace (its function
/// and version are `target`'s); `failed` says whether an answer is the
/// handler's own error.
pub async fn call<R, F>(
    runtime: &Runtime,
    target: &Target,
    limit: Duration,
    what: &str,
    start: Start,
    failed: fn(&R) -> Option<String>,
    f: F,
) -> Result<R, CallError>
where
    F: for<'a> FnOnce(&'a mut Store<Invocation>, Instance) -> Call<'a, R>,
{
    let deadline = Arc::new(Deadline::after(limit));
    let scope = Scope::new(
        runtime.telemetry(),
        Start {
            function: target.function.clone(),
            version: Some(target.version.hash.as_str().into()),
            ..start
        },
    );
    let (mut store, reused, served) = match target.warm.as_ref().and_then(|w| w.take()) {
        Some(((mut store, instance), served)) => {
            runtime.reuse_store(&mut store, scope.clone(), deadline.clone());
            (store, Some(instance), served)
        }
        None => {
            let mut store = runtime.new_store_in(scope.clone(), deadline.clone());
            store.data_mut().trace.source_map = target.version.source_map.clone();
            (store, None, 0)
        }
    };
    store
        .data_mut()
        .set_outbound(target.outbound.for_invocation(target.function.clone()));
    let pre = target.version.pre.clone();
    let hint = target.long_running.as_deref();
    // A function whose last run was CPU-bound starts this one in the long
    // lane: yielding once lets the lane move the task before it runs.
    if hint.is_some_and(|h| h.apply(&store.data().turn)) {
        tokio::task::yield_now().await;
    }
    let run = async {
        let instance = match reused {
            Some(instance) => instance,
            None => crate::deploy::preview::instantiate(&mut store, &pre, &target.version).await?,
        };
        let answer = f(&mut store, instance).await?;
        Ok((answer, instance))
    };
    let run = crate::telemetry::scope::Timed::new(&scope.ledger, run);
    let result = match tokio::time::timeout(limit + HOST_GRACE, run).await {
        Ok(r) => r,
        Err(_) => {
            deadline.mark_hit();
            Err(wasmtime::format_err!(
                "the {what} handler ran past its hard time limit"
            ))
        }
    };
    if let Some(hint) = hint {
        hint.ended(scope.ledger.cpu());
    }
    let fuel = runtime.limits().fuel;
    let error = match result {
        Ok((r, instance)) => {
            match failed(&r) {
                None => crate::engine::ran(&store, fuel, "ok", None),
                Some(e) => crate::engine::ran(&store, fuel, "error", Some(&e)),
            }
            // The handler's own error leaves the instance in good order.
            if let Some(warm) = &target.warm {
                store.data_mut().end();
                warm.put((store, instance), served + 1);
            }
            return Ok(r);
        }
        Err(e) => e,
    };
    let outcome = crate::engine::failure_outcome(&store, &error);
    crate::engine::ran(&store, fuel, outcome, Some(&error.root_cause().to_string()));
    let function = &*target.function;
    let version = short(&target.version.hash);
    let limiter = &store.data().limiter;
    let failure = if limiter.budget_exhausted {
        tracing::warn!(
            function,
            version,
            "the host's memory budget for guests is exhausted"
        );
        CallError::Busy("the host is out of memory for functions".into())
    } else if limiter.memory_exceeded {
        tracing::warn!(
            function,
            version,
            "{what} handler exceeded its memory limit: {}",
            error.root_cause()
        );
        CallError::Failed(format!(
            "the {what} handler exceeded its memory limit of {} MiB",
            runtime.limits().memory >> 20
        ))
    } else if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        tracing::warn!(function, version, "instance pool exhausted");
        CallError::Busy("too many concurrent invocations".into())
    } else {
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => timeout(function, version, what, limit),
            _ if deadline.was_hit() => timeout(function, version, what, limit),
            Some(Trap::OutOfFuel) => {
                tracing::warn!(function, version, "{what} handler ran out of fuel");
                CallError::Failed(format!(
                    "the {what} handler exceeded its instruction budget"
                ))
            }
            _ => {
                tracing::error!(function, version, "{what} handler trapped: {error:?}");
                CallError::Failed(format!(
                    "the {what} handler trapped: {}; see the host log for details",
                    error.root_cause()
                ))
            }
        }
    };
    Err(failure)
}

fn timeout(function: &str, version: &str, what: &str, limit: Duration) -> CallError {
    tracing::warn!(function, version, "{what} handler timed out");
    CallError::Failed(format!(
        "the {what} handler did not finish within {} s",
        limit.as_secs_f64()
    ))
}

/// The first 12 characters of a version hash, as logs show it.
pub fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
