//! Finished spans to an OTLP `ExportTraceServiceRequest` (protobuf),
//! written straight from the SDK's [`SpanData`].
//!
//! Why not `opentelemetry-otlp`'s span exporter: it first converts each span
//! into `opentelemetry-proto`'s message structs (a `String` per attribute
//! key, an `AnyValue` per value, `Vec`s for ids), then encodes them, then
//! drops them. On a small request that conversion was most of what
//! exporting cost. Writing the wire format directly leaves only the
//! encoding.
//!
//! A span is encoded as it ends, on the thread that ends it ([`span`]),
//! and only its bytes are queued ([`Batch`]): a `SpanData` sent to the
//! export task was freed there, and frees from another thread left the
//! request threads' allocator caches empty. A traced Rust hello made 10
//! more allocations a request, and with them every allocation of the
//! request got 35% dearer (callgrind, `bench/otel-instructions.sh`).
//!
//! The messages written are exactly those `opentelemetry-proto` defines
//! (field numbers in `opentelemetry/proto/trace/v1/trace.proto`); a unit
//! test decodes our bytes with its types and compares them with the SDK's
//! own conversion.

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use std::time::{SystemTime, UNIX_EPOCH};

/// Encoded spans, grouped by instrumentation scope: one export's worth.
/// Emptied with [`Batch::clear`], which keeps its buffers.
#[derive(Debug, Default)]
pub struct Batch {
    spans: usize,
    /// Each scope's spans, as `ScopeSpans.spans` fields.
    scopes: Vec<(InstrumentationScope, Vec<u8>)>,
}

impl Batch {
    /// Spans in it.
    pub fn len(&self) -> usize {
        self.spans
    }

    pub fn is_empty(&self) -> bool {
        self.spans == 0
    }

    /// Adds a span of `scope` whose fields [`span`] wrote.
    pub fn push(&mut self, scope: &InstrumentationScope, fields: &[u8]) {
        let at = match self.scopes.iter().position(|(s, _)| s == scope) {
            Some(i) => i,
            None => {
                self.scopes.push((scope.clone(), Vec::new()));
                self.scopes.len() - 1
            }
        };
        let b = &mut self.scopes[at].1;
        // ScopeSpans.spans = 2
        key(b, 2, LEN);
        varint(b, fields.len() as u64);
        b.extend_from_slice(fields);
        self.spans += 1;
    }

    pub fn clear(&mut self) {
        self.spans = 0;
        // A scope with no span in a batch is left out of its request; many
        // are forgotten (a tracer per user library is possible).
        if self.scopes.len() > 16 {
            self.scopes.clear();
        }
        for (_, b) in &mut self.scopes {
            b.clear();
        }
    }
}

/// Writes the requests for one resource.
pub struct Encoder {
    /// The `Resource` message's fields, encoded once.
    resource: Vec<u8>,
    resource_schema_url: String,
}

impl Encoder {
    pub fn new(resource: &Resource) -> Encoder {
        let mut bytes = Vec::new();
        for (key, value) in resource.iter() {
            key_value(&mut bytes, 1, key.as_str(), value);
        }
        Encoder {
            resource: bytes,
            resource_schema_url: resource.schema_url().unwrap_or_default().to_string(),
        }
    }

    /// One `ExportTraceServiceRequest` with every span of `batch`. Every
    /// length is known beforehand, so it is written front to back into a
    /// buffer of its exact size.
    pub fn request(&self, batch: &Batch) -> Vec<u8> {
        // ScopeSpans: scope = 1, spans = 2, schema_url = 3
        let scopes: Vec<(Vec<u8>, &[u8], &str)> = batch
            .scopes
            .iter()
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(scope, spans)| {
                let mut s = Vec::new();
                instrumentation_scope(&mut s, scope);
                (s, &spans[..], scope.schema_url().unwrap_or_default())
            })
            .collect();
        let scope_spans_len = |(s, spans, url): &(Vec<u8>, &[u8], &str)| {
            field_len(s.len()) + spans.len() + string_len(url)
        };
        // ResourceSpans: resource = 1, scope_spans = 2, schema_url = 3
        let resource_spans_len = field_len(self.resource.len())
            + scopes
                .iter()
                .map(|s| field_len(scope_spans_len(s)))
                .sum::<usize>()
            + string_len(&self.resource_schema_url);
        let mut out = Vec::with_capacity(field_len(resource_spans_len));
        // ExportTraceServiceRequest.resource_spans = 1
        key(&mut out, 1, LEN);
        varint(&mut out, resource_spans_len as u64);
        bytes_always(&mut out, 1, &self.resource);
        for scope in &scopes {
            key(&mut out, 2, LEN);
            varint(&mut out, scope_spans_len(scope) as u64);
            let (s, spans, url) = scope;
            bytes_always(&mut out, 1, s);
            out.extend_from_slice(spans);
            string(&mut out, 3, url);
        }
        string(&mut out, 3, &self.resource_schema_url);
        debug_assert_eq!(out.len(), out.capacity());
        out
    }
}

