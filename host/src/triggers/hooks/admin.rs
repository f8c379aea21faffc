//! The admin API of record hooks, under `/api/pb_serverless/_admin/` (the
//! token is checked by [`crate::triggers::http::admin`]).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `hooks` | the bindings, in the order they run |
//! | PUT | `hooks` | replace them: `{"hooks": [{"collection": "posts", "event": "before_create", "function": "app", "func": "checkPost"}]}` |
//!
//! A PUT is checked in full before anything is stored: each collection
//! exists, each event is one of `before_create` … `after_delete`, each
//! function is deployed and can run `func` (a component exporting
//! `pb:serverless/hook-handler`, or a JS bundle with that export). An empty
//! list removes every hook.

use crate::caps::data::hooks::{self, Binding, Event};
use crate::caps::jobs::admin::read_json;
use crate::caps::jobs::{check_name, is_js_bundle};
use crate::deploy::{Registry, Trigger};
use crate::store::now_ms;
use crate::triggers::http::reply::{error, json, Body};
use http::{Method, Request};
use hyper::body::Incoming;
use serde_json::json;
use std::sync::Arc;

/// Most hooks a host keeps.
pub const MAX_HOOKS: usize = 1000;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    hooks: Vec<Entry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    collection: String,
    event: String,
    function: String,
    func: String,
}

pub async fn handle(registry: &Arc<Registry>, req: Request<Incoming>) -> http::Response<Body> {
    let Some(services) = registry.runtime().services().cloned() else {
        return error(500, "this host has no database for record hooks");
    };
    let store = crate::caps::data::store::of(&services);
    if !req
        .uri()
        .path()
        .trim_end_matches('/')
        .ends_with("/_admin/hooks")
    {
        return error(404, "the requested resource wasn't found");
    }
    match req.method().clone() {
        Method::GET => list(&services.db).await,
        Method::PUT | Method::POST => {
            let shape = "{\"hooks\": [{\"collection\": \"…\", \"event\": \"before_create\", \"function\": \"…\", \"func\": \"…\"}]}";
            let body: PutBody = match read_json(req, shape).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            if body.hooks.len() > MAX_HOOKS {
                return error(400, &format!("at most {MAX_HOOKS} hooks"));
            }
            let mut set: Vec<Binding> = Vec::new();
            for (i, e) in body.hooks.into_iter().enumerate() {
                let b = match check(registry, &store, e).await {
                    Ok(b) => b,
                    Err(why) => return error(400, &format!("hook {}: {why}", i + 1)),
                };
                if !set.contains(&b) {
                    set.push(b);
                }
            }
            if let Err(e) = hooks::replace(&services.db, &set, now_ms()).await {
                tracing::error!(target: "pb.hooks", "admin API: {e}");
                return error(500, "internal error; see the host log");
            }
            store.hooks.changed();
            tracing::info!(target: "pb.hooks", hooks = set.len(), "record hooks replaced");
            list(&services.db).await
        }
        _ => error(405, "method not allowed"),
    }
}

/// Validates one entry; the binding or why not.
async fn check(
    registry: &Registry,
    store: &crate::caps::data::store::Store,
    e: Entry,
) -> Result<Binding, String> {
    let event = Event::parse(&e.event).ok_or_else(|| {
        format!(
            "unknown event `{}`: expected one of {}",
            shown(&e.event),
            Event::ALL.map(Event::name).join(", ")
        )
    })?;
    check_name(&e.func).map_err(|_| {
        format!(
            "`func` must be 1 to {} bytes without control characters",
            crate::caps::jobs::MAX_NAME_LEN
        )
    })?;
    let (_, c) = store.collection(&e.collection).await.map_err(|_| {
        format!(
            "unknown collection `{}`: create it first",
            shown(&e.collection)
        )
    })?;
    let deployed = registry
        .get(&e.function)
        .ok_or_else(|| format!("unknown function `{}`: deploy it first", shown(&e.function)))?;
    let version = &deployed.version;
    if !version.triggers.contains(&Trigger::Hooks) {
        return Err(format!(
            "function `{}` has no hook handler: export `pb:serverless/hook-handler` (a JS \
             function: `export async function {}(record, ctx)`)",
            e.function,
            shown(&e.func)
        ));
    }
    if is_js_bundle(&version.exports) && !version.exports.contains(&e.func) {
        return Err(format!(
            "function `{}` has no export named `{}` (its exports: {})",
            e.function,
            shown(&e.func),
            version.exports.join(", ")
        ));
    }
    Ok(Binding {
        // Stored by name (the manifest's), whatever the request named it by.
        collection: c.name.clone(),
        event,
        function: e.function,
        func: e.func,
    })
}

async fn list(db: &crate::store::Db) -> http::Response<Body> {
    match hooks::load(db).await {
        Ok(all) => json(
            200,
            &json!({ "items": all.iter().map(|b| json!({
                "collection": b.collection,
                "event": b.event.name(),
                "function": b.function,
                "func": b.func,
            })).collect::<Vec<_>>() }),
        ),
        Err(e) => {
            tracing::error!(target: "pb.hooks", "admin API: {e}");
            error(500, "internal error; see the host log")
        }
    }
}

/// At most 64 characters of a name, for messages.
fn shown(s: &str) -> String {
    s.chars().take(64).collect()
}
