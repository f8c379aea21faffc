//! `pb:secrets`. `?env=` picks the environment; without it, the host's own
//! (`pbs serve --env`).
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
//! never logged, nor quoted in an error.

use super::{method_not_allowed, no_database, not_found, Ctx};
use crate::caps::secrets::{
    mask, store, valid_environment, valid_name, Binding, SecretError, MAX_VALUE_LEN,
};
use crate::caps::services::Services;
use crate::triggers::http::reply::{
    error, internal, json, no_content, query_param, read_json, Body,
};
use http::{Method, Request};
use hyper::body::Incoming;
use serde_json::json;

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

/// The shape of a PUT's body, for errors.
const SHAPE: &str = "{\"value\": \"…\", \"hosts\": [\"host\", …]} (PATCH: only `hosts`)";

pub async fn handle(ctx: &Ctx<'_>, req: Request<Incoming>) -> http::Response<Body> {
    let Some(services) = ctx.services else {
        return no_database();
    };
    let segments = &ctx.segments;
    let env = query_param(&req, "env").unwrap_or_else(|| services.environment.to_string());
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
        _ => return not_found(),
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
            let body: SetBody = match read_json(req, MAX_BODY, SHAPE, false).await {
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
                        None => current_hosts(services, &env, &name).await,
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
            let body: HostsBody = match read_json(req, MAX_BODY, SHAPE, false).await {
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
                no_content()
            }
            Ok(false) => not_set(&name, &env),
            Err(e) => failed(e),
        },
        _ => method_not_allowed(),
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
        SecretError::Internal(e) => internal("admin API (secrets)", e),
    }
}
