//! The pb:jobs and cron test function (`pb:serverless/function`): enqueues
//! jobs over HTTP, runs them as its job handler, and records what ran in
//! its own pb:kv namespace, where the tests read it back.
//!
//! HTTP (query parameters, percent-encoded):
//! - `POST …/enqueue?name=N&payload=JSON[&delay=MS][&attempts=N][&dedupe=K][&priority=P]`
//!   → `{"id": "…", "enqueued_us": T}` or 400 `{"error": "…"}`
//! - `POST …/enqueue-many?name=N&n=COUNT&payload=JSON[&delay=MS]` → `{"enqueued": COUNT}`
//! - `GET …/status?id=ID` → `{"status": "…"}` (the Debug form, or `none`)
//! - `GET …/kv?key=K` → the value as text, or `null`
//! - `POST …/incr?key=K` → the new value (`incr(K, 1)`), or 500
//! - `POST …/cas?key=K&value=V[&expected=E]` → `true` or `false`
//!   (`compare-and-swap`; without `expected`: only if absent), or 500
//!
//! Job payloads (`{"op": …}`): `record` (incr `done:<id>`), `noop`,
//! `fail` (always), `fail_until` + `"n": N` (fails attempts below N, then
//! records), `sleep` + `"ms": N` (then records), `order` + `"tag": T`
//! (appends T to the order: `order:<n>` = T), `started` (sets
//! `started:<id>` to the wall-clock µs), `trap` (panics).
//! Cron ticks: incr `tick:<scheduled-ms>` and `ticks`.
//! Record hooks: `touch` (before) writes the record with `"status":
//! "touched"`; `slow_touch` (before) waits 1.5 s, then writes it with
//! `"status": "slow"`; `audit` (after) incrs `hooked:<record id>`; any
//! other name keeps the record.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "pb:serverless/function@0.1.0",
    generate_all,
});

#[path = "../../common/http.rs"]
mod http;

use exports::pb::serverless::cron_handler::{self, Tick};
use exports::pb::serverless::hook_handler::{self, Context, Outcome};
use exports::pb::serverless::job_handler::{self, Job};
use exports::wasi::http::incoming_handler;
use pb::jobs::queue;
use pb::kv::store as kv;
use wasi::clocks::{monotonic_clock, wall_clock};
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Tester;

fn now_us() -> u64 {
    let t = wall_clock::now();
    t.seconds * 1_000_000 + u64::from(t.nanoseconds / 1000)
}

fn bucket() -> kv::Bucket {
    kv::open(None).expect("open the function's kv namespace")
}

