//! The admin API under `/api/pb_serverless/_admin/`, behind a bearer token.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `functions` | every function and the version it serves |
//! | GET | `functions/{name}` | one function with its deploy history |
//! | PUT, POST | `functions/{name}?triggers=http,jobs&allowed_hosts=api.openai.com,10.0.0.5:8080` | deploy a component (body: the `.wasm`) |
//! | DELETE | `functions/{name}` | stop serving a function (its versions stay) |
//! | POST | `check?triggers=…` | run the deploy checks without storing anything |
//! | GET, PUT, DELETE | `secrets`, `secrets/{name}` | pb:secrets, see [`crate::caps::secrets::admin`] |
//! | PUT | `collections` | apply a set of collections, see [`super::collections`] |
//! | GET, POST, PUT | `jobs`, `jobs/{id}/retry`, `jobs/{id}/cancel`, `jobs/bindings` | pb:jobs, see [`crate::caps::jobs::admin`] |
//! | GET, PUT | `cron` | cron schedules, see [`crate::triggers::cron::admin`] |
//! | GET, PUT | `hooks` | record hooks, see [`crate::triggers::hooks::admin`] |

use super::reply::{closing, error, has_body, json, Body};
use super::ADMIN_PREFIX;
use crate::config::DEFAULT_MAX_COMPONENT_SIZE;
use crate::deploy::{inspect, DeployError, Registry, Trigger};
use http::{Method, Request};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;
use std::sync::Arc;

pub async fn handle(
    registry: &Arc<Registry>,
    token: &str,
    req: Request<Incoming>,
) -> http::Response<Body> {
    if !authorized(&req, token) {
        let resp = error(
            401,
            "the request requires a valid admin token: `Authorization: Bearer <token>`",
        );
        return if has_body(&req) { closing(resp) } else { resp };
    }
    let path = req.uri().path().strip_prefix(ADMIN_PREFIX).unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let triggers = query_param(&req, "triggers").unwrap_or_default();
    let allowed_hosts = query_param(&req, "allowed_hosts").unwrap_or_default();
    match (req.method().clone(), segments.as_slice()) {
        (_, ["jobs", ..]) => crate::caps::jobs::admin::handle(registry, req).await,
        (_, ["cron", ..]) => crate::triggers::cron::admin::handle(registry, req).await,
        (_, ["hooks", ..]) => crate::triggers::hooks::admin::handle(registry, req).await,
        (_, ["collections"]) => {
            let services = registry.runtime().services().cloned();
            super::collections::admin_import(services, req).await
        }
        (_, ["secrets", ..]) => {
            let services = registry.runtime().services().cloned();
            crate::caps::secrets::admin::handle(services, req).await
        }
        (Method::GET, ["functions"]) => match registry.list().await {
            Ok(list) => json(200, &json!({ "items": list })),
            Err(e) => internal(e),
        },
        (Method::GET, ["functions", name]) => get_function(registry, name).await,
        (Method::PUT | Method::POST, ["functions", name]) => {
            let name = name.to_string();
            let (triggers, bytes) = match upload(req, &triggers).await {
                Ok(v) => v,
                Err(resp) => return resp,
            };
            let hosts: Vec<String> = allowed_hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(String::from)
                .collect();
            match registry.deploy(&name, bytes, &triggers, &hosts).await {
                Ok(info) => json(201, &serde_json::to_value(info).unwrap_or_default()),
                Err(e) => deploy_error(e),
            }
        }
        (Method::DELETE, ["functions", name]) => match registry.remove(name).await {
            Ok(true) => http::Response::builder()
                .status(204)
                .body(super::reply::full(""))
                .expect("static response"),
            Ok(false) => error(404, &format!("no function named `{name}` is deployed")),
            Err(e) => internal(e),
        },
        (Method::POST, ["check"]) => {
            let (triggers, bytes) = match upload(req, &triggers).await {
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
                Err(e) => internal(e.into()),
            }
        }
        (_, ["functions"] | ["functions", _] | ["check"]) => error(405, "method not allowed"),
        _ => error(404, "the requested resource wasn't found"),
    }
}

/// The requested triggers and the uploaded component of a deploy or check.
async fn upload(
    req: Request<Incoming>,
    triggers: &str,
) -> Result<(Vec<Trigger>, Vec<u8>), http::Response<Body>> {
    let triggers = Trigger::parse_list(triggers).map_err(deploy_error)?;
    Ok((triggers, read_body(req).await?))
}

async fn get_function(registry: &Registry, name: &str) -> http::Response<Body> {
    let list = match registry.list().await {
        Ok(l) => l,
        Err(e) => return internal(e),
    };
    let Some(info) = list.into_iter().find(|f| f.name == name) else {
        return error(404, &format!("no function named `{name}` is deployed"));
    };
    let history = match registry.history(name).await {
        Ok(h) => h,
        Err(e) => return internal(e),
    };
    let mut value = serde_json::to_value(info).unwrap_or_default();
    value["deployments"] = history
        .into_iter()
        .map(|(version, created_ms)| json!({"version": version, "created_ms": created_ms}))
        .collect();
    json(200, &value)
}

async fn read_body(req: Request<Incoming>) -> Result<Vec<u8>, http::Response<Body>> {
    let limited = Limited::new(req.into_body(), DEFAULT_MAX_COMPONENT_SIZE);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(error(
            413,
            &format!(
                "the component is larger than the limit of {DEFAULT_MAX_COMPONENT_SIZE} bytes"
            ),
        )),
        Err(e) => Err(error(400, &format!("could not read the request body: {e}"))),
    }
}

fn deploy_error(e: DeployError) -> http::Response<Body> {
    if let DeployError::Internal(inner) = &e {
        tracing::error!("deploy failed: {inner:#}");
    }
    error(e.status(), &e.to_string())
}

fn internal(e: anyhow::Error) -> http::Response<Body> {
    tracing::error!("admin API: {e:#}");
    error(500, "internal error; see the host log")
}

fn query_param(req: &Request<Incoming>, key: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn authorized(req: &Request<Incoming>, token: &str) -> bool {
    let Some(value) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let given = given.trim();
    constant_time_eq(given.as_bytes(), token.as_bytes())
}

/// Compares without an early exit, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
