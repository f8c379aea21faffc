//! The versions of a function, rollback and pruning
//! ([`crate::deploy::versions`]).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `functions/{name}/versions` | its versions, newest deploy first: `{"items": [{version, created_ms, deployed_ms, size, kind, source_map, active, pinned_jobs}]}` |
//! | POST | `functions/{name}/rollback` | switch to an earlier version: body `{"version": "3f2a9c"}` (a unique prefix), or empty / `{}` for the one served before the current one |
//! | POST | `versions/prune` | remove old versions: body `{"keep": 10}` (default [`DEFAULT_KEEP`]); answers `{"removed": [...], "kept": N}` |

use super::{method_not_allowed, not_found, Ctx};
use crate::deploy::versions::{self, VersionsError, DEFAULT_KEEP};
use crate::triggers::http::reply::{error, internal, json, read_body, Body};
use http::{Method, Request};
use hyper::body::Incoming;
use serde_json::json;

/// Largest request body.
const MAX_BODY: usize = 4096;
/// Most versions `keep` may ask for.
pub const MAX_KEEP: usize = 10_000;

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    version: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PruneBody {
    keep: Option<usize>,
}

pub async fn handle(ctx: &Ctx<'_>, req: Request<Incoming>) -> http::Response<Body> {
    let registry = ctx.registry;
    match (req.method().clone(), ctx.path().as_slice()) {
        (Method::GET, ["functions", name, "versions"]) => {
            match versions::list(registry.db(), name).await {
                Ok(Some(items)) => json(200, &json!({ "items": items })),
                Ok(None) => error(404, &format!("no function named `{name}` was deployed")),
                Err(e) => failure(e),
            }
        }
        (Method::POST, ["functions", name, "rollback"]) => {
            let body: RollbackBody = match optional_json(req, "{\"version\": \"…\"}").await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            match versions::rollback(registry, name, body.version.as_deref()).await {
                Ok(info) => json(200, &serde_json::to_value(info).unwrap_or_default()),
                Err(e) => failure(e),
            }
        }
        (Method::POST, ["versions", "prune"]) => {
            let body: PruneBody = match optional_json(req, "{\"keep\": 10}").await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            let keep = body.keep.unwrap_or(DEFAULT_KEEP);
            if !(1..=MAX_KEEP).contains(&keep) {
                return error(400, &format!("`keep` must be between 1 and {MAX_KEEP}"));
            }
            match versions::prune(registry.db(), keep).await {
                Ok(pruned) => json(200, &serde_json::to_value(pruned).unwrap_or_default()),
                Err(e) => failure(e),
            }
        }
        (_, ["functions", _, "versions" | "rollback"] | ["versions", "prune"]) => {
            method_not_allowed()
        }
        _ => not_found(),
    }
}

/// A JSON body of type `T`, or `T::default()` when the body is empty.
async fn optional_json<T: serde::de::DeserializeOwned + Default>(
    req: Request<Incoming>,
    shape: &str,
) -> Result<T, http::Response<Body>> {
    let bytes = read_body(req, MAX_BODY).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| error(400, &format!("the body must be JSON {shape}: {e}")))
}

fn failure(e: VersionsError) -> http::Response<Body> {
    match e {
        VersionsError::Internal(e) => internal("admin API", e),
        e => error(e.status(), &e.to_string()),
    }
}
