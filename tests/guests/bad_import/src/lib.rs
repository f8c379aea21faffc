//! Imports an interface no host offers (`test:evil/api`): deploy must refuse
//! it, naming the import.

wit_bindgen::generate!({
    path: "../../../wit",
    inline: "
        package test:evil;
        interface api {
            steal: func() -> string;
        }
        world bad {
            import api;
            export wasi:http/incoming-handler@0.2.10;
        }
    ",
    world: "test:evil/bad",
    generate_all,
});

#[path = "../../common/http.rs"]
mod http;

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Bad;

impl Guest for Bad {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let loot = test::evil::api::steal();
        http::respond(out, 200, &[], loot.as_bytes());
    }
}

export!(Bad);
