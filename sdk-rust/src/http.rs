//! HTTP handlers: `#[pb_sdk::http_handler]` on a function from [`Request`]
//! to anything [`IntoResponse`].
//!
//! The request's body is read whole before the handler runs (at most
//! [`MAX_BODY`] bytes; more is answered 413) and the response is written
//! whole after it: the simple case. For streaming, implement
//! `wasi:http/incoming-handler` with [`crate::bindings`] yourself.

use crate::bindings::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::Error;
use serde::{de::DeserializeOwned, Serialize};

/// The largest request body a handler gets (16 MiB); a larger one is
/// answered 413 without running it.
pub const MAX_BODY: usize = 16 << 20;

/// Bytes written per `blocking-write-and-flush` (the most WASI allows).
const WRITE_CHUNK: usize = 4096;

/// An HTTP request, read whole.
#[derive(Clone, Debug)]
pub struct Request {
    method: String,
    path_with_query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    /// A request built by hand (tests, or calling a handler from another).
    pub fn new(method: &str, path_with_query: &str) -> Request {
        Request {
            method: method.to_ascii_uppercase(),
            path_with_query: path_with_query.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// `GET`, `POST`, … (upper case).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, e.g. `/api/pb_serverless/notes/42` (functions deployed on
    /// the host see the full path, `pbs serve component.wasm` the path
    /// after the host).
    pub fn path(&self) -> &str {
        self.path_with_query
            .split_once('?')
            .map_or(&self.path_with_query, |(p, _)| p)
    }

    /// The raw query string without `?` (empty when none).
    pub fn query(&self) -> &str {
        self.path_with_query.split_once('?').map_or("", |(_, q)| q)
    }

    /// The first value of query parameter `name`, percent-decoded (`+` is a
    /// space, as in forms).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_component(k) == name).then(|| decode_component(v))
            })
            .next()
    }

    /// The first value of header `name` (any case) as text, if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Every header, names in lower case, in the order received.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text; `invalid` (400) when it is not UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body)
            .map_err(|_| Error::Invalid("the request body is not UTF-8 text".into()))
    }

    /// The body as JSON of type `T`; `invalid` (400) naming what is wrong
    /// when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Invalid(format!("the request body is not the JSON expected: {e}")))
    }

    fn from_incoming(request: IncomingRequest) -> Result<Request, Error> {
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Head => "HEAD".into(),
            Method::Post => "POST".into(),
            Method::Put => "PUT".into(),
            Method::Delete => "DELETE".into(),
            Method::Connect => "CONNECT".into(),
            Method::Options => "OPTIONS".into(),
            Method::Trace => "TRACE".into(),
            Method::Patch => "PATCH".into(),
            Method::Other(m) => m.to_ascii_uppercase(),
        };
        let path_with_query = request.path_with_query().unwrap_or_else(|| "/".into());
        let headers = request.headers().entries();
        let body = read_body(&request)?;
        Ok(Request {
            method,
            path_with_query,
            headers,
            body,
        })
    }
}

fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, Error> {
    let internal = |what: &str| Error::Internal(format!("reading the request body: {what}"));
    let body = request
        .consume()
        .map_err(|()| internal("already consumed"))?;
    let mut out = Vec::new();
    {
        let stream = body.stream().map_err(|()| internal("no stream"))?;
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => {
                    if out.len() + chunk.len() > MAX_BODY {
                        return Err(Error::Quota(format!(
                            "the request body is larger than {MAX_BODY} bytes"
                        )));
                    }
                    out.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(internal(&e.to_debug_string()))
                }
            }
        }
    }
    drop(body);
    Ok(out)
}

