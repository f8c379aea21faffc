//! A hostile tenant for the hardening suite (tests/tests/e2e/hardening.rs).
//! `?mode=` picks the misuse; every mode answers 200 with `key=value`
//! lines describing what happened (unless the host stops it first):
//!
//! - `flood&op=kv|data|secrets&n=N[&ignore]`: N `pb:*` calls in one
//!   invocation (`kv.get`, `records.get-one`, `secrets.get`); stops at the
//!   first refusal by the host-call budget (`calls=`, `refused=`), or with
//!   `ignore` goes on calling regardless (the host then traps it).
//! - `big&bytes=N`: a value of N bytes to `kv.set`.
//! - `items&n=N&op=vector|trace`: a list of N items to
//!   `records.vector-search` (f32s) or `tracing.log` (fields).
//! - `fill&n=N`: N keys `k0000000…` set; `list&limit=N`: one `list-keys`
//!   page (`keys=`, `more=`); `page&per_page=N`: one `get-list` page of
//!   collection `items`.
//! - `handles&n=N`: N `kv.open` handles, all kept (`opened=`).
//! - `recurse`: recursion without end.
//! - `canary&token=HEX&write`: leaves 4096 copies of the token's bytes
//!   (XOR 0xA5, so the query's own text never matches) in linear memory and
//!   counts them; without `write`, counts copies left by anyone else.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "pb:serverless/http-function@0.1.0",
    generate_all,
});

#[path = "../../common/http.rs"]
mod http;

use exports::wasi::http::incoming_handler::Guest;
use pb::data::records;
use pb::data::types::{ListOptions, VectorQuery};
use pb::kv::store as kv;
use pb::secrets::store as secrets;
use pb::trace::tracing;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Hostile;

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| match kv.split_once('=') {
        Some((k, v)) if k == name => Some(v),
        None if kv == name => Some(""),
        _ => None,
    })
}

