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
