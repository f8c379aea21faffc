//! The OTLP/HTTP (protobuf) pipeline: `opentelemetry-otlp`'s exporters,
//! sending with the host's `reqwest` client (no gRPC, no second HTTP stack).
//!
//! Spans go through [`Queue`], our batch processor, instead of the SDK's: a
//! finished span is handed over with `try_send` (a request never waits for
//! the collector), batches go out from one tokio task, and every span that
//! does not reach the collector — queue full, collector down or slow — is
//! counted ([`Traces::dropped`], the `pbs_spans_dropped_total` metric) and
//! reported in the log at most once a minute.

use super::config::TelemetryConfig;
use anyhow::Context as _;
use bytes::Bytes;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The exporters' HTTP client: the host's reqwest, each request spawned on
/// the host's runtime (the SDK's metric reader calls it from a thread of
/// its own).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl Client {
    pub fn new(timeout: Duration) -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .context("build the OTLP HTTP client")?,
            runtime: tokio::runtime::Handle::try_current()
                .context("OTLP export needs the tokio runtime")?,
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let sent = self.runtime.spawn(async move {
            let (parts, body) = request.into_parts();
            let mut req = http.request(parts.method, parts.uri.to_string());
            for (name, value) in &parts.headers {
                req = req.header(name, value);
            }
            let resp = req.body(body).send().await?;
            let mut out = http::Response::builder().status(resp.status());
            for (name, value) in resp.headers() {
                out = out.header(name, value);
            }
            let body = resp.bytes().await?;
            Ok::<_, HttpError>(out.body(body)?)
        });
        sent.await?
    }
}

/// The resource every span and metric carries: `service.name` (default
/// `pbs`, or `OTEL_SERVICE_NAME`), `OTEL_RESOURCE_ATTRIBUTES`, the SDK's.
pub fn resource(config: &TelemetryConfig) -> Resource {
    Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build()
}

/// The span pipeline of a host.
pub struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    dropped: Arc<AtomicU64>,
    flush: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl Traces {
    /// Exports to `endpoint` (a full `…/v1/traces` URL).
    pub fn start(
        config: &TelemetryConfig,
        endpoint: &str,
        dropped: Arc<AtomicU64>,
    ) -> anyhow::Result<Traces> {
        let resource = resource(config);
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(Client::new(config.export_timeout)?)
            .with_endpoint(endpoint)
            .with_timeout(config.export_timeout)
            .build()
            .with_context(|| format!("the OTLP trace exporter for {endpoint}"))?;
        exporter.set_resource(&resource);
        let (spans, queued) = mpsc::channel(config.queue.max(1));
        let (flush, flushes) = mpsc::unbounded_channel();
        tokio::spawn(export_loop(
            exporter,
            queued,
            flushes,
            config.batch.max(1),
            config.delay,
            dropped.clone(),
            endpoint.to_string(),
        ));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(Queue {
                spans,
                dropped: dropped.clone(),
            })
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("pbs");
        Ok(Traces {
            provider,
            tracer,
            dropped,
            flush,
        })
    }

    pub fn tracer(&self) -> &SdkTracer {
        &self.tracer
    }

    /// Spans that did not reach the collector.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sends what is queued now; waits at most `limit`.
    pub async fn flush(&self, limit: Duration) {
        let (done, flushed) = oneshot::channel();
        if self.flush.send(done).is_ok() {
            let _ = tokio::time::timeout(limit, flushed).await;
        }
    }
}

impl Drop for Traces {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Our span processor: hands finished spans to [`export_loop`].
#[derive(Debug)]
struct Queue {
    spans: mpsc::Sender<SpanData>,
    dropped: Arc<AtomicU64>,
}

impl opentelemetry_sdk::trace::SpanProcessor for Queue {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.spans.try_send(span).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Batches spans (by size, or after `delay`) and exports them one request
/// at a time; what fails is counted as dropped.
async fn export_loop(
    exporter: opentelemetry_otlp::SpanExporter,
    mut queued: mpsc::Receiver<SpanData>,
    mut flushes: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    batch_size: usize,
    delay: Duration,
    dropped: Arc<AtomicU64>,
    endpoint: String,
) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(batch_size);
    let mut due = tokio::time::Instant::now() + delay;
    let warned: Mutex<Option<Instant>> = Mutex::new(None);
    let send = |batch: Vec<SpanData>| {
        let n = batch.len() as u64;
        let exporter = &exporter;
        let dropped = &dropped;
        let warned = &warned;
        let endpoint = &endpoint;
        async move {
            if n == 0 {
                return;
            }
            if let Err(e) = exporter.export(batch).await {
                dropped.fetch_add(n, Ordering::Relaxed);
                let mut last = warned.lock().unwrap_or_else(|e| e.into_inner());
                if last.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    *last = Some(Instant::now());
                    tracing::warn!(target: "pbs::telemetry", "spans not exported to {endpoint} (dropped, {} so far): {e}", dropped.load(Ordering::Relaxed));
                }
            }
        }
    };
    loop {
        tokio::select! {
            span = queued.recv() => match span {
                Some(span) => {
                    batch.push(span);
                    if batch.len() >= batch_size {
                        send(std::mem::replace(&mut batch, Vec::with_capacity(batch_size))).await;
                        due = tokio::time::Instant::now() + delay;
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep_until(due) => {
                send(std::mem::take(&mut batch)).await;
                due = tokio::time::Instant::now() + delay;
            }
            Some(done) = flushes.recv() => {
                while let Ok(span) = queued.try_recv() {
                    batch.push(span);
                    if batch.len() >= batch_size {
                        send(std::mem::replace(&mut batch, Vec::with_capacity(batch_size))).await;
                    }
                }
                send(std::mem::take(&mut batch)).await;
                let _ = done.send(());
            }
        }
    }
    send(batch).await;
}

/// The OTLP metric exporter for `endpoint` (a full `…/v1/metrics` URL).
pub fn metric_exporter(
    config: &TelemetryConfig,
    endpoint: &str,
) -> anyhow::Result<opentelemetry_otlp::MetricExporter> {
    opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_http_client(Client::new(config.export_timeout)?)
        .with_endpoint(endpoint)
        .with_timeout(config.export_timeout)
        .build()
        .with_context(|| format!("the OTLP metric exporter for {endpoint}"))
}
