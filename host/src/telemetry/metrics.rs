//! Metrics, recorded with the OpenTelemetry SDK and read two ways: pushed
//! over OTLP (when an endpoint is configured) and rendered as Prometheus
//! text for `GET /api/pb_serverless/_admin/metrics` ([`Metrics::prometheus`]).
//!
//! | Prometheus name | labels | what |
//! |---|---|---|
//! | `pbs_http_requests_total` | function, status | requests a function answered |
//! | `pbs_http_request_duration_seconds` | function, status | their duration (to the end of the invocation), histogram |
//! | `pbs_invocations_total` | function, trigger, outcome | invocations by trigger (http, job, cron, hook) |
//! | `pbs_instances_in_use` | | instances alive now |
//! | `pbs_jobs_queue_depth` | state | jobs by state (read from the database at each scrape and every 15 s) |
//! | `pbs_job_run_duration_seconds` | function, outcome | job runs, histogram |
//! | `pbs_cron_lag_seconds` | function, func | how late a cron tick started, histogram |
//! | `pbs_spans_dropped_total` | | spans that did not reach the collector |
//! | `pbs_pool_warm_slots` | kind | idle instance slots (memory, table, stack) that held an instance before |
//! | `pbs_pool_resident_bytes` | kind | what idle memory and table slots keep resident for their next instance |
//!
//! The pool's two gauges explain most of a host's resident memory beyond its
//! own heap: a slot keeps up to `engine::MEMORY_KEEP_RESIDENT` of what its
//! last guest wrote, so a fresh instance takes no page faults there. (A
//! stack slot keeps what its deepest guest touched, up to
//! `engine::MAX_WASM_STACK`; wasmtime does not count those bytes.)

use super::config::TelemetryConfig;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, PeriodicReader, Pipeline, SdkMeterProvider, Temporality,
};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Histogram buckets of durations, in seconds.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 900.0,
];

pub struct Metrics {
    provider: SdkMeterProvider,
    reader: Arc<ManualReader>,
    requests: Counter<u64>,
    duration: Histogram<f64>,
    invocations: Counter<u64>,
    job_runs: Histogram<f64>,
    cron_lag: Histogram<f64>,
    queue: Arc<Mutex<Vec<(String, i64)>>>,
    pool: Arc<std::sync::OnceLock<wasmtime::EngineWeak>>,
}

fn pool_metrics(
    engine: &std::sync::OnceLock<wasmtime::EngineWeak>,
) -> Option<wasmtime::PoolingAllocatorMetrics> {
    engine.get()?.upgrade()?.pooling_allocator_metrics()
}

/// The Prometheus endpoint's reader, shared with the provider.
#[derive(Debug)]
struct Shared(Arc<ManualReader>);

