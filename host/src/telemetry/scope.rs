//! One invocation's telemetry: its span and the tree under it, and its cost.
//!
//! The tree, when spans are exported:
//!
//! ```text
//! server span (HTTP: "GET /api/pb_serverless/chat", honours an incoming traceparent)
//! └── invocation span ("chat": function, version, trigger, outcome, cost)
//!     ├── host call spans (pb.kv.get, pb.data.get-list with the collection and rows, …)
//!     ├── user spans (pb.trace.span), with host calls and fetches inside them
//!     └── fetch client spans (HTTP GET), whose traceparent goes out with the request
//! ```
//!
//! A job's run is a trace of its own, linked to the span that enqueued it;
//! a cron tick is a root; a record hook's invocation is a child of the
//! write that ran it. At most [`MAX_SPANS`] spans per invocation, with
//! attribute values of at most [`MAX_ATTR_LEN`] bytes.
//!
//! The [`Ledger`] counts the invocation's cost whether or not spans are
//! exported: CPU time (the time its task spent running), fuel (when
//! metered), peak linear memory, wall time, outbound requests and bytes,
//! rows read and written, KV, file, job and secret operations. When the
//! invocation ends ([`Scope::finish`]) the cost goes on the invocation
//! span, into the line that closes the invocation, into the hourly usage
//! and into the metrics.

use super::logs::{Level, LogRecord};
use super::Telemetry;
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceId, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Span as SdkSpan;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Spans one invocation may make (host calls, fetches, user spans); the
/// rest are not made, and the invocation span says how many.
pub const MAX_SPANS: u32 = 1000;
/// Longest attribute value kept on a span.
pub const MAX_ATTR_LEN: usize = 1024;

tokio::task_local! {
    /// The span a host call runs in, for what it starts on the way: a
    /// record hook's invocation (a child of the write), a job's trace
    /// context (stored with the job).
    static CURRENT: SpanContext;
}

/// The `traceparent` of the host call running now (none when spans are
/// not exported, or outside a host call).
pub fn current_traceparent() -> Option<String> {
    CURRENT.try_with(super::traceparent).ok()
}

/// Runs `fut` with `span` as the current span (what it starts — a record
/// hook — nests under it).
pub async fn run_in<F: Future>(span: Option<SpanContext>, fut: F) -> F::Output {
    match span {
        Some(sc) => CURRENT.scope(sc, fut).await,
        None => fut.await,
    }
}

/// The span context of the host call running now.
pub fn current_span() -> Option<SpanContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// What ran an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Http,
    Job,
    Cron,
    Hook,
    /// Evaluating a JS bundle at build time.
    Build,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::Job => "job",
            Trigger::Cron => "cron",
            Trigger::Hook => "hook",
            Trigger::Build => "build",
        }
    }

    /// OpenTelemetry's `faas.trigger`.
    fn faas(self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::Job => "pubsub",
            Trigger::Cron => "timer",
            Trigger::Hook => "datasource",
            Trigger::Build => "other",
        }
    }
}

/// What a host call is, for the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    Data,
    Kv,
    Files,
    Jobs,
    Secrets,
    Other,
}

/// The cost of one invocation, as counted so far.
#[derive(Default)]
pub struct Ledger {
    /// Nanoseconds (a poll often takes less than a microsecond).
    pub cpu_ns: AtomicU64,
    pub fuel: AtomicU64,
    pub memory_peak: AtomicU64,
    pub fetches: AtomicU64,
    pub fetch_bytes_out: AtomicU64,
    pub fetch_bytes_in: AtomicU64,
    pub rows_read: AtomicU64,
    pub rows_written: AtomicU64,
    pub kv_ops: AtomicU64,
    pub file_ops: AtomicU64,
    pub job_ops: AtomicU64,
    pub secret_ops: AtomicU64,
    /// Every `pb:*` host call of the invocation ([`Scope::call`]), what its
    /// host-call budget is checked against.
    pub host_calls: AtomicU64,
}

/// Where a host call stands against its invocation's host-call budget
/// ([`super::DEFAULT_MAX_HOST_CALLS`], `--max-host-calls`), as [`Scope::call`]
/// counted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// Within the budget: the call goes ahead.
    Within,
    /// The first call past the budget: refused with the interface's
    /// `quota` error, which the guest can handle (answer 429, stop a batch).
    Spent { limit: u64 },
    /// A call after that refusal: the guest went on regardless, and is
    /// stopped (a trap).
    Overrun { limit: u64 },
}

