//! The admin API of `pb:secrets`, under `/api/pb_serverless/_admin/` (the
//! token is checked by [`crate::triggers::http::admin`]). `?env=` picks the
//! environment; without it, the host's own (`pbs serve --env`).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `secrets` | the environment's secrets: name, masked value, hosts, `updated_ms` |
//! | GET | `secrets/{name}` | one of them, masked |
//! | PUT, POST | `secrets/{name}` | set it: `{"value": "…", "hosts": ["api.openai.com"]}` (`hosts` absent keeps the bindings it had) |
//! | PATCH | `secrets/{name}` | bind it to hosts, keeping its value: `{"hosts": ["api.openai.com"]}` (what `pbs deploy` sends from the manifest's `secrets`); 404 when it is not set |
//! | DELETE | `secrets/{name}` | remove it → 204 |
//!
//! No answer ever carries a value, only its mask; the request body is
//! never logged.

use super::placeholder::Binding;
use super::{mask, store, valid_environment, valid_name, SecretError, MAX_VALUE_LEN};
use crate::caps::services::Services;
use crate::triggers::http::reply::{error, full, json, Body};
use crate::triggers::http::ADMIN_PREFIX;
use http::{Method, Request};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;
use std::sync::Arc;

/// Largest request body (a value as JSON text, escaped, and its hosts).
const MAX_BODY: usize = 8 * MAX_VALUE_LEN;
/// Most hosts one secret may be bound to.
pub const MAX_HOSTS: usize = 64;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HostsBody {
    hosts: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    value: String,
    hosts: Option<Vec<String>>,
}

pub async fn handle(
    services: Option<Arc<Services>>,
    req: Request<Incoming>,
) -> http::Response<Body> {
    let Some(services) = services else {
        return error(500, "this host has no database for secrets");
    };
    let path = req.uri().path().strip_prefix(ADMIN_PREFIX).unwrap_or("");
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let env = req
        .uri()
        .query()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "env")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_else(|| services.environment.to_string());
    if let Err(why) = valid_environment(&env) {
        return error(400, &why);
    }
    let name = match segments.as_slice() {
        [s] if s == "secrets" => None,
        [s, name] if s == "secrets" => {
            if let Err(why) = valid_name(name) {
                return error(400, &why);
            }
            Some(name.clone())
        }
        _ => return error(404, "the requested resource wasn't found"),
    };
    let (db, key) = (&services.db, &*services.secrets_key);
    match (req.method().clone(), name) {
        (Method::GET, None) => match store::list(db, key, &env).await {
            Ok(items) => json(200, &json!({ "environment": env, "items": items })),
            Err(e) => failed(e),
        },
        (Method::GET, Some(name)) => match store::list(db, key, &env).await {
            Ok(items) => match items.into_iter().find(|i| i.name == name) {
                Some(item) => match &item.error {
                    Some(why) => error(500, why),
                    None => json(200, &serde_json::to_value(item).unwrap_or_default()),
                },
                None => not_set(&name, &env),
            },
            Err(e) => failed(e),
        },
        (Method::PUT | Method::POST, Some(name)) => {
            let body: SetBody = match read_json(req).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            if body.value.len() > MAX_VALUE_LEN {
                return error(
                    413,
                    &format!("the value is larger than the limit of {MAX_VALUE_LEN} bytes"),
                );
            }
            let hosts = match body.hosts.as_deref().map(parse_hosts).transpose() {
                Ok(h) => h,
                Err(why) => return error(400, &why),
            };
            match store::set(db, key, &env, &name, &body.value, hosts.as_deref()).await {
                Ok(()) => {
                    tracing::info!(target: "pb.secrets", environment = %env, secret = %name, "secret set through the admin API");
                    let hosts = match hosts {
                        Some(h) => h.iter().map(Binding::to_string).collect(),
                        None => current_hosts(&services, &env, &name).await,
                    };
                    json(
                        200,
                        &json!({
                            "name": name,
                            "environment": env,
                            "masked": mask(&body.value),
                            "hosts": hosts,
                        }),
                    )
                }
                Err(e) => failed(e),
            }
        }
        (Method::PATCH, Some(name)) => {
            let body: HostsBody = match read_json(req).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            let hosts = match parse_hosts(&body.hosts) {
                Ok(h) => h,
                Err(why) => return error(400, &why),
            };
            match store::set_hosts(db, &env, &name, &hosts).await {
                Ok(true) => {
                    tracing::info!(target: "pb.secrets", environment = %env, secret = %name, hosts = hosts.len(), "secret bound to hosts through the admin API");
                    let hosts: Vec<String> = hosts.iter().map(Binding::to_string).collect();
                    json(
                        200,
                        &json!({ "name": name, "environment": env, "hosts": hosts }),
                    )
                }
                Ok(false) => not_set(&name, &env),
                Err(e) => failed(e),
            }
        }
        (Method::DELETE, Some(name)) => match store::remove(db, &env, &name).await {
            Ok(true) => {
                tracing::info!(target: "pb.secrets", environment = %env, secret = %name, "secret removed through the admin API");
                http::Response::builder()
                    .status(204)
                    .body(full(""))
                    .expect("static response")
            }
            Ok(false) => not_set(&name, &env),
            Err(e) => failed(e),
        },
        _ => error(405, "method not allowed"),
    }
}

/// The bindings a secret has now (after a set that kept them).
async fn current_hosts(services: &Services, env: &str, name: &str) -> Vec<String> {
    store::list(&services.db, &services.secrets_key, env)
        .await
        .ok()
        .and_then(|items| items.into_iter().find(|i| i.name == name))
        .map(|i| i.hosts)
        .unwrap_or_default()
}

fn parse_hosts(hosts: &[String]) -> Result<Vec<Binding>, String> {
    if hosts.len() > MAX_HOSTS {
        return Err(format!("at most {MAX_HOSTS} hosts per secret"));
    }
    let mut out: Vec<Binding> = Vec::with_capacity(hosts.len());
    for h in hosts {
        let b = Binding::parse(h).map_err(|why| format!("invalid host in `hosts`: {why}"))?;
        if !out.contains(&b) {
            out.push(b);
        }
    }
    Ok(out)
}

fn not_set(name: &str, env: &str) -> http::Response<Body> {
    error(
        404,
        &format!("no secret named `{name}` in environment `{env}`"),
    )
}

fn failed(e: SecretError) -> http::Response<Body> {
    match e {
        SecretError::Invalid(why) => error(400, &why),
        e @ SecretError::Undecryptable { .. } => error(500, &e.to_string()),
        SecretError::Internal(e) => {
            tracing::error!(target: "pb.secrets", "admin API: {e:#}");
            error(500, "internal error; see the host log")
        }
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, http::Response<Body>> {
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(error(
                413,
                &format!("the request body is larger than {MAX_BODY} bytes"),
            ))
        }
        Err(e) => return Err(error(400, &format!("could not read the request body: {e}"))),
    };
    // serde's message may quote the input: never echo it, it holds a value.
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            400,
            &format!(
                "the body must be JSON {{\"value\": \"…\", \"hosts\": [\"host\", …]}} (PATCH: only `hosts`) (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}
