//! Record hooks.
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

use super::{can_run, method_not_allowed, no_database, Ctx};
use crate::caps::data::hooks::{self, Binding, Event};
use crate::caps::data::Store;
use crate::deploy::{Registry, Trigger};
use crate::store::{now_ms, Db};
use crate::triggers::http::reply::{error, internal, json, read_json, shown, Body};
use http::{Method, Request};
use hyper::body::Incoming;
use serde_json::json;

/// Largest request body.
const MAX_BODY: usize = 1 << 20;

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

pub async fn handle(ctx: &Ctx<'_>, req: Request<Incoming>) -> http::Response<Body> {
    let Some(services) = ctx.services else {
        return no_database();
    };
    let store = &services.data;
    match req.method().clone() {
        Method::GET => list(&services.db).await,
        Method::PUT | Method::POST => {
            let shape = "{\"hooks\": [{\"collection\": \"…\", \"event\": \"before_create\", \"function\": \"…\", \"func\": \"…\"}]}";
            let body: PutBody = match read_json(req, MAX_BODY, shape, true).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            if body.hooks.len() > MAX_HOOKS {
                return error(400, &format!("at most {MAX_HOOKS} hooks"));
            }
            let mut set: Vec<Binding> = Vec::new();
            for (i, e) in body.hooks.into_iter().enumerate() {
                let b = match check(ctx.registry, store, e).await {
                    Ok(b) => b,
                    Err(why) => return error(400, &format!("hook {}: {why}", i + 1)),
                };
                if !set.contains(&b) {
                    set.push(b);
                }
            }
            if let Err(e) = hooks::replace(&services.db, &set, now_ms()).await {
                return internal("admin API (hooks)", e);
            }
            store.hooks.changed();
            tracing::info!(target: "pb.hooks", hooks = set.len(), "record hooks replaced");
            list(&services.db).await
        }
        _ => method_not_allowed(),
    }
}

/// Validates one entry; the binding or why not.
async fn check(registry: &Registry, store: &Store, e: Entry) -> Result<Binding, String> {
    let event = Event::parse(&e.event).ok_or_else(|| {
        format!(
            "unknown event `{}`: expected one of {}",
            shown(&e.event),
            Event::ALL.map(Event::name).join(", ")
        )
    })?;
    let (_, c) = store.collection(&e.collection).await.map_err(|_| {
        format!(
            "unknown collection `{}`: create it first",
            shown(&e.collection)
        )
    })?;
    can_run(registry, &e.function, &e.func, Trigger::Hooks)?;
    Ok(Binding {
        // Stored by name (the manifest's), whatever the request named it by.
        collection: c.name.clone(),
        event,
        function: e.function,
        func: e.func,
    })
}

async fn list(db: &Db) -> http::Response<Body> {
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
        Err(e) => internal("admin API (hooks)", e),
    }
}
