//! Cron schedules.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `cron` | the schedules, each with its last run and next tick |
//! | PUT | `cron` | replace them: `{"schedules": [{"function": "reports", "func": "daily_report", "cron": "0 8 * * *", "timezone": "Europe/Paris"}]}` |
//!
//! A PUT is checked in full before anything is stored: each expression
//! parses (5 or 6 fields), each time zone is known, each function is
//! deployed and can run `func` (a component exporting
//! `pb:serverless/cron-handler`, or a JS bundle with that export).

use super::{can_run, method_not_allowed, no_database, Ctx};
use crate::deploy::{Registry, Trigger};
use crate::store::now_ms;
use crate::triggers::cron::{schedule, store};
use crate::triggers::http::reply::{error, internal, json, read_json, shown, Body};
use http::{Method, Request};
use hyper::body::Incoming;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Largest request body.
const MAX_BODY: usize = 1 << 20;

/// Most schedules a host keeps.
pub const MAX_SCHEDULES: usize = 1000;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    schedules: Vec<Entry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    function: Option<String>,
    func: String,
    cron: String,
    #[serde(default)]
    timezone: Option<String>,
}

pub async fn handle(ctx: &Ctx<'_>, req: Request<Incoming>) -> http::Response<Body> {
    let Some(services) = ctx.services else {
        return no_database();
    };
    let registry = ctx.registry;
    let db = registry.db();
    match req.method().clone() {
        Method::GET => list(registry).await,
        Method::PUT | Method::POST => {
            let shape = "{\"schedules\": [{\"function\": \"…\", \"func\": \"…\", \"cron\": \"0 8 * * *\", \"timezone\": \"UTC\"}]}";
            let body: PutBody = match read_json(req, MAX_BODY, shape, true).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            if body.schedules.len() > MAX_SCHEDULES {
                return error(400, &format!("at most {MAX_SCHEDULES} schedules"));
            }
            let mut set: Vec<store::Schedule> = Vec::new();
            for (i, e) in body.schedules.into_iter().enumerate() {
                let s = match check(registry, e) {
                    Ok(s) => s,
                    Err(why) => return error(400, &format!("schedule {}: {why}", i + 1)),
                };
                if !set.iter().any(|x| x.id == s.id) {
                    set.push(s);
                }
            }
            if let Err(e) = store::replace(db, &set, now_ms()).await {
                return internal("admin API (cron)", e);
            }
            tracing::info!(target: "pb.cron", schedules = set.len(), "cron schedules replaced");
            services.jobs.cron_wake.notify_one();
            list(registry).await
        }
        _ => method_not_allowed(),
    }
}

/// Validates one entry; the stored schedule or why not.
fn check(registry: &Registry, e: Entry) -> Result<store::Schedule, String> {
    let function = e.function.ok_or_else(|| {
        format!(
            "`function` is missing (the function holding `{}`)",
            shown(&e.func)
        )
    })?;
    let timezone = e.timezone.filter(|t| !t.is_empty());
    schedule::parse(&e.cron, timezone.as_deref())?;
    can_run(registry, &function, &e.func, Trigger::Cron)?;
    let cron = e.cron.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut h = Sha256::new();
    for part in [&function, &e.func, &cron, timezone.as_deref().unwrap_or("")] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    Ok(store::Schedule {
        id: hex::encode(&h.finalize()[..8]),
        function,
        func: e.func,
        cron,
        timezone,
        created_ms: 0,
        last_ms: None,
    })
}

async fn list(registry: &Registry) -> http::Response<Body> {
    let db = registry.db();
    let (schedules, last) = match (store::schedules(db).await, store::last_ticks(db).await) {
        (Ok(s), Ok(l)) => (s, l),
        (Err(e), _) | (_, Err(e)) => return internal("admin API (cron)", e),
    };
    let now = now_ms();
    let items: Vec<serde_json::Value> = schedules
        .into_iter()
        .map(|s| {
            let next = schedule::parse(&s.cron, s.timezone.as_deref())
                .ok()
                .and_then(|spec| spec.next_after(now));
            let last_run = last
                .iter()
                .find(|(id, _)| *id == s.id)
                .map(|(_, t)| t.clone());
            json!({
                "id": s.id,
                "function": s.function,
                "func": s.func,
                "cron": s.cron,
                "timezone": s.timezone,
                "created_ms": s.created_ms,
                "last_run": last_run,
                "next_run_ms": next,
            })
        })
        .collect();
    json(200, &json!({ "items": items }))
}
