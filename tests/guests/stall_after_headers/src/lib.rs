//! Sends its headers and a first chunk, then spins without sending more:
//! the idle timeout between body chunks must stop it, long before the
//! total streaming limit.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "wasi:http/proxy@0.2.10",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};

struct Stall;

impl Guest for Stall {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let response = OutgoingResponse::new(Fields::new());
        let body = response.body().expect("body");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("stream");
        stream.blocking_write_and_flush(b"partial").expect("write");
        let mut x: u64 = 1;
        loop {
            x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export!(Stall);
