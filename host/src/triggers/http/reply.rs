//! What the host answers itself — the admin API and the PocketBase-style
//! REST APIs (collections, records, files): reading a request's body and
//! parameters, checking the admin token, and replies in PocketBase's error
//! shape `{status, message, data}`.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The body type of every response (guest streams and host replies alike).
pub type Body = HyperOutgoingBody;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn json(status: u16, value: &serde_json::Value) -> http::Response<Body> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(full(value.to_string()))
        .expect("static response parts are valid")
}

pub fn error(status: u16, message: &str) -> http::Response<Body> {
    json(
        status,
        &serde_json::json!({"status": status, "message": message, "data": {}}),
    )
}

/// A failure of the host itself: logged in full under `what`; the client
/// learns only that it happened.
pub fn internal(what: &str, e: impl std::fmt::Display) -> http::Response<Body> {
    tracing::error!("{what}: {e:#}");
    error(500, "internal error; see the host log")
}

/// `204 No Content`.
pub fn no_content() -> http::Response<Body> {
    http::Response::builder()
        .status(204)
        .body(full(""))
        .expect("static response")
}

/// Whether the request carries a body the host may not read.
pub fn has_body<B>(req: &http::Request<B>) -> bool {
    let h = req.headers();
    h.contains_key(http::header::TRANSFER_ENCODING)
        || h.get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Marks a reply sent without reading the request body: the connection
/// closes after it, so no client reuses a connection with unread bytes.
pub fn closing(mut resp: http::Response<Body>) -> http::Response<Body> {
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

/// [`closing`] when `req` has a body that was not read.
pub fn unread<B>(req: &Request<B>, resp: http::Response<Body>) -> http::Response<Body> {
    if has_body(req) {
        closing(resp)
    } else {
        resp
    }
}

/// The request's body, at most `limit` bytes (413 beyond, and the
/// connection closes: the rest of the body is never kept). A declared
/// `content-length` over the limit is refused before anything is read; a
/// body that stops arriving for [`super::body_limit::HOST_BODY_IDLE_TIMEOUT`],
/// or comes slower than [`super::body_limit::HOST_BODY_MIN_RATE`] after
/// it, is answered 408 and the connection closes.
pub async fn read_body(
    req: Request<Incoming>,
    limit: usize,
) -> Result<Bytes, http::Response<Body>> {
    // A declared length over the limit is refused before anything is read.
    if let Some(len) = super::body_limit::declared_too_large(&req, limit as u64) {
        super::body_limit::linger(req.into_body());
        return Err(closing(error(
            413,
            &format!("the request body ({len} bytes) is larger than the limit of {limit} bytes"),
        )));
    }
    let body = super::body_limit::LimitedBody::new(req.into_body(), limit as u64)
        .idle_timeout(super::body_limit::HOST_BODY_IDLE_TIMEOUT)
        .min_rate(
            super::body_limit::HOST_BODY_IDLE_TIMEOUT,
            super::body_limit::HOST_BODY_MIN_RATE,
        );
    match body.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(wasmtime_wasi_http::Error::HttpRequestBodySize(_)) => Err(closing(error(
            413,
            &format!("the request body is larger than the limit of {limit} bytes"),
        ))),
        Err(wasmtime_wasi_http::Error::ConnectionReadTimeout) => Err(closing(error(
            408,
            &format!(
                "the request body stopped arriving ({} s without a byte) or came slower than {} bytes/s",
                super::body_limit::HOST_BODY_IDLE_TIMEOUT.as_secs(),
                super::body_limit::HOST_BODY_MIN_RATE,
            ),
        ))),
        Err(e) => Err(error(400, &format!("could not read the request body: {e}"))),
    }
}

/// The body as JSON of type `T`, at most `limit` bytes; a bad one is a 400
/// naming the expected `shape`. serde's message is left out when the body
/// may hold a secret (`quote_input` false): it may quote the input.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
    limit: usize,
    shape: &str,
    quote_input: bool,
) -> Result<T, http::Response<Body>> {
    let bytes = read_body(req, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let why = if quote_input {
            e.to_string()
        } else {
            format!("line {}, column {}", e.line(), e.column())
        };
        error(400, &format!("the body must be JSON {shape}: {why}"))
    })
}

/// The value of query parameter `key`, decoded.
pub fn query_param<B>(req: &Request<B>, key: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Whether query parameter `key` is `true` or `1`.
pub fn query_flag<B>(req: &Request<B>, key: &str) -> bool {
    query_param(req, key).is_some_and(|v| v == "true" || v == "1")
}

/// Whether the request carries the admin token: `Authorization: Bearer
/// <token>`, or the bare token as the PocketBase SDK sends it.
pub fn is_admin<B>(req: &Request<B>, token: &str) -> bool {
    let Some(value) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let value = value.trim();
    let given = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    };
    !token.is_empty() && constant_time_eq(given.as_bytes(), token.as_bytes())
}

/// Compares without an early exit, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// At most 64 characters of a client's text, for messages.
pub fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}
