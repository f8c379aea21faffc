//! Invokes a component's `wasi:http/incoming-handler` for one request, in a
//! fresh instance (or, for a function deployed with `reuse`, in an instance
//! an earlier request left in good order: `engine::warm`), under the
//! instance limits. Whatever the guest does, the client gets an answer with
//! a status that says what happened.

use super::body_limit::{self, LimitedBody, MAX_REQUEST_BODY};
use super::reply::{closing, error, has_body, Body};
use crate::deploy::Deployed;
use crate::engine::{Deadline, Runtime};
use crate::telemetry::{Scope, ServerSpan, Start, Trigger};
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use opentelemetry::KeyValue;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::Trap;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::WasiHttpView;

/// Extra time past the headers deadline before the host gives up on a guest
/// that is blocked in a host call rather than running (the epoch callback
/// stops running guests on time).
const HOST_GRACE: Duration = Duration::from_millis(500);

/// How an invocation that produced no response ended.
enum Failure {
    Timeout,
    Memory(String),
    HostMemory,
    Fuel,
    Busy,
    /// Went on calling the host after its host-call budget refused it.
    HostCalls(String),
    Trap(String),
    NoResponse,
}

/// The server span of a request to `function` (its route: the function's
/// prefix, or `/` when one component is served alone).
fn server_span<B>(runtime: &Runtime, function: &str, req: &Request<B>) -> ServerSpan {
    ServerSpan::start(
        runtime.telemetry(),
        req.headers(),
        || {
            let (method, route) = (req.method().as_str(), route(function, req.uri().path()));
            let mut name = String::with_capacity(method.len() + 1 + route.len());
            name.push_str(method);
            name.push(' ');
            name.push_str(&route);
            name
        },
        || {
            // Room for the status code added at the end.
            let mut attrs = Vec::with_capacity(4);
            attrs.extend([
                KeyValue::new("http.request.method", method_name(req.method())),
                KeyValue::new("http.route", route(function, req.uri().path())),
                KeyValue::new(
                    "url.path",
                    crate::telemetry::scope::clip(req.uri().path().to_string()),
                ),
            ]);
            attrs
        },
    )
}

/// The method as a span attribute (the common ones without an allocation).
fn method_name(method: &http::Method) -> opentelemetry::Value {
    use http::Method;
    let name = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => return method.as_str().to_string().into(),
    };
    name.into()
}

fn route(function: &str, path: &str) -> std::borrow::Cow<'static, str> {
    if path.starts_with(super::FUNCTIONS_PREFIX) {
        format!("{}{function}", super::FUNCTIONS_PREFIX).into()
    } else {
        "/".into()
    }
}

