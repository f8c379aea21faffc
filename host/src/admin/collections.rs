//! Collections: PocketBase's collections API and `_admin/collections`.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/api/collections?page=&perPage=` | the collections, a page of them |
//! | POST | `/api/collections` | create one (its definition as JSON) → 200 |
//! | GET | `/api/collections/{name or id}` | one |
//! | PATCH | `/api/collections/{name or id}[?force=true]` | change it: the keys sent replace the collection's (`fields` as a whole); a change that would lose data needs `force` |
//! | DELETE | `/api/collections/{name or id}` | delete it and its records → 204 |
//! | PUT | `/api/collections/import`, `/api/pb_serverless/_admin/collections` | `{"collections": […], "force": false}`: create or change each, in order, in one transaction (others are left alone) → `{"collections": […]}` |
//!
//! The records under `/api/collections/{name}/records` are not the admin's:
//! see `triggers/http/records.rs`. A collection's JSON is the same
//! everywhere (these answers, the project manifest's `collections`): see
//! [`crate::caps::data::schema`].

use super::{is_admin, method_not_allowed, no_database, Ctx};
use crate::caps::data::error::DataError;
use crate::caps::data::{schema, Store};
use crate::caps::services::Services;
use crate::triggers::http::records::data_error;
use crate::triggers::http::reply::{
    error, json, no_content, query_flag, query_param, read_body, unread, Body,
};
use http::{Method, Request};
use hyper::body::Incoming;
use serde_json::{json, Value};
use std::sync::Arc;

/// Prefix of PocketBase's collections and records API.
pub const PREFIX: &str = "/api/collections";
/// Largest collection definition (or import) accepted.
pub const MAX_SCHEMA_BYTES: usize = 4 << 20;

/// Whether `path` belongs to PocketBase's collections and records API.
pub fn matches(path: &str) -> bool {
    path == PREFIX || path.starts_with("/api/collections/")
}

/// The path under [`PREFIX`], split at `/`, each segment percent-decoded.
pub fn segments(path: &str) -> Vec<String> {
    path.strip_prefix(PREFIX)
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

/// Answers PocketBase's collections API (`segments`: the path under
/// [`PREFIX`], not a records route).
pub async fn handle(
    services: &Arc<Services>,
    admin_token: &str,
    segments: &[String],
    req: Request<Incoming>,
) -> http::Response<Body> {
    if !is_admin(&req, admin_token) {
        return unread(
            &req,
            error(
                401,
                "The request requires valid superuser authorization token to be set (the admin token).",
            ),
        );
    }
    let store = &services.data;
    let method = req.method().clone();
    match segments
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => match method {
            Method::GET => list(store, &req).await,
            Method::POST => match read_object(req, MAX_SCHEMA_BYTES).await {
                Ok(v) => reply(create(store, &v).await),
                Err(resp) => resp,
            },
            _ => unread(&req, method_not_allowed()),
        },
        ["import"] if method == Method::PUT => import(store, req).await,
        [name] => match method {
            Method::GET => match store.catalog.get(&store.db, name).await {
                Ok((_, c)) => json(200, &c.to_json()),
                Err(e) => data_error(e),
            },
            Method::PATCH => {
                let force = query_flag(&req, "force");
                let name = name.to_string();
                match read_object(req, MAX_SCHEMA_BYTES).await {
                    Ok(Value::Object(patch)) => {
                        let force = force || patch.get("force") == Some(&Value::Bool(true));
                        let updated = store.catalog.update(&store.db, &name, &patch, force).await;
                        // A rename moved its record hooks along.
                        store.hooks.changed();
                        reply(updated.map(|c| c.to_json()))
                    }
                    Ok(_) => error(400, "the body must be a JSON object"),
                    Err(resp) => resp,
                }
            }
            Method::DELETE => match store.catalog.delete(&store.db, name).await {
                Ok(c) => {
                    // Committed: now its files (pb:files) go too.
                    store.delete_files(&c.name, None).await;
                    unread(&req, no_content())
                }
                Err(e) => unread(&req, data_error(e)),
            },
            _ => unread(&req, method_not_allowed()),
        },
        _ => unread(&req, error(404, "The requested resource wasn't found.")),
    }
}

