//! The wasmtime Engine every invocation runs on: pooling allocator, epoch
//! interruption for wall-clock limits, optional fuel, and the Linker with
//! every capability. Each invocation is a fresh `Store` + instance made from
//! a cached `InstancePre` (see `deploy::Deployed`).

pub mod compile_cache;
pub mod lanes;
mod limits;
mod state;
pub mod warm;

pub use limits::{Deadline, InstanceLimiter, MemoryBudget};
pub use state::Invocation;

use crate::caps::http_out::OutboundPolicy;
use crate::caps::services::Services;
use crate::config::Limits;
use crate::telemetry::{Scope, Start, Telemetry, Trigger};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
};

/// How often the epoch advances while guests run. A running guest yields
/// to other tasks at every tick, so a busy guest cannot starve the host's
/// other requests, and its deadline is checked with this granularity. 1 ms
/// rather than 5: with more CPU-bound guests than cores, a quiet tenant's
/// p99 fell ~3× (`bench/noisy.sh`).
pub const EPOCH_TICK: Duration = Duration::from_millis(1);
/// The tick while no invocation is alive: an idle host wakes 200 times a
/// second, not 1,000 (0.25% of a core rather than 0.9%).
pub const IDLE_EPOCH_TICK: Duration = Duration::from_millis(5);
/// Core instances one component may contain (adapters, shims, libraries).
pub const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Linear memories one component may contain.
pub const MAX_MEMORIES_PER_COMPONENT: u32 = 4;
/// Tables one component may contain.
pub const MAX_TABLES_PER_COMPONENT: u32 = 32;
/// Resource handles one invocation may hold at once.
pub const MAX_RESOURCES: usize = 10_000;
/// Bytes of a linear memory kept resident between instances instead of
/// being decommitted: a fresh instance then takes no page faults there.
/// With `PAGEMAP_SCAN` (Linux 6.7+) only the pages a guest dirtied are
/// reset, so a generous value costs nothing for small guests.
pub const MEMORY_KEEP_RESIDENT: usize = 16 << 20;
/// Bytes of an async stack kept resident between invocations.
pub const STACK_KEEP_RESIDENT: usize = 128 << 10;
/// Native stack a guest may use (wasmtime's default is 512 KiB). QuickJS
/// built for WASI has its own stack check compiled out, so JS recursion
/// ends where either stack does: at 512 KiB that was ~700 levels of a
/// plain recursive function (Node allows ~10,000); at 2 MiB ~2,400.
/// A stack slot keeps the pages a deep invocation touched (wasmtime gives
/// them back only with `async_stack_zeroing`, which costs every invocation
/// a 128 KiB memset, ~5 µs): 2 MiB bounds what one slot can hold.
pub const MAX_WASM_STACK: usize = 2 << 20;
/// Each async stack: the guest's share plus room for the host's calls
/// (wasmtime's default leaves them 1.5 MiB).
pub const ASYNC_STACK_SIZE: usize = MAX_WASM_STACK + (2 << 20);

/// The shared runtime: engine, linker and limits. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    /// The engine's settings, for [`Runtime::compile`]'s engines.
    compile_config: Config,
    linker: Linker<Invocation>,
    limits: Limits,
    /// The host-wide allowlist (`--allow-host`), added to each function's own.
    allowed_hosts: Vec<String>,
    outbound: OutboundPolicy,
    budget: Arc<MemoryBudget>,
    /// Idle instances kept for reuse, host-wide.
    warm: Arc<warm::WarmBudget>,
    services: std::sync::OnceLock<Arc<Services>>,
    telemetry: std::sync::OnceLock<Telemetry>,
    /// The telemetry's count of live invocations, for the epoch ticker.
    live: Arc<std::sync::OnceLock<Arc<std::sync::atomic::AtomicI64>>>,
}

