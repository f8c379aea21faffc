//! The admin API: everything under `/api/pb_serverless/_admin/`, and
//! PocketBase's collections API (`/api/collections`, but for records),
//! behind the admin token. One router, one token check ([`is_admin`]), the
//! body readers and replies of [`crate::triggers::http::reply`], and a file
//! per resource:
//!
//! | file | paths under `_admin/` |
//! |---|---|
//! | [`functions`] | `functions`, `functions/{name}`, `check` |
//! | [`versions`] | `functions/{name}/versions`, `functions/{name}/rollback`, `versions/prune` |
//! | [`collections`] | `collections` (and `/api/collections…`) |
//! | [`secrets`] | `secrets`, `secrets/{name}` |
//! | [`jobs`] | `jobs`, `jobs/{id}`, `jobs/{id}/retry`, `jobs/{id}/cancel`, `jobs/bindings` |
//! | [`cron`] | `cron` |
//! | [`hooks`] | `hooks` |
//! | [`logs`] | `logs` (recent lines, or follow them: server-sent events) |
//! | [`metrics`] | `metrics` (Prometheus text) |
//! | [`usage`] | `functions/{name}/usage` |
//!
//! Each file's docs list its methods and bodies. Every answer is JSON; an
//! error is PocketBase's `{status, message, data}`.

pub mod collections;
pub mod cron;
pub mod functions;
pub mod hooks;
pub mod jobs;
pub mod logs;
pub mod metrics;
pub mod secrets;
pub mod usage;
pub mod versions;

use crate::caps::services::Services;
use crate::deploy::{Registry, Trigger};
use crate::triggers::http::reply::{error, unread, Body};
use http::Request;
use hyper::body::Incoming;
use std::sync::Arc;

pub use crate::triggers::http::reply::is_admin;

/// Prefix of the admin API.
pub const PREFIX: &str = "/api/pb_serverless/_admin/";

/// Whether `path` is the admin API's.
pub fn matches(path: &str) -> bool {
    path.starts_with(PREFIX) || path == PREFIX.trim_end_matches('/')
}

/// What a handler of the admin API works with.
pub struct Ctx<'a> {
    pub registry: &'a Arc<Registry>,
    /// The host's services: the admin API exists only on a host with a
    /// database, so always some in practice.
    pub services: Option<&'a Arc<Services>>,
    /// The path under [`PREFIX`], split at `/` (empty segments dropped).
    pub segments: Vec<String>,
}

impl Ctx<'_> {
    fn path(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }
}

/// Answers a request under [`PREFIX`].
pub async fn handle(
    registry: &Arc<Registry>,
    token: &str,
    req: Request<Incoming>,
) -> http::Response<Body> {
    if !is_admin(&req, token) {
        return unread(
            &req,
            error(
                401,
                "the request requires a valid admin token: `Authorization: Bearer <token>`",
            ),
        );
    }
    let path = req.uri().path().strip_prefix(PREFIX).unwrap_or("");
    let ctx = Ctx {
        registry,
        services: registry.runtime().services(),
        segments: path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    };
    let resp = match ctx.segments.first().map(String::as_str) {
        Some("functions")
            if ctx.segments.len() == 3
                && matches!(ctx.segments[2].as_str(), "versions" | "rollback") =>
        {
            versions::handle(&ctx, req).await
        }
        Some("versions") => versions::handle(&ctx, req).await,
        Some("functions" | "check") => functions::handle(&ctx, req).await,
        Some("collections") if ctx.segments.len() == 1 => {
            collections::admin_import(&ctx, req).await
        }
        Some("secrets") => secrets::handle(&ctx, req).await,
        Some("jobs") => jobs::handle(&ctx, req).await,
        Some("cron") if ctx.segments.len() == 1 => cron::handle(&ctx, req).await,
        Some("hooks") if ctx.segments.len() == 1 => hooks::handle(&ctx, req).await,
        Some("logs") if ctx.segments.len() == 1 && req.method() == http::Method::GET => {
            logs::get(&ctx, &req).await
        }
        Some("metrics") if ctx.segments.len() == 1 && req.method() == http::Method::GET => {
            metrics::get(&ctx).await
        }
        _ => return unread(&req, not_found()),
    };
    resp
}

/// The answer when the host has no database (never, in practice).
pub(crate) fn no_database() -> http::Response<Body> {
    error(500, "this host has no database")
}

pub(crate) fn not_found() -> http::Response<Body> {
    error(404, "the requested resource wasn't found")
}

pub(crate) fn method_not_allowed() -> http::Response<Body> {
    error(405, "method not allowed")
}

/// Whether deployed function `function` can run its export `func` for
/// `trigger` (cron or hooks): a component exporting the trigger's handler
/// interface runs any `func`; a JS bundle runs the names it exports. Why
/// not, when it cannot.
pub(crate) fn can_run(
    registry: &Registry,
    function: &str,
    func: &str,
    trigger: Trigger,
) -> Result<(), String> {
    let shown = crate::triggers::http::reply::shown;
    crate::caps::jobs::check_name(func).map_err(|_| {
        format!(
            "`func` must be 1 to {} bytes without control characters",
            crate::caps::jobs::MAX_NAME_LEN
        )
    })?;
    let deployed = registry
        .get(function)
        .ok_or_else(|| format!("unknown function `{}`: deploy it first", shown(function)))?;
    let version = &deployed.version;
    if !version.triggers.contains(&trigger) {
        let (kind, example) = match trigger {
            Trigger::Cron => ("cron", "(tick)"),
            _ => ("hook", "(record, ctx)"),
        };
        return Err(format!(
            "function `{function}` has no {kind} handler: export `pb:serverless/{kind}-handler` \
             (a JS function: `export async function {}{example}`)",
            shown(func)
        ));
    }
    if crate::caps::jobs::is_js_bundle(&version.exports)
        && !version.exports.iter().any(|e| e == func)
    {
        return Err(format!(
            "function `{function}` has no export named `{}` (its exports: {})",
            shown(func),
            version.exports.join(", ")
        ));
    }
    Ok(())
}
