//! The cost ledger of a function, summed per hour
//! ([`crate::telemetry::usage`]).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `functions/{name}/usage?hours=24` | the last `hours` hours (1 to 2160, default 24), the current one included |
//! | GET | `functions/{name}/usage?from=MS&to=MS` | the hours from `from` to `to` (ms since the epoch) |
//!
//! Answer: `{function, hours: [{hour, invocations, errors, wall_us, cpu_us,
//! fuel, memory_peak_max, fetches, fetch_bytes_out, fetch_bytes_in,
//! rows_read, rows_written, kv_ops, file_ops, job_ops, secret_ops}], total}`
//! — only hours with invocations are listed.

use super::Ctx;
use crate::telemetry::scope::hour_of;
use crate::telemetry::usage::{self, MAX_HOURS};
use crate::triggers::http::reply::{error, internal, json, query_param, Body};
use http::Request;

const HOUR_MS: i64 = 3_600_000;

pub async fn get<B>(ctx: &Ctx<'_>, function: &str, req: &Request<B>) -> http::Response<Body> {
    let Some(services) = ctx.services else {
        return super::no_database();
    };
    let now = hour_of(std::time::SystemTime::now());
    let number = |key: &str| -> Result<Option<i64>, String> {
        match query_param(req, key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("`{key}` must be a whole number")),
        }
    };
    let (hours, from, to) = match (number("hours"), number("from"), number("to")) {
        (Ok(h), Ok(f), Ok(t)) => (h, f, t),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return error(400, &e),
    };
    let (from, to) = match (from, to) {
        (None, None) => {
            let hours = hours.unwrap_or(24);
            if !(1..=MAX_HOURS).contains(&hours) {
                return error(400, &format!("`hours` must be between 1 and {MAX_HOURS}"));
            }
            (now - (hours - 1) * HOUR_MS, now)
        }
        (from, to) => {
            let to = to.map(|t| t - t.rem_euclid(HOUR_MS)).unwrap_or(now);
            let from = from.map(|f| f - f.rem_euclid(HOUR_MS)).unwrap_or(to);
            if from > to || (to - from) / HOUR_MS >= MAX_HOURS {
                return error(
                    400,
                    &format!("`from` must not be after `to`, and at most {MAX_HOURS} hours apart"),
                );
            }
            (from, to)
        }
    };
    let telemetry = ctx.registry.runtime().telemetry();
    match usage::read(telemetry.usage(), &services.db, function, from, to).await {
        Ok(report) => json(200, &serde_json::to_value(report).unwrap_or_default()),
        Err(e) => internal("usage", e),
    }
}