/// Writes the fields of `span`'s `Span` message into `b` (emptied first).
pub fn span(b: &mut Vec<u8>, span: &SpanData) {
    b.clear();
    let sc = &span.span_context;
    bytes(b, 1, &sc.trace_id().to_bytes());
    bytes(b, 2, &sc.span_id().to_bytes());
    string(b, 3, &sc.trace_state().header());
    if span.parent_span_id != SpanId::INVALID {
        bytes(b, 4, &span.parent_span_id.to_bytes());
    }
    string(b, 5, &span.name);
    let kind = match span.span_kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    };
    uint(b, 6, kind);
    fixed64(b, 7, nanos(span.start_time));
    fixed64(b, 8, nanos(span.end_time));
    for kv in &span.attributes {
        attribute(b, 9, kv);
    }
    uint(b, 10, span.dropped_attributes_count.into());
    for event in span.events.iter() {
        message(b, 11, |b| {
            fixed64(b, 1, nanos(event.timestamp));
            string(b, 2, &event.name);
            for kv in &event.attributes {
                attribute(b, 3, kv);
            }
            uint(b, 4, event.dropped_attributes_count.into());
        });
    }
    uint(b, 12, span.events.dropped_count.into());
    for link in span.links.iter() {
        let lc = &link.span_context;
        message(b, 13, |b| {
            bytes(b, 1, &lc.trace_id().to_bytes());
            bytes(b, 2, &lc.span_id().to_bytes());
            string(b, 3, &lc.trace_state().header());
            for kv in &link.attributes {
                attribute(b, 4, kv);
            }
            uint(b, 5, link.dropped_attributes_count.into());
            fixed32(b, 6, flags(lc.is_remote(), lc.trace_flags().to_u8()));
        });
    }
    uint(b, 14, span.links.dropped_count.into());
    // Status (message = 2, code = 3): always present, as the SDK's
    // conversion makes it.
    let (code, text) = match &span.status {
        Status::Unset => (0, ""),
        Status::Ok => (1, ""),
        Status::Error { description } => (2, description.as_ref()),
    };
    key(b, 15, LEN);
    varint(b, (string_len(text) + if code == 0 { 0 } else { 2 }) as u64);
    string(b, 2, text);
    uint(b, 3, code);
    fixed32(
        b,
        16,
        flags(span.parent_span_is_remote, sc.trace_flags().to_u8()),
    );
}

/// `SpanFlags`: the W3C trace flags, and whether the parent is remote
/// (`CONTEXT_HAS_IS_REMOTE` 0x100, `CONTEXT_IS_REMOTE` 0x200).
fn flags(remote: bool, trace_flags: u8) -> u32 {
    u32::from(trace_flags) | 0x100 | if remote { 0x200 } else { 0 }
}

fn instrumentation_scope(b: &mut Vec<u8>, scope: &InstrumentationScope) {
    string(b, 1, scope.name());
    string(b, 2, scope.version().unwrap_or_default());
    for kv in scope.attributes() {
        attribute(b, 3, kv);
    }
}

/// A `KeyValue` field numbered `tag`.
fn attribute(b: &mut Vec<u8>, tag: u32, kv: &KeyValue) {
    key_value(b, tag, kv.key.as_str(), &kv.value)
}

/// A `KeyValue` field (`key` = 1, `value` = 2). Most attributes are
/// scalars, whose lengths are known before writing: those are written in
/// one pass; an array goes through [`message`].
fn key_value(b: &mut Vec<u8>, tag: u32, key_: &str, value: &Value) {
    let Some(value_len) = scalar_len(value) else {
        return message(b, tag, |b| {
            string(b, 1, key_);
            message(b, 2, |b| any_value(b, value));
        });
    };
    key(b, tag, LEN);
    varint(b, (string_len(key_) + field_len(value_len)) as u64);
    string(b, 1, key_);
    key(b, 2, LEN);
    varint(b, value_len as u64);
    any_value(b, value);
}