fn number(query: &str, name: &str) -> u64 {
    param(query, name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Whether `e` (a WIT error's debug form) is the host-call budget's refusal.
fn is_budget(e: &str) -> bool {
    e.contains("--max-host-calls")
}

fn flood(query: &str) -> String {
    let n = number(query, "n");
    let ignore = param(query, "ignore").is_some();
    let op = param(query, "op").unwrap_or("kv");
    let bucket = kv::open(None).expect("open the kv bucket");
    let mut refused = None;
    let mut calls = 0u64;
    for i in 0..n {
        let outcome = match op {
            "kv" => bucket
                .get("flood")
                .map(|_| ())
                .map_err(|e| format!("{e:?}")),
            "data" => records::get_one("flood", "x")
                .map(|_| ())
                .map_err(|e| format!("{e:?}")),
            _ => secrets::get("FLOOD")
                .map(|_| ())
                .map_err(|e| format!("{e:?}")),
        };
        calls = i + 1;
        if let Err(e) = outcome {
            if is_budget(&e) {
                if refused.is_none() {
                    refused = Some((i, e));
                }
                if !ignore {
                    break;
                }
            }
        }
    }
    match refused {
        Some((at, e)) => format!("calls={calls}\nrefused_at={at}\nrefused={e}\n"),
        None => format!("calls={calls}\nrefused_at=none\n"),
    }
}

fn big(query: &str) -> String {
    let bytes = number(query, "bytes") as usize;
    let value = vec![b'x'; bytes];
    let bucket = kv::open(None).expect("open the kv bucket");
    format!("set={:?}\n", bucket.set("big", &value, None))
}

fn items(query: &str) -> String {
    let n = number(query, "n") as usize;
    match param(query, "op").unwrap_or("vector") {
        "vector" => {
            let q = VectorQuery {
                field: "embedding".into(),
                vector: vec![0.5; n],
                filter: None,
                top: 3,
            };
            let r = records::vector_search("items", &q).map(|v| v.len());
            format!("vector_search={r:?}\n")
        }
        _ => {
            let fields: Vec<tracing::Field> = (0..n)
                .map(|i| tracing::Field {
                    key: format!("f{i}"),
                    value: "v".into(),
                })
                .collect();
            tracing::log(tracing::Level::Info, "many fields", &fields);
            "log=returned\n".into()
        }
    }
}

fn fill(query: &str) -> String {
    let n = number(query, "n");
    let bucket = kv::open(None).expect("open the kv bucket");
    for i in 0..n {
        bucket.set(&format!("k{i:07}"), b"1", None).expect("set");
    }
    format!("filled={n}\n")
}

fn list(query: &str) -> String {
    let limit = number(query, "limit").min(u32::MAX as u64) as u32;
    let bucket = kv::open(None).expect("open the kv bucket");
    match bucket.list_keys("k", None, Some(limit)) {
        Ok(page) => format!("keys={}\nmore={}\n", page.keys.len(), page.cursor.is_some()),
        Err(e) => format!("list={e:?}\n"),
    }
}

fn page(query: &str) -> String {
    let per_page = number(query, "per_page").min(u32::MAX as u64) as u32;
    let options = ListOptions {
        filter: None,
        sort: None,
        page: None,
        per_page: Some(per_page),
        fields: None,
        skip_total: false,
    };
    match records::get_list("items", &options) {
        Ok(r) => format!(
            "items={}\nper_page={}\ntotal={}\n",
            r.items.len(),
            r.per_page,
            r.total_items
        ),
        Err(e) => format!("get_list={e:?}\n"),
    }
}

/// Opens `n` kv buckets and keeps every handle.
fn handles(query: &str) -> String {
    let n = number(query, "n");
    let mut kept = Vec::new();
    for i in 0..n {
        match kv::open(None) {
            Ok(b) => kept.push(b),
            Err(e) => return format!("opened={i}\nrefused={e:?}\n"),
        }
    }
    format!("opened={}\n", kept.len())
}

#[inline(never)]
fn down(n: u64) -> u64 {
    let frame = core::hint::black_box([n; 16]);
    if core::hint::black_box(n < u64::MAX) {
        down(n + 1).wrapping_add(frame[7])
    } else {
        0
    }
}

/// Copies of `needle` in linear memory, other than `needle` itself.
fn count_copies(needle: &[u8]) -> u64 {
    let end = core::arch::wasm32::memory_size(0) * 65536;
    let own = needle.as_ptr() as usize;
    let first = needle[0];
    let mut found = 0;
    let mut at = 1usize; // address 0 is never read
    while at + needle.len() <= end {
        // SAFETY: every address below memory_size is mapped linear memory;
        // volatile reads so the scan is not optimised away.
        let b = unsafe { core::ptr::read_volatile(at as *const u8) };
        if b == first
            && at != own
            && (1..needle.len())
                .all(|i| unsafe { core::ptr::read_volatile((at + i) as *const u8) } == needle[i])
        {
            found += 1;
        }
        at += 1;
    }
    found
}

fn canary(query: &str) -> String {
    let hex = param(query, "token").unwrap_or("");
    let mut needle = Vec::with_capacity(hex.len() / 2);
    for i in (0..hex.len().saturating_sub(1)).step_by(2) {
        let byte = u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
        needle.push(byte ^ 0xA5);
    }
    if needle.len() < 8 {
        return "error=token too short\n".into();
    }
    if param(query, "write").is_some() {
        let mut left = Vec::with_capacity(needle.len() * 4096);
        for _ in 0..4096 {
            left.extend_from_slice(&needle);
        }
        // Left behind on purpose: the instance ends with it in memory.
        core::mem::forget(left);
        format!("wrote=4096\nfound={}\n", count_copies(&needle))
    } else {
        format!("found={}\n", count_copies(&needle))
    }
}

impl Guest for Hostile {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let query = path
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .to_string();
        let body = match param(&query, "mode").unwrap_or("") {
            "flood" => flood(&query),
            "big" => big(&query),
            "items" => items(&query),
            "fill" => fill(&query),
            "list" => list(&query),
            "page" => page(&query),
            "handles" => handles(&query),
            "recurse" => format!("depth={}\n", down(0)),
            "canary" => canary(&query),
            other => format!("error=unknown mode {other:?}\n"),
        };
        http::respond(out, 200, &[("content-type", "text/plain")], body.as_bytes());
    }
}

export!(Hostile);
