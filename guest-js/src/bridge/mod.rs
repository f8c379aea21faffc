//! `globalThis.__pbs`: the native functions the JS runtime (`../js`) is built
//! on. The contract is `../js/BRIDGE.md`.

mod compress;
mod crypto;
mod http;
// Generated from the WIT (`cargo run -p pbs-witgen`), as written.
#[rustfmt::skip]
mod ops;
mod pb;
mod slots;
mod text;
mod url;
mod urlpattern;
mod wait;

use std::cell::Cell;

use javy::quickjs::function::Opt;
use javy::quickjs::{Ctx, Exception, Function, Object, Result};

use crate::pb::trace::tracing::{self, Level};

pub use http::{incoming_body, set_response_outparam, take_response_outparam};

/// Drops every handle left when an invocation ends: host I/O handles and
/// (de)compression streams.
pub fn drop_handles() {
    slots::clear();
    compress::clear();
}

thread_local! {
    /// True while Wizer evaluates the bundle: host I/O made then would leave
    /// handles in the snapshot that do not exist in later instances.
    static INITIALIZING: Cell<bool> = const { Cell::new(false) };
}

pub fn set_initializing(on: bool) {
    INITIALIZING.with(|c| c.set(on));
}

/// Refuses host I/O at build time with a message saying where to move it.
fn forbid_at_build_time(ctx: &Ctx<'_>, what: impl std::fmt::Display) -> Result<()> {
    if INITIALIZING.with(|c| c.get()) {
        return Err(Exception::throw_type(
            ctx,
            &format!(
                "{what} cannot run while the module is evaluated at build time; call it inside a handler"
            ),
        ));
    }
    Ok(())
}

pub fn log_error(message: &str) {
    tracing::log(Level::Error, message, &[]);
}

pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    let pbs = Object::new(ctx.clone())?;
    wait::register(ctx, &pbs)?;
    text::register(ctx, &pbs)?;
    url::register(ctx, &pbs)?;
    urlpattern::register(ctx, &pbs)?;
    crypto::register(ctx, &pbs)?;
    compress::register(ctx, &pbs)?;
    http::register(ctx, &pbs)?;
    pb::register(ctx, &pbs)?;
    pbs.set("log", Function::new(ctx.clone(), log)?)?;
    ctx.globals().set("__pbs", pbs)?;
    Ok(())
}

/// `log(level, message, fieldsJson?)`: with fields (a JSON object's
/// text), a `pb:trace` `log-json` line whose fields keep their types.
fn log(level: String, message: String, fields: Opt<Option<String>>) {
    let level = match level.as_str() {
        "trace" => Level::Trace,
        "debug" => Level::Debug,
        "warn" => Level::Warn,
        "error" => Level::Error,
        _ => Level::Info,
    };
    match fields.0.flatten() {
        Some(json) => tracing::log_json(level, &message, &json),
        None => tracing::log(level, &message, &[]),
    }
}