impl Budget {
    /// What the guest reads when refused.
    pub fn message(limit: u64) -> String {
        format!(
            "this invocation made its {limit} pb host calls (the host's --max-host-calls); \
             no more are allowed in this invocation"
        )
    }
}

/// A [`Ledger`] read at one moment (and summed into usage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    pub wall_us: u64,
    pub cpu_us: u64,
    pub fuel: u64,
    pub memory_peak: u64,
    pub fetches: u64,
    pub fetch_bytes_out: u64,
    pub fetch_bytes_in: u64,
    pub rows_read: u64,
    pub rows_written: u64,
    pub kv_ops: u64,
    pub file_ops: u64,
    pub job_ops: u64,
    pub secret_ops: u64,
}

impl Ledger {
    /// The CPU time its invocation has used so far (the time its task
    /// was polled).
    pub fn cpu(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.cpu_ns.load(Ordering::Relaxed))
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }

    fn read(&self, wall_us: u64) -> Cost {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Cost {
            wall_us,
            cpu_us: r(&self.cpu_ns) / 1000,
            fuel: r(&self.fuel),
            memory_peak: r(&self.memory_peak),
            fetches: r(&self.fetches),
            fetch_bytes_out: r(&self.fetch_bytes_out),
            fetch_bytes_in: r(&self.fetch_bytes_in),
            rows_read: r(&self.rows_read),
            rows_written: r(&self.rows_written),
            kv_ops: r(&self.kv_ops),
            file_ops: r(&self.file_ops),
            job_ops: r(&self.job_ops),
            secret_ops: r(&self.secret_ops),
        }
    }
}