/// `PUT /api/pb_serverless/_admin/collections` (the token was checked).
pub async fn admin_import(ctx: &Ctx<'_>, req: Request<Incoming>) -> http::Response<Body> {
    let Some(services) = ctx.services else {
        return unread(&req, no_database());
    };
    if req.method() != Method::PUT && req.method() != Method::POST {
        return unread(
            &req,
            error(405, "method not allowed; PUT the set of collections"),
        );
    }
    import(&services.data, req).await
}

async fn import(store: &Store, req: Request<Incoming>) -> http::Response<Body> {
    let force_query = query_flag(&req, "force");
    let body = match read_object(req, MAX_SCHEMA_BYTES).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let Some(list) = body.get("collections").and_then(Value::as_array) else {
        return error(
            400,
            "the body must be {\"collections\": [...], \"force\": false}",
        );
    };
    if body.get("deleteMissing") == Some(&Value::Bool(true)) {
        return error(
            400,
            "deleteMissing is not supported: collections not listed are left alone; DELETE them one by one",
        );
    }
    let force = force_query || body.get("force") == Some(&Value::Bool(true));
    let mut defs = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match schema::parse_definition(v) {
            Ok(d) => defs.push(d),
            Err(e) => return data_error(prefix_error(e, i)),
        }
    }
    let imported = store.catalog.import(&store.db, defs, force).await;
    store.hooks.changed();
    match imported {
        Ok(list) => json(
            200,
            &json!({"collections": list.iter().map(|c| c.to_json()).collect::<Vec<_>>()}),
        ),
        Err(e) => data_error(e),
    }
}

/// Field errors of the `i`th collection of an import, keyed `collections.i.…`.
fn prefix_error(e: DataError, i: usize) -> DataError {
    match e {
        DataError::Invalid { message, fields } => DataError::Invalid {
            message: format!("collections[{i}]: {message}"),
            fields: fields
                .into_iter()
                .map(|(k, v)| (format!("collections.{i}.{k}"), v))
                .collect(),
        },
        other => other,
    }
}

async fn create(store: &Store, v: &Value) -> Result<Value, DataError> {
    let def = schema::parse_definition(v)?;
    Ok(store.catalog.create(&store.db, def).await?.to_json())
}

async fn list(store: &Store, req: &Request<Incoming>) -> http::Response<Body> {
    let page: u32 = query_param(req, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let per_page: u32 = query_param(req, "perPage")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 1000);
    let snap = match store.catalog.snapshot(&store.db).await {
        Ok(s) => s,
        Err(e) => return data_error(e),
    };
    let all = snap.sorted();
    let total = all.len() as u64;
    let items: Vec<Value> = all
        .iter()
        .skip(((page - 1) as u64 * per_page as u64) as usize)
        .take(per_page as usize)
        .map(|c| c.to_json())
        .collect();
    let resp = json(
        200,
        &json!({
            "page": page,
            "perPage": per_page,
            "totalItems": total,
            "totalPages": total.div_ceil(per_page as u64),
            "items": items,
        }),
    );
    unread(req, resp)
}

fn reply(result: Result<Value, DataError>) -> http::Response<Body> {
    match result {
        Ok(v) => json(200, &v),
        Err(e) => data_error(e),
    }
}

/// The body as a JSON value, at most `limit` bytes; an empty body is `{}`
/// (as PocketBase reads it).
async fn read_object(req: Request<Incoming>, limit: usize) -> Result<Value, http::Response<Body>> {
    let bytes = read_body(req, limit).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            400,
            &format!("Failed to read the request body as JSON: {e}"),
        )
    })
}

/// A path segment with `%XX` escapes decoded (invalid UTF-8 replaced).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
