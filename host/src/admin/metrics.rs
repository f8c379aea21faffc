//! `GET metrics`: every metric of the host in the Prometheus text format
//! (see [`crate::telemetry::metrics`] for the names), behind the admin
//! token like the rest of the admin API — a Prometheus scrape job sets it
//! with `authorization: {credentials: <token>}`.

use super::Ctx;
use crate::triggers::http::reply::{full, Body};

pub async fn get(ctx: &Ctx<'_>) -> http::Response<Body> {
    let telemetry = ctx.registry.runtime().telemetry();
    if let Some(services) = ctx.services {
        match crate::caps::jobs::queue_depth(&services.db).await {
            Ok(depth) => telemetry.metrics().set_queue_depth(depth),
            Err(e) => tracing::warn!("reading the job queue's depth failed: {e}"),
        }
    }
    http::Response::builder()
        .status(200)
        .header(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .body(full(telemetry.metrics().prometheus()))
        .expect("static response parts are valid")
}
