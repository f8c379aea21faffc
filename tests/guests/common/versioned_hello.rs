// A plain `wasi:http/proxy` component written against the bindings crate of
// one WASI 0.2.x release (each guest's Cargo.toml names it `wasi`), not
// against `wit/`: the host must take components of every 0.2.x as they are.
// Included by `wasi_0_2_0` and `wasi_0_2_12`, which define `VERSION`.
//
// Written for `no_std` (alloc only): Rust's std brings wasi:http bindings
// of its own release (0.2.4 with Rust 1.95), and wit-component merges a
// component's imports up to the newest version it sees, so a guest of an
// older release is built without std (`wasi_0_2_0`). Its io, clocks and
// random imports still come at the version of the target's libc (0.2.6),
// which the host must take too.
//
// Answers `wasi <VERSION> <path> clock=<ok|bad> random=<ok|bad> agent=<user-agent>`,
// so one request exercises the export (`incoming-handler`) and imports of
// the same release: http types, io streams, wall clock and random.
// (`&x.to_string()` and `&x.to_vec()` fit the older bindings' `&String` /
// `&Vec<u8>` parameters as well as the newer `&str` / `&[u8]`.)

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Hello;

impl Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let agent = request
            .headers()
            .get(&"user-agent".to_string())
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        // 2020-09-13 or later: a real wall clock, not zero.
        let clock = if wasi::clocks::wall_clock::now().seconds > 1_600_000_000 { "ok" } else { "bad" };
        // Two draws equal only if random is broken (1 in 2^64 otherwise).
        let random = wasi::random::random::get_random_u64();
        let random = if random != wasi::random::random::get_random_u64() { "ok" } else { "bad" };
        let body = format!("wasi {VERSION} {path} clock={clock} random={random} agent={agent}\n");

        let headers = Fields::new();
        headers
            .append(&"content-type".to_string(), &b"text/plain".to_vec())
            .expect("header");
        let response = OutgoingResponse::new(headers);
        let outgoing = response.body().expect("body");
        ResponseOutparam::set(out, Ok(response));
        {
            let stream = outgoing.write().expect("stream");
            stream.blocking_write_and_flush(body.as_bytes()).expect("write");
        }
        OutgoingBody::finish(outgoing, None).expect("finish");
    }
}

wasi::http::proxy::export!(Hello);
