//! Finished spans to an OTLP `ExportTraceServiceRequest` (protobuf), written
//! straight from the SDK's [`SpanData`] into one buffer.
//!
//! Why not `opentelemetry-otlp`'s span exporter: it first converts each span
//! into `opentelemetry-proto`'s message structs (a `String` per attribute
//! key, an `AnyValue` per value, `Vec`s for ids), then encodes them, then
//! drops them. On a small request that conversion was most of what
//! exporting cost: 5% of a traced Rust hello's CPU, of which encoding was
//! a quarter. Writing the wire format directly leaves only the encoding.
//! The messages written are exactly those `opentelemetry-proto` defines
//! (field numbers in `opentelemetry/proto/trace/v1/trace.proto`); a unit
//! test decodes our bytes with its types and compares them with the SDK's
//! own conversion.

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use std::time::{SystemTime, UNIX_EPOCH};

/// Encodes batches of spans for one resource.
pub struct Encoder {
    /// The `Resource` message, encoded once.
    resource: Vec<u8>,
    resource_schema_url: String,
    /// Each scope's encoded spans; kept between batches (cleared), so a
    /// batch allocates only the request it returns.
    scopes: Vec<(InstrumentationScope, Vec<u8>)>,
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
            scopes: Vec::new(),
        }
    }

    /// One `ExportTraceServiceRequest` with every span of `spans` (which
    /// it empties), grouped by instrumentation scope.
    pub fn encode(&mut self, spans: &mut Vec<SpanData>) -> Vec<u8> {
        for (_, bytes) in &mut self.scopes {
            bytes.clear();
        }
        for span in spans.drain(..) {
            let scopes = &mut self.scopes;
            let at = match scopes
                .iter()
                .position(|(s, _)| *s == span.instrumentation_scope)
            {
                Some(i) => i,
                None => {
                    scopes.push((span.instrumentation_scope.clone(), Vec::new()));
                    scopes.len() - 1
                }
            };
            message(&mut scopes[at].1, 2, |b| self::span(b, span));
        }
        // A scope with no span in this batch is left out (and forgotten
        // if there are many: a tracer per user library is possible).
        if self.scopes.len() > 16 {
            self.scopes.retain(|(_, b)| !b.is_empty());
        }
        let sizes: usize = self.scopes.iter().map(|(_, b)| b.len() + 128).sum();
        let mut out = Vec::with_capacity(self.resource.len() + sizes + 64);
        // ExportTraceServiceRequest.resource_spans = 1
        message(&mut out, 1, |rs| {
            // ResourceSpans.resource = 1
            message(rs, 1, |r| r.extend_from_slice(&self.resource));
            for (scope, spans) in self.scopes.iter().filter(|(_, b)| !b.is_empty()) {
                // ResourceSpans.scope_spans = 2
                message(rs, 2, |ss| {
                    // ScopeSpans.scope = 1, .spans = 2, .schema_url = 3
                    message(ss, 1, |s| instrumentation_scope(s, scope));
                    ss.extend_from_slice(spans);
                    string(ss, 3, scope.schema_url().unwrap_or_default());
                });
            }
            string(rs, 3, &self.resource_schema_url);
        });
        out
    }
}