pub async fn http(
    runtime: &Runtime,
    deployed: Arc<Deployed>,
    req: Request<Incoming>,
) -> http::Response<Body> {
    let server = server_span(runtime, &deployed.name, &req);
    let Some(pre) = deployed.version.proxy.clone() else {
        server.end(404);
        return error(404, "this function has no HTTP handler");
    };
    if let Some(len) = body_limit::declared_too_large(&req, MAX_REQUEST_BODY) {
        server.end(413);
        body_limit::linger(req.into_body());
        return closing(error(
            413,
            &format!("the request body ({len} bytes) is larger than the limit of {MAX_REQUEST_BODY} bytes"),
        ));
    }
    // A body that stops arriving ends after the same timeout as a guest
    // that stops answering.
    let idle = runtime.limits().headers_timeout;
    let req = req.map(|body| LimitedBody::new(body, MAX_REQUEST_BODY).idle_timeout(idle));
    let Ok(slot) = deployed.slots.clone().try_acquire_owned() else {
        tracing::warn!(function = %deployed.name, "function at its concurrency limit");
        server.end(503);
        runtime
            .telemetry()
            .metrics()
            .request(&deployed.name, 503, 0.0);
        let resp = error(503, "this function is at its concurrency limit; try again");
        return if has_body(&req) { closing(resp) } else { resp };
    };
    let limits = *runtime.limits();
    let deadline = Arc::new(Deadline::after(limits.headers_timeout));
    let scope = Scope::new(
        runtime.telemetry(),
        Start {
            version: Some(deployed.version.hash.as_str().into()),
            parent: server.parent(),
            server: Some(server),
            ..Start::new(deployed.name.clone(), Trigger::Http)
        },
    );
    let warm = deployed.warm.clone();
    let (mut store, reused, served) = match warm.as_ref().and_then(|w| w.take()) {
        Some(((mut store, instance), served)) => {
            runtime.reuse_store(&mut store, scope.clone(), deadline.clone());
            (store, Some(instance), served)
        }
        None => {
            let mut store = runtime.new_store_in(scope.clone(), deadline.clone());
            store.data_mut().trace.source_map = deployed.version.source_map.clone();
            (store, None, 0)
        }
    };
    store
        .data_mut()
        .set_outbound(deployed.outbound.for_invocation(deployed.name.clone()));
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let prepared = (|| {
        let mut http = store.data_mut().http();
        let req = http.new_incoming_request(Scheme::Http, req)?;
        let out = http.new_response_outparam(sender)?;
        Ok::<_, wasmtime::Error>((req, out))
    })();
    let (req, out) = match prepared {
        Ok(v) => v,
        Err(e) => return error(400, &format!("malformed request: {e}")),
    };

    let hard_limit = limits.headers_timeout + limits.max_duration + HOST_GRACE;
    let headers_sent = Arc::new(AtomicBool::new(false));
    let sent = headers_sent.clone();
    let ledger_scope = scope.clone();
    // A guest that turns out CPU-bound finishes on the long lane, leaving
    // the host's workers to quick requests.
    let turn = store.data().turn.clone();
    deployed.long_running.apply(&turn);
    let hint = deployed.long_running.clone();
    let version = deployed.version.clone();
    let task = tokio::spawn(crate::engine::lanes::Lane::run(turn, async move {
        // The slot is held for as long as the instance lives.
        let _slot = slot;
        let run = async {
            let instance = match reused {
                Some(instance) => instance,
                None => {
                    crate::deploy::preview::instantiate(&mut store, pre.instance_pre(), &version)
                        .await?
                }
            };
            Proxy::new(&mut store, &instance)?
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await?;
            Ok(instance)
        };
        let run = crate::telemetry::scope::Timed::new(&ledger_scope.ledger, run);
        let result = match tokio::time::timeout(hard_limit, run).await {
            Ok(r) => r,
            Err(_) => {
                store.data().deadline.mark_hit();
                Err(wasmtime::format_err!(
                    "the function ran past its hard time limit"
                ))
            }
        };
        hint.ended(ledger_scope.ledger.cpu());
        let limiter = &store.data().limiter;
        tracing::debug!(
            target: "pbs::invoke",
            function = %store.data().trace.function,
            memory_bytes = limiter.memory_used,
            "invocation finished"
        );
        let memory = if limiter.budget_exhausted {
            Some(MemoryCap::HostBudget)
        } else if limiter.memory_exceeded {
            Some(MemoryCap::Instance)
        } else {
            None
        };
        if let Err(e) = &result {
            if headers_sent.load(Ordering::Relaxed) {
                // The client already has a status; the stream is cut short.
                tracing::warn!(function = %store.data().trace.function, "function failed while streaming its response: {e:?}");
            }
        }
        match &result {
            Ok(_) => crate::engine::ran(&store, limits.fuel, "ok", None),
            Err(e) => {
                let outcome = crate::engine::failure_outcome(&store, e);
                let detail = format!("{}", e.root_cause());
                crate::engine::ran(&store, limits.fuel, outcome, Some(&detail));
            }
        }
        match result {
            Ok(instance) => {
                // Only an instance whose request ended well serves another.
                if let Some(warm) = warm.filter(|_| memory.is_none()) {
                    store.data_mut().end();
                    warm.put((store, instance), served + 1);
                }
                (Ok(()), memory)
            }
            Err(e) => (Err(e), memory),
        }
    }));
    // If the client goes away before the headers (this future is dropped),
    // the guest is stopped instead of running on for nobody.
    let guard = AbortOnDrop(Some(task.abort_handle()));

    let function = &*deployed.name;
    let version = deployed.version.hash.get(..12).unwrap_or_default();
    let resp = answer(
        function, version, &limits, task, guard, receiver, sent, deadline,
    )
    .await;
    scope.answered(resp.status().as_u16());
    resp
}

