//! The OTLP/HTTP (protobuf) pipeline, on the host's `reqwest` client (no
//! gRPC, no second HTTP stack): spans encoded by [`super::otlp`] and posted
//! by [`export_loop`]; metrics through `opentelemetry-otlp`'s exporter.
//!
//! Spans go through [`Queue`], our batch processor, instead of the SDK's: a
//! finished span is pushed to a queue (a request never waits for the
//! collector, nor wakes a thread), batches go out from one tokio task, and every span that
//! does not reach the collector — queue full, collector down or slow — is
//! counted ([`Traces::dropped`], the `pbs_spans_dropped_total` metric) and
//! reported in the log at most once a minute.

use super::config::TelemetryConfig;
use anyhow::Context as _;
use bytes::Bytes;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData};
use opentelemetry_sdk::Resource;
use prost::Message as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};

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
    queue: Arc<Shared>,
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
        let exporter = Poster::new(config, endpoint, &resource)?;
        let batch = config.batch.max(1);
        let queue = Arc::new(Shared {
            spans: Mutex::new(Vec::with_capacity(batch)),
            ready: Notify::new(),
            closed: AtomicBool::new(false),
            capacity: config.queue.max(1),
            batch,
            dropped,
        });
        let (flush, flushes) = mpsc::unbounded_channel();
        tokio::spawn(export_loop(exporter, queue.clone(), flushes, config.delay));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(Queue(queue.clone()))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("pbs");
        Ok(Traces {
            provider,
            tracer,
            queue,
            flush,
        })
    }

    pub fn tracer(&self) -> &SdkTracer {
        &self.tracer
    }

    /// Spans that did not reach the collector.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped.load(Ordering::Relaxed)
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

/// Finished spans waiting for [`export_loop`]. A span is pushed under a
/// lock that is held for a `Vec::push`; the exporter is woken only when a
/// batch is full (else its timer takes what is there), so a request never
/// wakes a thread for its spans. A channel woke the exporter for nearly
/// every span, and those cross-thread wake-ups were most of what tracing
/// cost a small request.
#[derive(Debug)]
struct Shared {
    spans: Mutex<Vec<SpanData>>,
    ready: Notify,
    /// Set at shutdown: the loop sends what is left and ends.
    closed: AtomicBool,
    /// Spans queued at most (`OTEL_BSP_MAX_QUEUE_SIZE`).
    capacity: usize,
    /// Spans per export (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    batch: usize,
    dropped: Arc<AtomicU64>,
}

impl Shared {
    /// Moves up to one batch of the queued spans into `into` (empty). The
    /// two vectors trade places, so neither is allocated anew per batch:
    /// a large buffer freed per batch made glibc consolidate the arena it
    /// came from, and the request path's small allocations slower.
    fn take(&self, into: &mut Vec<SpanData>) {
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        if spans.len() <= self.batch {
            std::mem::swap(&mut *spans, into);
        } else {
            into.extend(spans.drain(..self.batch));
        }
    }

    fn queued(&self) -> usize {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Our span processor: queues finished spans for [`export_loop`].
#[derive(Debug)]
struct Queue(Arc<Shared>);

impl opentelemetry_sdk::trace::SpanProcessor for Queue {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let q = &self.0;
        let queued = {
            let mut spans = q.spans.lock().unwrap_or_else(|e| e.into_inner());
            if spans.len() >= q.capacity {
                None
            } else {
                spans.push(span);
                Some(spans.len())
            }
        };
        match queued {
            None => {
                q.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Some(n) if n == q.batch => q.ready.notify_one(),
            Some(_) => {}
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        self.0.closed.store(true, Ordering::Relaxed);
        self.0.ready.notify_one();
        Ok(())
    }
}

/// Exports the queued spans one request at a time: a full batch at once,
/// a partial one after `delay`; what fails is counted as dropped.
async fn export_loop(
    mut exporter: Poster,
    queue: Arc<Shared>,
    mut flushes: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    delay: Duration,
) {
    let mut warned: Option<Instant> = None;
    let mut send = async |batch: &mut Vec<SpanData>| {
        let n = batch.len() as u64;
        if n == 0 {
            return;
        }
        let (lost, why) = match exporter.post(batch).await {
            Ok(0) => return,
            Ok(rejected) => (
                rejected,
                format!("the collector rejected {rejected} of {n}"),
            ),
            Err(e) => (n, format!("{e:#}")),
        };
        let dropped = queue.dropped.fetch_add(lost, Ordering::Relaxed) + lost;
        if warned.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            warned = Some(Instant::now());
            tracing::warn!(target: "pbs::telemetry", "spans not exported to {} (dropped, {dropped} so far): {why}", exporter.endpoint);
        }
    };
    let mut batch = Vec::with_capacity(queue.batch);
    let mut due = tokio::time::Instant::now() + delay;
    loop {
        let mut flushed = None;
        tokio::select! {
            _ = queue.ready.notified() => {}
            _ = tokio::time::sleep_until(due) => {}
            Some(done) = flushes.recv() => flushed = Some(done),
        }
        let closing = queue.closed.load(Ordering::Relaxed);
        // After a wake-up for a full batch, send only full batches; after
        // the timer, a flush or at shutdown, everything.
        let all = closing || flushed.is_some() || tokio::time::Instant::now() >= due;
        while all || queue.queued() >= queue.batch {
            queue.take(&mut batch);
            if batch.is_empty() {
                break;
            }
            send(&mut batch).await;
        }
        if all {
            due = tokio::time::Instant::now() + delay;
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
        if closing {
            break;
        }
    }
}

/// Posts encoded batches of spans to the collector's `…/v1/traces`.
struct Poster {
    client: Client,
    endpoint: String,
    headers: http::HeaderMap,
    encoder: super::otlp::Encoder,
}

impl Poster {
    fn new(
        config: &TelemetryConfig,
        endpoint: &str,
        resource: &Resource,
    ) -> anyhow::Result<Poster> {
        let url: reqwest::Url = endpoint
            .parse()
            .with_context(|| format!("the OTLP traces endpoint {endpoint:?}"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "the OTLP traces endpoint {endpoint:?} is not an http(s) URL"
        );
        let mut headers = http::HeaderMap::new();
        for (name, value) in &config.trace_headers {
            let name = http::HeaderName::try_from(name.as_str())
                .with_context(|| format!("OTLP header name {name:?}"))?;
            let value = http::HeaderValue::try_from(value.as_str())
                .with_context(|| format!("the value of OTLP header {name}"))?;
            headers.insert(name, value);
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-protobuf"),
        );
        Ok(Poster {
            client: Client::new(config.export_timeout)?,
            endpoint: endpoint.to_string(),
            headers,
            encoder: super::otlp::Encoder::new(resource),
        })
    }

    /// Sends one batch; the spans the collector rejected (OTLP partial
    /// success), or an error when none arrived.
    async fn post(&mut self, spans: &mut Vec<SpanData>) -> anyhow::Result<u64> {
        let body = self.encoder.encode(spans);
        let resp = self
            .client
            .http
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        anyhow::ensure!(status.is_success(), "the collector answered {status}");
        let body = resp.bytes().await?;
        // An empty or unreadable answer means all were accepted.
        let rejected = ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_spans.max(0) as u64);
        Ok(rejected)
    }
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
