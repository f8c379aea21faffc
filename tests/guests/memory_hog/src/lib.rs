//! Grows its memory 1 MiB at a time, touching every page, until the host
//! refuses; then it would answer with how much it got (it should not get
//! the chance: the host stops it when the limit is hit).

wit_bindgen::generate!({
    path: "../../../wit",
    world: "wasi:http/proxy@0.2.10",
    generate_all,
});

#[path = "../../common/http.rs"]
mod http;

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Hog;

impl Guest for Hog {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        for _ in 0..(64 * 1024) {
            let mut block = Vec::new();
            if block.try_reserve_exact(1 << 20).is_err() {
                break;
            }
            block.resize(1 << 20, 0xAB);
            hoard.push(block);
        }
        let got = format!("allocated {} MiB\n", hoard.len());
        http::respond(out, 200, &[], got.as_bytes());
    }
}

export!(Hog);
