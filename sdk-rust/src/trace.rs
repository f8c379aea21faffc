//! `pb:trace`: structured logs and spans, exported with OpenTelemetry.
//!
//! ```no_run
//! # let id = String::new();
//! pb_sdk::trace::info("note saved", &[("id", &id)]);
//! let span = pb_sdk::trace::span("embed", &[("model", "small")]);
//! // … the work …
//! drop(span); // or span.end()
//! ```

use crate::bindings::pb::trace::tracing::{self, Field, Level};

pub use tracing::Span;

fn fields(fields: &[(&str, &str)]) -> Vec<Field> {
    fields
        .iter()
        .map(|(k, v)| Field {
            key: k.to_string(),
            value: v.to_string(),
        })
        .collect()
}

/// A log line at `level` with key-value fields.
pub fn log(level: Level, message: &str, kv: &[(&str, &str)]) {
    tracing::log(level, message, &fields(kv));
}

pub fn debug(message: &str, kv: &[(&str, &str)]) {
    log(Level::Debug, message, kv)
}

pub fn info(message: &str, kv: &[(&str, &str)]) {
    log(Level::Info, message, kv)
}

pub fn warn(message: &str, kv: &[(&str, &str)]) {
    log(Level::Warn, message, kv)
}

pub fn error(message: &str, kv: &[(&str, &str)]) {
    log(Level::Error, message, kv)
}

/// Starts a span, a child of the innermost open one; it ends when dropped.
pub fn span(name: &str, kv: &[(&str, &str)]) -> Span {
    Span::new(name, &fields(kv))
}

/// The W3C trace id of this invocation (32 hex digits).
pub fn trace_id() -> String {
    tracing::trace_id()
}
