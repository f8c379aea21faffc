//! Responses the host itself writes, in PocketBase's error shape
//! `{status, message, data}`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
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