impl MetricReader for Shared {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

impl Metrics {
    pub fn new(
        config: &TelemetryConfig,
        live: Arc<AtomicI64>,
        spans_dropped: Arc<AtomicU64>,
    ) -> Metrics {
        let reader = Arc::new(ManualReader::builder().build());
        let mut builder = SdkMeterProvider::builder().with_reader(Shared(reader.clone()));
        if let Some(endpoint) = config.metrics_endpoint() {
            match super::export::metric_exporter(config, &endpoint) {
                Ok(exporter) => {
                    builder = builder
                        .with_reader(
                            PeriodicReader::builder(exporter)
                                .with_interval(config.metric_interval)
                                .build(),
                        )
                        .with_resource(super::export::resource(config));
                }
                Err(e) => {
                    tracing::error!(target: "pbs::telemetry", "OTLP metrics are off: {e:#}")
                }
            }
        }
        let provider = builder.build();
        let meter: Meter = provider.meter("pbs");
        let queue: Arc<Mutex<Vec<(String, i64)>>> = Default::default();
        let seen = queue.clone();
        // Observable instruments live as long as the provider.
        meter
            .i64_observable_gauge("pbs.instances.in_use")
            .with_description("WebAssembly instances alive now")
            .with_callback(move |o| o.observe(live.load(Ordering::Relaxed), &[]))
            .build();
        meter
            .i64_observable_gauge("pbs.jobs.queue_depth")
            .with_description("jobs by state")
            .with_callback(move |o| {
                for (state, n) in seen.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    o.observe(*n, &[KeyValue::new("state", state.clone())]);
                }
            })
            .build();
        meter
            .u64_observable_counter("pbs.spans.dropped")
            .with_description("spans that did not reach the collector (queue full, collector down)")
            .with_callback(move |o| o.observe(spans_dropped.load(Ordering::Relaxed), &[]))
            .build();
        let pool: Arc<std::sync::OnceLock<wasmtime::EngineWeak>> = Default::default();
        let watched = pool.clone();
        meter
            .u64_observable_gauge("pbs.pool.warm_slots")
            .with_description("idle instance slots that held an instance before")
            .with_callback(move |o| {
                if let Some(m) = pool_metrics(&watched) {
                    o.observe(
                        m.unused_warm_memories().into(),
                        &[KeyValue::new("kind", "memory")],
                    );
                    o.observe(
                        m.unused_warm_tables().into(),
                        &[KeyValue::new("kind", "table")],
                    );
                    o.observe(
                        m.unused_warm_stacks().into(),
                        &[KeyValue::new("kind", "stack")],
                    );
                }
            })
            .build();
        let watched = pool.clone();
        meter
            .u64_observable_gauge("pbs.pool.resident")
            .with_unit("By")
            .with_description(
                "bytes idle memory and table slots keep resident for their next instance",
            )
            .with_callback(move |o| {
                if let Some(m) = pool_metrics(&watched) {
                    let memory = m.unused_memory_bytes_resident() as u64;
                    let table = m.unused_table_bytes_resident() as u64;
                    o.observe(memory, &[KeyValue::new("kind", "memory")]);
                    o.observe(table, &[KeyValue::new("kind", "table")]);
                }
            })
            .build();
        Metrics {
            requests: meter
                .u64_counter("pbs.http.requests")
                .with_description("requests a function answered")
                .build(),
            duration: meter
                .f64_histogram("pbs.http.request.duration")
                .with_unit("s")
                .with_description("request duration, to the end of the invocation")
                .with_boundaries(SECONDS.to_vec())
                .build(),
            invocations: meter
                .u64_counter("pbs.invocations")
                .with_description("invocations by trigger and outcome")
                .build(),
            job_runs: meter
                .f64_histogram("pbs.job.run.duration")
                .with_unit("s")
                .with_description("job runs")
                .with_boundaries(SECONDS.to_vec())
                .build(),
            cron_lag: meter
                .f64_histogram("pbs.cron.lag")
                .with_unit("s")
                .with_description("how late a cron tick started")
                .with_boundaries(SECONDS.to_vec())
                .build(),
            provider,
            reader,
            queue,
            pool,
        }
    }

    /// Reports the instance pool of `engine` (once; weakly, so the metrics
    /// never keep an engine alive).
    pub fn watch_pool(&self, engine: &wasmtime::Engine) {
        let _ = self.pool.set(engine.weak());
    }

    pub fn request(&self, function: &Arc<str>, status: u16, seconds: f64) {
        let attrs = [
            KeyValue::new("function", Value::from(function.clone())),
            KeyValue::new("status", status as i64),
        ];
        self.requests.add(1, &attrs);
        self.duration.record(seconds, &attrs);
    }

