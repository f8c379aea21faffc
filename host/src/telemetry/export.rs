//! The OTLP/HTTP (protobuf) pipeline, on the host's `reqwest` client (no
//! gRPC, no second HTTP stack): spans encoded by [`super::otlp`] and posted
//! by [`export_loop`]; metrics through `opentelemetry-otlp`'s exporter.
//!
//! Spans go through [`Queue`], our batch processor, instead of the SDK's: a
//! finished span is encoded where it ends and its bytes are queued (a
//! request never waits for the collector, nor wakes a thread), batches go
//! out from one tokio task, and every span that does not reach the
//! collector — queue full, collector down or slow — is counted
//! ([`Traces::dropped`], the `pbs_spans_dropped_total` metric) and reported
//! in the log at most once a minute.

use super::config::TelemetryConfig;
use super::otlp::Batch;
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
use std::collections::VecDeque;
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
            pending: Mutex::default(),
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

/// Finished spans waiting for [`export_loop`], encoded. A span is added
/// under a lock that is held for copying its bytes; the exporter is woken
/// only when a batch is full (else its timer takes what is there), so a
/// request never wakes a thread for its spans. A channel woke the exporter
/// for nearly every span, and those cross-thread wake-ups were most of
/// what tracing cost a small request.
#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    ready: Notify,
    /// Set at shutdown: the loop sends what is left and ends.
    closed: AtomicBool,
    /// Spans queued at most (`OTEL_BSP_MAX_QUEUE_SIZE`).
    capacity: usize,
    /// Spans per export (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    batch: usize,
    dropped: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Oldest first; only the last may be less than a full batch.
    batches: VecDeque<Batch>,
    spans: usize,
    /// Batches sent, emptied and kept for their buffers: a large buffer
    /// allocated and freed per batch made glibc consolidate the arena it
    /// came from, and the request path's small allocations slower.
    spare: Vec<Batch>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a span of `scope` whose fields are `fields`, and wakes the
    /// exporter when that fills a batch. A span past the queue's capacity
    /// is dropped (and counted).
    fn push(&self, scope: &opentelemetry::InstrumentationScope, fields: &[u8]) {
        let full = {
            let mut p = self.lock();
            if p.spans >= self.capacity {
                None
            } else {
                if p.batches.back().is_none_or(|b| b.len() >= self.batch) {
                    let fresh = p.spare.pop().unwrap_or_default();
                    p.batches.push_back(fresh);
                }
                p.spans += 1;
                let last = p.batches.back_mut().expect("a batch to fill");
                last.push(scope, fields);
                Some(last.len() == self.batch)
            }
        };
        match full {
            None => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Some(true) => self.ready.notify_one(),
            Some(false) => {}
        }
    }

    /// Moves the oldest batch queued into `into` (empty when none), and
    /// keeps what `into` held, emptied, for a later batch.
    fn take(&self, into: &mut Batch) {
        let mut done = {
            let mut p = self.lock();
            let next = p.batches.pop_front().unwrap_or_default();
            p.spans -= next.len();
            std::mem::replace(into, next)
        };
        done.clear();
        let mut p = self.lock();
        if p.spare.len() < 2 {
            p.spare.push(done);
        }
    }

    fn queued(&self) -> usize {
        self.lock().spans
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
        thread_local! {
            /// A span's encoding, before it is copied to the queue.
            static FIELDS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let queue = |fields: &mut Vec<u8>| {
            super::otlp::span(fields, &span);
            self.0.push(&span.instrumentation_scope, fields);
        };
        let reused = FIELDS.try_with(|fields| {
            let mut fields = fields.borrow_mut();
            queue(&mut fields);
            if fields.capacity() > 64 * 1024 {
                *fields = Vec::new();
            }
        });
        if reused.is_err() {
            // A span that ends while its thread is exiting.
            queue(&mut Vec::new());
        }
        // `span` is freed here, on the thread that built it.
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

/// After a failed export, batches are dropped unsent
/// for this long, then twice as long after each further failure, up to
/// [`RETRY_MAX`]: a collector that is down costs the host no more than
/// the spans it does not get.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Exports the queued spans one request at a time: a full batch at once,
/// a partial one after `delay`; what fails is counted as dropped, and
/// after a failure the collector is left alone a while ([`RETRY_MIN`]).
async fn export_loop(
    mut exporter: Poster,
    queue: Arc<Shared>,
    mut flushes: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    delay: Duration,
) {
    let mut warned: Option<Instant> = None;
    let mut retry_at: Option<Instant> = None;
    let mut retry_in = RETRY_MIN;
    let mut send = async |batch: &Batch| {
        let n = batch.len() as u64;
        if n == 0 {
            return;
        }
        if retry_at.is_some_and(|t| Instant::now() < t) {
            queue.dropped.fetch_add(n, Ordering::Relaxed);
            return;
        }
        let (lost, why) = match exporter.post(batch).await {
            Ok(rejected) => {
                retry_at = None;
                retry_in = RETRY_MIN;
                if rejected == 0 {
                    return;
                }
                (
                    rejected,
                    format!("the collector rejected {rejected} of {n}"),
                )
            }
            Err(e) => {
                retry_at = Some(Instant::now() + retry_in);
                let why = format!("{e:#}; next try in {} s", retry_in.as_secs());
                retry_in = (retry_in * 2).min(RETRY_MAX);
                (n, why)
            }
        };
        let dropped = queue.dropped.fetch_add(lost, Ordering::Relaxed) + lost;
        if warned.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            warned = Some(Instant::now());
            tracing::warn!(target: "pbs::telemetry", "spans not exported to {} (dropped, {dropped} so far): {why}", exporter.endpoint);
        }
    };
    let mut batch = Batch::default();
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
        // the timer, a flush or at shutdown, also what was queued then —
        // not what comes while it goes: under load the queue is never
        // empty, and draining it to the end sent a small batch per round
        // trip (tens of spans, not hundreds) for as long as the load lasted.
        let all = closing || flushed.is_some() || tokio::time::Instant::now() >= due;
        let mut owed = match (closing, all) {
            (true, _) => usize::MAX,
            (false, true) => queue.queued(),
            (false, false) => 0,
        };
        while owed > 0 || queue.queued() >= queue.batch {
            queue.take(&mut batch);
            if batch.is_empty() {
                break;
            }
            owed = owed.saturating_sub(batch.len());
            send(&batch).await;
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
    async fn post(&mut self, batch: &Batch) -> anyhow::Result<u64> {
        let body = self.encoder.request(batch);
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use hyper::{body::Incoming, server::conn::http1, service::service_fn};
    use hyper_util::rt::TokioIo;
    use opentelemetry::trace::{Span as _, Tracer as _};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    fn config(batch: usize) -> TelemetryConfig {
        TelemetryConfig {
            batch,
            queue: 100_000,
            delay: Duration::from_millis(50),
            ..TelemetryConfig::default()
        }
    }

    fn end_spans(traces: &Traces, n: usize) {
        for _ in 0..n {
            traces.tracer().start("s").end();
        }
    }

    /// A collector on loopback that answers each request after `answer`
    /// (none: it closes each connection unanswered). Counts connections
    /// and the spans in each request it answered.
    async fn collector(
        answer: Option<Duration>,
    ) -> (String, Arc<AtomicU64>, Arc<Mutex<Vec<usize>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let conns = Arc::new(AtomicU64::new(0));
        let posts: Arc<Mutex<Vec<usize>>> = Arc::default();
        let (c, p) = (conns.clone(), posts.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::Relaxed);
                let Some(after) = answer else { continue };
                let p = p.clone();
                let answer = service_fn(move |req: http::Request<Incoming>| {
                    let p = p.clone();
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let request = ExportTraceServiceRequest::decode(body).unwrap();
                        let spans = request.resource_spans.iter().flat_map(|r| &r.scope_spans);
                        p.lock().unwrap().push(spans.map(|s| s.spans.len()).sum());
                        tokio::time::sleep(after).await;
                        Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::new())))
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(sock), answer));
            }
        });
        (url, conns, posts)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_steady_stream_of_spans_goes_in_full_batches() {
        // A collector that takes 2 ms per request, as a real one might.
        let (url, _, posts) = collector(Some(Duration::from_millis(2))).await;
        let dropped = Arc::new(AtomicU64::new(0));
        let traces = Arc::new(Traces::start(&config(100), &url, dropped.clone()).unwrap());
        // Spans keep coming, from another thread, over several timer
        // rounds (50 ms): each round sends what was queued when it began,
        // not a small batch of what arrived during each request.
        let t = traces.clone();
        let spans = tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let mut n = 0;
            while start.elapsed() < Duration::from_millis(400) {
                end_spans(&t, 5);
                n += 5;
                std::thread::sleep(Duration::from_micros(100));
            }
            n
        })
        .await
        .unwrap();
        traces.flush(Duration::from_secs(5)).await;
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
        let sizes = posts.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), spans);
        let partial = sizes.iter().filter(|&&n| n < 100).count();
        // 400 ms of 50 ms rounds: 8 or 9 timer rounds, each with at most
        // one partial batch; draining to the end made nearly all partial.
        assert!(
            partial <= 12,
            "{spans} spans went in {} requests, {partial} of them partial batches",
            sizes.len()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_collector_that_fails_is_left_alone_a_while() {
        let (url, conns, _) = collector(None).await;
        let dropped = Arc::new(AtomicU64::new(0));
        let traces = Traces::start(&config(10), &url, dropped.clone()).unwrap();
        for _ in 0..5 {
            end_spans(&traces, 10);
            traces.flush(Duration::from_secs(5)).await;
        }
        // The first batch failed; the other four were dropped unsent
        // within the first second of the back-off.
        assert_eq!(conns.load(Ordering::Relaxed), 1);
        assert_eq!(dropped.load(Ordering::Relaxed), 50);
    }
}
