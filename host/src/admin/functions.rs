//! Functions and their versions.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `functions` | every function and the version it serves |
//! | GET | `functions/{name}` | one function with its deploy history |
//! | PUT, POST | `functions/{name}?triggers=http,jobs&allowed_hosts=api.openai.com,10.0.0.5:8080&reuse=1000` | deploy a component (body: the `.wasm`) |
//! | DELETE | `functions/{name}` | stop serving a function (its versions stay; requests under way finish) |
//! | POST | `check?triggers=…` | run the deploy checks without storing anything |
//! | GET | `functions/{name}/usage?hours=24` | its cost per hour ([`super::usage`]) |

use super::{method_not_allowed, not_found, Ctx};
use crate::config::DEFAULT_MAX_COMPONENT_SIZE;
use crate::deploy::{inspect, DeployError, Registry, Trigger};
use crate::triggers::http::reply::{
    error, internal, json, no_content, query_param, read_body, Body,
};
use http::{Method, Request};
use hyper::body::Incoming;
use serde_json::json;

pub async fn handle(ctx: &Ctx<'_>, req: Request<Incoming>) -> http::Response<Body> {
    let registry = ctx.registry;
    match (req.method().clone(), ctx.path().as_slice()) {
        (Method::GET, ["functions"]) => match registry.list().await {
            Ok(list) => json(200, &json!({ "items": list })),
            Err(e) => internal("admin API", e),
        },
        (Method::GET, ["functions", name]) => get(registry, name).await,
        (Method::GET, ["functions", name, "usage"]) => super::usage::get(ctx, name, &req).await,
        (Method::PUT | Method::POST, ["functions", name]) => {
            let hosts: Vec<String> = query_param(&req, "allowed_hosts")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(String::from)
                .collect();
            let reuse = query_param(&req, "reuse").map(|r| r.parse::<u32>());
            // The body is read first, so a client still sending it gets
            // the answer rather than a reset connection.
            let (triggers, bytes) = match upload(req).await {
                Ok(v) => v,
                Err(resp) => return resp,
            };
            let reuse = match reuse {
                None => 0,
                Some(Ok(n)) => n,
                Some(Err(_)) => return error(
                    400,
                    "`reuse` is the number of requests one instance may serve in turn (0 or more)",
                ),
            };
            let settings = crate::deploy::Settings {
                allowed_hosts: hosts,
                reuse,
            };
            match registry.deploy(name, bytes, &triggers, &settings).await {
                Ok(info) => {
                    // Retention: every function keeps its last versions,
                    // and nothing in use goes (see deploy::versions).
                    let keep = crate::deploy::versions::DEFAULT_KEEP;
                    if let Err(e) = crate::deploy::versions::prune(registry.db(), keep).await {
                        tracing::warn!("pruning old versions after a deploy failed: {e}");
                    }
                    json(201, &serde_json::to_value(info).unwrap_or_default())
                }
                Err(e) => deploy_error(e),
            }
        }
        (Method::DELETE, ["functions", name]) => match registry.remove(name).await {
            Ok(true) => no_content(),
            Ok(false) => error(404, &format!("no function named `{name}` is deployed")),
            Err(e) => internal("admin API", e),
        },
        (Method::POST, ["check"]) => {
            let (triggers, bytes) = match upload(req).await {
                Ok(v) => v,
                Err(resp) => return resp,
            };
            let runtime = registry.runtime().clone();
            let checked =
                tokio::task::spawn_blocking(move || inspect(&runtime, &bytes, &triggers)).await;
            match checked {
                Ok(Ok(c)) => json(
                    200,
                    &json!({
                        "version": c.hash,
                        "exports": c.exports,
                        "triggers": c.triggers.iter().map(|t| t.name()).collect::<Vec<_>>(),
                    }),
                ),
                Ok(Err(e)) => deploy_error(e),
                Err(e) => internal("admin API", e),
            }
        }
        (_, ["functions"] | ["functions", _] | ["check"]) => method_not_allowed(),
        _ => not_found(),
    }
}

/// The requested triggers and the uploaded component of a deploy or check.
async fn upload(req: Request<Incoming>) -> Result<(Vec<Trigger>, Vec<u8>), http::Response<Body>> {
    let triggers = query_param(&req, "triggers").unwrap_or_default();
    let triggers = Trigger::parse_list(&triggers).map_err(deploy_error)?;
    let bytes = read_body(req, DEFAULT_MAX_COMPONENT_SIZE).await?;
    Ok((triggers, bytes.to_vec()))
}

async fn get(registry: &Registry, name: &str) -> http::Response<Body> {
    let list = match registry.list().await {
        Ok(l) => l,
        Err(e) => return internal("admin API", e),
    };
    let Some(info) = list.into_iter().find(|f| f.name == name) else {
        return error(404, &format!("no function named `{name}` is deployed"));
    };
    let history = match registry.history(name).await {
        Ok(h) => h,
        Err(e) => return internal("admin API", e),
    };
    let mut value = serde_json::to_value(info).unwrap_or_default();
    value["deployments"] = history
        .into_iter()
        .map(|(version, created_ms)| json!({"version": version, "created_ms": created_ms}))
        .collect();
    json(200, &value)
}

fn deploy_error(e: DeployError) -> http::Response<Body> {
    if let DeployError::Internal(inner) = &e {
        tracing::error!("deploy failed: {inner:#}");
    }
    error(e.status(), &e.to_string())
}
