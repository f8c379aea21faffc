//! Answers every request with `Hello, world!`: a plain `wasi:http/proxy`
//! component, the same that runs under `wasmtime serve`.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "wasi:http/proxy@0.2.10",
    generate_all,
});

#[path = "../../common/http.rs"]
mod http;

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Hello;

impl Guest for Hello {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        http::respond(
            out,
            200,
            &[("content-type", "text/plain")],
            b"Hello, world!\n",
        );
    }
}

export!(Hello);
