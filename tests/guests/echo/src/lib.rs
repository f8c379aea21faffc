//! Streams the request body back as it arrives (never holding more than one
//! chunk), and reports method, path with query, and the request headers as
//! `x-echo-*` response headers. `?status=N` sets the status code.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "wasi:http/proxy@0.2.10",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::StreamError;

struct Echo;

fn method_name(m: &Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(s) => s.clone(),
    }
}

impl Guest for Echo {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let status = path
            .split_once("status=")
            .and_then(|(_, s)| s.split('&').next()?.parse::<u16>().ok())
            .unwrap_or(200);
        let headers = Fields::new();
        let set = |k: &str, v: &[u8]| {
            headers.append(k, v).expect("header");
        };
        set("x-echo-method", method_name(&request.method()).as_bytes());
        set("x-echo-path", path.as_bytes());
        for (name, value) in request.headers().entries() {
            if name.starts_with("x-") {
                set(&format!("x-echo-header-{name}"), &value);
            }
        }
        if let Some(ct) = request.headers().get("content-type").first() {
            set("content-type", ct);
        }
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("status");
        let outgoing = response.body().expect("body");
        ResponseOutparam::set(out, Ok(response));

        let incoming = request.consume().expect("request body");
        {
            let input = incoming.stream().expect("input stream");
            let output = outgoing.write().expect("output stream");
            loop {
                match input.blocking_read(64 * 1024) {
                    Ok(chunk) if chunk.is_empty() => continue,
                    // blocking-write-and-flush takes at most 4096 bytes.
                    Ok(chunk) => {
                        for piece in chunk.chunks(4096) {
                            output.blocking_write_and_flush(piece).expect("write");
                        }
                    }
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        panic!("reading the request failed: {}", e.to_debug_string())
                    }
                }
            }
        }
        let _ = IncomingBody::finish(incoming);
        OutgoingBody::finish(outgoing, None).expect("finish");
    }
}

export!(Echo);