/// Waits for the guest's response (or for how it failed) and turns it into
/// the client's answer.
#[allow(clippy::too_many_arguments)]
async fn answer(
    function: &str,
    version: &str,
    limits: &crate::config::Limits,
    task: tokio::task::JoinHandle<(wasmtime::Result<()>, Option<MemoryCap>)>,
    guard: AbortOnDrop,
    receiver: tokio::sync::oneshot::Receiver<
        Result<http::Response<Body>, wasmtime_wasi_http::p2::bindings::http::types::ErrorCode>,
    >,
    sent: Arc<AtomicBool>,
    deadline: Arc<Deadline>,
) -> http::Response<Body> {
    match tokio::time::timeout(limits.headers_timeout + HOST_GRACE, receiver).await {
        Ok(Ok(Ok(resp))) => {
            // Headers are out: the body may stream on while chunks keep
            // flowing (idle timeout), up to the hard limit.
            sent.store(true, Ordering::Relaxed);
            deadline.reset(limits.headers_timeout);
            resp.map(|inner| {
                StreamingBody {
                    inner,
                    guard,
                    deadline,
                    idle: limits.headers_timeout,
                }
                .boxed_unsync()
            })
        }
        Ok(Ok(Err(code))) => {
            tracing::warn!(
                function,
                version,
                "function answered with an error: {code:?}"
            );
            error(500, &format!("the function failed: {code:?}"))
        }
        Ok(Err(_)) => {
            let failure = match task.await {
                Ok((Ok(()), _)) => Failure::NoResponse,
                Ok((Err(e), memory)) => classify(&e, memory, &deadline),
                Err(join) => Failure::Trap(format!("the invocation panicked: {join}")),
            };
            drop(guard);
            respond(function, version, failure, limits)
        }
        Err(_) => {
            drop(guard);
            respond(function, version, Failure::Timeout, limits)
        }
    }
}

/// Aborts the guest's task when dropped, unless disarmed.
struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

/// The guest's response body on its way to the client. Each chunk pushes
/// the guest's deadline back by the idle timeout; if the client goes away
/// before the body ends, the guest is stopped. After a complete body the
/// guest may finish whatever it does next, under its own limits.
struct StreamingBody {
    inner: Body,
    guard: AbortOnDrop,
    deadline: Arc<Deadline>,
    idle: Duration,
}

impl http_body::Body for StreamingBody {
    type Data = bytes::Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) => self.deadline.reset(self.idle),
            Poll::Ready(None) => self.guard.0 = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Which memory cap an instance hit.
#[derive(Clone, Copy)]
enum MemoryCap {
    Instance,
    HostBudget,
}

fn classify(e: &wasmtime::Error, memory: Option<MemoryCap>, deadline: &Deadline) -> Failure {
    match memory {
        Some(MemoryCap::Instance) => return Failure::Memory(e.root_cause().to_string()),
        Some(MemoryCap::HostBudget) => return Failure::HostMemory,
        None => {}
    }
    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return Failure::Busy;
    }
    if let Some(spent) = e.downcast_ref::<crate::caps::error::HostCallsExhausted>() {
        return Failure::HostCalls(spent.to_string());
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Failure::Timeout,
        Some(Trap::OutOfFuel) => Failure::Fuel,
        _ if deadline.was_hit() => Failure::Timeout,
        _ => Failure::Trap(format!("{e:?}")),
    }
}

fn respond(
    function: &str,
    version: &str,
    failure: Failure,
    limits: &crate::config::Limits,
) -> http::Response<Body> {
    match failure {
        Failure::Timeout => {
            tracing::warn!(function, version, "function timed out");
            error(
                504,
                &format!(
                    "the function did not respond within {} s",
                    limits.headers_timeout.as_secs_f64()
                ),
            )
        }
        Failure::Memory(detail) => {
            tracing::warn!(
                function,
                version,
                "function exceeded its memory limit: {detail}"
            );
            error(
                500,
                &format!(
                    "the function exceeded its memory limit of {} MiB",
                    limits.memory >> 20
                ),
            )
        }
        Failure::HostMemory => {
            tracing::warn!(
                function,
                version,
                "the host's memory budget for guests is exhausted"
            );
            error(503, "the host is out of memory for functions; try again")
        }
        Failure::Fuel => {
            tracing::warn!(function, version, "function ran out of fuel");
            error(500, "the function exceeded its instruction budget")
        }
        Failure::Busy => {
            tracing::warn!(function, version, "instance pool exhausted");
            error(503, "too many concurrent invocations; try again")
        }
        Failure::HostCalls(detail) => {
            tracing::warn!(function, version, "{detail}");
            error(500, &detail)
        }
        Failure::Trap(detail) => {
            tracing::error!(function, version, "function trapped: {detail}");
            error(500, "the function trapped; see the host log for details")
        }
        Failure::NoResponse => {
            tracing::warn!(function, version, "function returned without a response");
            error(500, "the function returned without sending a response")
        }
    }
}