impl Runtime {
    pub fn new(limits: Limits, allowed_hosts: Vec<String>) -> anyhow::Result<Self> {
        tune_allocator();
        let mut config = engine_config(&limits);
        config.enable_incremental_compilation(compile_cache::shared())?;
        let engine = Engine::new(&config)?;
        // Compiling needs no pool of instances.
        let mut compile_config = config.clone();
        compile_config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        let mut linker = Linker::new(&engine);
        crate::caps::add_to_linker(&mut linker)?;
        let runtime = Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                compile_config,
                linker,
                outbound: OutboundPolicy::try_new(allowed_hosts.clone().into())?,
                allowed_hosts,
                budget: Arc::new(MemoryBudget::new(limits.memory_budget)),
                warm: warm::WarmBudget::new(limits.max_warm),
                services: std::sync::OnceLock::new(),
                telemetry: std::sync::OnceLock::new(),
                live: Default::default(),
                limits,
            }),
        };
        spawn_epoch_ticker(&runtime.inner.engine, runtime.inner.live.clone());
        Ok(runtime)
    }

    /// The outbound policy of a function whose own allowlist is `function`
    /// (on top of the host-wide one); an error names each malformed entry.
    pub fn outbound_policy(&self, function: &[String]) -> anyhow::Result<OutboundPolicy> {
        if function.is_empty() {
            return Ok(self.inner.outbound.clone());
        }
        let all: Vec<String> = self
            .inner
            .allowed_hosts
            .iter()
            .chain(function)
            .cloned()
            .collect();
        OutboundPolicy::try_new(all.into())
    }

    /// Gives every later invocation the database and data folder (once).
    pub fn set_services(&self, services: Services) {
        let _ = self.inner.services.set(Arc::new(services));
    }

    /// Gives every later invocation the host's telemetry (once; before,
    /// and without, it is all off but the ledger, logs and metrics).
    pub fn set_telemetry(&self, telemetry: Telemetry) {
        self.attach(&telemetry);
        let _ = self.inner.telemetry.set(telemetry);
    }

    pub fn telemetry(&self) -> &Telemetry {
        self.inner.telemetry.get_or_init(|| {
            let telemetry = Telemetry::default();
            self.attach(&telemetry);
            telemetry
        })
    }

    /// Links `telemetry` to this engine: its count of live invocations
    /// paces the epoch ticker, and its metrics report the instance pool.
    fn attach(&self, telemetry: &Telemetry) {
        let _ = self.inner.live.set(telemetry.live_counter().clone());
        telemetry.metrics().watch_pool(&self.inner.engine);
    }

    /// The database, data folder and secrets key (none in single-component mode).
    pub fn services(&self) -> Option<&Arc<Services>> {
        self.inner.services.get()
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Compiles a component for this runtime's engine (blocking; seconds
    /// for the JS engine).
    ///
    /// The compiling is done by an engine of its own, with the same
    /// settings, dropped afterwards, and the code moves over serialized:
    /// wasmtime keeps each compiler thread's Cranelift and register
    /// allocator buffers in the engine that compiled, about 40 MB after a
    /// JS function, which a host that deploys all day (`pbs dev`) would
    /// otherwise hold for good.
    pub fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Component> {
        Ok(self.compile_with_artifact(bytes)?.0)
    }

    /// [`Self::compile`], also giving the serialized code (what a deploy
    /// stores, so that a restart or another host need not compile again):
    /// it was made to move the code between engines anyway.
    pub fn compile_with_artifact(&self, bytes: &[u8]) -> wasmtime::Result<(Component, Vec<u8>)> {
        let compiler = Engine::new(&self.inner.compile_config)?;
        let artifact = Component::new(&compiler, bytes)?.serialize()?;
        drop(compiler);
        // SAFETY: `artifact` was serialized just above, by an engine with
        // this engine's settings; nothing else could have written it.
        let component = unsafe { Component::deserialize(&self.inner.engine, &artifact) };
        release_memory();
        Ok((component?, artifact))
    }

    pub fn linker(&self) -> &Linker<Invocation> {
        &self.inner.linker
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The memory budget shared by all instances.
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.inner.budget
    }

    /// The pool of idle instances of a function deployed with `reuse`
    /// (requests per instance, capped by the host's `max_reuse`); none
    /// when reuse is off for it or on this host.
    pub fn warm_pool<T: Send + 'static>(&self, reuse: u32) -> Option<Arc<warm::WarmPool<T>>> {
        let limits = &self.inner.limits;
        let max_requests = reuse.min(limits.max_reuse);
        (max_requests > 1).then(|| {
            warm::WarmPool::new(
                max_requests,
                limits.max_per_function as usize,
                self.inner.warm.clone(),
            )
        })
    }

    /// Idle instances kept for reuse on the host now.
    pub fn warm_idle(&self) -> usize {
        self.inner.warm.idle()
    }

    /// A fresh store for a build-time evaluation of `function`.
    pub fn new_store(&self, function: Arc<str>, deadline: Arc<Deadline>) -> Store<Invocation> {
        let scope = Scope::new(self.telemetry(), Start::new(function, Trigger::Build));
        self.new_store_in(scope, deadline)
    }

    /// A fresh store for one invocation (`scope`: its function, version,
    /// trigger and place in a trace), with its limits set.
    pub fn new_store_in(&self, scope: Arc<Scope>, deadline: Arc<Deadline>) -> Store<Invocation> {
        let limits = &self.inner.limits;
        let outbound = self.inner.outbound.for_invocation(scope.function.clone());
        let state = Invocation::new(
            scope,
            limits,
            outbound,
            deadline,
            self.inner.budget.clone(),
            self.inner.services.get().cloned(),
            lanes::Turn::current(),
        );
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        self.arm(&mut store);
        store.epoch_deadline_callback(|ctx| {
            let data = ctx.data();
            if data.deadline.expired() {
                data.deadline.mark_hit();
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            // Past its quick start, its task moves to the long lane at
            // this yield (see `lanes`).
            data.turn.tick(data.trace.scope.ledger.cpu());
            // tokio's yield_now puts the task at the back of the run
            // queue; a plain self-wake would land in the LIFO slot and
            // the busy guest would be polled again before others.
            Ok(wasmtime::UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
        store
    }
}

impl Runtime {
    /// Makes `store`, which kept an instance from an earlier request that
    /// ended well, the store of a new invocation: its own telemetry scope,
    /// deadline, fuel, outbound budget and capability state; the instance's
    /// memory, resources and redactor (secret values it has seen) stay.
    pub fn reuse_store(
        &self,
        store: &mut Store<Invocation>,
        scope: Arc<Scope>,
        deadline: Arc<Deadline>,
    ) {
        let outbound = self.inner.outbound.for_invocation(scope.function.clone());
        store
            .data_mut()
            .begin_next(scope, deadline, outbound, lanes::Turn::current());
        self.arm(store);
    }

    /// Sets a store's per-invocation budgets: fuel, and a check at every
    /// epoch tick (yield to other tasks, or stop the guest once its
    /// deadline has passed).
    fn arm(&self, store: &mut Store<Invocation>) {
        if let Some(fuel) = self.inner.limits.fuel {
            // Cannot fail: fuel is enabled in the config whenever set here.
            let _ = store.set_fuel(fuel);
        }
        store.set_epoch_deadline(1);
    }
}

/// Records how an invocation's run ended: its peak memory and fuel into
/// the ledger, then [`Scope::ran`] (the invocation ends once its trigger
/// has also answered, for HTTP).
pub fn ran(store: &Store<Invocation>, fuel_limit: Option<u64>, outcome: &str, error: Option<&str>) {
    let data = store.data();
    let ledger = &data.trace.scope.ledger;
    crate::telemetry::Ledger::add(&ledger.memory_peak, data.limiter.memory_used as u64);
    if let Some(limit) = fuel_limit {
        let left = store.get_fuel().unwrap_or(0);
        crate::telemetry::Ledger::add(&ledger.fuel, limit.saturating_sub(left));
    }
    data.trace.scope.ran(outcome, error);
}

/// A short name for how a run that returned `Err` ended: `memory`,
/// `busy`, `timeout`, `fuel` or `trap`.
pub fn failure_outcome(store: &Store<Invocation>, e: &wasmtime::Error) -> &'static str {
    let data = store.data();
    if data.limiter.memory_exceeded {
        "memory"
    } else if data.limiter.budget_exhausted
        || e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
    {
        "busy"
    } else if data.deadline.was_hit()
        || matches!(
            e.downcast_ref::<wasmtime::Trap>(),
            Some(wasmtime::Trap::Interrupt)
        )
    {
        "timeout"
    } else if matches!(
        e.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::OutOfFuel)
    ) {
        "fuel"
    } else {
        "trap"
    }
}

/// Gives the memory a compilation freed back to the system.
///
/// Cranelift compiles on a pool of threads, and glibc's allocator keeps an
/// arena per thread that holds on to what was freed there: after a few
/// deploys the process kept 100–230 MB it no longer used. `malloc_trim`
/// returns the free pages of every arena. Called after each compile, never
/// on the request path.
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Makes the allocator give memory back as it is freed. glibc's trim
/// threshold otherwise grows with the largest block freed (up to 64 MB per
/// arena), and `malloc_trim` shrinks no arena but the main one: the
/// compiler threads' arenas kept 100–200 MB after a few deploys. Fixed
/// thresholds (which also stop the mmap threshold from moving) make every
/// arena shrink once 1 MiB is free at its top, and blocks of 1 MiB and more
/// (a guest's big argument, a compile's buffers) get pages of their own:
/// left to move, the mmap threshold rose to the size of a 24 MiB argument a
/// guest passed, and the next such copies stayed resident in a heap (+59
/// MiB after 100 oversized arguments, `hardening_hosts::host_rss_…`).
/// Called by [`Runtime::new`].
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's parameters.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn engine_config(limits: &Limits) -> Config {
    let mut config = Config::new();
    config.profiler(profiler());
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(limits.fuel.is_some());
    config.max_wasm_stack(MAX_WASM_STACK);
    config.async_stack_size(ASYNC_STACK_SIZE);

    let n = limits.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(4))
        .total_memories(n)
        .total_tables(n.saturating_mul(2))
        .total_stacks(n)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .max_memory_size(limits.memory)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(STACK_KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// `PBS_PROFILER=perfmap` (or `jitdump`) names the guests' compiled
/// functions for `perf` (`/tmp/perf-PID.map`), as `wasmtime --profile`
/// does; off by default.
fn profiler() -> wasmtime::ProfilingStrategy {
    match std::env::var("PBS_PROFILER").as_deref() {
        Ok("perfmap") => wasmtime::ProfilingStrategy::PerfMap,
        Ok("jitdump") => wasmtime::ProfilingStrategy::JitDump,
        _ => wasmtime::ProfilingStrategy::None,
    }
}

/// One thread advances the epoch for every store of the engine, as long
/// as the engine lives (a store keeps it, so a guest still running when its
/// runtime is dropped is still stopped at its deadline); fast while the
/// runtime's telemetry counts live invocations.
fn spawn_epoch_ticker(
    engine: &Engine,
    live: Arc<std::sync::OnceLock<Arc<std::sync::atomic::AtomicI64>>>,
) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("pbs-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                let busy = live
                    .get()
                    .is_some_and(|n| n.load(std::sync::atomic::Ordering::Relaxed) > 0);
                std::thread::sleep(if busy { EPOCH_TICK } else { IDLE_EPOCH_TICK });
            }
        })
        .expect("spawn the epoch thread");
}
