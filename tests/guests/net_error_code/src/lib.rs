//! A `wasi:http/proxy` component that also imports
//! `wasi:sockets/network.network-error-code`, which WASI 0.2.x gates behind
//! the `network-error-code` feature and which components of StarlingMonkey
//! (ComponentizeJS) import whenever their world names `wasi:sockets`: the
//! host must link it. The function is only referenced (it needs an I/O
//! error to be called on); linking is what is tested.

wit_bindgen::generate!({
    path: "../../../wit",
    inline: "
        package test:sockets;
        world net-error-code {
            include wasi:http/proxy@0.2.10;
            import wasi:sockets/network@0.2.10;
        }
    ",
    world: "test:sockets/net-error-code",
    features: ["network-error-code"],
    generate_all,
});

#[path = "../../common/http.rs"]
mod http;

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct NetErrorCode;

impl Guest for NetErrorCode {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        // Kept opaque so the import is not optimised away.
        let f = std::hint::black_box(wasi::sockets::network::network_error_code as usize);
        let body = format!("network-error-code linked: {}\n", f != 0);
        http::respond(out, 200, &[("content-type", "text/plain")], body.as_bytes());
    }
}

export!(NetErrorCode);