/// The encoded length of a scalar `AnyValue`; none for an array.
fn scalar_len(value: &Value) -> Option<usize> {
    Some(match value {
        Value::String(s) => field_len(s.as_str().len()),
        Value::Bool(_) => 2,
        Value::I64(v) => 1 + varint_len(*v as u64),
        Value::F64(_) => 9,
        _ => return None,
    })
}

/// An `AnyValue` message's fields (a oneof: written even when zero).
fn any_value(b: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => one_string(b, s.as_str()),
        Value::Bool(v) => one_bool(b, *v),
        Value::I64(v) => one_i64(b, *v),
        Value::F64(v) => one_f64(b, *v),
        // ArrayValue.values = 1, an AnyValue per element.
        Value::Array(array) => message(b, 5, |b| match array {
            Array::Bool(v) => v.iter().for_each(|x| message(b, 1, |b| one_bool(b, *x))),
            Array::I64(v) => v.iter().for_each(|x| message(b, 1, |b| one_i64(b, *x))),
            Array::F64(v) => v.iter().for_each(|x| message(b, 1, |b| one_f64(b, *x))),
            Array::String(v) => v
                .iter()
                .for_each(|x| message(b, 1, |b| one_string(b, x.as_str()))),
            // `Array` is non-exhaustive: a kind added later goes out as an
            // empty array rather than failing the batch.
            _ => {}
        }),
        // Likewise for `Value`: an empty AnyValue.
        _ => {}
    }
}

fn one_string(b: &mut Vec<u8>, s: &str) {
    bytes_always(b, 1, s.as_bytes());
}

fn one_bool(b: &mut Vec<u8>, v: bool) {
    key(b, 2, VARINT);
    varint(b, u64::from(v));
}

fn one_i64(b: &mut Vec<u8>, v: i64) {
    key(b, 3, VARINT);
    varint(b, v as u64);
}

fn one_f64(b: &mut Vec<u8>, v: f64) {
    key(b, 4, I64);
    b.extend_from_slice(&v.to_le_bytes());
}

/// A length-delimited field whose body `body` writes: written in place,
/// then its length is put in front of it. For what is rare or small
/// (events, links, arrays); the rest computes its length first.
fn message(b: &mut Vec<u8>, tag: u32, body: impl FnOnce(&mut Vec<u8>)) {
    key(b, tag, LEN);
    let start = b.len();
    body(b);
    let len = (b.len() - start) as u64;
    varint(b, len);
    b[start..].rotate_right(varint_len(len));
}

// Wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

fn key(b: &mut Vec<u8>, tag: u32, wire_type: u8) {
    varint(b, u64::from(tag << 3 | u32::from(wire_type)));
}

/// A base-128 varint. Nearly every one written (keys, lengths) is one
/// byte; prost's `encode_varint` went through `BufMut` a byte at a time
/// and was the largest part of encoding.
#[inline]
fn varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The length of a length-delimited field (tag under 16) of `n` bytes.
fn field_len(n: usize) -> usize {
    1 + varint_len(n as u64) + n
}

/// The length of a string field: nothing when empty (proto3).
fn string_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        field_len(s.len())
    }
}

/// The fields below follow proto3: a default value is not written.
fn string(b: &mut Vec<u8>, tag: u32, s: &str) {
    bytes(b, tag, s.as_bytes())
}

fn bytes(b: &mut Vec<u8>, tag: u32, v: &[u8]) {
    if !v.is_empty() {
        bytes_always(b, tag, v);
    }
}

/// A length-delimited field, written even when empty (a message, a oneof).
fn bytes_always(b: &mut Vec<u8>, tag: u32, v: &[u8]) {
    key(b, tag, LEN);
    varint(b, v.len() as u64);
    b.extend_from_slice(v);
}

fn uint(b: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        key(b, tag, VARINT);
        varint(b, v);
    }
}

fn fixed64(b: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        key(b, tag, I64);
        b.extend_from_slice(&v.to_le_bytes());
    }
}