impl Cost {
    /// The invocation span's `pb.cost.*` attributes (static keys: a span
    /// allocates none for them).
    fn span_fields(&self) -> [(&'static str, u64); 13] {
        [
            ("pb.cost.wall_us", self.wall_us),
            ("pb.cost.cpu_us", self.cpu_us),
            ("pb.cost.fuel", self.fuel),
            ("pb.cost.memory_peak_bytes", self.memory_peak),
            ("pb.cost.fetches", self.fetches),
            ("pb.cost.fetch_bytes_out", self.fetch_bytes_out),
            ("pb.cost.fetch_bytes_in", self.fetch_bytes_in),
            ("pb.cost.rows_read", self.rows_read),
            ("pb.cost.rows_written", self.rows_written),
            ("pb.cost.kv_ops", self.kv_ops),
            ("pb.cost.file_ops", self.file_ops),
            ("pb.cost.job_ops", self.job_ops),
            ("pb.cost.secret_ops", self.secret_ops),
        ]
    }
}

/// The server span of an inbound request (when spans are exported), or
/// just the caller's trace context (when not: log lines still carry the
/// caller's trace id).
#[derive(Default)]
pub struct ServerSpan {
    span: Option<SdkSpan>,
    /// The context invocations run under: the server span's, else the
    /// caller's.
    parent: Option<SpanContext>,
}

impl ServerSpan {
    /// For a request with `headers` (its `traceparent`/`tracestate`),
    /// named `name` (`GET /api/pb_serverless/chat`).
    pub fn start(
        telemetry: &Telemetry,
        headers: &http::HeaderMap,
        name: impl FnOnce() -> String,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> ServerSpan {
        let remote = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(|tp| {
                let state = headers.get("tracestate").and_then(|v| v.to_str().ok());
                super::parse_traceparent(tp, state)
            });
        let Some(traces) = telemetry.traces() else {
            return ServerSpan {
                span: None,
                parent: remote,
            };
        };
        let cx = match &remote {
            Some(sc) => Context::new().with_remote_span_context(sc.clone()),
            None => Context::new(),
        };
        let tracer = traces.tracer();
        let span = tracer
            .span_builder(name())
            .with_kind(SpanKind::Server)
            .with_attributes(attributes())
            .start_with_context(tracer, &cx);
        let sc = span.span_context().clone();
        ServerSpan {
            parent: Some(sc.clone()).filter(|sc| sc.is_sampled()).or(remote),
            span: Some(span).filter(|s| s.is_recording()),
        }
    }

    /// The context to run under.
    pub fn parent(&self) -> Option<SpanContext> {
        self.parent.clone()
    }

    /// Ends the span with the response's status.
    pub fn end(mut self, status: u16) {
        if let Some(mut span) = self.span.take() {
            end_server(&mut span, status);
        }
    }
}

fn end_server(span: &mut SdkSpan, status: u16) {
    span.set_attribute(KeyValue::new("http.response.status_code", status as i64));
    if status >= 500 {
        span.set_status(Status::error(format!("HTTP {status}")));
    }
    span.end();
}

/// How an invocation starts.
pub struct Start {
    pub function: Arc<str>,
    pub version: Option<Arc<str>>,
    pub trigger: Trigger,
    /// The span it runs under (a request's server span, the write that
    /// ran a hook), or just the caller's context.
    pub parent: Option<SpanContext>,
    /// The request's server span, ended with the invocation.
    pub server: Option<ServerSpan>,
    /// Spans it is linked to (the span that enqueued a job).
    pub links: Vec<SpanContext>,
    /// More attributes of the invocation span (the job's id, the cron
    /// schedule, …), built only when spans are exported.
    pub attributes: Option<Box<dyn FnOnce() -> Vec<KeyValue> + Send>>,
}

impl Start {
    pub fn new(function: Arc<str>, trigger: Trigger) -> Start {
        Start {
            function,
            version: None,
            trigger,
            parent: None,
            server: None,
            links: Vec::new(),
            attributes: None,
        }
    }
}

/// One invocation's telemetry (shared by its store, its stdout/stderr and
/// its outbound requests).
pub struct Scope {
    telemetry: Telemetry,
    pub function: Arc<str>,
    pub version: Option<Arc<str>>,
    pub trigger: Trigger,
    trace_id: OnceLock<TraceId>,
    /// The invocation span's context, when it is recorded.
    cx: Option<SpanContext>,
    span: Mutex<Option<SdkSpan>>,
    server: Mutex<Option<SdkSpan>>,
    /// Open user spans, innermost last.
    stack: Mutex<Vec<SpanContext>>,
    spans_left: AtomicU32,
    started: Instant,
    /// The HTTP status answered (0 = none yet).
    status: AtomicU16,
    finished: std::sync::atomic::AtomicBool,
    /// Parties still to report before the invocation ends: the run, and
    /// for HTTP the answer.
    pending: std::sync::atomic::AtomicU8,
    outcome: Mutex<Option<(String, Option<String>)>>,
    pub ledger: Ledger,
    /// `pb:*` host calls it may make ([`Scope::call`]).
    max_host_calls: u64,
    live: Arc<AtomicI64>,
}

impl Scope {
    pub fn new(telemetry: &Telemetry, start: Start) -> Arc<Scope> {
        let Start {
            function,
            version,
            trigger,
            parent,
            server,
            links,
            attributes,
        } = start;
        let trace_id = OnceLock::new();
        let mut span = None;
        let mut server_span = server.and_then(|s| s.span);
        if let Some(traces) = telemetry.traces() {
            let cx = match &parent {
                Some(sc) => Context::new().with_remote_span_context(sc.clone()),
                None => Context::new(),
            };
            let recorded = parent.as_ref().is_none_or(|p| p.is_sampled());
            if recorded {
                let tracer = traces.tracer();
                // Room for what `finish` adds (outcome, cost, the span
                // limit), so the span's attribute list is allocated once.
                let mut attrs = Vec::with_capacity(20);
                attrs.extend([
                    KeyValue::new("faas.name", function.clone()),
                    KeyValue::new("faas.trigger", trigger.faas()),
                    KeyValue::new("pb.trigger", trigger.as_str()),
                ]);
                if let Some(v) = &version {
                    attrs.push(KeyValue::new("faas.version", v.clone()));
                }
                if let Some(more) = attributes {
                    attrs.extend(more());
                }
                let s = tracer
                    .span_builder(function.to_string())
                    .with_kind(match trigger {
                        Trigger::Job => SpanKind::Consumer,
                        _ => SpanKind::Internal,
                    })
                    .with_attributes(attrs)
                    .with_links(links.into_iter().map(Link::with_context).collect())
                    .start_with_context(tracer, &cx);
                if s.is_recording() {
                    span = Some(s);
                }
            }
        }
        if let Some(p) = &parent {
            let _ = trace_id.set(p.trace_id());
        }
        let cx = span.as_ref().map(|s| s.span_context().clone());
        if let Some(sc) = &cx {
            let _ = trace_id.set(sc.trace_id());
        }
        if span.is_none() {
            // Nothing to nest it under: end it with the invocation anyway.
            server_span = server_span.filter(|s| s.is_recording());
        }
        let live = telemetry.live_counter().clone();
        live.fetch_add(1, Ordering::Relaxed);
        Arc::new(Scope {
            telemetry: telemetry.clone(),
            function,
            version,
            trigger,
            trace_id,
            cx,
            span: Mutex::new(span),
            server: Mutex::new(server_span),
            stack: Mutex::new(Vec::new()),
            spans_left: AtomicU32::new(MAX_SPANS),
            started: Instant::now(),
            status: AtomicU16::new(0),
            finished: Default::default(),
            pending: std::sync::atomic::AtomicU8::new(if trigger == Trigger::Http { 2 } else { 1 }),
            outcome: Mutex::new(None),
            ledger: Ledger::default(),
            max_host_calls: telemetry.max_host_calls(),
            live,
        })
    }

    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The W3C trace id, 32 hex digits: the caller's, the invocation span's,
    /// or (when neither) one made at first use.
    pub fn trace_id(&self) -> String {
        self.trace_id
            .get_or_init(|| TraceId::from_bytes(rand::random::<u128>().to_be_bytes()))
            .to_string()
    }

