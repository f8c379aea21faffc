//! PocketBase's collections API, behind the admin token, and the routing of
//! everything under `/api/collections` (records: [`super::records`]).
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
//! A collection's JSON is the same everywhere (these answers, the project
//! manifest's `collections`): see [`crate::caps::data::schema`].

use super::reply::{closing, error, full, has_body, json, Body};
use crate::caps::data::error::DataError;
use crate::caps::data::schema;
use crate::caps::data::store::{self as data_store, Store};
use crate::caps::services::Services;
use http::{Method, Request};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};
use std::sync::Arc;

/// Prefix of the collections and records API.
pub const PREFIX: &str = "/api/collections";
/// Largest collection definition (or import) accepted.
pub const MAX_SCHEMA_BYTES: usize = 4 << 20;

/// Whether `path` belongs to this API.
pub fn matches(path: &str) -> bool {
    path == PREFIX || path.starts_with("/api/collections/")
}

/// Routes a request under `/api/collections`.
pub async fn handle(
    services: Option<&Arc<Services>>,
    admin_token: &str,
    req: Request<Incoming>,
) -> http::Response<Body> {
    let Some(services) = services else {
        return unread(
            &req,
            error(
                503,
                "records need the full host (`pbs serve` with a data folder)",
            ),
        );
    };
    let store = data_store::of(services);
    let path = req.uri().path().to_string();
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    let segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let admin = is_admin(&req, admin_token);
    let method = req.method().clone();
    match segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [_, "records", ..] => super::records::handle(&store, admin, &segments, req).await,
        _ if !admin => unread(
            &req,
            error(
                401,
                "The request requires valid superuser authorization token to be set (the admin token).",
            ),
        ),
        [] => match method {
            Method::GET => list(&store, &req).await,
            Method::POST => match read_json(req, MAX_SCHEMA_BYTES).await {
                Ok(v) => reply(create(&store, &v).await),
                Err(resp) => resp,
            },
            _ => unread(&req, error(405, "method not allowed")),
        },
        ["import"] if method == Method::PUT => import(&store, req).await,
        [name] => match method {
            Method::GET => match store.catalog.get(&store.db, name).await {
                Ok((_, c)) => json(200, &c.to_json()),
                Err(e) => data_error(e),
            },
            Method::PATCH => {
                let force = query_flag(&req, "force");
                let name = name.to_string();
                match read_json(req, MAX_SCHEMA_BYTES).await {
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
            _ => unread(&req, error(405, "method not allowed")),
        },
        _ => unread(&req, error(404, "The requested resource wasn't found.")),
    }
}

/// `PUT /api/pb_serverless/_admin/collections` (the admin API; the token
/// was checked there).
pub async fn admin_import(
    services: Option<Arc<Services>>,
    req: Request<Incoming>,
) -> http::Response<Body> {
    let Some(services) = services else {
        return unread(
            &req,
            error(
                503,
                "collections need the full host (`pbs serve` with a data folder)",
            ),
        );
    };
    if req.method() != Method::PUT && req.method() != Method::POST {
        return unread(
            &req,
            error(405, "method not allowed; PUT the set of collections"),
        );
    }
    import(&data_store::of(&services), req).await
}

async fn import(store: &Store, req: Request<Incoming>) -> http::Response<Body> {
    let force_query = query_flag(&req, "force");
    let body = match read_json(req, MAX_SCHEMA_BYTES).await {
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

/// A [`DataError`] in PocketBase's error shape.
pub fn data_error(e: DataError) -> http::Response<Body> {
    json(e.status(), &e.body())
}

pub fn no_content() -> http::Response<Body> {
    http::Response::builder()
        .status(204)
        .body(full(""))
        .expect("static response")
}

/// Marks a reply sent without reading a request body.
pub fn unread(req: &Request<Incoming>, resp: http::Response<Body>) -> http::Response<Body> {
    if has_body(req) {
        closing(resp)
    } else {
        resp
    }
}

/// The body as JSON, at most `limit` bytes.
pub async fn read_json(
    req: Request<Incoming>,
    limit: usize,
) -> Result<Value, http::Response<Body>> {
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

pub async fn read_body(
    req: Request<Incoming>,
    limit: usize,
) -> Result<bytes::Bytes, http::Response<Body>> {
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(closing(error(
            413,
            &format!("the request body is larger than the limit of {limit} bytes"),
        ))),
        Err(e) => Err(error(400, &format!("could not read the request body: {e}"))),
    }
}

pub fn query_param(req: &Request<Incoming>, key: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn query_flag(req: &Request<Incoming>, key: &str) -> bool {
    query_param(req, key).is_some_and(|v| v == "true" || v == "1")
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

/// Whether the request carries the admin token: `Authorization: Bearer
/// <token>`, or the bare token as the PocketBase SDK sends it.
pub fn is_admin(req: &Request<Incoming>, token: &str) -> bool {
    let Some(value) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let value = value.trim();
    let given = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    };
    !token.is_empty() && constant_time_eq(given.as_bytes(), token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
