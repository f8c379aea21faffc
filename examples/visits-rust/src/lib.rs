//! The visits example in Rust, with the `pb-sdk` crate: `GET ?who=NAME`
//! counts the visit in `pb:kv`, stores it as a record of the `visits`
//! collection in `pb:data`, and answers the count and the number of
//! its records for that name; `GET …/hello` answers without touching either.
//! The same function exists in Python (`examples/visits-python`) and in
//! JavaScript through ComponentizeJS (`examples/visits-js`).
//!
//! Build (in `examples/`): `cargo build --release --target wasm32-wasip2`
//! Deploy (here): `pbs deploy` — the collection and the function.

use pb_sdk::data::{self, ListOptions};
use pb_sdk::http::{Request, Response};
use pb_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

/// A record of the `visits` collection.
#[derive(Serialize, Deserialize)]
struct Visit {
    who: String,
    n: i64,
    lang: String,
}

/// 1 to 40 letters, digits, `-` or `_`: safe inside a filter's quotes.
fn valid_name(who: &str) -> bool {
    (1..=40).contains(&who.len())
        && who
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[pb_sdk::http_handler]
fn visits(req: Request) -> Result<Response> {
    if req.path().ends_with("/hello") {
        return Ok(Response::text("hello from rust\n"));
    }
    let who = req.query_param("who").unwrap_or_else(|| "anonymous".into());
    if !valid_name(&who) {
        return Err(Error::Invalid(
            "`who` must be 1 to 40 letters, digits, - or _".into(),
        ));
    }
    let n = pb_sdk::kv::open()?.incr(&format!("visits:{who}"), 1)?;
    let visits = data::collection("visits");
    let record = visits.create(&Visit {
        who: who.clone(),
        n,
        lang: "rust".into(),
    })?;
    let page = visits.list::<Visit>(
        &ListOptions::new()
            .filter(format!("who = \"{who}\" && lang = \"rust\""))
            .per_page(1),
    )?;
    Response::json(&serde_json::json!({
        "lang": "rust",
        "who": who,
        "n": n,
        "id": record.id,
        "visits": page.total_items,
    }))
}