    /// The span id of the innermost open span (none when not recorded).
    pub fn span_id(&self) -> Option<String> {
        self.current().map(|sc| sc.span_id().to_string())
    }

    /// Whether spans of this invocation are recorded.
    pub fn recording(&self) -> bool {
        self.cx.is_some()
    }

    /// The innermost open span: the newest open user span, else the
    /// invocation span.
    pub fn current(&self) -> Option<SpanContext> {
        self.cx.as_ref()?;
        lock(&self.stack)
            .last()
            .cloned()
            .or_else(|| self.cx.clone())
    }

    fn take_span(&self) -> bool {
        self.spans_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// A child span of the innermost open span, if spans are recorded and
    /// the budget allows.
    pub fn child(
        &self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        kind: SpanKind,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Option<SdkSpan> {
        let parent = self.current()?;
        if !self.take_span() {
            return None;
        }
        let tracer = self.telemetry.traces()?.tracer();
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes())
            .start_with_context(tracer, &Context::new().with_remote_span_context(parent));
        Some(span)
    }

    /// A host call: counted in the ledger (and against the invocation's
    /// host-call budget, see [`Call::budget`]), and a child span when
    /// recorded.
    pub fn call(&self, name: &'static str, kind: CallKind) -> Call<'_> {
        let l = &self.ledger;
        let made = l.host_calls.fetch_add(1, Ordering::Relaxed) + 1;
        let limit = self.max_host_calls;
        let budget = match made.checked_sub(limit) {
            None | Some(0) => Budget::Within,
            Some(1) => Budget::Spent { limit },
            Some(_) => Budget::Overrun { limit },
        };
        match kind {
            CallKind::Kv => Ledger::add(&l.kv_ops, 1),
            CallKind::Files => Ledger::add(&l.file_ops, 1),
            CallKind::Jobs => Ledger::add(&l.job_ops, 1),
            CallKind::Secrets => Ledger::add(&l.secret_ops, 1),
            CallKind::Data | CallKind::Other => {}
        }
        Call {
            scope: self,
            span: self.child(name, SpanKind::Internal, Vec::new),
            budget,
        }
    }

    /// Opens a user span (`pb.trace.span`): later spans nest inside it
    /// until [`Scope::close`].
    pub fn open(&self, name: &str, attributes: Vec<KeyValue>) -> Option<SdkSpan> {
        let span = self.child(name.to_string(), SpanKind::Internal, || attributes)?;
        lock(&self.stack).push(span.span_context().clone());
        Some(span)
    }

    /// Closes a user span opened by [`Scope::open`].
    pub fn close(&self, span: &SdkSpan) {
        let id = span.span_context().span_id();
        let mut stack = lock(&self.stack);
        if let Some(i) = stack.iter().rposition(|sc| sc.span_id() == id) {
            stack.remove(i);
        }
    }

    /// The run is over: `outcome` is `ok`, `error` (the handler's own
    /// error) or how the host stopped it (`timeout`, `memory`, `trap`, …).
    pub fn ran(&self, outcome: &str, error: Option<&str>) {
        *lock(&self.outcome) = Some((outcome.to_string(), error.map(str::to_string)));
        self.arrive();
    }

    /// HTTP: the client got `status`.
    pub fn answered(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
        self.arrive();
    }

    fn arrive(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let (outcome, error) = lock(&self.outcome)
                .take()
                .unwrap_or_else(|| ("ok".into(), None));
            self.finish(&outcome, error.as_deref());
        }
    }

    /// Ends the invocation (once): its span with outcome and cost, the
    /// server span, the closing log line, usage and metrics.
    fn finish(&self, outcome: &str, error: Option<&str>) {
        if self.finished.swap(true, Ordering::Relaxed) {
            return;
        }
        let cost = self.ledger.read(self.started.elapsed().as_micros() as u64);
        let status = self.status.load(Ordering::Relaxed);
        let failed = outcome != "ok";
        if let Some(mut span) = lock(&self.span).take() {
            span.set_attribute(KeyValue::new("pb.outcome", outcome_value(outcome)));
            // A count that is zero is left off (most invocations touch
            // few of the capabilities): smaller spans to build, send
            // and store.
            for (key, value) in cost.span_fields() {
                if value > 0 {
                    span.set_attribute(KeyValue::new(key, value.min(i64::MAX as u64) as i64));
                }
            }
            let skipped = MAX_SPANS - self.spans_left.load(Ordering::Relaxed).min(MAX_SPANS);
            if skipped >= MAX_SPANS {
                span.set_attribute(KeyValue::new("pb.spans_limited", true));
            }
            if let Some(e) = error {
                span.set_status(Status::error(clip(e.to_string())));
            }
            span.end();
        }
        if let Some(mut server) = lock(&self.server).take() {
            end_server(&mut server, if status == 0 { 500 } else { status });
        }
        let t = &self.telemetry;
        let seconds = cost.wall_us as f64 / 1e6;
        match self.trigger {
            Trigger::Http => t.metrics().request(&self.function, status, seconds),
            Trigger::Job => t.metrics().job_run(&self.function, outcome, seconds),
            _ => {}
        }
        if self.trigger == Trigger::Build {
            return;
        }
        t.metrics()
            .invocation(&self.function, self.trigger.as_str(), outcome);
        t.usage()
            .add(&self.function, hour_of(SystemTime::now()), &cost, failed);
        let trace_id = self.trace_id();
        let version = self.version.as_deref().map(short);
        let level = if failed { Level::Warn } else { Level::Info };
        let closing = Closing {
            trigger: self.trigger.as_str(),
            outcome: outcome.to_string(),
            status,
            error: error.map(|e| clip(e.to_string())),
            cost,
        };
        if failed {
            tracing::warn!(target: "pbs::invocation", function = %self.function, version, trigger = closing.trigger, outcome, status, trace_id, wall_us = cost.wall_us, cpu_us = cost.cpu_us, fuel = cost.fuel, memory_peak_bytes = cost.memory_peak, fetches = cost.fetches, fetch_bytes_out = cost.fetch_bytes_out, fetch_bytes_in = cost.fetch_bytes_in, rows_read = cost.rows_read, rows_written = cost.rows_written, kv_ops = cost.kv_ops, file_ops = cost.file_ops, job_ops = cost.job_ops, secret_ops = cost.secret_ops, error = closing.error.as_deref().unwrap_or(""), "invocation finished");
        } else {
            tracing::info!(target: "pbs::invocation", function = %self.function, version, trigger = closing.trigger, outcome, status, trace_id, wall_us = cost.wall_us, cpu_us = cost.cpu_us, fuel = cost.fuel, memory_peak_bytes = cost.memory_peak, fetches = cost.fetches, fetch_bytes_out = cost.fetch_bytes_out, fetch_bytes_in = cost.fetch_bytes_in, rows_read = cost.rows_read, rows_written = cost.rows_written, kv_ops = cost.kv_ops, file_ops = cost.file_ops, job_ops = cost.job_ops, secret_ops = cost.secret_ops, "invocation finished");
        }
        t.logs().push(LogRecord {
            time_ms: now_ms(),
            level,
            component: "host",
            function: self.function.clone(),
            version: self.version.clone(),
            trace_id: Some(trace_id),
            span_id: self.cx.as_ref().map(|sc| sc.span_id().to_string()),
            msg: "invocation finished".into(),
            fields: super::logs::Fields::Closing(Box::new(closing)),
        });
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        if !self.finished.load(Ordering::Relaxed) {
            // Dropped before its run was over (a client that went away):
            // it still ends, and counts.
            let _ = self
                .status
                .compare_exchange(0, 499, Ordering::Relaxed, Ordering::Relaxed);
            let error = lock(&self.outcome).take().and_then(|(_, e)| e);
            self.finish("cancelled", error.as_deref());
        }
    }
}

/// An outcome as an attribute value: the usual ones without an allocation.
fn outcome_value(outcome: &str) -> opentelemetry::Value {
    const USUAL: [&str; 4] = ["ok", "error", "timeout", "cancelled"];
    match USUAL.iter().find(|&&u| u == outcome) {
        Some(&u) => u.into(),
        None => outcome.to_string().into(),
    }
}

/// What the line closing an invocation says beyond the common fields.
#[derive(Clone, Debug, Serialize)]
pub struct Closing {
    pub trigger: &'static str,
    pub outcome: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub cost: Cost,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// A host call under way (see [`Scope::call`]).
pub struct Call<'a> {
    scope: &'a Scope,
    span: Option<SdkSpan>,
    budget: Budget,
}

impl Call<'_> {
    /// Where this call stands against the invocation's host-call budget:
    /// the capability refuses it (`Spent`) or traps (`Overrun`), see
    /// [`crate::caps::error::budget`].
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Whether the call has a span (attributes are worth building).
    pub fn recording(&self) -> bool {
        self.span.is_some()
    }

