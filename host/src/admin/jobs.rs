//! `pb:jobs`: the queue and its bindings.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `jobs?state=&name=&function=&page=&perPage=` | jobs, newest first, in PocketBase's list shape |
//! | GET | `jobs/{id}` | one job |
//! | POST | `jobs/{id}/retry` | run a dead, failed or cancelled job again now, with fresh attempts |
//! | POST | `jobs/{id}/cancel` | cancel a queued, failed or running job |
//! | GET | `jobs/bindings` | job name → consuming function |
//! | PUT | `jobs/bindings` | replace them: `{"bindings": {"job_name": "function"}}` |

use super::{method_not_allowed, no_database, not_found, Ctx};
use crate::caps::jobs::store::{self, Filter};
use crate::caps::services::Services;
use crate::deploy::valid_function_name;
use crate::store::now_ms;
use crate::triggers::http::reply::{error, internal, json, query_param, read_json, shown, Body};
use http::{Method, Request};
use hyper::body::Incoming;
use serde_json::json;
use std::collections::BTreeMap;

/// Jobs per page when none is asked for.
pub const DEFAULT_PER_PAGE: i64 = 30;
/// Most jobs per page.
pub const MAX_PER_PAGE: i64 = 500;
/// Most job bindings.
pub const MAX_BINDINGS: usize = 1000;
/// Largest request body.
pub const MAX_BODY: usize = 1 << 20;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingsBody {
    bindings: BTreeMap<String, String>,
}

pub async fn handle(ctx: &Ctx<'_>, req: Request<Incoming>) -> http::Response<Body> {
    let Some(services) = ctx.services else {
        return no_database();
    };
    let db = &services.db;
    let now = now_ms();
    match (req.method().clone(), ctx.path().as_slice()) {
        (Method::GET, ["jobs"]) => list(services, &req).await,
        (Method::GET, ["jobs", "bindings"]) => match store::bindings(db).await {
            Ok(b) => json(
                200,
                &json!({ "bindings": b.into_iter().collect::<BTreeMap<_, _>>() }),
            ),
            Err(e) => internal("admin API (jobs)", e),
        },
        (Method::PUT | Method::POST, ["jobs", "bindings"]) => {
            let shape = "{\"bindings\": {\"job_name\": \"function\"}}";
            let body: BindingsBody = match read_json(req, MAX_BODY, shape, true).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            if body.bindings.len() > MAX_BINDINGS {
                return error(400, &format!("at most {MAX_BINDINGS} job bindings"));
            }
            for (job, function) in &body.bindings {
                if let Err(e) = crate::caps::jobs::check_name(job) {
                    return error(400, &format!("job name `{}`: {}", shown(job), message(e)));
                }
                if !valid_function_name(function) || ctx.registry.get(function).is_none() {
                    return error(
                        400,
                        &format!(
                            "job `{}` is bound to `{}`, which is not a deployed function",
                            shown(job),
                            shown(function)
                        ),
                    );
                }
            }
            let list: Vec<(String, String)> = body.bindings.into_iter().collect();
            match store::set_bindings(db, &list, now).await {
                Ok(()) => {
                    services.jobs.bindings_changed();
                    tracing::info!(target: "pb.jobs", bindings = list.len(), "job bindings replaced");
                    json(
                        200,
                        &json!({ "bindings": list.into_iter().collect::<BTreeMap<_, _>>() }),
                    )
                }
                Err(e) => internal("admin API (jobs)", e),
            }
        }
        (Method::GET, ["jobs", id]) => match store::get(db, id).await {
            Ok(Some(job)) => json(200, &serde_json::to_value(job).unwrap_or_default()),
            Ok(None) => no_such_job(id),
            Err(e) => internal("admin API (jobs)", e),
        },
        (Method::POST, ["jobs", id, action @ ("retry" | "cancel")]) => {
            let done = if *action == "retry" {
                store::retry(db, id, now).await
            } else {
                store::cancel(db, id, now).await
            };
            match done {
                Ok(Ok(job)) => {
                    tracing::info!(target: "pb.jobs", job = %id, "job {action} through the admin API");
                    if *action == "retry" {
                        services.jobs.wake.notify_one();
                    }
                    json(200, &serde_json::to_value(job).unwrap_or_default())
                }
                Ok(Err(true)) => {
                    let state = store::get(db, id)
                        .await
                        .ok()
                        .flatten()
                        .map(|j| j.state)
                        .unwrap_or_default();
                    let (allowed, done) = if *action == "retry" {
                        ("dead, failed or cancelled", "retried")
                    } else {
                        ("queued, failed or running", "cancelled")
                    };
                    error(
                        409,
                        &format!("job `{id}` is {state}; only {allowed} jobs can be {done}"),
                    )
                }
                Ok(Err(false)) => no_such_job(id),
                Err(e) => internal("admin API (jobs)", e),
            }
        }
        (_, ["jobs", ..]) => method_not_allowed(),
        _ => not_found(),
    }
}

async fn list(services: &Services, req: &Request<Incoming>) -> http::Response<Body> {
    let param = |key: &str| query_param(req, key).filter(|v| !v.is_empty());
    let filter = Filter {
        state: param("state"),
        name: param("name"),
        function: param("function"),
    };
    if let Some(s) = &filter.state {
        if !store::STATES.contains(&s.as_str()) {
            return error(
                400,
                &format!(
                    "unknown state `{}`: expected one of {}",
                    shown(s),
                    store::STATES.join(", ")
                ),
            );
        }
    }
    // None: not a positive integer.
    let number = |key: &str, default: i64| match param(key) {
        None => Some(default),
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 1),
    };
    let (Some(page), Some(per_page)) = (number("page", 1), number("perPage", DEFAULT_PER_PAGE))
    else {
        return error(400, "`page` and `perPage` must be positive integers");
    };
    let (page, per_page) = (page.min(1_000_000), per_page.min(MAX_PER_PAGE));
    match store::list(&services.db, &filter, (page - 1) * per_page, per_page).await {
        Ok((items, total)) => json(
            200,
            &json!({
                "page": page,
                "perPage": per_page,
                "totalItems": total,
                "totalPages": (total + per_page - 1) / per_page,
                "items": items,
            }),
        ),
        Err(e) => internal("admin API (jobs)", e),
    }
}

fn message(e: crate::caps::bindings::jobs::queue::Error) -> String {
    use crate::caps::bindings::jobs::queue::Error as E;
    match e {
        E::Invalid(m)
        | E::NotFound(m)
        | E::Denied(m)
        | E::Quota(m)
        | E::Unavailable(m)
        | E::Internal(m) => m,
    }
}

fn no_such_job(id: &str) -> http::Response<Body> {
    error(404, &format!("no job with id `{}`", shown(id)))
}
