//! A loopback OTLP/HTTP receiver for the observability tests: it decodes
//! what a host exports with the official protobuf types
//! (`opentelemetry-proto`), and a loopback HTTP server that records the
//! `traceparent` of each request it gets.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Serves `answer` on a loopback port; returns `http://127.0.0.1:PORT`.
async fn serve<F, Fut>(answer: F) -> String
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let answer = answer.clone();
                    async move { Ok::<_, Infallible>(answer(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// What a receiver got.
#[derive(Default)]
struct Got {
    spans: Vec<Span>,
    /// The `x-api-key` header of each trace export (a collector's key).
    api_keys: Vec<Option<String>>,
    service_names: Vec<String>,
    metric_names: Vec<String>,
}

/// A loopback OTLP/HTTP (protobuf) collector.
pub struct Receiver {
    /// The base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub url: String,
    got: Arc<Mutex<Got>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let got: Arc<Mutex<Got>> = Default::default();
        let shared = got.clone();
        let url = serve(move |req: Request<Incoming>| {
            let got = shared.clone();
            async move {
                let path = req.uri().path().to_string();
                let api_key = req
                    .headers()
                    .get("x-api-key")
                    .map(|v| v.to_str().unwrap().to_string());
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let mut got = got.lock().unwrap();
                match path.as_str() {
                    "/v1/traces" => {
                        let export = ExportTraceServiceRequest::decode(body).expect("OTLP traces");
                        got.api_keys.push(api_key);
                        for rs in export.resource_spans {
                            for kv in rs.resource.iter().flat_map(|r| r.attributes.iter()) {
                                if kv.key == "service.name" {
                                    got.service_names.push(format!("{:?}", kv.value));
                                }
                            }
                            for ss in rs.scope_spans {
                                got.spans.extend(ss.spans);
                            }
                        }
                    }
                    "/v1/metrics" => {
                        let export =
                            ExportMetricsServiceRequest::decode(body).expect("OTLP metrics");
                        for rm in export.resource_metrics {
                            for sm in rm.scope_metrics {
                                got.metric_names
                                    .extend(sm.metrics.into_iter().map(|m| m.name));
                            }
                        }
                    }
                    _ => {
                        return Response::builder()
                            .status(404)
                            .body(Full::default())
                            .unwrap()
                    }
                }
                Response::builder()
                    .header("content-type", "application/x-protobuf")
                    .body(Full::default())
                    .unwrap()
            }
        })
        .await;
        Receiver { url, got }
    }

    pub fn spans(&self) -> Vec<Span> {
        self.got.lock().unwrap().spans.clone()
    }

    /// The `x-api-key` header each trace export came with.
    pub fn api_keys(&self) -> Vec<Option<String>> {
        self.got.lock().unwrap().api_keys.clone()
    }

    pub fn service_names(&self) -> Vec<String> {
        self.got.lock().unwrap().service_names.clone()
    }

    /// The spans once `done` holds for them (panics after 20 s).
    pub async fn wait_for(&self, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        for _ in 0..400 {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let names: Vec<String> = self.spans().iter().map(|s| s.name.clone()).collect();
        panic!("the receiver never got the spans expected; it got {names:?}");
    }
}

/// A loopback HTTP server that answers `downstream ok` and records the
/// `traceparent` of each request.
pub struct Downstream {
    pub url: String,
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl Downstream {
    pub async fn start() -> Downstream {
        let seen: Arc<Mutex<Vec<Option<String>>>> = Default::default();
        let shared = seen.clone();
        let url = serve(move |req: Request<Incoming>| {
            let seen = shared.clone();
            async move {
                let tp = req
                    .headers()
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                seen.lock().unwrap().push(tp);
                Response::new(Full::new(Bytes::from_static(b"downstream ok")))
            }
        })
        .await;
        Downstream { url, seen }
    }

    /// The `traceparent` of each request so far.
    pub fn traceparents(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap().clone()
    }
}

/// Lowercase hex of span and trace ids.
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}
