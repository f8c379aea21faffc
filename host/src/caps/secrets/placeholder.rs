//! Secrets that never enter the sandbox: `{{secret:NAME}}` placeholders in
//! the header values of an outbound request, filled in by the host on its
//! way out (`caps::http_out`), only when the request goes to a host the
//! secret is bound to.
//!
//! - A binding is a host name or address, with an optional port
//!   (`api.openai.com`, `api.openai.com:443`, `10.0.0.5:8080`), matched
//!   exactly against the host the request dials, read the way the outbound
//!   policy reads it (`127.1` is `127.0.0.1`, names are case-insensitive);
//!   no wildcards. Bindings are stored with the secret: set by the project
//!   manifest's `secrets` (`pbs deploy` → `PATCH _admin/secrets/NAME`) or
//!   `pbs secrets set NAME --bind-host H` (admin API field `hosts`).
//! - The request must still pass the function's allowlist; a placeholder
//!   whose secret is not set, not bound to that host, or not readable
//!   refuses the whole request before anything is sent (`HTTP-request-
//!   denied`, or `internal-error` when the value does not decrypt) with an
//!   info log line naming the secret and the host, never the value.
//! - The guest never sees the value: occurrences of it in the response's
//!   headers, body and trailers (a server echoing the request back) are
//!   replaced with `[redacted]` (the `content-length` is dropped, as the
//!   length changes), and the invocation's logs redact it too. A bound
//!   server that transforms the value (encodes, compresses) can still hand
//!   it back: bind a secret only to hosts trusted with it.
//! - Only header values are filled in; a placeholder in the URL or the body
//!   is sent as it is.

use super::{store, valid_name, SecretError};
use crate::caps::services::Services;
use crate::caps::trace::{Redactor, REDACTED};
use crate::common::address::{self, Host};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi_http::{Error, WasiBody};

const OPEN: &[u8] = b"{{secret:";
const CLOSE: &[u8] = b"}}";

/// One host a secret's placeholders may be sent to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    host: Host,
    /// None: any port.
    port: Option<u16>,
}

impl Binding {
    /// `host` or `host:port` (`[v6]:port` for IPv6); the error says why not.
    pub fn parse(entry: &str) -> Result<Binding, String> {
        let entry = entry.trim();
        if entry.contains("://") || entry.contains('/') {
            return Err(format!(
                "{entry:?}: a host (`api.example.com`, `10.0.0.5:8080`), not a URL"
            ));
        }
        if entry.contains('*') {
            return Err(format!(
                "{entry:?}: a secret is bound to exact hosts, not wildcards"
            ));
        }
        let target =
            address::parse_authority(entry, 0).map_err(|why| format!("{entry:?}: {why}"))?;
        Ok(Binding {
            host: target.host,
            port: (target.port != 0).then_some(target.port),
        })
    }

