//! An example function in Rust: greets `?name=…`, logs through `pb:trace`,
//! and reports whether `pb:kv` is available (it is not in single-component mode).
//!
//! Build: `cargo build --release --target wasm32-wasip2` (in `examples/`).
//! Deploy: `pbs deploy target/wasm32-wasip2/release/hello.wasm --name hello`.

wit_bindgen::generate!({
    path: "../../wit",
    world: "pb:serverless/http-function@0.1.0",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use pb::kv::store as kv;
use pb::trace::tracing::{log, trace_id, Field, Level, Span};
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

impl Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let span = Span::new("greet", &[]);
        let query = request.path_with_query().unwrap_or_default();
        let name = query
            .split_once("name=")
            .map(|(_, v)| v.split('&').next().unwrap_or_default().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "world".into());
        span.set_attribute("name", &name);
        log(
            Level::Info,
            "greeting",
            &[Field {
                key: "name".into(),
                value: name.clone(),
            }],
        );
        let kv_state = match kv::open(None) {
            Ok(_) => "available".to_string(),
            Err(e) => format!("{e:?}"),
        };
        let body = format!(
            "{{\"message\":\"Hello, {}!\",\"trace_id\":\"{}\",\"kv\":\"{}\"}}\n",
            name.replace(['"', '\\'], ""),
            trace_id(),
            kv_state.replace('"', "'"),
        );

        let headers = Fields::new();
        headers
            .append(&"content-type".to_string(), &b"application/json".to_vec())
            .expect("header");
        let response = OutgoingResponse::new(headers);
        let outgoing = response.body().expect("body");
        ResponseOutparam::set(out, Ok(response));
        {
            let stream = outgoing.write().expect("stream");
            stream.blocking_write_and_flush(body.as_bytes()).expect("write");
        }
        OutgoingBody::finish(outgoing, None).expect("finish");
        span.end();
    }
}

export!(Hello);
