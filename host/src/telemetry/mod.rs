//! Observability: what every layer reports to, and what the admin API and
//! an OpenTelemetry collector read back.
//!
//! | file | what |
//! |---|---|
//! | [`config`] | the settings: standard `OTEL_*` variables and `pbs serve` flags |
//! | [`export`] | the OTLP/HTTP (protobuf) pipeline: our batch span processor (never blocks, counts what it drops), the exporters on the host's HTTP client |
//! | [`otlp`] | finished spans written straight to OTLP protobuf (no intermediate message structs) |
//! | [`scope`] | one invocation: its span, the span tree under it (host calls, fetches, user spans), its cost [`Ledger`] |
//! | [`log_writer`] | the host log's writer: lines gathered and written to stderr in batches by a thread of its own |
//! | [`logs`] | log lines: the per-function buffer `pbs logs` reads and follows, the JSON line format |
//! | [`metrics`] | request, instance, job and cron metrics: OTLP and Prometheus text |
//! | [`usage`] | the cost ledger summed per function per hour, in the database (`pbs_usage`) |
//!
//! Off unless configured: without an OTLP endpoint no span is built (a host
//! call costs two atomic adds for the ledger); the ledger, the log buffer
//! and the metrics are always on. This module sits below the capabilities
//! and above the store: it may use `store` and `common`, nothing else of ours.

pub mod config;
pub mod export;
pub mod log_writer;
pub mod logs;
pub mod metrics;
pub mod otlp;
pub mod scope;
pub mod usage;

pub use config::{LogFormat, TelemetryConfig};
pub use logs::{Level, LogRecord, Logs};
pub use scope::{
    current_traceparent, Budget, Call, CallKind, Ledger, Scope, ServerSpan, Start, Trigger,
};

use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::Context;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// `pb:*` host calls one invocation may make (`pb:data`, `pb:kv`,
/// `pb:files`, `pb:jobs`, `pb:secrets`; counted in the invocation's ledger,
/// [`crate::telemetry::Scope::call`]). The first call past it gets the
/// interface's `quota` error (`denied` for `pb:secrets`, which has no
/// `quota`), and a call after that stops the guest. Cloudflare Workers
/// allow 1,000 KV operations per invocation and 50 (free plan) or 10,000
/// (paid) subrequests; an agent's handler that reads a conversation, a few
/// records and some state makes tens to hundreds. 100,000 leaves room for
/// batch jobs that walk a large collection page by page, and stops a
/// runaway loop in seconds instead of the full timeout.
pub const DEFAULT_MAX_HOST_CALLS: u64 = 100_000;

/// The host's telemetry: cheap to clone (shared).
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    config: TelemetryConfig,
    /// The span pipeline, when an OTLP endpoint is configured.
    traces: Option<export::Traces>,
    metrics: metrics::Metrics,
    logs: Logs,
    usage: usage::Usage,
    /// Invocations alive now (instances in use).
    live: Arc<AtomicI64>,
    /// `pb:*` host calls one invocation may make ([`Scope::call`]).
    max_host_calls: std::sync::atomic::AtomicU64,
}

impl Default for Telemetry {
    /// Everything off but the ledger, the log buffer and the metrics.
    fn default() -> Self {
        Telemetry::new(TelemetryConfig::default())
    }
}

impl Telemetry {
    /// Starts what `config` asks for. An exporter that cannot be built (a
    /// malformed endpoint) is logged and left off: telemetry never stops a
    /// host from serving.
    pub fn new(config: TelemetryConfig) -> Telemetry {
        let live = Arc::new(AtomicI64::new(0));
        let dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let traces = match config.traces_endpoint() {
            Some(endpoint) => match export::Traces::start(&config, &endpoint, dropped.clone()) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::error!(target: "pbs::telemetry", "OTLP traces are off: {e:#}");
                    None
                }
            },
            None => None,
        };
        let metrics = metrics::Metrics::new(&config, live.clone(), dropped);
        Telemetry {
            inner: Arc::new(Inner {
                logs: Logs::new(config.log_lines),
                usage: usage::Usage::default(),
                traces,
                metrics,
                config,
                live,
                max_host_calls: DEFAULT_MAX_HOST_CALLS.into(),
            }),
        }
    }

    /// Sets the `pb:*` host calls one invocation may make (the host's
    /// `--max-host-calls`); invocations started after this get it.
    pub fn set_max_host_calls(&self, n: u64) {
        self.inner.max_host_calls.store(n, Ordering::Relaxed);
    }

    pub(crate) fn max_host_calls(&self) -> u64 {
        self.inner.max_host_calls.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &TelemetryConfig {
        &self.inner.config
    }

    /// Whether spans are exported at all.
    pub fn tracing(&self) -> bool {
        self.inner.traces.is_some()
    }

    pub(crate) fn traces(&self) -> Option<&export::Traces> {
        self.inner.traces.as_ref()
    }

    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    pub fn logs(&self) -> &Logs {
        &self.inner.logs
    }

    pub fn usage(&self) -> &usage::Usage {
        &self.inner.usage
    }

    /// Invocations alive now.
    pub fn live_invocations(&self) -> i64 {
        self.inner.live.load(Ordering::Relaxed)
    }

    pub(crate) fn live_counter(&self) -> &Arc<AtomicI64> {
        &self.inner.live
    }

    /// Spans dropped so far: queue full or export failed (a collector that
    /// is down costs nothing else).
    pub fn spans_dropped(&self) -> u64 {
        self.traces().map_or(0, |t| t.dropped())
    }

    /// Sends the spans still queued (at shutdown), waiting at most `limit`.
    pub async fn flush(&self, limit: std::time::Duration) {
        if let Some(t) = self.traces() {
            t.flush(limit).await;
        }
        self.inner.metrics.flush();
    }
}

/// The W3C `traceparent` of a span context.
pub fn traceparent(sc: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    )
}

/// The span context of a W3C `traceparent` (and `tracestate`); none when
/// absent or malformed (a malformed one is ignored, as the spec asks).
pub fn parse_traceparent(traceparent: &str, tracestate: Option<&str>) -> Option<SpanContext> {
    use opentelemetry::propagation::TextMapPropagator;
    // `00-<32 hex>-<16 hex>-<2 hex>` exactly (a later version may append
    // fields after a `-`), lowercase.
    let tp = traceparent.trim();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let parts: Vec<&str> = tp.splitn(5, '-').collect();
    if parts.len() < 4
        || !hex(parts[0], 2)
        || parts[0] == "ff"
        || !hex(parts[1], 32)
        || !hex(parts[2], 16)
        || !hex(parts[3], 2)
        || (parts[0] == "00" && parts.len() > 4)
    {
        return None;
    }
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    let mut carrier = std::collections::HashMap::new();
    carrier.insert("traceparent".to_string(), tp.to_string());
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_string(), state.to_string());
    }
    let cx = TraceContextPropagator::new().extract_with_context(&Context::new(), &carrier);
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_bad_ones_are_ignored() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let sc = parse_traceparent(tp, Some("vendor=x")).expect("valid");
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(sc.trace_state().get("vendor"), Some("x"));
        assert_eq!(traceparent(&sc), tp);
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad, None).is_none(), "{bad}");
        }
    }
}
