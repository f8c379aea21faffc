//! The exports: HTTP requests, jobs, cron ticks and record hooks, each handed
//! to the JS runtime and driven to the end on the event loop.

use javy::quickjs::{Array, Ctx, Function, Object, Persistent, Promise, Value};

use crate::bridge;
use crate::exports::pb::serverless::{cron_handler, hook_handler, job_handler};
use crate::exports::wasi::http::incoming_handler;
use crate::resident;
use crate::runtime::{self, describe_error, internal, with_ctx};
use crate::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam, Scheme,
};
use crate::wasi::random::random;
use crate::Engine;

/// The start of every export call. The snapshot froze the random state:
/// reseed it for this instance so `Math.random` is not the same sequence
/// every time; and keep the heap resident in the host's slot
/// (`resident.rs`).
fn start_invocation() {
    fastrand::seed(random::get_random_u64());
    resident::keep_heap_resident();
}

impl incoming_handler::Guest for Engine {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        start_invocation();
        bridge::set_response_outparam(out);
        let started = with_ctx(|ctx| {
            let req = request_to_js(&ctx, &request)?;
            drop(request);
            let serve: Function = internal(&ctx).get("serve")?;
            serve.call::<_, ()>((req,))
        });
        if let Err(e) = started {
            let message = with_ctx(|ctx| describe_error(&ctx, e));
            bridge::log_error(&message);
        }
        runtime::run_event_loop();
        bridge::drop_handles();
        // The handler's promise never settled and nothing was sent.
        if let Some(out) = bridge::take_response_outparam() {
            bridge::log_error("the handler finished without sending a response");
            send_plain(out, 500, "{\"status\":500,\"message\":\"The function did not return a response.\",\"data\":{}}");
        }
    }
}

fn request_to_js<'js>(
    ctx: &Ctx<'js>,
    request: &IncomingRequest,
) -> javy::quickjs::Result<Object<'js>> {
    let req = Object::new(ctx.clone())?;
    req.set("method", method_name(&request.method()))?;
    let scheme = match request.scheme() {
        Some(Scheme::Https) => "https",
        _ => "http",
    };
    let authority = request.authority().unwrap_or_else(|| "localhost".into());
    let path = request.path_with_query().unwrap_or_else(|| "/".into());
    req.set("url", format!("{scheme}://{authority}{path}"))?;
    let headers = Array::new(ctx.clone())?;
    for (i, (name, value)) in request.headers().entries().into_iter().enumerate() {
        let pair = Array::new(ctx.clone())?;
        pair.set(0, name)?;
        pair.set(1, String::from_utf8_lossy(&value).into_owned())?;
        headers.set(i, pair)?;
    }
    req.set("headers", headers)?;
    let body = request.consume().ok().and_then(bridge::incoming_body);
    req.set("body", body)?;
    Ok(req)
}

fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(m) => m.clone(),
    }
}

fn send_plain(out: ResponseOutparam, status: u16, json: &str) {
    let headers = Fields::from_list(&[("content-type".into(), b"application/json".to_vec())])
        .unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(body) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = body.write() {
        let _ = stream.blocking_write_and_flush(json.as_bytes());
    }
    let _ = OutgoingBody::finish(body, None);
}

/// What a handler's settled value is wanted as.
#[derive(PartialEq)]
enum Want {
    Nothing,
    /// The string the export settled to (the hook protocol of `runHook`).
    Text,
}

/// Calls the export `name` with `args` (JSON texts, parsed in JS) through
/// `__pbsInternal.runExport`, runs the loop, and returns the settled value
/// as asked, or the error text.
fn run_export(name: &str, args: &[&str], want: Want) -> Result<String, String> {
    run_through("runExport", name, args, want)
}

/// [`run_export`] through the internal function `entry`.
fn run_through(entry: &str, name: &str, args: &[&str], want: Want) -> Result<String, String> {
    start_invocation();
    let promise = with_ctx(|ctx| {
        let list = Array::new(ctx.clone()).map_err(|e| describe_error(&ctx, e))?;
        for (i, arg) in args.iter().enumerate() {
            let value = ctx
                .json_parse(arg.to_string())
                .map_err(|e| describe_error(&ctx, e))?;
            list.set(i, value).map_err(|e| describe_error(&ctx, e))?;
        }
        let run: Function = internal(&ctx)
            .get(entry)
            .map_err(|e| describe_error(&ctx, e))?;
        let promise: Promise = run
            .call((name, list))
            .map_err(|e| describe_error(&ctx, e))?;
        Ok::<_, String>(Persistent::save(&ctx, promise))
    })?;
    runtime::run_event_loop();
    bridge::drop_handles();
    with_ctx(|ctx| {
        let promise = promise.restore(&ctx).map_err(|e| describe_error(&ctx, e))?;
        match promise.result::<Value>() {
            None => Err(format!("the export `{name}` never finished")),
            Some(Err(e)) => Err(describe_error(&ctx, e)),
            // A job's result is not used: a value JSON cannot hold must not
            // turn its success into a retry.
            Some(Ok(_)) if want == Want::Nothing => Ok(String::new()),
            Some(Ok(v)) => v
                .as_string()
                .and_then(|s| s.to_string().ok())
                .ok_or_else(|| format!("the export `{name}` did not settle to a string")),
        }
    })
}

impl job_handler::Guest for Engine {
    fn run(job: job_handler::Job) -> Result<(), String> {
        let meta = format!(
            "{{\"id\":{},\"name\":{},\"attempt\":{}}}",
            json_string(&job.id),
            json_string(&job.name),
            job.attempt
        );
        run_export(&job.name, &[&job.payload, &meta], Want::Nothing).map(|_| ())
    }
}

impl cron_handler::Guest for Engine {
    fn run(tick: cron_handler::Tick) -> Result<(), String> {
        let meta = format!(
            "{{\"name\":{},\"schedule\":{},\"scheduledTime\":{}}}",
            json_string(&tick.name),
            json_string(&tick.schedule),
            tick.scheduled_ms
        );
        run_export(&tick.name, &[&meta], Want::Nothing).map(|_| ())
    }
}

impl hook_handler::Guest for Engine {
    /// The export gets `(record, {collection, event, oldRecord, depth})`;
    /// returning a record replaces it, throwing rejects the write with the
    /// error's message.
    fn handle(c: hook_handler::Context) -> hook_handler::Outcome {
        use hook_handler::Event;
        let event = match c.event {
            Event::BeforeCreate => "beforeCreate",
            Event::AfterCreate => "afterCreate",
            Event::BeforeUpdate => "beforeUpdate",
            Event::AfterUpdate => "afterUpdate",
            Event::BeforeDelete => "beforeDelete",
            Event::AfterDelete => "afterDelete",
        };
        let meta = format!(
            "{{\"collection\":{},\"event\":{},\"oldRecord\":{},\"depth\":{}}}",
            json_string(&c.collection),
            json_string(event),
            c.old_record.as_deref().unwrap_or("null"),
            c.depth
        );
        match run_through("runHook", &c.name, &[&c.record, &meta], Want::Text) {
            Ok(text) => match text.split_once(':') {
                Some(("replace", json)) => hook_handler::Outcome::Replace(json.to_string()),
                Some(("reject", message)) => hook_handler::Outcome::Reject(message.to_string()),
                _ => hook_handler::Outcome::Keep,
            },
            Err(message) => hook_handler::Outcome::Reject(message),
        }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
