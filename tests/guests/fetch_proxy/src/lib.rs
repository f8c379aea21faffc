//! Fetches the URL in `?url=` (percent-decoded) through
//! `wasi:http/outgoing-handler`, sending its authority exactly as spelled,
//! and answers with the status it got, or 502 and the error.
//!
//! `&follow=N` follows up to N redirects (each hop a new request, as the JS
//! `fetch` does), `&n=N` repeats the fetch N times (the budget test),
//! `&first_byte_ms=N` sets the first-byte timeout. Every fetch carries a
//! 2 s connect timeout, so a mistake cannot hang the test.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "wasi:http/proxy@0.2.10",
    generate_all,
});

#[path = "../../common/http.rs"]
mod http;

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingRequest, RequestOptions, ResponseOutparam, Scheme,
};

struct FetchProxy;

const NANOS_PER_MS: u64 = 1_000_000;

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', h, l]) => hex(*h).zip(hex(*l)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Params {
    url: Option<String>,
    follow: u32,
    n: u32,
    first_byte_ms: Option<u64>,
}

fn params(path_with_query: &str) -> Params {
    let mut p = Params {
        url: None,
        follow: 0,
        n: 1,
        first_byte_ms: None,
    };
    let query = path_with_query.split_once('?').map_or("", |(_, q)| q);
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "url" => p.url = Some(percent_decode(v)),
            "follow" => p.follow = v.parse().unwrap_or(0),
            "n" => p.n = v.parse().unwrap_or(1),
            "first_byte_ms" => p.first_byte_ms = v.parse().ok(),
            _ => {}
        }
    }
    p
}

/// One request; the status and the `location` header.
fn fetch_once(url: &str, first_byte_ms: Option<u64>) -> Result<(u16, Option<String>), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("no scheme in {url:?}"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = path.split('#').next().unwrap_or("");
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_string()),
    };

    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "set-scheme refused".to_string())?;
    request
        .set_authority(Some(authority))
        .map_err(|()| format!("set-authority refused {authority:?}"))?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|()| format!("set-path-with-query refused {path:?}"))?;
    let options = RequestOptions::new();
    options
        .set_connect_timeout(Some(2_000 * NANOS_PER_MS))
        .map_err(|()| "set-connect-timeout refused".to_string())?;
    if let Some(ms) = first_byte_ms {
        options
            .set_first_byte_timeout(Some(ms * NANOS_PER_MS))
            .map_err(|()| "set-first-byte-timeout refused".to_string())?;
    }

    let pending = outgoing_handler::handle(request, Some(options)).map_err(|e| format!("{e:?}"))?;
    {
        let ready = pending.subscribe();
        ready.block();
    }
    let response = pending
        .get()
        .ok_or("response not ready")?
        .map_err(|()| "response taken twice".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let location = {
        let headers = response.headers();
        let location = headers.get("location").into_iter().next();
        location.map(|l| String::from_utf8_lossy(&l).into_owned())
    };
    Ok((status, location))
}

/// Fetches `url`, following up to `follow` redirects; the final status and
/// the URLs visited.
fn fetch(url: &str, follow: u32, first_byte_ms: Option<u64>) -> (Result<u16, String>, Vec<String>) {
    let mut url = url.to_string();
    let mut hops = vec![url.clone()];
    loop {
        match fetch_once(&url, first_byte_ms) {
            Ok((status, Some(location)))
                if (300..400).contains(&status) && (hops.len() as u32) <= follow =>
            {
                url = location;
                hops.push(url.clone());
            }
            Ok((status, _)) => return (Ok(status), hops),
            Err(e) => return (Err(e), hops),
        }
    }
}

impl Guest for FetchProxy {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let p = params(&request.path_with_query().unwrap_or_default());
        drop(request);
        let Some(url) = p.url else {
            return http::respond(out, 400, &[], b"missing ?url=");
        };
        let mut ok = 0u32;
        let mut last = Err("no fetch".to_string());
        let mut hops = Vec::new();
        for _ in 0..p.n.max(1) {
            let (result, visited) = fetch(&url, p.follow, p.first_byte_ms);
            hops = visited;
            let failed = result.is_err();
            last = result;
            if failed {
                break;
            }
            ok += 1;
        }
        let hops = hops.join(" ");
        let ok = ok.to_string();
        let headers = [("x-fetched", ok.as_str()), ("x-hops", hops.as_str())];
        match last {
            Ok(status) => {
                http::respond(out, status, &headers, format!("status {status}").as_bytes())
            }
            Err(e) => http::respond(out, 502, &headers, format!("error: {e}").as_bytes()),
        }
    }
}

export!(FetchProxy);
