//! `pb:trace` — structured logs and spans from guests. A log line goes to
//! the host's `tracing` output (target `pb.guest`, tagged with the function
//! and the trace and span ids) and to the host's buffer of the function's
//! lines (`pbs logs`, [`crate::telemetry::logs`]); a span is an
//! OpenTelemetry span of the invocation's trace (when spans are exported),
//! nesting what the guest does inside it. The secret values the invocation
//! has read are redacted from everything it logs ([`redact`]).

pub mod output;
pub mod redact;

pub use redact::{Redactor, REDACTED};

use crate::caps::bindings::trace::tracing::{self as wit, Field, Host, HostSpan, Level};
use crate::common::sourcemap::SourceMapper;
use crate::engine::Invocation;
use crate::telemetry::logs::Fields;
use crate::telemetry::{Level as LogLevel, LogRecord, Scope};
use opentelemetry::trace::Span as _;
use opentelemetry::KeyValue;
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
    /// The invocation's telemetry: trace context, spans, cost.
    pub scope: Arc<Scope>,
    /// The function's source map (JS/TS functions): stack traces in logged
    /// messages are shown at their `.ts` positions.
    pub source_map: Option<Arc<SourceMapper>>,
    /// Secret values this invocation must not log (shared with its
    /// stdout/stderr and with `pb:secrets`).
    pub redactor: redact::Redactor,
}

impl TraceCtx {
    pub fn new(scope: Arc<Scope>) -> Self {
        TraceCtx {
            function: scope.function.clone(),
            scope,
            source_map: None,
            redactor: redact::Redactor::default(),
        }
    }

    /// The W3C trace id, 32 hex digits.
    pub fn trace_id(&self) -> String {
        self.scope.trace_id()
    }
}

/// The host side of a `span` resource.
pub struct Span {
    name: String,
    fields: Vec<Field>,
    error: Option<String>,
    start: Instant,
    ended: bool,
    /// Its OpenTelemetry span, when spans are exported.
    otel: Option<opentelemetry_sdk::trace::Span>,
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

/// A JSON object's text with every value clipped to [`MAX_FIELD_LEN`]
/// (strings; other values by their JSON text), at most [`MAX_FIELDS`]
/// entries, redacted; anything but an object is kept as field `fields`.
fn clean_json(redactor: &redact::Redactor, text: String) -> String {
    use serde_json::Value;
    let text = clip(text, MAX_MESSAGE_LEN * 4);
    let map = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => map,
        Ok(other) => [("fields".to_string(), other)].into_iter().collect(),
        Err(_) => [("fields".to_string(), Value::String(text))]
            .into_iter()
            .collect(),
    };
    let map: serde_json::Map<String, Value> = map
        .into_iter()
        .take(MAX_FIELDS)
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => Value::String(clip(s, MAX_FIELD_LEN)),
                v @ (Value::Number(_) | Value::Bool(_) | Value::Null) => v,
                v => {
                    let t = v.to_string();
                    if t.len() > MAX_FIELD_LEN {
                        Value::String(clip(t, MAX_FIELD_LEN))
                    } else {
                        v
                    }
                }
            };
            (clip(k, MAX_FIELD_LEN), v)
        })
        .collect();
    // Redacting the text is safe: a secret cannot contain JSON's syntax
    // between its own characters in a way that breaks the object (it is
    // replaced inside string tokens, or the line falls back to text).
    let out = Value::Object(map).to_string();
    let redacted = redactor.redact_owned(out.clone());
    if redacted == out || serde_json::from_str::<Value>(&redacted).is_ok() {
        redacted
    } else {
        serde_json::json!({ "fields": redactor.redact_owned(out) }).to_string()
    }
}

fn log_level(level: Level) -> LogLevel {
    match level {
        Level::Trace => LogLevel::Trace,
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    }
}

impl TraceView<'_> {
    /// Writes one guest line: to the host's log and to the function's
    /// buffer. `fields` is a clean JSON object's text (or empty).
    fn emit(&self, level: Level, message: String, fields: String) {
        let message = match &self.ctx.source_map {
            Some(map) => map.map_text(&message),
            None => message,
        };
        let message = clean(&self.ctx.redactor, message, MAX_MESSAGE_LEN);
        let scope = &self.ctx.scope;
        let trace_id = scope.trace_id();
        let span_id = scope.span_id();
        let function = &*self.ctx.function;
        let version = scope.version.as_deref().map(crate::telemetry::scope::short);
        // Without spans (tracing off) there is no span id: the field is
        // left out of the line rather than printed empty.
        guest_event!(level, function, version, trace_id = %trace_id, span_id = span_id.as_deref(), fields = %fields, "{message}");
        if scope.trigger == crate::telemetry::Trigger::Build {
            // Evaluated at build time: the host's log only.
            return;
        }
        scope.telemetry().logs().push(LogRecord {
            time_ms: crate::telemetry::scope::now_ms(),
            level: log_level(level),
            component: "wasm",
            function: self.ctx.function.clone(),
            version: scope.version.clone(),
            trace_id: Some(trace_id),
            span_id,
            msg: message,
            fields: if fields == "{}" {
                Fields::None
            } else {
                Fields::Json(fields.into())
            },
        });
    }
}

impl Host for TraceView<'_> {
    fn log(&mut self, level: Level, message: String, fields: Vec<Field>) -> wasmtime::Result<()> {
        let fields = render(&clip_fields(&self.ctx.redactor, fields));
        self.emit(level, message, fields);
        Ok(())
    }

    fn log_json(
        &mut self,
        level: Level,
        message: String,
        fields_json: String,
    ) -> wasmtime::Result<()> {
        let fields = if fields_json.trim().is_empty() {
            "{}".to_string()
        } else {
            clean_json(&self.ctx.redactor, fields_json)
        };
        self.emit(level, message, fields);
        Ok(())
    }

    fn trace_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.ctx.trace_id())
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
        if let Some(mut otel) = span.otel.take() {
            self.ctx.scope.close(&otel);
            for f in &span.fields {
                otel.set_attribute(KeyValue::new(
                    redactor.redact_owned(f.key.clone()),
                    redactor.redact_owned(f.value.clone()),
                ));
            }
            if let Some(e) = &error {
                otel.set_status(opentelemetry::trace::Status::error(e.to_string()));
            }
            otel.end();
        }
        match &error {
            Some(error) => {
                tracing::warn!(target: "pb.guest.span", function, trace_id = %trace_id, span = %name, duration_us, fields, error = %error, "span failed")
            }
            None => {
                tracing::info!(target: "pb.guest.span", function, trace_id = %trace_id, span = %name, duration_us, fields, "span")
            }
        }
    }
}

impl HostSpan for TraceView<'_> {
    fn new(&mut self, name: String, fields: Vec<Field>) -> wasmtime::Result<Resource<Span>> {
        let redactor = &self.ctx.redactor;
        let name = clean(redactor, name, MAX_FIELD_LEN);
        // Its attributes go on at the end, redacted again then.
        let otel = self.ctx.scope.open(&name, Vec::new());
        let span = Span {
            name,
            fields: clip_fields(redactor, fields),
            error: None,
            start: Instant::now(),
            ended: false,
            otel,
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
                otel: None,
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
