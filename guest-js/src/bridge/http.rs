//! HTTP both ways on `wasi:http`: outgoing requests for `fetch`, reading
//! bodies, and writing this invocation's response.

use std::cell::RefCell;

use javy::quickjs::{Array, Ctx, Exception, Function, Object, Result, TypedArray, Value};

use super::slots::{self, Slot};
use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use crate::wasi::io::streams::{OutputStream, StreamError};

thread_local! {
    static OUTPARAM: RefCell<Option<ResponseOutparam>> = const { RefCell::new(None) };
}

/// Largest write `blocking-write-and-flush` accepts in one call.
const MAX_WRITE: usize = 4096;

pub fn set_response_outparam(out: ResponseOutparam) {
    OUTPARAM.with(|o| *o.borrow_mut() = Some(out));
}

/// The outparam if no response was sent yet.
pub fn take_response_outparam() -> Option<ResponseOutparam> {
    OUTPARAM.with(|o| o.borrow_mut().take())
}

/// A token to read `body` with `bodyRead`.
pub fn incoming_body(body: IncomingBody) -> Option<u32> {
    let stream = body.stream().ok()?;
    Some(slots::insert(Slot::Reading {
        stream,
        _body: body,
    }))
}

pub fn register<'js>(ctx: &Ctx<'js>, pbs: &Object<'js>) -> Result<()> {
    pbs.set("fetchStart", Function::new(ctx.clone(), fetch_start)?)?;
    pbs.set("fetchResult", Function::new(ctx.clone(), fetch_result)?)?;
    pbs.set("bodyRead", Function::new(ctx.clone(), body_read)?)?;
    pbs.set("close", Function::new(ctx.clone(), close)?)?;
    pbs.set("respond", Function::new(ctx.clone(), respond)?)?;
    pbs.set("write", Function::new(ctx.clone(), write)?)?;
    pbs.set("finish", Function::new(ctx.clone(), finish)?)?;
    Ok(())
}

fn type_error(ctx: &Ctx<'_>, message: impl AsRef<str>) -> javy::quickjs::Error {
    Exception::throw_type(ctx, message.as_ref())
}

/// `[[name, value], …]` from JS into `wasi:http` fields.
fn fields(ctx: &Ctx<'_>, headers: Array<'_>) -> Result<Fields> {
    let mut list = Vec::with_capacity(headers.len());
    for pair in headers.iter::<Array>() {
        let pair = pair?;
        let name: String = pair.get(0)?;
        let value: String = pair.get(1)?;
        list.push((name.to_ascii_lowercase(), value.into_bytes()));
    }
    Fields::from_list(&list).map_err(|e| type_error(ctx, format!("invalid header: {e:?}")))
}

fn headers_to_js<'js>(ctx: &Ctx<'js>, fields: &Fields) -> Result<Array<'js>> {
    let array = Array::new(ctx.clone())?;
    for (i, (name, value)) in fields.entries().into_iter().enumerate() {
        let pair = Array::new(ctx.clone())?;
        pair.set(0, name)?;
        pair.set(1, String::from_utf8_lossy(&value).into_owned())?;
        array.set(i, pair)?;
    }
    Ok(array)
}

fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

/// Splits an absolute http(s) URL (already normalised by `URL`) into the
/// parts `wasi:http` wants; the fragment is never sent.
fn split_url(url: &str) -> std::result::Result<(Scheme, &str, &str), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!(
            "fetch supports http: and https: URLs only, not {url:?}"
        ));
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err(format!("the URL {url:?} has no host"));
    }
    if authority.contains('@') {
        return Err(format!(
            "the URL {url:?} includes credentials; send them in a header"
        ));
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

fn fetch_start<'js>(
    ctx: Ctx<'js>,
    method_name: String,
    url: String,
    headers: Array<'js>,
    body: Option<TypedArray<'js, u8>>,
) -> Result<u32> {
    super::forbid_at_build_time(&ctx, "fetch")?;
    let (scheme, authority, path) = split_url(&url).map_err(|m| type_error(&ctx, m))?;
    let request = OutgoingRequest::new(fields(&ctx, headers)?);
    let bad = |what: &str| type_error(&ctx, format!("invalid request {what} for {url}"));
    request
        .set_method(&method(&method_name))
        .map_err(|_| bad("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|_| bad("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|_| bad("host"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|_| bad("path"))?;
    let outgoing = request.body().map_err(|_| bad("body"))?;
    let future = outgoing_handler::handle(request, None)
        .map_err(|e| type_error(&ctx, format!("fetch {url} failed: {}", describe(&e))))?;
    // The request is under way; send the body (the host reads it while we write).
    let stream = outgoing.write().map_err(|_| bad("body"))?;
    if let Some(bytes) = body.as_ref().and_then(|b| b.as_bytes()) {
        write_all(&stream, bytes)
            .map_err(|e| type_error(&ctx, format!("fetch {url}: sending the body failed: {e}")))?;
    }
    drop(stream);
    OutgoingBody::finish(outgoing, None)
        .map_err(|e| type_error(&ctx, format!("fetch {url} failed: {}", describe(&e))))?;
    Ok(slots::insert(Slot::Pending(future)))
}

fn fetch_result<'js>(ctx: Ctx<'js>, token: u32) -> Result<Value<'js>> {
    let ready = slots::with(token, |slot| match slot {
        Slot::Pending(future) => future.get(),
        _ => None,
    })
    .ok_or_else(|| type_error(&ctx, "fetch: unknown or finished request"))?;
    let Some(outcome) = ready else {
        return Ok(Value::new_null(ctx));
    };
    slots::remove(token);
    let response = match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => {
            return Err(type_error(
                &ctx,
                format!("fetch failed: {}", describe(&code)),
            ))
        }
        Err(()) => {
            return Err(type_error(
                &ctx,
                "fetch failed: the response was already taken",
            ))
        }
    };
    let result = Object::new(ctx.clone())?;
    result.set("status", response.status())?;
    result.set("headers", headers_to_js(&ctx, &response.headers())?)?;
    let body = response
        .consume()
        .map_err(|_| type_error(&ctx, "fetch failed: the response has no body"))?;
    let token = incoming_body(body)
        .ok_or_else(|| type_error(&ctx, "fetch failed: the response body cannot be read"))?;
    result.set("body", token)?;
    Ok(result.into_value())
}

