//! Spins forever without calling the host: only the wall-clock limit
//! (epoch interruption) can stop it.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "wasi:http/proxy@0.2.10",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Spin;

impl Guest for Spin {
    fn handle(_request: IncomingRequest, _out: ResponseOutparam) {
        let mut x: u64 = 1;
        loop {
            x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export!(Spin);
