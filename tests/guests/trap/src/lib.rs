//! Traps on every request (a Wasm `unreachable`), before any response.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "wasi:http/proxy@0.2.10",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Trap;

impl Guest for Trap {
    fn handle(_request: IncomingRequest, _out: ResponseOutparam) {
        core::arch::wasm32::unreachable()
    }
}

export!(Trap);