/// A chunk, `null` at the end, `undefined` when nothing has arrived yet.
fn body_read<'js>(ctx: Ctx<'js>, token: u32, max: u32) -> Result<Value<'js>> {
    let read = slots::with(token, |slot| match slot {
        Slot::Reading { stream, .. } => Some(stream.read(u64::from(max.max(1)))),
        _ => None,
    })
    .flatten();
    match read {
        None => Ok(Value::new_null(ctx)),
        Some(Ok(bytes)) if bytes.is_empty() => Ok(Value::new_undefined(ctx)),
        Some(Ok(bytes)) => Ok(TypedArray::new(ctx, bytes)?.into_value()),
        Some(Err(StreamError::Closed)) => {
            slots::remove(token);
            Ok(Value::new_null(ctx))
        }
        Some(Err(StreamError::LastOperationFailed(e))) => {
            slots::remove(token);
            Err(type_error(
                &ctx,
                format!("reading the body failed: {}", e.to_debug_string()),
            ))
        }
    }
}

/// Drops what `token` names. A response body dropped without `finish` is
/// an abort: the client sees the stream cut, not a short but complete body.
fn close(token: u32) {
    drop(slots::remove(token));
}

fn respond<'js>(ctx: Ctx<'js>, status: u16, headers: Array<'js>) -> Result<u32> {
    // Everything that can fail comes before the outparam is taken, so a
    // refused response still leaves room for the 500 that reports it.
    let response = OutgoingResponse::new(fields(&ctx, headers)?);
    if response.set_status_code(status).is_err() {
        return Err(Exception::throw_range(
            &ctx,
            &format!("invalid status {status}"),
        ));
    }
    let body = response.body().map_err(|_| {
        type_error(
            &ctx,
            "the response headers are invalid (check content-length)",
        )
    })?;
    let stream = body.write().ok();
    let out = take_response_outparam()
        .ok_or_else(|| type_error(&ctx, "the response was already sent"))?;
    ResponseOutparam::set(out, Ok(response));
    Ok(slots::insert(Slot::Writing {
        stream,
        body: Some(body),
    }))
}

fn write<'js>(ctx: Ctx<'js>, token: u32, bytes: TypedArray<'js, u8>) -> Result<()> {
    let data = bytes.as_bytes().unwrap_or(&[]);
    let written = slots::with(token, |slot| match slot {
        Slot::Writing {
            stream: Some(stream),
            ..
        } => Some(write_all(stream, data)),
        _ => None,
    })
    .flatten()
    .ok_or_else(|| type_error(&ctx, "the response body is closed"))?;
    // The guest sees the failure (and stops producing), but `serve` logs a
    // client that went away at info level: it is not the function's error.
    written.map_err(|e| type_error(&ctx, format!("the client went away: {e}")))
}

fn finish(token: u32) {
    if let Some(Slot::Writing { stream, body }) = slots::remove(token) {
        drop(stream);
        if let Some(body) = body {
            let _ = OutgoingBody::finish(body, None);
        }
    }
}

fn write_all(stream: &OutputStream, mut data: &[u8]) -> std::result::Result<(), String> {
    while !data.is_empty() {
        let n = data.len().min(MAX_WRITE);
        stream
            .blocking_write_and_flush(&data[..n])
            .map_err(|e| match e {
                StreamError::Closed => "closed".to_string(),
                StreamError::LastOperationFailed(e) => e.to_debug_string(),
            })?;
        data = &data[n..];
    }
    Ok(())
}

/// A readable sentence for the `wasi:http` error codes a fetch meets.
fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::HttpRequestDenied => {
            "the host refused the request: the host is not in this function's allowed hosts, \
             or a {{secret:…}} placeholder is not bound to it (the host log says which)"
                .into()
        }
        ErrorCode::DnsError(e) => format!("DNS lookup failed ({:?})", e.rcode),
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::ConnectionReadTimeout => "the server did not answer in time".into(),
        ErrorCode::HttpResponseTimeout => "the response timed out".into(),
        ErrorCode::InternalError(Some(m)) => m.clone(),
        other => format!("{other:?}"),
    }
}
