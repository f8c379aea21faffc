//! The data of one invocation's `Store`: WASI, wasi:http, the resource
//! table, limits, and each capability's per-invocation context.

use super::limits::{Deadline, InstanceLimiter, MemoryBudget, MAX_TABLE_ELEMENTS};
use crate::caps::http_out::OutboundPolicy;
use crate::caps::secrets::SecretAccess;
use crate::caps::secrets::SecretsCtx;
use crate::caps::services::Services;
use crate::caps::trace::output::GuestOutput;
use crate::caps::trace::TraceCtx;
use crate::config::Limits;
use crate::telemetry::Scope;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct Invocation {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub outbound: OutboundPolicy,
    pub limiter: InstanceLimiter,
    pub deadline: Arc<Deadline>,
    pub trace: TraceCtx,
    /// The database and data folder (none in single-component mode).
    pub services: Option<Arc<Services>>,
    /// The deployment version (content hash) this invocation runs; none
    /// at build time. pb:jobs pins the jobs it enqueues to it.
    pub version: Option<Arc<str>>,
    /// pb:secrets: the values read so far.
    pub secrets: SecretsCtx,
    /// Record hooks: how deep in hooks this invocation runs, and inside a
    /// before-hook the write's transaction, which its pb:data calls join.
    pub hook: crate::caps::data::hooks::Origin,
    /// The guest's stdout and stderr (also held by `wasi`), so a reused
    /// instance's output goes to the invocation it serves now.
    output: [GuestOutput; 2],
    /// Whether it is long-running (an HTTP invocation then finishes in the
    /// long lane, see `engine::lanes`).
    pub turn: Arc<super::lanes::Turn>,
}

impl Invocation {
    pub fn new(
        scope: Arc<Scope>,
        limits: &Limits,
        outbound: OutboundPolicy,
        deadline: Arc<Deadline>,
        budget: Arc<MemoryBudget>,
        services: Option<Arc<Services>>,
        turn: Arc<super::lanes::Turn>,
    ) -> Self {
        // No preopened directory, no environment, no sockets, no name
        // lookups: a guest sees nothing of the host it runs on. Its stdout
        // and stderr become log lines of the host, within a budget.
        let version = scope.version.clone();
        let trace = TraceCtx::new(scope.clone());
        let (stdout, stderr) = GuestOutput::pair(scope, trace.redactor.clone());
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(super::MAX_RESOURCES);
        let mut invocation = Invocation {
            table,
            wasi,
            http: WasiHttpCtx::new(),
            outbound: OutboundPolicy::default(),
            limiter: InstanceLimiter {
                memory_limit: limits.memory,
                memory_used: 0,
                memory_exceeded: false,
                budget,
                budget_exhausted: false,
                tables_limit: MAX_TABLE_ELEMENTS,
            },
            deadline,
            trace,
            version,
            services,
            secrets: SecretsCtx::default(),
            hook: Default::default(),
            output: [stdout, stderr],
            turn,
        };
        invocation.set_outbound(outbound);
        invocation
    }

    /// Starts the next invocation in a reused instance: everything that is
    /// per request is new; memory, resources, the source map and the
    /// redactor (the secret values this instance has seen, which its
    /// globals may still hold) stay.
    pub fn begin_next(
        &mut self,
        scope: Arc<Scope>,
        deadline: Arc<Deadline>,
        outbound: OutboundPolicy,
        turn: Arc<super::lanes::Turn>,
    ) {
        self.turn = turn;
        for output in &self.output {
            output.rebind(scope.clone());
        }
        self.version = scope.version.clone();
        self.trace.function = scope.function.clone();
        self.trace.scope = scope;
        self.deadline = deadline;
        self.secrets = SecretsCtx::default();
        self.hook = Default::default();
        self.limiter.memory_exceeded = false;
        self.limiter.budget_exhausted = false;
        self.set_outbound(outbound);
    }

    /// Lets go of what only the invocation that ended needed, before the
    /// instance waits for its next one: a before-hook's transaction (which
    /// must not be held open by an idle instance) and the secrets read.
    pub fn end(&mut self) {
        self.hook = Default::default();
        self.secrets = SecretsCtx::default();
    }

    /// Sets the outbound policy, giving it this invocation's access to
    /// secrets (for `{{secret:NAME}}` placeholders).
    pub fn set_outbound(&mut self, outbound: OutboundPolicy) {
        self.outbound = outbound
            .with_secrets(SecretAccess {
                services: self.services.clone(),
                redactor: self.trace.redactor.clone(),
            })
            .with_telemetry(self.trace.scope.clone());
    }
}

impl WasiView for Invocation {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Invocation {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