    pub fn attr(&mut self, key: &'static str, value: impl Into<opentelemetry::Value>) {
        if let Some(span) = &mut self.span {
            span.set_attribute(KeyValue::new(key, value));
        }
    }

    /// A string attribute, clipped to [`MAX_ATTR_LEN`].
    pub fn attr_str(&mut self, key: &'static str, value: &str) {
        if let Some(span) = &mut self.span {
            span.set_attribute(KeyValue::new(key, clip(value.to_string())));
        }
    }

    /// Rows the call read and wrote.
    pub fn rows(&mut self, read: u64, written: u64) {
        let l = &self.scope.ledger;
        if read > 0 {
            Ledger::add(&l.rows_read, read);
        }
        if written > 0 {
            Ledger::add(&l.rows_written, written);
        }
        if let Some(span) = &mut self.span {
            span.set_attribute(KeyValue::new("pb.rows", (read + written) as i64));
        }
    }

    /// Runs `fut` with this call's span as the current one (what it starts
    /// — a hook, a job — is nested under or linked to it).
    pub async fn run<F: Future>(&self, fut: F) -> F::Output {
        match &self.span {
            Some(span) => CURRENT.scope(span.span_context().clone(), fut).await,
            None => fut.await,
        }
    }

    /// Ends the call; `error` is the WIT error case when it failed.
    pub fn end(mut self, error: Option<&str>) {
        if let Some(mut span) = self.span.take() {
            if let Some(case) = error {
                span.set_attribute(KeyValue::new("pb.error", case.to_string()));
                span.set_status(Status::error(case.to_string()));
            }
            span.end();
        }
    }
}

/// Counts the time `fut` spends being polled into the ledger's CPU time.
pub struct Timed<'a, F> {
    fut: Pin<Box<F>>,
    ledger: &'a Ledger,
}

impl<'a, F: Future> Timed<'a, F> {
    pub fn new(ledger: &'a Ledger, fut: F) -> Self {
        Timed {
            fut: Box::pin(fut),
            ledger,
        }
    }
}

impl<F: Future> Future for Timed<'_, F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let t0 = Instant::now();
        let polled = self.fut.as_mut().poll(cx);
        Ledger::add(&self.ledger.cpu_ns, t0.elapsed().as_nanos() as u64);
        polled
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `s` cut to [`MAX_ATTR_LEN`] bytes on a character boundary.
pub fn clip(mut s: String) -> String {
    if s.len() > MAX_ATTR_LEN {
        let mut end = MAX_ATTR_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// The first 12 characters of a version hash, as logs show it.
pub fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The start of the UTC hour `t` falls in, in ms since the epoch.
pub fn hour_of(t: SystemTime) -> i64 {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    ms - ms.rem_euclid(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_call_budget_refuses_once_then_stops() {
        let telemetry = Telemetry::default();
        telemetry.set_max_host_calls(2);
        let scope = Scope::new(&telemetry, Start::new("f".into(), Trigger::Job));
        let budgets: Vec<Budget> = (0..4)
            .map(|_| scope.call("pb.kv.get", CallKind::Kv).budget())
            .collect();
        assert_eq!(
            budgets,
            [
                Budget::Within,
                Budget::Within,
                Budget::Spent { limit: 2 },
                Budget::Overrun { limit: 2 },
            ]
        );
        assert_eq!(scope.ledger.kv_ops.load(Ordering::Relaxed), 4);
        // The next invocation starts with the whole budget.
        let next = Scope::new(&telemetry, Start::new("f".into(), Trigger::Job));
        assert_eq!(
            next.call("pb.data.get-one", CallKind::Data).budget(),
            Budget::Within
        );
    }
}
