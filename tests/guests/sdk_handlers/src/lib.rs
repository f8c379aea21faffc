//! `pb-sdk`'s three handler attributes in one component (so its exports
//! are three generated worlds merged), and its jobs, kv and transaction
//! helpers:
//!
//! - `POST /enqueue?n=N` enqueues job `double` with `{"n": N}` → `{"id"}`;
//! - the job handler stores `2N` under `double:<id>` (a payload without
//!   `n` fails the job);
//! - the cron handler counts ticks under `tick:<name>`;
//! - `POST /tx?text=T&fail=0|1` creates a `notes` record and sets
//!   `note:<text>` in one transaction, then fails or not → `{"id"}` or the
//!   error (the transaction rolled back);
//! - `GET /kv?key=K` → the value as text, or 404.

use pb_sdk::data::{self, Transaction};
use pb_sdk::http::{Request, Response};
use pb_sdk::jobs::{EnqueueOptions, Job};
use pb_sdk::{cron::Tick, Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Double {
    n: i64,
}

#[derive(Serialize, Deserialize)]
struct Note {
    text: String,
}

fn param(req: &Request, name: &str) -> Result<String> {
    req.query_param(name)
        .ok_or_else(|| Error::Invalid(format!("`{name}` is missing")))
}

#[pb_sdk::http_handler]
fn http(req: Request) -> Result<Response> {
    let route = req.path().rsplit('/').next().unwrap_or_default().to_string();
    match (req.method(), route.as_str()) {
        ("POST", "enqueue") => {
            let n = param(&req, "n")?
                .parse()
                .map_err(|_| Error::Invalid("`n` is not a number".into()))?;
            let options = EnqueueOptions::new().max_attempts(1);
            let id = pb_sdk::jobs::enqueue("double", &Double { n }, &options)?;
            Response::json(&serde_json::json!({ "id": id }))
        }
        ("POST", "tx") => {
            let text = param(&req, "text")?;
            let fail = req.query_param("fail").as_deref() == Some("1");
            let id = data::transaction(|tx: &Transaction| {
                let note = tx.collection("notes").create(&Note { text: text.clone() })?;
                pb_sdk::kv::open()?.set_in(tx, &format!("note:{text}"), &note.id)?;
                if fail {
                    return Err(Error::Conflict("failed on purpose after the writes".into()));
                }
                Ok(note.id)
            })?;
            Response::json(&serde_json::json!({ "id": id }))
        }
        ("GET", "kv") => match pb_sdk::kv::open()?.get_string(&param(&req, "key")?)? {
            Some(value) => Ok(Response::text(value)),
            None => Err(Error::NotFound("no such key".into())),
        },
        _ => Err(Error::NotFound(format!("no route {} {route}", req.method()))),
    }
}

#[pb_sdk::job_handler]
fn double(job: Job) -> Result<()> {
    let Double { n } = job.payload()?;
    pb_sdk::kv::open()?.set(&format!("double:{}", job.id), (2 * n).to_string())
}

#[pb_sdk::cron_handler]
fn tick(tick: Tick) -> Result<()> {
    pb_sdk::kv::open()?.incr(&format!("tick:{}", tick.name), 1)?;
    Ok(())
}
