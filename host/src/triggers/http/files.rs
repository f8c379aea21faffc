//! `GET /api/files/{collection}/{record}/{filename}` (PocketBase's path):
//! a record's file, streamed from the host's file store (`caps::files`).
//!
//! - `Content-Type` from the extension (`mime_guess`), `Content-Length`,
//!   `ETag` (the store's) and `Last-Modified`; `If-None-Match` with the
//!   current tag → 304 without reading the file.
//! - `Content-Disposition`: `inline` for the types PocketBase serves inline
//!   (images, audio, video, PDF — [`INLINE_TYPES`]) and plain text,
//!   `attachment` for everything else (HTML, SVG, scripts: a file must not
//!   run as a page of this origin) and whenever `?download=1` is given.
//!   `X-Content-Type-Options: nosniff` and PocketBase's sandboxing
//!   `Content-Security-Policy` come with every file.
//! - `Cache-Control: no-cache`: a function may replace a file under the same
//!   name, so clients revalidate (cheaply, with the `ETag`).
//! - `HEAD` answers the same headers without the body.
//! - Errors in PocketBase's shape `{status, message, data}`: 404 for a
//!   missing file, 400 for a name pb:files would refuse.

use super::reply::{closing, error, has_body, Body};
use crate::caps::data::rules::Access;
use crate::caps::files::{FileError, FileMeta};
use crate::caps::services::Services;
use bytes::Bytes;
use futures::TryStreamExt;
use http::{header, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use std::sync::Arc;

/// Prefix of the route.
pub const PREFIX: &str = "/api/files/";

/// Types served `inline` (PocketBase's list, plus plain text); others are
/// attachments.
pub const INLINE_TYPES: &[&str] = &[
    "image/png",
    "image/jpg",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/x-icon",
    "image/bmp",
    "video/webm",
    "video/mp4",
    "video/3gpp",
    "video/quicktime",
    "video/x-ms-wmv",
    "audio/basic",
    "audio/aiff",
    "audio/mpeg",
    "audio/midi",
    "audio/mp3",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-mpeg",
    "audio/x-m4a",
    "audio/aac",
    "application/pdf",
    "application/x-pdf",
    "text/plain",
];

/// PocketBase's policy for served files: nothing in them runs.
const CSP: &str = "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; sandbox";

/// Whether `path` belongs to this route.
pub fn matches(path: &str) -> bool {
    path.starts_with(PREFIX)
}

pub async fn handle(
    services: Option<&Arc<Services>>,
    admin_token: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    let unread = has_body(&req);
    let admin = super::reply::is_admin(&req, admin_token);
    let resp = answer(services, admin, &req).await;
    if unread {
        closing(resp)
    } else {
        resp
    }
}

async fn answer(
    services: Option<&Arc<Services>>,
    admin: bool,
    req: &Request<Incoming>,
) -> Response<Body> {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return error(405, "Method not allowed: files are read with GET or HEAD."),
    };
    let Some(services) = services else {
        return error(
            503,
            "files need the full host (`pbs serve` with a data folder)",
        );
    };
    let rest = req.uri().path().strip_prefix(PREFIX).unwrap_or_default();
    let parts: Vec<&str> = rest.split('/').collect();
    let [collection, record, filename] = parts.as_slice() else {
        return not_found();
    };
    let (Some(collection), Some(record), Some(filename)) =
        (decode(collection), decode(record), decode(filename))
    else {
        return error(400, "The path is not valid UTF-8 once percent-decoded.");
    };
    // A file is served only if the requester may view its record: the
    // collection's view rule applies (the admin token bypasses it), as in
    // PocketBase. The collection may be named by name or id (the SDK's
    // `files.getURL` uses the id); files are stored under the name.
    let access = if admin { Access::Full } else { Access::Public };
    let store = &services.data;
    let collection = match store
        .get_one(&collection, &record, access, &Default::default())
        .await
    {
        Ok((c, _)) => c.name.clone(),
        Err(_) => return not_found(),
    };
    let files = &services.files;
    let download = query_flag(req, "download");
    if let Some(tags) = req.headers().get(header::IF_NONE_MATCH) {
        match files.head(&collection, &record, &filename).await {
            Ok(meta) if matches_tag(tags, meta.e_tag.as_deref()) => return not_modified(&meta),
            Ok(_) => {}
            Err(e) => return failed(e, &collection, &record, &filename),
        }
    }
    if head {
        return match files.head(&collection, &record, &filename).await {
            Ok(meta) => headers(&meta, download)
                .body(super::reply::full(Bytes::new()))
                .expect("valid response parts"),
            Err(e) => failed(e, &collection, &record, &filename),
        };
    }
    match files.stream(&collection, &record, &filename).await {
        Ok(file) => {
            let meta = file.meta;
            let body = StreamBody::new(file.body.map_ok(Frame::data).map_err(move |e| {
                tracing::warn!(target: "pb.files", "sending a file failed midway: {e}");
                wasmtime_wasi_http::Error::InternalError(Some("reading the file failed".into()))
            }));
            headers(&meta, download)
                .body(body.boxed_unsync())
                .expect("valid response parts")
        }
        Err(e) => failed(e, &collection, &record, &filename),
    }
}

