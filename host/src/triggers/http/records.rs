//! PocketBase's records API, so the official `pocketbase` JS SDK (and any
//! PocketBase client) works against this host:
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/api/collections/{c}/records?page=&perPage=&sort=&filter=&fields=&skipTotal=` | `{page, perPage, totalItems, totalPages, items}` (totals -1 with `skipTotal`) |
//! | GET | `/api/collections/{c}/records/{id}?fields=` | one record |
//! | POST | `/api/collections/{c}/records` | create (JSON, an url-encoded form, or `multipart/form-data` with files) → 200 with the record |
//! | PATCH | `/api/collections/{c}/records/{id}` | update the fields sent → 200 with the record |
//! | DELETE | `/api/collections/{c}/records/{id}` | → 204 |
//!
//! The collection's access rules decide, unless the request carries the
//! admin token (`Authorization: Bearer <token>` or the bare token, as the
//! SDK sends it); see [`crate::caps::data::rules`]. Errors are PocketBase's
//! `{status, message, data}`, field errors in `data`.

use super::reply::{error, json, no_content, query_param, read_body, unread, Body};
use crate::caps::data::error::{DataError, FieldError};
use crate::caps::data::hooks::Origin;
use crate::caps::data::read::{project, ListQuery};
use crate::caps::data::rules::Access;
use crate::caps::data::schema::FieldType;
use crate::caps::data::write::MAX_RECORD_BYTES;
use crate::caps::data::Store;
use http::{Method, Request};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub async fn handle(
    store: &Arc<Store>,
    admin: bool,
    segments: &[String],
    req: Request<Incoming>,
) -> http::Response<Body> {
    let access = if admin { Access::Full } else { Access::Public };
    // A client writes from outside any hook.
    let outside = &Origin::default();
    let collection = segments[0].as_str();
    let fields = query_param(&req, "fields");
    let fields = fields.as_deref();
    let method = req.method().clone();
    let rest: Vec<&str> = segments[1..].iter().map(String::as_str).collect();
    match (method, rest.as_slice()) {
        (Method::GET, ["records"]) => {
            let q = ListQuery {
                page: query_param(&req, "page").and_then(|p| p.parse().ok()),
                per_page: query_param(&req, "perPage").and_then(|p| p.parse().ok()),
                sort: query_param(&req, "sort"),
                filter: query_param(&req, "filter").filter(|f| !f.trim().is_empty()),
                skip_total: query_param(&req, "skipTotal").is_some_and(|v| v == "true" || v == "1"),
            };
            let resp = match store.list(collection, &q, access, outside).await {
                Ok((c, page)) => json(
                    200,
                    &json!({
                        "page": page.page,
                        "perPage": page.per_page,
                        "totalItems": page.total_items,
                        "totalPages": page.total_pages,
                        "items": page.items.iter().map(|r| Value::Object(project(r.to_json(&c), fields))).collect::<Vec<_>>(),
                    }),
                ),
                Err(e) => data_error(e),
            };
            unread(&req, resp)
        }
        (Method::GET, ["records", id]) => {
            let resp = match store.get_one(collection, id, access, outside).await {
                Ok((c, r)) => json(200, &Value::Object(project(r.to_json(&c), fields))),
                Err(e) => data_error(e),
            };
            unread(&req, resp)
        }
        (Method::POST, ["records"]) => {
            let fields = fields.map(String::from);
            let (mut input, uploads) = match body_input(store, collection, req).await {
                Ok(v) => v,
                Err(resp) => return resp,
            };
            let mut saved = Vec::new();
            if !uploads.is_empty() {
                // Files first, under the record's id; removed again if the
                // record is refused.
                let id = match input.get("id").and_then(Value::as_str) {
                    Some(id) if !id.is_empty() => id.to_string(),
                    _ => crate::caps::data::ids::new_id(),
                };
                input.insert("id".into(), Value::String(id.clone()));
                if let Err(resp) = save_uploads(store, collection, &id, uploads, &mut saved).await {
                    return resp;
                }
            }
            match store.create(collection, &input, access, outside).await {
                Ok((c, r)) => json(
                    200,
                    &Value::Object(project(r.to_json(&c), fields.as_deref())),
                ),
                Err(e) => {
                    forget(store, &saved).await;
                    data_error(e)
                }
            }
        }
        (Method::PATCH, ["records", id]) => {
            let (id, fields) = (id.to_string(), fields.map(String::from));
            let (mut patch, uploads) = match body_input(store, collection, req).await {
                Ok(v) => v,
                Err(resp) => return resp,
            };
            let mut saved = Vec::new();
            if !uploads.is_empty() {
                if !crate::caps::data::ids::valid_id(&id) {
                    return data_error(crate::caps::data::error::DataError::missing_record());
                }
                // `field+`: the new files are added to those the record has.
                let appended: Vec<String> = uploads
                    .iter()
                    .filter(|u| u.append)
                    .map(|u| u.field.clone())
                    .collect();
                if !appended.is_empty() {
                    if let Ok((c, current)) =
                        store.get_one(collection, &id, Access::Full, outside).await
                    {
                        for name in appended {
                            let kept = current.cell(&c, &name).map(|cell| cell.to_json());
                            let entry = patch.entry(name).or_insert(Value::Array(Vec::new()));
                            if let (Some(Value::Array(old)), Value::Array(list)) = (kept, entry) {
                                let mut all = old;
                                all.append(list);
                                *list = all;
                            }
                        }
                    }
                }
                if let Err(resp) = save_uploads(store, collection, &id, uploads, &mut saved).await {
                    return resp;
                }
            }
            match store.update(collection, &id, &patch, access, outside).await {
                Ok((c, r)) => json(
                    200,
                    &Value::Object(project(r.to_json(&c), fields.as_deref())),
                ),
                Err(e) => {
                    forget(store, &saved).await;
                    data_error(e)
                }
            }
        }
        (Method::DELETE, ["records", id]) => {
            let resp = match store.delete(collection, id, access, outside).await {
                Ok(()) => no_content(),
                Err(e) => data_error(e),
            };
            unread(&req, resp)
        }
        (_, ["records"] | ["records", _]) => unread(&req, error(405, "method not allowed")),
        _ => unread(&req, error(404, "The requested resource wasn't found.")),
    }
}

/// Largest multipart body (a record with its files).
pub const MAX_MULTIPART_BYTES: usize = 256 << 20;

/// A file sent with a record.
pub struct Upload {
    /// The `file` field it goes to.
    pub field: String,
    /// `field+`: added to the record's files rather than replacing them.
    pub append: bool,
    /// The name it is stored under.
    pub stored: String,
    pub data: bytes::Bytes,
}

/// The record a client sent and its files: JSON, an url-encoded form, or
/// `multipart/form-data` as the PocketBase SDK sends it when a value is a
/// `File`/`Blob` (text parts as strings, `@jsonPayload` parts merged in,
/// file parts stored under a unique name — `photo_k3j2h1g0f9.png` — that
/// becomes the field's value).
async fn body_input(
    store: &Store,
    collection: &str,
    req: Request<Incoming>,
) -> Result<(Map<String, Value>, Vec<Upload>), http::Response<Body>> {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Ok((body_object(req).await?, Vec::new()));
    }
    let Some(boundary) = multipart::boundary(&content_type) else {
        return Err(unread(
            &req,
            error(400, "multipart/form-data without a boundary"),
        ));
    };
    let c = match store.collection(collection).await {
        Ok((_, c)) => c,
        Err(e) => return Err(unread(&req, data_error(e))),
    };
    let bytes = read_body(req, MAX_MULTIPART_BYTES).await?;
    let parts = multipart::parse(&bytes, &boundary)
        .map_err(|m| error(400, &format!("Failed to read the multipart body: {m}")))?;
    let mut out = Map::new();
    let mut uploads = Vec::new();
    let mut errors = Vec::new();
    for part in parts {
        if part.name == "@jsonPayload" && part.filename.is_none() {
            match serde_json::from_slice::<Value>(part.data) {
                Ok(Value::Object(o)) => out.extend(o),
                _ => return Err(error(400, "@jsonPayload must be a JSON object")),
            }
            continue;
        }
        let (field, append) = match part.name.strip_suffix('+') {
            Some(f) => (f.to_string(), true),
            None => (
                part.name.trim_start_matches('+').to_string(),
                part.name.starts_with('+'),
            ),
        };
        let Some(original) = part.filename else {
            let v = Value::String(String::from_utf8_lossy(part.data).into_owned());
            match out.get_mut(&field) {
                Some(Value::Array(list)) => list.push(v),
                Some(first) => *first = Value::Array(vec![first.take(), v]),
                None => {
                    out.insert(field, v);
                }
            }
            continue;
        };
        let Some(f) = c.field(&field) else {
            continue; // unknown keys are ignored, as for JSON
        };
        let FieldType::File {
            max_size,
            mime_types,
            ..
        } = &f.ty
        else {
            errors.push((
                f.name.clone(),
                FieldError::new(
                    "validation_invalid_value",
                    "This field does not take files.",
                ),
            ));
            continue;
        };
        if let Some(max) = max_size.filter(|m| part.data.len() as u64 > *m) {
            errors.push((f.name.clone(), FieldError::new("validation_file_size_limit", format!("Failed to upload {original:?} - the maximum allowed file size is {max} bytes."))));
            continue;
        }
        let ct = part
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        if !mime_types.is_empty() && !mime_types.iter().any(|m| m.eq_ignore_ascii_case(ct)) {
            errors.push((
                f.name.clone(),
                FieldError::new(
                    "validation_invalid_mime_type",
                    format!(
                        "{original:?} mime type must be one of: {}.",
                        mime_types.join(", ")
                    ),
                ),
            ));
            continue;
        }
        uploads.push(Upload {
            field: f.name.clone(),
            append,
            stored: multipart::stored_name(&original),
            data: bytes.slice_ref(part.data),
        });
    }
    if !errors.is_empty() {
        return Err(data_error(DataError::Invalid {
            message: "Failed to upload the files.".into(),
            fields: errors,
        }));
    }
    // Each file field names the files sent to it, after any text values.
    for u in &uploads {
        let name = Value::String(u.stored.clone());
        match out.get_mut(&u.field) {
            Some(Value::Array(list)) => list.push(name),
            Some(Value::String(s)) if s.is_empty() => {
                out.insert(u.field.clone(), Value::Array(vec![name]));
            }
            Some(first) => *first = Value::Array(vec![first.take(), name]),
            None => {
                out.insert(u.field.clone(), Value::Array(vec![name]));
            }
        }
    }
    // A single-file field takes one name, not a list of one.
    for (k, v) in out.iter_mut() {
        if let (Some(f), Value::Array(list)) = (c.field(k), &*v) {
            if matches!(f.ty, FieldType::File { max_select, .. } if max_select <= 1)
                && list.len() == 1
            {
                *v = list[0].clone();
            }
        }
    }
    Ok((out, uploads))
}

/// Stores the uploaded files of record `id` (pb:files); the names saved are
/// added to `saved`. A failure removes those saved so far.
async fn save_uploads(
    store: &Store,
    collection: &str,
    id: &str,
    uploads: Vec<Upload>,
    saved: &mut Vec<(String, String, String)>,
) -> Result<(), http::Response<Body>> {
    let name = match store.collection(collection).await {
        Ok((_, c)) => c.name.clone(),
        Err(e) => return Err(data_error(e)),
    };
    for u in uploads {
        if let Err(e) = store.files.save(&name, id, &u.stored, u.data).await {
            forget(store, saved).await;
            let (status, what) = match e {
                crate::caps::files::FileError::Quota(m) => (413, m),
                crate::caps::files::FileError::Invalid(m) => (400, m),
                other => {
                    tracing::error!(target: "pb.data", "saving an uploaded file failed: {other}");
                    (500, "Failed to store the file.".into())
                }
            };
            return Err(error(status, &what));
        }
        saved.push((name.clone(), id.to_string(), u.stored));
    }
    Ok(())
}

/// Removes files saved for a write that was refused.
async fn forget(store: &Store, saved: &[(String, String, String)]) {
    for (collection, id, name) in saved {
        store.delete_file(collection, id, name).await;
    }
}

/// The record a client sent: a JSON object, or an url-encoded form (values
/// as strings; a repeated key becomes a list).
async fn body_object(req: Request<Incoming>) -> Result<Map<String, Value>, http::Response<Body>> {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bytes = read_body(req, MAX_RECORD_BYTES).await?;
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut out = Map::new();
        for (k, v) in form_urlencoded::parse(&bytes) {
            let v = Value::String(v.into_owned());
            match out.get_mut(k.as_ref()) {
                Some(Value::Array(list)) => list.push(v),
                Some(first) => *first = Value::Array(vec![first.take(), v]),
                None => {
                    out.insert(k.into_owned(), v);
                }
            }
        }
        return Ok(out);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(error(400, "The request body must be a JSON object.")),
        Err(e) => Err(error(
            400,
            &format!("Failed to read the request body as JSON: {e}"),
        )),
    }
}

/// A [`DataError`] in PocketBase's error shape.
pub fn data_error(e: DataError) -> http::Response<Body> {
    json(e.status(), &e.body())
}

/// `multipart/form-data` (RFC 7578): enough of it for what HTTP clients
/// and the PocketBase SDK send.
pub(crate) mod multipart {
    use rand::Rng;

    pub struct Part<'a> {
        pub name: String,
        pub filename: Option<String>,
        pub content_type: Option<String>,
        pub data: &'a [u8],
    }

    /// The boundary parameter of a `Content-Type`.
    pub fn boundary(content_type: &str) -> Option<String> {
        content_type.split(';').skip(1).find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"').to_string())
                .filter(|b| !b.is_empty() && b.len() <= 200)
        })
    }

    fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        if needle.is_empty() || from > hay.len() {
            return None;
        }
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    }

    /// The parts of a body; at most 1000.
    pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
        let delimiter = format!("--{boundary}");
        let next = format!("\r\n--{boundary}");
        let mut pos = find(body, delimiter.as_bytes(), 0).ok_or("no boundary")? + delimiter.len();
        let mut parts = Vec::new();
        loop {
            if body[pos..].starts_with(b"--") {
                return Ok(parts);
            }
            if !body[pos..].starts_with(b"\r\n") {
                return Err("a boundary is not followed by a line break".into());
            }
            pos += 2;
            let head_end = find(body, b"\r\n\r\n", pos)
                .ok_or("a part without a blank line after its headers")?;
            let head = std::str::from_utf8(&body[pos..head_end])
                .map_err(|_| "part headers are not UTF-8")?;
            let data_start = head_end + 4;
            let end =
                find(body, next.as_bytes(), data_start).ok_or("the body ends inside a part")?;
            let mut part = Part {
                name: String::new(),
                filename: None,
                content_type: None,
                data: &body[data_start..end],
            };
            for line in head.split("\r\n") {
                let Some((k, v)) = line.split_once(':') else {
                    continue;
                };
                if k.trim().eq_ignore_ascii_case("content-disposition") {
                    for param in v.split(';').skip(1) {
                        let Some((pk, pv)) = param.trim().split_once('=') else {
                            continue;
                        };
                        let pv = pv.trim().trim_matches('"').to_string();
                        match pk.trim().to_ascii_lowercase().as_str() {
                            "name" => part.name = pv,
                            "filename" => part.filename = Some(pv),
                            _ => {}
                        }
                    }
                } else if k.trim().eq_ignore_ascii_case("content-type") {
                    part.content_type = Some(v.trim().to_string());
                }
            }
            if part.name.is_empty() {
                return Err("a part without a name".into());
            }
            if parts.len() == 1000 {
                return Err("more than 1000 parts".into());
            }
            parts.push(part);
            pos = end + next.len();
        }
    }

    /// PocketBase's stored file name: the original's base, sanitized and
    /// shortened, `_` and 10 random characters, then the extension.
    pub fn stored_name(original: &str) -> String {
        let base_name = original.rsplit(['/', '\\']).next().unwrap_or("");
        let (stem, ext) = match base_name.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() && e.len() <= 20 => (s, e),
            _ => (base_name, ""),
        };
        let clean = |s: &str, max: usize| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .take(max)
                .collect()
        };
        let mut stem = clean(stem, 100);
        if stem.trim_matches('_').is_empty() {
            stem = "file".into();
        }
        let mut rng = rand::thread_rng();
        let suffix: String = (0..10)
            .map(|_| {
                let n = rng.gen_range(0..36u8);
                (if n < 10 { b'0' + n } else { b'a' + n - 10 }) as char
            })
            .collect();
        let ext = clean(ext, 20);
        if ext.is_empty() {
            format!("{stem}_{suffix}")
        } else {
            format!("{stem}_{suffix}.{ext}")
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parts_and_names() {
            let body = b"--XX\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\n--XX\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"My Report.PDF\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--\r\n--XX--\r\n";
            let parts = parse(body, "XX").unwrap();
            assert_eq!(parts.len(), 2);
            assert_eq!(
                (parts[0].name.as_str(), parts[0].data),
                ("title", &b"Hello"[..])
            );
            assert_eq!(parts[1].filename.as_deref(), Some("My Report.PDF"));
            assert_eq!(parts[1].content_type.as_deref(), Some("application/pdf"));
            assert_eq!(parts[1].data, b"%PDF\r\n--");
            assert_eq!(
                boundary("multipart/form-data; boundary=\"XX\"").as_deref(),
                Some("XX")
            );
            let stored = stored_name("../My Report.PDF");
            assert!(
                stored.starts_with("my_report_") && stored.ends_with(".pdf"),
                "{stored}"
            );
            assert_eq!(stored.len(), "my_report_".len() + 10 + 4);
            assert!(parse(b"--XX\r\nno blank line", "XX").is_err());
        }
    }
}