/// `%XX` and `+` decoding of one query component; invalid escapes are
/// kept as they are, invalid UTF-8 becomes U+FFFD.
fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP response, written whole once the handler returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with this status, no headers and no body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// 200 with a `text/plain` body.
    pub fn text(body: impl Into<String>) -> Response {
        Response::new(200)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into())
    }

    /// 200 with `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Response, Error> {
        let body = serde_json::to_vec(value)?;
        Ok(Response::new(200)
            .with_header("content-type", "application/json")
            .with_body(body))
    }

    /// Sets the status.
    pub fn with_status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Response {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// What a handler may return.
pub trait IntoResponse {
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for &str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for serde_json::Value {
    fn into_response(self) -> Response {
        Response::new(200)
            .with_header("content-type", "application/json")
            .with_body(self.to_string())
    }
}

/// Its status, and PocketBase's error body:
/// `{"status": 404, "message": "…", "data": {}}`.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": self.status(),
            "message": self.message(),
            "data": {},
        });
        Response::new(self.status())
            .with_header("content-type", "application/json")
            .with_body(body.to_string())
    }
}

impl<R: IntoResponse, E: IntoResponse> IntoResponse for Result<R, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// Runs `handler` on the request and sends its response. What
/// `#[http_handler]` expands to calls; not a public API.
#[doc(hidden)]
pub fn __serve<R: IntoResponse>(
    request: IncomingRequest,
    out: ResponseOutparam,
    handler: impl FnOnce(Request) -> R,
) {
    let response = match Request::from_incoming(request) {
        Ok(request) => handler(request).into_response(),
        Err(Error::Quota(m)) => Error::Quota(m).into_response().with_status(413),
        Err(e) => e.into_response(),
    };
    send(out, response);
}

fn send(out: ResponseOutparam, response: Response) {
    let headers = Fields::new();
    for (name, value) in &response.headers {
        // A header wasi:http refuses (bad name, forbidden) is left out
        // rather than failing the whole response.
        let _ = headers.append(name, value);
    }
    let outgoing = OutgoingResponse::new(headers);
    if outgoing.set_status_code(response.status).is_err() {
        let _ = outgoing.set_status_code(500);
    }
    let body = outgoing.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(outgoing));
    {
        let stream = body.write().expect("a new body has a stream");
        for chunk in response.body.chunks(WRITE_CHUNK) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                // The client went away; nothing is left to tell it.
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_query_and_params() {
        let r = Request::new(
            "get",
            "/api/pb_serverless/notes/7?q=oat+milk&n=%32%30&bad=%zz&q=2",
        );
        assert_eq!(r.method(), "GET");
        assert_eq!(r.path(), "/api/pb_serverless/notes/7");
        assert_eq!(r.query(), "q=oat+milk&n=%32%30&bad=%zz&q=2");
        assert_eq!(r.query_param("q").as_deref(), Some("oat milk"));
        assert_eq!(r.query_param("n").as_deref(), Some("20"));
        assert_eq!(r.query_param("bad").as_deref(), Some("%zz"));
        assert_eq!(r.query_param("none"), None);
        let r = Request::new("GET", "/x");
        assert_eq!((r.path(), r.query()), ("/x", ""));
        assert_eq!(decode_component("a%2"), "a%2");
        assert_eq!(decode_component("%e2%82%ac"), "€");
    }

    #[test]
    fn bodies_as_text_and_json() {
        let r = Request::new("POST", "/")
            .with_header("Content-Type", "application/json")
            .with_body(r#"{"text":"hi"}"#);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["text"], "hi");
        let e = r.json::<Vec<u32>>().unwrap_err();
        assert_eq!(e.status(), 400, "{e}");
        let r = Request::new("POST", "/").with_body(vec![0xff]);
        assert_eq!(r.text().unwrap_err().status(), 400);
    }

    #[test]
    fn results_and_errors_become_responses() {
        let ok: Result<&str, Error> = Ok("fine");
        let r = ok.into_response();
        assert_eq!((r.status(), r.body()), (200, &b"fine"[..]));
        let err: Result<Response, Error> = Err(Error::NotFound("no note".into()));
        let r = err.into_response();
        assert_eq!(r.status(), 404);
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"status": 404, "message": "no note", "data": {}})
        );
        let r = Response::json(&serde_json::json!({"a": 1}))
            .unwrap()
            .with_status(201);
        assert_eq!((r.status(), r.body()), (201, &br#"{"a":1}"#[..]));
        assert_eq!(
            r.headers()[0],
            ("content-type".into(), b"application/json".to_vec())
        );
    }
}