    pub fn invocation(&self, function: &Arc<str>, trigger: &'static str, outcome: &str) {
        let outcome: &'static str = match outcome {
            "ok" => "ok",
            "error" => "error",
            "timeout" => "timeout",
            "cancelled" => "cancelled",
            _ => "failed",
        };
        self.invocations.add(
            1,
            &[
                KeyValue::new("function", Value::from(function.clone())),
                KeyValue::new("trigger", trigger),
                KeyValue::new("outcome", outcome),
            ],
        );
    }

    pub fn job_run(&self, function: &Arc<str>, outcome: &str, seconds: f64) {
        self.job_runs.record(
            seconds,
            &[
                KeyValue::new("function", Value::from(function.clone())),
                KeyValue::new("outcome", if outcome == "ok" { "ok" } else { "failed" }),
            ],
        );
    }

    pub fn cron_lag(&self, function: &str, func: &str, seconds: f64) {
        self.cron_lag.record(
            seconds.max(0.0),
            &[
                KeyValue::new("function", function.to_string()),
                KeyValue::new("func", func.to_string()),
            ],
        );
    }

    /// The job queue's depth by state, as last read from the database.
    pub fn set_queue_depth(&self, by_state: Vec<(String, i64)>) {
        *self.queue.lock().unwrap_or_else(|e| e.into_inner()) = by_state;
    }

    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let mut rm = ResourceMetrics::default();
        if let Err(e) = self.reader.collect(&mut rm) {
            tracing::warn!(target: "pbs::telemetry", "collecting metrics failed: {e}");
        }
        let mut out = String::new();
        for scope in rm.scope_metrics() {
            for metric in scope.metrics() {
                let mut name = metric.name().replace('.', "_");
                match metric.unit() {
                    "s" => name.push_str("_seconds"),
                    "By" => name.push_str("_bytes"),
                    _ => {}
                }
                let help = metric.description().replace('\n', " ");
                match metric.data() {
                    AggregatedMetrics::F64(d) => render(&mut out, &name, &help, d, |v| v),
                    AggregatedMetrics::U64(d) => render(&mut out, &name, &help, d, |v| v as f64),
                    AggregatedMetrics::I64(d) => render(&mut out, &name, &help, d, |v| v as f64),
                }
            }
        }
        out
    }
}

fn labels(attrs: &mut dyn Iterator<Item = &KeyValue>, extra: Option<(&str, String)>) -> String {
    let mut pairs: Vec<(String, String)> = attrs
        .map(|kv| (kv.key.as_str().replace('.', "_"), kv.value.to_string()))
        .collect();
    pairs.sort();
    if let Some((k, v)) = extra {
        pairs.push((k.to_string(), v));
    }
    if pairs.is_empty() {
        return String::new();
    }
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

fn render<T: Copy>(
    out: &mut String,
    name: &str,
    help: &str,
    data: &MetricData<T>,
    f: impl Fn(T) -> f64,
) {
    match data {
        MetricData::Gauge(g) => {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for p in g.data_points() {
                let l = labels(&mut p.attributes(), None);
                let _ = writeln!(out, "{name}{l} {}", number(f(p.value())));
            }
        }
        MetricData::Sum(s) => {
            let (name, kind) = if s.is_monotonic() {
                (format!("{name}_total"), "counter")
            } else {
                (name.to_string(), "gauge")
            };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for p in s.data_points() {
                let l = labels(&mut p.attributes(), None);
                let _ = writeln!(out, "{name}{l} {}", number(f(p.value())));
            }
        }
        MetricData::Histogram(h) => {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for p in h.data_points() {
                let mut cumulative = 0u64;
                let bounds: Vec<f64> = p.bounds().collect();
                for (i, count) in p.bucket_counts().enumerate() {
                    cumulative += count;
                    let le = bounds.get(i).copied().unwrap_or(f64::INFINITY);
                    let l = labels(&mut p.attributes(), Some(("le", number(le))));
                    let _ = writeln!(out, "{name}_bucket{l} {cumulative}");
                }
                let l = labels(&mut p.attributes(), None);
                let _ = writeln!(out, "{name}_sum{l} {}", number(f(p.sum())));
                let _ = writeln!(out, "{name}_count{l} {}", p.count());
            }
        }
        MetricData::ExponentialHistogram(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_counters_histograms_and_gauges() {
        let live = Arc::new(AtomicI64::new(3));
        let m = Metrics::new(&TelemetryConfig::default(), live, Default::default());
        let f: Arc<str> = "hello".into();
        m.request(&f, 200, 0.002);
        m.request(&f, 200, 0.2);
        m.set_queue_depth(vec![("queued".into(), 4)]);
        let text = m.prometheus();
        assert!(
            text.contains("pbs_http_requests_total{function=\"hello\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains(
            "pbs_http_request_duration_seconds_bucket{function=\"hello\",status=\"200\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains(
            "pbs_http_request_duration_seconds_bucket{function=\"hello\",status=\"200\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains(
            "pbs_http_request_duration_seconds_count{function=\"hello\",status=\"200\"} 2"
        ));
        assert!(text.contains("pbs_instances_in_use 3"));
        assert!(text.contains("pbs_jobs_queue_depth{state=\"queued\"} 4"));
        assert!(text.contains("pbs_spans_dropped_total 0"));
    }
}