fn fixed32(b: &mut Vec<u8>, tag: u32, v: u32) {
    if v != 0 {
        key(b, tag, I32);
        b.extend_from_slice(&v.to_le_bytes());
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        Link, Span as _, SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState,
        Tracer as _, TracerProvider as _,
    };
    use opentelemetry::Context;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanProcessor};
    use prost::Message as _;
    use std::sync::{Arc, Mutex};

    /// Keeps what ends.
    #[derive(Debug, Default, Clone)]
    struct Kept(Arc<Mutex<Vec<SpanData>>>);

    impl SpanProcessor for Kept {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {}
        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }
        fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(
            &self,
            _: std::time::Duration,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
    }

    /// Spans with every kind of field the SDK makes: a remote parent with
    /// a trace state, attributes of every value type (arrays too, an empty
    /// string, zero), events, links, an error status, two scopes.
    fn spans(resource: &Resource) -> Vec<SpanData> {
        let kept = Kept::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(kept.clone())
            .with_resource(resource.clone())
            .build();
        let remote = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("vendor", "x1")]).unwrap(),
        );
        let pbs = provider.tracer("pbs");
        let parent = Context::new().with_remote_span_context(remote.clone());
        let mut server = pbs
            .span_builder("GET /hello")
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.response.status_code", 200i64),
                KeyValue::new("zero", 0i64),
                KeyValue::new("empty", ""),
                KeyValue::new("ratio", 0.25),
                KeyValue::new("flag", false),
                KeyValue::new("n", -7i64),
                KeyValue::new(
                    "list",
                    Value::Array(vec![opentelemetry::StringValue::from("a"), "b".into()].into()),
                ),
                KeyValue::new("ints", Value::Array(vec![1i64, -2].into())),
                KeyValue::new("floats", Value::Array(vec![1.5f64].into())),
                KeyValue::new("bools", Value::Array(vec![true, false].into())),
                KeyValue::new("long", "é".repeat(200)),
            ])
            .start_with_context(&pbs, &parent);
        server.add_event("retry", vec![KeyValue::new("attempt", 2i64)]);
        server.set_status(Status::error("upstream failed"));
        let inner_cx = Context::new().with_remote_span_context(server.span_context().clone());
        let mut call = pbs
            .span_builder("pb.kv.get")
            .with_links(vec![Link::with_context(remote.clone())])
            .start_with_context(&pbs, &inner_cx);
        call.set_status(Status::Ok);
        call.end();
        let other = provider.tracer_with_scope(
            InstrumentationScope::builder("user")
                .with_version("1.2")
                .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
                .with_attributes([KeyValue::new("lib", "mine")])
                .build(),
        );
        let mut user = other.start_with_context("step", &Context::new());
        user.end();
        server.end();
        let spans = kept.0.lock().unwrap().clone();
        assert_eq!(spans.len(), 3);
        spans
    }

    #[test]
    fn what_is_written_decodes_to_the_sdks_own_conversion() {
        let resource = Resource::builder_empty()
            .with_service_name("pbs-test")
            .with_attribute(KeyValue::new("service.version", "9.9"))
            .with_schema_url([], "https://opentelemetry.io/schemas/1.26.0")
            .build();
        let spans = spans(&resource);
        let encoder = Encoder::new(&resource);
        let mut batch = Batch::default();
        let mut fields = Vec::new();
        // Twice through the same batch: what a batch leaves behind must
        // not show in the next.
        for _ in 0..2 {
            batch.clear();
            for s in &spans {
                span(&mut fields, s);
                batch.push(&s.instrumentation_scope, &fields);
            }
        }
        assert_eq!(batch.len(), 3);
        let request = encoder.request(&batch);
        assert_eq!(
            request.len(),
            request.capacity(),
            "written to its exact size"
        );
        let ours = ExportTraceServiceRequest::decode(&*request)
            .expect("our bytes decode as an ExportTraceServiceRequest");
        let theirs = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans,
                &ResourceAttributesWithSchema::from(&resource),
            ),
        };
        assert_eq!(ours, theirs);
        // And the result is what it should be, not only equal: two scopes,
        // the remote parent kept.
        let scopes = &ours.resource_spans[0].scope_spans;
        assert_eq!(scopes.len(), 2);
        let server = scopes[0]
            .spans
            .iter()
            .find(|s| s.name == "GET /hello")
            .unwrap();
        assert_eq!(
            server.parent_span_id,
            SpanId::from_hex("00f067aa0ba902b7").unwrap().to_bytes()
        );
        assert_eq!(server.trace_state, "vendor=x1");
        assert_eq!(server.flags, 0x301);
        assert_eq!(server.status.as_ref().unwrap().message, "upstream failed");
    }

    #[test]
    fn a_length_over_127_bytes_takes_a_longer_prefix() {
        let mut b = Vec::new();
        message(&mut b, 1, |b| b.extend_from_slice(&[7u8; 300]));
        // key, a two-byte varint 300, the body
        assert_eq!(&b[..3], &[0x0a, 0xac, 0x02]);
        assert_eq!(b.len(), 303);
        assert!(b[3..].iter().all(|&x| x == 7));
    }
}