/// The value of `"key":` in a flat JSON object: a string's contents or a
/// number's text.
fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        return s.split('"').next();
    }
    let end = rest
        .find(|c: char| c == ',' || c == '}' || c.is_whitespace())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn params(path_with_query: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = path_with_query
        .split_once('?')
        .unwrap_or((path_with_query, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    (path.to_string(), pairs)
}

fn json_text(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl incoming_handler::Guest for Tester {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let (path, query) = params(&request.path_with_query().unwrap_or_default());
        let get = |k: &str| {
            query
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let num = |k: &str| get(k).and_then(|v| v.parse::<u64>().ok());
        let route = path.rsplit('/').next().unwrap_or_default().to_string();
        let json = [("content-type", "application/json")];
        match route.as_str() {
            "enqueue" => {
                let options = queue::EnqueueOptions {
                    delay_ms: num("delay"),
                    max_attempts: num("attempts").map(|n| n as u32),
                    dedupe_key: get("dedupe"),
                    priority: get("priority").and_then(|p| p.parse().ok()),
                };
                let name = get("name").unwrap_or_default();
                let payload = get("payload").unwrap_or_else(|| "null".into());
                let enqueued_us = now_us();
                match queue::enqueue(&name, &payload, &options) {
                    Ok(id) => {
                        let body = format!(
                            "{{\"id\":{},\"enqueued_us\":{enqueued_us}}}",
                            json_text(&id)
                        );
                        http::respond(out, 200, &json, body.as_bytes());
                    }
                    Err(e) => {
                        let body = format!("{{\"error\":{}}}", json_text(&format!("{e:?}")));
                        http::respond(out, 400, &json, body.as_bytes());
                    }
                }
            }
            "enqueue-many" => {
                let options = queue::EnqueueOptions {
                    delay_ms: num("delay"),
                    max_attempts: None,
                    dedupe_key: None,
                    priority: None,
                };
                let name = get("name").unwrap_or_default();
                let payload = get("payload").unwrap_or_else(|| "null".into());
                let n = num("n").unwrap_or(1);
                for _ in 0..n {
                    if let Err(e) = queue::enqueue(&name, &payload, &options) {
                        let body = format!("{{\"error\":{}}}", json_text(&format!("{e:?}")));
                        http::respond(out, 400, &json, body.as_bytes());
                        return;
                    }
                }
                http::respond(out, 200, &json, format!("{{\"enqueued\":{n}}}").as_bytes());
            }
            "status" => {
                let status = match queue::status(&get("id").unwrap_or_default()) {
                    Ok(Some(s)) => format!("{s:?}"),
                    Ok(None) => "none".into(),
                    Err(e) => format!("error {e:?}"),
                };
                let body = format!("{{\"status\":{}}}", json_text(&status));
                http::respond(out, 200, &json, body.as_bytes());
            }
            "kv" => {
                let value = bucket()
                    .get(&get("key").unwrap_or_default())
                    .expect("kv get")
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_else(|| "null".into());
                http::respond(
                    out,
                    200,
                    &[("content-type", "text/plain")],
                    value.as_bytes(),
                );
            }
            "incr" => match bucket().incr(&get("key").unwrap_or_default(), 1) {
                Ok(n) => http::respond(out, 200, &[], n.to_string().as_bytes()),
                Err(e) => http::respond(out, 500, &[], format!("{e:?}").as_bytes()),
            },
            "cas" => {
                let expected = get("expected").map(String::into_bytes);
                let value = get("value").unwrap_or_default();
                let key = get("key").unwrap_or_default();
                match bucket().compare_and_swap(&key, expected.as_deref(), value.as_bytes(), None) {
                    Ok(swapped) => http::respond(out, 200, &[], swapped.to_string().as_bytes()),
                    Err(e) => http::respond(out, 500, &[], format!("{e:?}").as_bytes()),
                }
            }
            _ => http::respond(out, 404, &[], b"unknown route"),
        }
    }
}

fn record(job: &Job) {
    bucket()
        .incr(&format!("done:{}", job.id), 1)
        .expect("kv incr");
}

impl job_handler::Guest for Tester {
    fn run(job: Job) -> Result<(), String> {
        let op = field(&job.payload, "op").unwrap_or("record");
        match op {
            "noop" => Ok(()),
            "record" => {
                record(&job);
                Ok(())
            }
            "fail" => Err(format!("boom on attempt {}", job.attempt)),
            "fail_until" => {
                let n: u32 = field(&job.payload, "n")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(2);
                if job.attempt < n {
                    return Err(format!("not yet: attempt {} of {n}", job.attempt));
                }
                record(&job);
                Ok(())
            }
            "sleep" => {
                let ms: u64 = field(&job.payload, "ms")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(100);
                monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                record(&job);
                Ok(())
            }
            "order" => {
                let b = bucket();
                let n = b.incr("seq", 1).expect("kv incr");
                let tag = field(&job.payload, "tag").unwrap_or("?");
                b.set(&format!("order:{n}"), tag.as_bytes(), None)
                    .expect("kv set");
                Ok(())
            }
            "started" => {
                let now = now_us().to_string();
                bucket()
                    .set(&format!("started:{}", job.id), now.as_bytes(), None)
                    .expect("kv set");
                Ok(())
            }
            "trap" => panic!("the job asked to trap"),
            other => Err(format!("unknown op {other:?}")),
        }
    }
}

impl cron_handler::Guest for Tester {
    fn run(tick: Tick) -> Result<(), String> {
        let b = bucket();
        b.incr(&format!("tick:{}", tick.scheduled_ms), 1)
            .map_err(|e| format!("{e:?}"))?;
        b.incr("ticks", 1).map_err(|e| format!("{e:?}"))?;
        b.set("last_tick_name", tick.name.as_bytes(), None)
            .map_err(|e| format!("{e:?}"))?;
        Ok(())
    }
}

/// `record` (a JSON object) with `"status": status` first.
fn stamp(record: &str, status: &str) -> Outcome {
    match record.strip_prefix('{') {
        Some(rest) if rest.trim_start() != "}" => {
            Outcome::Replace(format!("{{\"status\":\"{status}\",{rest}"))
        }
        _ => Outcome::Replace(format!("{{\"status\":\"{status}\"}}")),
    }
}

impl hook_handler::Guest for Tester {
    fn handle(ctx: Context) -> Outcome {
        match ctx.name.as_str() {
            // The record is a JSON object: the stamp goes first, so a
            // `status` of the record's own (a JSON parser keeps the last of
            // two equal keys) would win; the tests never send one.
            "touch" => stamp(&ctx.record, "touched"),
            "slow_touch" => {
                monotonic_clock::subscribe_duration(1_500_000_000).block();
                stamp(&ctx.record, "slow")
            }
            "audit" => {
                let id = field(&ctx.record, "id").unwrap_or("?");
                match bucket().incr(&format!("hooked:{id}"), 1) {
                    Ok(_) => Outcome::Keep,
                    Err(e) => Outcome::Reject(format!("{e:?}")),
                }
            }
            _ => Outcome::Keep,
        }
    }
}

export!(Tester);
