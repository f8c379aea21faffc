//! WHATWG URL parsing with the `url` crate (the parser Firefox's and
//! Servo's Rust code uses): a JS state machine over code points costs
//! ~200 µs per URL in QuickJS's interpreter, this about a hundredth of it.
//! `../js/40-url.js` keeps only the `URL` object's shape.

use javy::quickjs::function::Opt;
use javy::quickjs::{Array, Ctx, Exception, Function, Object, Result, Value};
use url::{quirks, Url};

pub fn register<'js>(ctx: &Ctx<'js>, pbs: &Object<'js>) -> Result<()> {
    pbs.set("urlParse", Function::new(ctx.clone(), parse)?)?;
    pbs.set("urlSet", Function::new(ctx.clone(), set)?)?;
    pbs.set("requestHref", Function::new(ctx.clone(), request_href)?)?;
    Ok(())
}

/// `[href, origin, protocol, username, password, host, hostname, port,
/// pathname, search, hash]`, as the `URL` getters return them.
fn parts<'js>(ctx: &Ctx<'js>, url: &Url) -> Result<Value<'js>> {
    let array = Array::new(ctx.clone())?;
    let items = [
        quirks::href(url).to_string(),
        quirks::origin(url),
        quirks::protocol(url).to_string(),
        quirks::username(url).to_string(),
        quirks::password(url).to_string(),
        quirks::host(url).to_string(),
        quirks::hostname(url).to_string(),
        quirks::port(url).to_string(),
        quirks::pathname(url).to_string(),
        quirks::search(url).to_string(),
        quirks::hash(url).to_string(),
    ];
    for (i, item) in items.into_iter().enumerate() {
        array.set(i, item)?;
    }
    Ok(array.into_value())
}

/// The parts of `input` resolved against `base`, or `null` when either is
/// not a valid URL.
fn parse<'js>(ctx: Ctx<'js>, input: String, base: Opt<Option<String>>) -> Result<Value<'js>> {
    let parsed = match base.0.flatten() {
        Some(base) => Url::parse(&base).and_then(|b| b.join(&input)),
        None => Url::parse(&input),
    };
    match parsed {
        Ok(url) => parts(&ctx, &url),
        Err(_) => Ok(Value::new_null(ctx)),
    }
}

/// The href of a `Request`'s URL: `null` when `input` is not a valid URL,
/// `false` when it has credentials (which a Request refuses).
fn request_href<'js>(ctx: Ctx<'js>, input: String) -> Result<Value<'js>> {
    match Url::parse(&input) {
        Ok(url) if url.username().is_empty() && url.password().is_none() => {
            Ok(javy::quickjs::String::from_str(ctx, quirks::href(&url))?.into_value())
        }
        Ok(_) => Ok(Value::new_bool(ctx, false)),
        Err(_) => Ok(Value::new_null(ctx)),
    }
}

/// Applies the `URL` setter `which` to `href` and returns the new parts.
/// Setters ignore values they cannot apply, as the URL standard says; only
/// `href` throws.
fn set<'js>(ctx: Ctx<'js>, href: String, which: String, value: String) -> Result<Value<'js>> {
    let mut url = Url::parse(&href)
        .map_err(|e| Exception::throw_type(&ctx, &format!("Invalid URL {href:?}: {e}")))?;
    match which.as_str() {
        "href" => quirks::set_href(&mut url, &value)
            .map_err(|e| Exception::throw_type(&ctx, &format!("Invalid URL {value:?}: {e}")))?,
        "protocol" => {
            let _ = quirks::set_protocol(&mut url, &value);
        }
        "username" => {
            let _ = quirks::set_username(&mut url, &value);
        }
        "password" => {
            let _ = quirks::set_password(&mut url, &value);
        }
        "host" => {
            let _ = quirks::set_host(&mut url, &value);
        }
        "hostname" => {
            let _ = quirks::set_hostname(&mut url, &value);
        }
        "port" => {
            let _ = quirks::set_port(&mut url, &value);
        }
        "pathname" => quirks::set_pathname(&mut url, &value),
        "search" => quirks::set_search(&mut url, &value),
        "hash" => quirks::set_hash(&mut url, &value),
        other => {
            return Err(Exception::throw_type(
                &ctx,
                &format!("no URL setter {other:?}"),
            ))
        }
    }
    parts(&ctx, &url)
}