    pub fn matches(&self, host: &Host, port: u16) -> bool {
        &self.host == host && self.port.is_none_or(|p| p == port)
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Name(n) => f.write_str(n)?,
            Host::Ip(std::net::IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            Host::Ip(ip) => write!(f, "{ip}")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// What the outbound path needs to fill placeholders in: the host's secrets
/// and the invocation's redactor.
#[derive(Clone)]
pub struct SecretAccess {
    pub services: Option<Arc<Services>>,
    pub redactor: Redactor,
}

/// Why a request with placeholders is refused (logged; never the value).
#[derive(Debug)]
pub enum Refusal {
    NoSecrets,
    NotSet(String),
    NotBound(String),
    Unreadable(String, SecretError),
    BadValue(String),
}

impl Refusal {
    pub fn secret(&self) -> &str {
        match self {
            Refusal::NoSecrets => "",
            Refusal::NotSet(n)
            | Refusal::NotBound(n)
            | Refusal::Unreadable(n, _)
            | Refusal::BadValue(n) => n,
        }
    }

    pub fn error(&self) -> Error {
        match self {
            Refusal::Unreadable(name, SecretError::Undecryptable { .. }) => {
                Error::InternalError(Some(format!(
                    "cannot decrypt secret `{name}`: wrong key or damaged value"
                )))
            }
            Refusal::Unreadable(..) => {
                Error::InternalError(Some("pb:secrets failed; see the host log".into()))
            }
            _ => Error::HttpRequestDenied,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoSecrets => f.write_str(
                "a {{secret:…}} placeholder, but secrets need the full host (not single-component mode)",
            ),
            Refusal::NotSet(n) => write!(f, "placeholder for secret `{n}`, which is not set"),
            Refusal::NotBound(n) => write!(f, "secret `{n}` is not bound to this host"),
            Refusal::Unreadable(n, e) => write!(f, "secret `{n}` cannot be read: {e}"),
            Refusal::BadValue(n) => write!(
                f,
                "the value of secret `{n}` cannot go in a header (control characters)"
            ),
        }
    }
}

/// Whether any header value holds a placeholder (a cheap scan, done for
/// every request).
pub fn has_placeholders(headers: &HeaderMap) -> bool {
    headers.values().any(|v| find(v.as_bytes(), OPEN).is_some())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The well-formed placeholders of one header value: (start, end, name).
fn placeholders(value: &[u8]) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(i) = find(&value[at..], OPEN) {
        let start = at + i;
        let name_start = start + OPEN.len();
        match find(&value[name_start..], CLOSE) {
            Some(len) => {
                let name = String::from_utf8_lossy(&value[name_start..name_start + len]);
                if valid_name(&name).is_ok() {
                    let end = name_start + len + CLOSE.len();
                    found.push((start, end, name.into_owned()));
                    at = end;
                } else {
                    at = name_start;
                }
            }
            None => break,
        }
    }
    found
}

/// Fills in every placeholder of `headers` for a request to `host`:`port`.
/// Returns the values used (to redact from the response), or why the
/// request must not go out.
pub async fn substitute(
    access: &SecretAccess,
    headers: &mut HeaderMap,
    host: &Host,
    port: u16,
) -> Result<Vec<String>, Refusal> {
    let Some(services) = &access.services else {
        return Err(Refusal::NoSecrets);
    };
    let mut values: Vec<(String, String)> = Vec::new();
    for value in headers.values_mut() {
        let found = placeholders(value.as_bytes());
        if found.is_empty() {
            continue;
        }
        let raw = value.as_bytes();
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut last = 0;
        let mut here: Vec<String> = Vec::new();
        for (start, end, name) in found {
            here.push(name.clone());
            let secret = match values.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => v.clone(),
                None => {
                    let secret = store::get(
                        &services.db,
                        &services.secrets_key,
                        &services.environment,
                        &name,
                    )
                    .await
                    .map_err(|e| Refusal::Unreadable(name.clone(), e))?
                    .ok_or_else(|| Refusal::NotSet(name.clone()))?;
                    if !secret.hosts.iter().any(|b| b.matches(host, port)) {
                        return Err(Refusal::NotBound(name));
                    }
                    values.push((name.clone(), secret.value.clone()));
                    secret.value
                }
            };
            out.extend_from_slice(&raw[last..start]);
            out.extend_from_slice(secret.as_bytes());
            last = end;
        }
        out.extend_from_slice(&raw[last..]);
        let sensitive = HeaderValue::from_bytes(&out).map(|mut v| {
            v.set_sensitive(true);
            v
        });
        match sensitive {
            Ok(v) => *value = v,
            Err(_) => return Err(Refusal::BadValue(here.join("`, `"))),
        }
    }
    let values: Vec<String> = values.into_iter().map(|(_, v)| v).collect();
    for v in &values {
        access.redactor.add(v);
    }
    Ok(values)
}

/// The response with every occurrence of `values` in its header values and
/// body replaced by `[redacted]`, so the guest never reads them back.
pub fn redact_response(
    mut response: http::Response<WasiBody>,
    values: &[String],
) -> http::Response<WasiBody> {
    let patterns: Vec<Vec<u8>> = values
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| v.as_bytes().to_vec())
        .collect();
    if patterns.is_empty() {
        return response;
    }
    // Redaction changes the body's length.
    response.headers_mut().remove(http::header::CONTENT_LENGTH);
    redact_headers(response.headers_mut(), &patterns);
    response.map(|inner| {
        RedactingBody {
            inner,
            patterns,
            pending: BytesMut::new(),
            trailers: None,
            done: false,
        }
        .boxed_unsync()
    })
}

fn redact_headers(headers: &mut HeaderMap, patterns: &[Vec<u8>]) {
    for value in headers.values_mut() {
        let (out, changed) = replace_all(value.as_bytes(), patterns);
        if changed {
            *value = HeaderValue::from_bytes(&out)
                .unwrap_or_else(|_| HeaderValue::from_static(REDACTED));
        }
    }
}

fn longest_match(at: &[u8], patterns: &[Vec<u8>]) -> Option<usize> {
    patterns
        .iter()
        .filter(|p| at.starts_with(p))
        .map(|p| p.len())
        .max()
}

fn replace_all(bytes: &[u8], patterns: &[Vec<u8>]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(n) = longest_match(&bytes[i..], patterns) {
            out.extend_from_slice(REDACTED.as_bytes());
            i += n;
            changed = true;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    (out, changed)
}

/// A response body with the values replaced, across chunk boundaries: the
/// tail of a chunk that could begin a value is held back until the next
/// chunk (or the end) tells.
struct RedactingBody {
    inner: WasiBody,
    patterns: Vec<Vec<u8>>,
    pending: BytesMut,
    trailers: Option<Frame<Bytes>>,
    done: bool,
}

impl RedactingBody {
    /// Redacts `pending` up to the point where a value might still be
    /// starting; `end` releases everything.
    fn release(&mut self, end: bool) -> Bytes {
        let buf = &self.pending[..];
        let mut out = Vec::with_capacity(buf.len());
        let mut i = 0;
        while i < buf.len() {
            let rest = &buf[i..];
            if let Some(n) = longest_match(rest, &self.patterns) {
                out.extend_from_slice(REDACTED.as_bytes());
                i += n;
                continue;
            }
            let may_start = !end
                && self
                    .patterns
                    .iter()
                    .any(|p| p.len() > rest.len() && p.starts_with(rest));
            if may_start {
                break;
            }
            out.push(buf[i]);
            i += 1;
        }
        let _ = self.pending.split_to(i);
        Bytes::from(out)
    }
}

impl Body for RedactingBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        loop {
            if self.done {
                if !self.pending.is_empty() {
                    let rest = self.release(true);
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
                return Poll::Ready(self.trailers.take().map(Ok));
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => self.done = true,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        self.pending.extend_from_slice(&data);
                        let out = self.release(false);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                    }
                    Err(frame) => {
                        let frame = match frame.into_trailers() {
                            Ok(mut trailers) => {
                                redact_headers(&mut trailers, &self.patterns);
                                Frame::trailers(trailers)
                            }
                            Err(other) => other,
                        };
                        self.trailers = Some(frame);
                        self.done = true;
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.is_empty() && self.trailers.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[test]
    fn bindings_parse_and_match_exactly() {
        let b = Binding::parse("API.OpenAI.com.").unwrap();
        assert_eq!(b.to_string(), "api.openai.com");
        assert!(b.matches(&Host::Name("api.openai.com".into()), 443));
        assert!(!b.matches(&Host::Name("x.api.openai.com".into()), 443));
        let b = Binding::parse("127.1:8080").unwrap();
        assert_eq!(b.to_string(), "127.0.0.1:8080");
        assert!(b.matches(&Host::Ip([127, 0, 0, 1].into()), 8080));
        assert!(!b.matches(&Host::Ip([127, 0, 0, 1].into()), 8081));
        assert_eq!(Binding::parse("[::1]:9").unwrap().to_string(), "[::1]:9");
        for bad in [
            "*.openai.com",
            "https://api.openai.com",
            "a@b",
            "",
            "x:99999",
        ] {
            assert!(Binding::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn placeholders_are_found_only_when_well_formed() {
        let v = b"Bearer {{secret:API_KEY}} and {{secret:B}}{{secret:bad name}} {{secret:C";
        let found: Vec<String> = placeholders(v).into_iter().map(|p| p.2).collect();
        assert_eq!(found, ["API_KEY", "B"]);
        let mut h = HeaderMap::new();
        h.insert("x", HeaderValue::from_static("plain"));
        assert!(!has_placeholders(&h));
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer {{secret:K}}"),
        );
        assert!(has_placeholders(&h));
    }

    #[tokio::test]
    async fn a_body_is_redacted_across_chunk_boundaries() {
        let chunks: [&'static str; 5] =
            ["he said se", "cret-va", "lue! and s", "ecret-value", " s"];
        let mut trailers = HeaderMap::new();
        trailers.insert("x-t", HeaderValue::from_static("secret-value"));
        let stream = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, Error>(Frame::data(Bytes::from_static(c.as_bytes()))))
                .chain([Ok(Frame::trailers(trailers))]),
        );
        let body: WasiBody = StreamBody::new(stream).boxed_unsync();
        let mut resp = http::Response::new(body);
        resp.headers_mut()
            .insert("x-echo", HeaderValue::from_static("Bearer secret-value"));
        let resp = redact_response(resp, &["secret-value".to_string()]);
        assert_eq!(resp.headers()["x-echo"], "Bearer [redacted]");
        let collected = resp.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-t"], "[redacted]");
        let bytes = collected.to_bytes();
        assert_eq!(&bytes[..], b"he said [redacted]! and [redacted] s");
    }
}