fn not_found() -> Response<Body> {
    error(404, "The requested resource wasn't found.")
}

fn failed(e: FileError, collection: &str, record: &str, filename: &str) -> Response<Body> {
    match e {
        FileError::NotFound(_) => not_found(),
        FileError::Invalid(m) => error(400, &m),
        // A read limit does not apply to serving: the bytes pass through.
        FileError::Quota(m) => error(400, &m),
        FileError::Internal(detail) => {
            tracing::error!(target: "pb.files", collection, record, filename, "serving a file failed: {detail}");
            error(
                500,
                "Failed to read the file; the host's log has the details.",
            )
        }
    }
}

/// A path segment, percent-decoded.
fn decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// `?name`, `?name=1`, `?name=true`: on; absent, `0`, `false`: off.
fn query_flag<B>(req: &Request<B>, name: &str) -> bool {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .any(|(k, v)| k == name && v != "0" && v != "false")
}

/// The `ETag` of a store tag: quoted, as HTTP wants (S3's are already).
fn etag(tag: &str) -> String {
    if tag.starts_with('"') || tag.starts_with("W/\"") {
        tag.to_string()
    } else {
        format!("\"{tag}\"")
    }
}

/// Whether `If-None-Match` names the current tag (weak comparison).
fn matches_tag(header: &HeaderValue, current: Option<&str>) -> bool {
    let (Ok(header), Some(current)) = (header.to_str(), current) else {
        return false;
    };
    let current = etag(current);
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header.trim() == "*" || header.split(',').any(|t| bare(t) == bare(&current))
}

fn http_date(ms: u64) -> Option<String> {
    let time = chrono::DateTime::from_timestamp_millis(ms as i64)?;
    Some(time.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// `inline` or `attachment`, with the name as ASCII and as UTF-8 (RFC 6266).
fn disposition(filename: &str, content_type: &str, download: bool) -> String {
    let kind = if download || !INLINE_TYPES.contains(&content_type) {
        "attachment"
    } else {
        "inline"
    };
    let ascii: String = filename
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let utf8 = percent_encoding::utf8_percent_encode(filename, RFC5987);
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{utf8}")
}

/// Everything but RFC 5987's `attr-char` is encoded.
const RFC5987: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

fn headers(meta: &FileMeta, download: bool) -> http::response::Builder {
    let content_type = mime_guess::from_path(&meta.filename)
        .first_or_octet_stream()
        .essence_str()
        .to_string();
    let mut b = Response::builder()
        .status(200)
        .header(header::CONTENT_LENGTH, meta.size)
        .header(
            header::CONTENT_DISPOSITION,
            disposition(&meta.filename, &content_type, download),
        )
        .header(header::CONTENT_TYPE, content_type)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::CACHE_CONTROL, "no-cache");
    if let Some(tag) = &meta.e_tag {
        b = b.header(header::ETAG, etag(tag));
    }
    if let Some(date) = http_date(meta.modified_ms) {
        b = b.header(header::LAST_MODIFIED, date);
    }
    b
}

fn not_modified(meta: &FileMeta) -> Response<Body> {
    let mut b = Response::builder()
        .status(304)
        .header(header::CACHE_CONTROL, "no-cache");
    if let Some(tag) = &meta.e_tag {
        b = b.header(header::ETAG, etag(tag));
    }
    b.body(super::reply::full(Bytes::new()))
        .expect("valid response parts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_compare_weakly_and_quoted() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert!(matches_tag(&h("\"1-2-3\""), Some("1-2-3")));
        assert!(matches_tag(&h("W/\"1-2-3\""), Some("1-2-3")));
        assert!(matches_tag(&h("\"x\", \"abc\""), Some("\"abc\"")));
        assert!(matches_tag(&h("*"), Some("abc")));
        assert!(!matches_tag(&h("\"abd\""), Some("abc")));
        assert!(!matches_tag(&h("\"abc\""), None));
    }

    #[test]
    fn disposition_is_inline_only_for_safe_types() {
        assert_eq!(
            disposition("a b.png", "image/png", false),
            "inline; filename=\"a b.png\"; filename*=UTF-8''a%20b.png"
        );
        assert!(disposition("x.png", "image/png", true).starts_with("attachment;"));
        assert!(disposition("x.html", "text/html", false).starts_with("attachment;"));
        assert!(disposition("x.svg", "image/svg+xml", false).starts_with("attachment;"));
        assert_eq!(
            disposition("é\"q.txt", "text/plain", false),
            "inline; filename=\"__q.txt\"; filename*=UTF-8''%C3%A9%22q.txt"
        );
    }
}