/// A `Span` message's fields.
fn span(b: &mut Vec<u8>, span: SpanData) {
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
    varint(b, 6, kind);
    fixed64(b, 7, nanos(span.start_time));
    fixed64(b, 8, nanos(span.end_time));
    for kv in &span.attributes {
        attribute(b, 9, kv);
    }
    varint(b, 10, span.dropped_attributes_count.into());
    for event in span.events.iter() {
        message(b, 11, |b| {
            fixed64(b, 1, nanos(event.timestamp));
            string(b, 2, &event.name);
            for kv in &event.attributes {
                attribute(b, 3, kv);
            }
            varint(b, 4, event.dropped_attributes_count.into());
        });
    }
    varint(b, 12, span.events.dropped_count.into());
    for link in span.links.iter() {
        let lc = &link.span_context;
        message(b, 13, |b| {
            bytes(b, 1, &lc.trace_id().to_bytes());
            bytes(b, 2, &lc.span_id().to_bytes());
            string(b, 3, &lc.trace_state().header());
            for kv in &link.attributes {
                attribute(b, 4, kv);
            }
            varint(b, 5, link.dropped_attributes_count.into());
            fixed32(b, 6, flags(lc.is_remote(), lc.trace_flags().to_u8()));
        });
    }
    varint(b, 14, span.links.dropped_count.into());
    // Status: always present, as the SDK's conversion makes it.
    message(b, 15, |b| {
        let (code, text) = match &span.status {
            Status::Unset => (0, ""),
            Status::Ok => (1, ""),
            Status::Error { description } => (2, description.as_ref()),
        };
        string(b, 2, text);
        varint(b, 3, code);
    });
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
fn key_value(b: &mut Vec<u8>, tag: u32, key: &str, value: &Value) {
    let Some(value_len) = scalar_len(value) else {
        return message(b, tag, |b| {
            string(b, 1, key);
            message(b, 2, |b| any_value(b, value));
        });
    };
    let key_len = if key.is_empty() {
        0
    } else {
        1 + encoded_len_varint(key.len() as u64) + key.len()
    };
    let len = key_len + 1 + encoded_len_varint(value_len as u64) + value_len;
    encode_key(tag, WireType::LengthDelimited, b);
    encode_varint(len as u64, b);
    string(b, 1, key);
    encode_key(2, WireType::LengthDelimited, b);
    encode_varint(value_len as u64, b);
    any_value(b, value);
}

/// The encoded length of a scalar `AnyValue`; none for an array.
fn scalar_len(value: &Value) -> Option<usize> {
    Some(match value {
        Value::String(s) => 1 + encoded_len_varint(s.as_str().len() as u64) + s.as_str().len(),
        Value::Bool(_) => 2,
        Value::I64(v) => 1 + encoded_len_varint(*v as u64),
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
    encode_key(1, WireType::LengthDelimited, b);
    encode_varint(s.len() as u64, b);
    b.extend_from_slice(s.as_bytes());
}

fn one_bool(b: &mut Vec<u8>, v: bool) {
    encode_key(2, WireType::Varint, b);
    encode_varint(u64::from(v), b);
}

fn one_i64(b: &mut Vec<u8>, v: i64) {
    encode_key(3, WireType::Varint, b);
    encode_varint(v as u64, b);
}

fn one_f64(b: &mut Vec<u8>, v: f64) {
    encode_key(4, WireType::SixtyFourBit, b);
    b.extend_from_slice(&v.to_le_bytes());
}

/// A length-delimited field whose body `body` writes: written in place,
/// then its length is put in front of it.
fn message(b: &mut Vec<u8>, tag: u32, body: impl FnOnce(&mut Vec<u8>)) {
    encode_key(tag, WireType::LengthDelimited, b);
    let start = b.len();
    body(b);
    let len = b.len() - start;
    let mut head = [0u8; 10];
    let mut free = &mut head[..];
    encode_varint(len as u64, &mut free);
    let n = 10 - free.len();
    b.extend_from_slice(&head[..n]);
    b[start..].rotate_right(n);
}

/// The fields below follow proto3: a default value is not written.
fn string(b: &mut Vec<u8>, tag: u32, s: &str) {
    bytes(b, tag, s.as_bytes())
}

fn bytes(b: &mut Vec<u8>, tag: u32, v: &[u8]) {
    if !v.is_empty() {
        encode_key(tag, WireType::LengthDelimited, b);
        encode_varint(v.len() as u64, b);
        b.extend_from_slice(v);
    }
}

fn varint(b: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        encode_key(tag, WireType::Varint, b);
        encode_varint(v, b);
    }
}

fn fixed64(b: &mut Vec<u8>, tag: u32, v: u64) {
    if v != 0 {
        encode_key(tag, WireType::SixtyFourBit, b);
        b.extend_from_slice(&v.to_le_bytes());
    }
}

fn fixed32(b: &mut Vec<u8>, tag: u32, v: u32) {
    if v != 0 {
        encode_key(tag, WireType::ThirtyTwoBit, b);
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
        let mut encoder = Encoder::new(&resource);
        // Twice through the same encoder: what a batch leaves behind must
        // not show in the next.
        let _ = encoder.encode(&mut spans.clone());
        let ours = ExportTraceServiceRequest::decode(&*encoder.encode(&mut spans.clone()))
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
