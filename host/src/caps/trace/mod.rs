//! `pb:trace` — structured logs and spans from guests, into the host's
//! `tracing` output (target `pb.guest`), tagged with the function and the
//! invocation's trace id. The secret values the invocation has read are
//! redacted from everything it logs ([`redact`]).

pub mod output;
pub mod redact;

pub use redact::{Redactor, REDACTED};

use crate::caps::bindings::trace::tracing::{self as wit, Field, Host, HostSpan, Level};
use crate::common::sourcemap::SourceMapper;
use crate::engine::Invocation;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// Longest log message kept; the rest is cut (a guest cannot flood the log).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;
/// Most fields kept on one log line or span.
pub const MAX_FIELDS: usize = 64;
/// Longest field key or value kept.
pub const MAX_FIELD_LEN: usize = 1024;

/// Per-invocation tracing state.
pub struct TraceCtx {
    pub function: Arc<str>,
    /// W3C trace id, 32 hex digits; made on first use, so invocations
    /// that never trace pay nothing for it.
    trace_id: std::sync::OnceLock<String>,
    /// The function's source map (JS/TS functions): stack traces in logged
    /// messages are shown at their `.ts` positions.
    pub source_map: Option<Arc<SourceMapper>>,
    /// Secret values this invocation must not log (shared with its
    /// stdout/stderr and with `pb:secrets`).
    pub redactor: redact::Redactor,
}

impl TraceCtx {
    pub fn new(function: Arc<str>) -> Self {
        TraceCtx {
            function,
            trace_id: std::sync::OnceLock::new(),
            source_map: None,
            redactor: redact::Redactor::default(),
        }
    }

    pub fn trace_id(&self) -> &str {
        self.trace_id
            .get_or_init(|| format!("{:032x}", rand::random::<u128>()))
    }
}

/// The host side of a `span` resource.
pub struct Span {
    name: String,
    fields: Vec<Field>,
    error: Option<String>,
    start: Instant,
    ended: bool,
}

pub struct TraceView<'a> {
    pub ctx: &'a TraceCtx,
    pub table: &'a mut ResourceTable,
}

struct HasTraceView;
impl HasData for HasTraceView {
    type Data<'a> = TraceView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasTraceView>(linker, |s| TraceView {
        ctx: &s.trace,
        table: &mut s.table,
    })
}

fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// Redacts, then clips (clipping first could leave part of a secret).
fn clean(redactor: &redact::Redactor, s: String, max: usize) -> String {
    clip(redactor.redact_owned(s), max)
}

fn clip_fields(redactor: &redact::Redactor, fields: Vec<Field>) -> Vec<Field> {
    fields
        .into_iter()
        .take(MAX_FIELDS)
        .map(|f| Field {
            key: clean(redactor, f.key, MAX_FIELD_LEN),
            value: clean(redactor, f.value, MAX_FIELD_LEN),
        })
        .collect()
}

fn render(fields: &[Field]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|f| (f.key.clone(), serde_json::Value::String(f.value.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

macro_rules! guest_event {
    ($level:expr, $($rest:tt)+) => {
        match $level {
            Level::Trace => tracing::trace!(target: "pb.guest", $($rest)+),
            Level::Debug => tracing::debug!(target: "pb.guest", $($rest)+),
            Level::Info => tracing::info!(target: "pb.guest", $($rest)+),
            Level::Warn => tracing::warn!(target: "pb.guest", $($rest)+),
            Level::Error => tracing::error!(target: "pb.guest", $($rest)+),
        }
    };
}

impl Host for TraceView<'_> {
    fn log(&mut self, level: Level, message: String, fields: Vec<Field>) -> wasmtime::Result<()> {
        let message = match &self.ctx.source_map {
            Some(map) => map.map_text(&message),
            None => message,
        };
        let redactor = &self.ctx.redactor;
        let message = clean(redactor, message, MAX_MESSAGE_LEN);
        let fields = render(&clip_fields(redactor, fields));
        let (function, trace_id) = (&*self.ctx.function, self.ctx.trace_id());
        guest_event!(level, function, trace_id, fields, "{message}");
        Ok(())
    }

    fn trace_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.ctx.trace_id().to_string())
    }
}

impl TraceView<'_> {
    fn finish(&self, span: &mut Span) {
        if span.ended {
            return;
        }
        span.ended = true;
        let (function, trace_id) = (&*self.ctx.function, self.ctx.trace_id());
        let duration_us = span.start.elapsed().as_micros() as u64;
        // Again at the end: a secret read after an attribute was set.
        let redactor = &self.ctx.redactor;
        let fields = redactor.redact_owned(render(&span.fields));
        let name = redactor.redact(&span.name);
        let error = span.error.as_deref().map(|e| redactor.redact(e));
        match &error {
            Some(error) => {
                tracing::warn!(target: "pb.guest.span", function, trace_id, span = %name, duration_us, fields, error = %error, "span failed")
            }
            None => {
                tracing::info!(target: "pb.guest.span", function, trace_id, span = %name, duration_us, fields, "span")
            }
        }
    }
}

impl HostSpan for TraceView<'_> {
    fn new(&mut self, name: String, fields: Vec<Field>) -> wasmtime::Result<Resource<Span>> {
        let redactor = &self.ctx.redactor;
        let span = Span {
            name: clean(redactor, name, MAX_FIELD_LEN),
            fields: clip_fields(redactor, fields),
            error: None,
            start: Instant::now(),
            ended: false,
        };
        Ok(self.table.push(span)?)
    }

    fn set_attribute(
        &mut self,
        span: Resource<Span>,
        key: String,
        value: String,
    ) -> wasmtime::Result<()> {
        let redactor = &self.ctx.redactor;
        let span = self.table.get_mut(&span)?;
        if span.fields.len() < MAX_FIELDS {
            span.fields.push(Field {
                key: clean(redactor, key, MAX_FIELD_LEN),
                value: clean(redactor, value, MAX_FIELD_LEN),
            });
        }
        Ok(())
    }

    fn record_error(&mut self, span: Resource<Span>, message: String) -> wasmtime::Result<()> {
        let message = clean(&self.ctx.redactor, message, MAX_MESSAGE_LEN);
        self.table.get_mut(&span)?.error = Some(message);
        Ok(())
    }

    fn end(&mut self, span: Resource<Span>) -> wasmtime::Result<()> {
        let mut taken = std::mem::replace(
            self.table.get_mut(&span)?,
            Span {
                name: String::new(),
                fields: Vec::new(),
                error: None,
                start: Instant::now(),
                ended: true,
            },
        );
        self.finish(&mut taken);
        Ok(())
    }

    fn drop(&mut self, span: Resource<Span>) -> wasmtime::Result<()> {
        let mut span = self.table.delete(span)?;
        self.finish(&mut span);
        Ok(())
    }
}
