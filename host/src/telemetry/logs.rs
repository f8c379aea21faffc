//! Log lines: the per-function buffer behind `pbs logs`, and the JSON line
//! format (`pbs serve --log-format json`).
//!
//! **The buffer.** Each host keeps the last [`super::config::DEFAULT_LOG_LINES`]
//! lines of each function (and at most [`MAX_BYTES_PER_FUNCTION`] of text)
//! in memory — a guest's `console.*` / `pb.trace.log` lines, its stdout and
//! stderr, and the line closing each invocation — and hands new ones to
//! whoever follows them ([`Logs::follow`]). It is this host's own lines:
//! hosts sharing a database do not see each other's.
//!
//! **The JSON line.** One object per line, in this order: `level`, `msg`,
//! the line's own fields with their JSON types (a guest's
//! `console.log("Processing", { userId: 1 })` gives `"userId":1`), then
//! `trace_id`, `component` (`wasm` for what a guest logged, `host`
//! otherwise), `span_id`, `function`, `version`, `target` (host lines) and
//! `time` (RFC 3339, UTC). A field of the guest's that has the name of one
//! of those keeps its value under `field.<name>`.

use super::scope::Closing;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Bytes of message and fields kept per function; older lines go first.
pub const MAX_BYTES_PER_FUNCTION: usize = 1 << 20;
/// Lines a follower may lag behind before it misses some (it is told how
/// many).
pub const FOLLOW_BUFFER: usize = 4096;
/// Functions whose lines are kept; past this, the least recently logging
/// function's buffer goes.
pub const MAX_FUNCTIONS: usize = 10_000;

/// Keys the JSON line sets itself.
const RESERVED: &[&str] = &[
    "level",
    "msg",
    "trace_id",
    "component",
    "span_id",
    "function",
    "version",
    "target",
    "time",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            other => {
                return Err(format!(
                    "unknown level {other:?}: use trace, debug, info, warn or error"
                ))
            }
        })
    }
}

/// A line's own fields.
#[derive(Clone, Debug)]
pub enum Fields {
    None,
    /// A JSON object's text (a guest's fields).
    Json(Box<str>),
    /// The cost and outcome of an invocation (its closing line).
    Closing(Box<Closing>),
}

/// One log line of a function.
#[derive(Clone, Debug)]
pub struct LogRecord {
    pub time_ms: i64,
    pub level: Level,
    /// `wasm` (a guest's line) or `host`.
    pub component: &'static str,
    pub function: Arc<str>,
    pub version: Option<Arc<str>>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub msg: String,
    pub fields: Fields,
}

impl LogRecord {
    fn size(&self) -> usize {
        self.msg.len()
            + match &self.fields {
                Fields::Json(j) => j.len(),
                _ => 64,
            }
            + 128
    }

    /// The line as JSON (see the module docs).
    pub fn to_json(&self) -> String {
        let mut w = JsonLine::new(self.level.as_str(), &self.msg);
        match &self.fields {
            Fields::None => {}
            Fields::Json(text) => w.splice(text),
            Fields::Closing(c) => {
                if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(c) {
                    for (k, v) in map {
                        w.field(&k, &v);
                    }
                }
            }
        }
        if let Some(t) = &self.trace_id {
            w.string("trace_id", t);
        }
        w.string("component", self.component);
        if let Some(s) = &self.span_id {
            w.string("span_id", s);
        }
        w.string("function", &self.function);
        if let Some(v) = &self.version {
            w.string("version", super::scope::short(v));
        }
        w.time(self.time_ms);
        w.finish()
    }

    /// The line as text, for a terminal.
    pub fn to_text(&self) -> String {
        let time = chrono::DateTime::from_timestamp_millis(self.time_ms)
            .map(|t| t.format("%H:%M:%S%.3f").to_string())
            .unwrap_or_default();
        let mut line = format!(
            "{time} {:>5} {} {}",
            self.level.as_str().to_uppercase(),
            self.function,
            self.msg
        );
        match &self.fields {
            Fields::None => {}
            Fields::Json(text) => {
                let _ = write!(line, " {text}");
            }
            Fields::Closing(c) => {
                let _ = write!(
                    line,
                    " {} {}{} in {:.1} ms (cpu {:.1} ms, {} rows read, {} written, {} kv, {} fetches)",
                    c.trigger,
                    c.outcome,
                    if c.status > 0 { format!(" {}", c.status) } else { String::new() },
                    c.cost.wall_us as f64 / 1000.0,
                    c.cost.cpu_us as f64 / 1000.0,
                    c.cost.rows_read,
                    c.cost.rows_written,
                    c.cost.kv_ops,
                    c.cost.fetches
                );
                if let Some(e) = &c.error {
                    let _ = write!(line, ": {e}");
                }
            }
        }
        if let Some(t) = &self.trace_id {
            let _ = write!(line, " trace_id={t}");
        }
        line
    }
}

/// Writes one JSON object in a fixed key order.
pub struct JsonLine {
    out: String,
    seen: Vec<String>,
}

impl JsonLine {
    pub fn new(level: &str, msg: &str) -> JsonLine {
        let mut w = JsonLine {
            out: String::with_capacity(256),
            seen: Vec::new(),
        };
        w.out.push('{');
        w.raw("level", &json_string(level));
        w.raw("msg", &json_string(msg));
        w
    }

    fn raw(&mut self, key: &str, value: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out.push_str(&json_string(key));
        self.out.push(':');
        self.out.push_str(value);
    }

    pub fn string(&mut self, key: &str, value: &str) {
        self.raw(key, &json_string(value));
    }

    /// A field of the line's own: renamed when it would clash.
    pub fn field(&mut self, key: &str, value: &serde_json::Value) {
        let key = if RESERVED.contains(&key) || self.seen.iter().any(|k| k == key) {
            format!("field.{key}")
        } else {
            key.to_string()
        };
        self.seen.push(key.clone());
        self.raw(&key, &value.to_string());
    }

    /// The entries of a JSON object's text as fields, in their order
    /// (anything else as one field `fields`).
    pub fn splice(&mut self, text: &str) {
        match serde_json::from_str::<Ordered>(text) {
            Ok(Ordered(entries)) => {
                for (k, v) in &entries {
                    self.field(k, v);
                }
            }
            Err(_) => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(other) => self.field("fields", &other),
                Err(_) => self.field("fields", &serde_json::Value::String(text.into())),
            },
        }
    }

    pub fn time(&mut self, ms: i64) {
        let t = chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        self.string("time", &t);
    }

    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// A JSON object's entries in the order written.
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

struct Buffer {
    /// With the order they came in, across functions.
    lines: VecDeque<(u64, Arc<LogRecord>)>,
    bytes: usize,
    last: u64,
}

/// The host's log buffer (see the module docs).
pub struct Logs {
    per_function: usize,
    buffers: Mutex<(HashMap<Arc<str>, Buffer>, u64)>,
    live: broadcast::Sender<Arc<LogRecord>>,
}

impl Logs {
    pub fn new(per_function: usize) -> Logs {
        Logs {
            per_function: per_function.max(1),
            buffers: Mutex::new((HashMap::new(), 0)),
            live: broadcast::channel(FOLLOW_BUFFER).0,
        }
    }

    /// Keeps `record` and hands it to the followers.
    pub fn push(&self, record: LogRecord) {
        let record = Arc::new(record);
        let size = record.size();
        {
            let mut guard = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
            let (buffers, clock) = &mut *guard;
            *clock += 1;
            let now = *clock;
            if !buffers.contains_key(&record.function) && buffers.len() >= MAX_FUNCTIONS {
                if let Some(oldest) = buffers
                    .iter()
                    .min_by_key(|(_, b)| b.last)
                    .map(|(k, _)| k.clone())
                {
                    buffers.remove(&oldest);
                }
            }
            let b = buffers
                .entry(record.function.clone())
                .or_insert_with(|| Buffer {
                    lines: VecDeque::new(),
                    bytes: 0,
                    last: now,
                });
            b.last = now;
            b.lines.push_back((now, record.clone()));
            b.bytes += size;
            while b.lines.len() > self.per_function || b.bytes > MAX_BYTES_PER_FUNCTION {
                match b.lines.pop_front() {
                    Some((_, old)) => b.bytes -= old.size(),
                    None => break,
                }
            }
        }
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(record);
        }
    }

    /// The kept lines that pass `filter`, oldest first, at most `limit`
    /// (the newest ones).
    pub fn recent(&self, filter: &Filter, limit: usize) -> Vec<Arc<LogRecord>> {
        let guard = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<&(u64, Arc<LogRecord>)> = guard
            .0
            .iter()
            .filter(|(f, _)| filter.function.as_deref().is_none_or(|n| n == &***f))
            .flat_map(|(_, b)| b.lines.iter())
            .filter(|(_, r)| filter.admits(r))
            .collect();
        out.sort_by_key(|(seq, _)| *seq);
        let skip = out.len().saturating_sub(limit);
        out[skip..].iter().map(|(_, r)| r.clone()).collect()
    }

    /// New lines from now on (filter them with [`Filter::admits`]).
    pub fn follow(&self) -> broadcast::Receiver<Arc<LogRecord>> {
        self.live.subscribe()
    }
}

/// Which lines a reader wants.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub function: Option<String>,
    /// The lowest level shown.
    pub level: Option<Level>,
    pub trace_id: Option<String>,
}

impl Filter {
    pub fn admits(&self, r: &LogRecord) -> bool {
        self.function.as_deref().is_none_or(|f| f == &*r.function)
            && self.level.is_none_or(|l| r.level >= l)
            && self
                .trace_id
                .as_deref()
                .is_none_or(|t| r.trace_id.as_deref() == Some(t))
    }
}

/// The `--log-format json` formatter of the host's `tracing` events: the
/// same line as [`LogRecord::to_json`]. A guest's line (target `pb.guest…`)
/// has component `wasm` and its `fields` (a JSON object's text) spliced in.
pub struct JsonFormat;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut v = Visitor::default();
        event.record(&mut v);
        let level = match *meta.level() {
            tracing::Level::TRACE => "trace",
            tracing::Level::DEBUG => "debug",
            tracing::Level::INFO => "info",
            tracing::Level::WARN => "warn",
            tracing::Level::ERROR => "error",
        };
        let guest = meta.target().starts_with("pb.guest");
        let mut w = JsonLine::new(level, &v.message);
        if let Some(fields) = &v.fields {
            w.splice(fields);
        }
        for (k, value) in &v.other {
            w.field(k, value);
        }
        if let Some(t) = &v.trace_id {
            w.string("trace_id", t);
        }
        w.string("component", if guest { "wasm" } else { "host" });
        if let Some(s) = &v.span_id {
            w.string("span_id", s);
        }
        if let Some(f) = &v.function {
            w.string("function", f);
        }
        if let Some(ver) = &v.version {
            w.string("version", ver);
        }
        if !guest {
            w.string("target", meta.target());
        }
        w.time(super::scope::now_ms());
        writeln!(writer, "{}", w.finish())
    }
}

#[derive(Default)]
struct Visitor {
    message: String,
    fields: Option<String>,
    trace_id: Option<String>,
    span_id: Option<String>,
    function: Option<String>,
    version: Option<String>,
    other: Vec<(String, serde_json::Value)>,
}

impl Visitor {
    fn put(&mut self, name: &str, value: serde_json::Value) {
        let text = || match &value {
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        match name {
            "message" => self.message = text(),
            "fields" => self.fields = Some(text()),
            "trace_id" => self.trace_id = Some(text()),
            "span_id" => self.span_id = Some(text()),
            "function" => self.function = Some(text()),
            "version" => self.version = Some(text()),
            _ => self.other.push((name.to_string(), value)),
        }
    }
}

impl tracing::field::Visit for Visitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.put(
            field.name(),
            serde_json::Value::String(format!("{value:?}")),
        );
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.put(field.name(), serde_json::Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.put(field.name(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.put(field.name(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.put(field.name(), value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.put(field.name(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(function: &str, level: Level, msg: &str, trace: &str) -> LogRecord {
        LogRecord {
            time_ms: 1_700_000_000_000,
            level,
            component: "wasm",
            function: function.into(),
            version: Some("0123456789abcdef".into()),
            trace_id: Some(trace.into()),
            span_id: None,
            msg: msg.into(),
            fields: Fields::Json(r#"{"userId":1,"level":"x"}"#.into()),
        }
    }

    #[test]
    fn the_json_line_keeps_types_and_order() {
        let json = line("f", Level::Info, "Processing", "abc").to_json();
        assert_eq!(
            json,
            r#"{"level":"info","msg":"Processing","userId":1,"field.level":"x","trace_id":"abc","component":"wasm","function":"f","version":"0123456789ab","time":"2023-11-14T22:13:20.000Z"}"#
        );
    }

    #[test]
    fn the_buffer_is_bounded_and_filtered() {
        let logs = Logs::new(3);
        let mut follower = logs.follow();
        for i in 0..5 {
            logs.push(line("a", Level::Info, &format!("a{i}"), "t1"));
        }
        logs.push(line("b", Level::Error, "b0", "t2"));
        let all = logs.recent(&Filter::default(), 100);
        let msgs: Vec<&str> = all.iter().map(|r| r.msg.as_str()).collect();
        assert_eq!(msgs, ["a2", "a3", "a4", "b0"]);
        let errors = Filter {
            level: Some(Level::Warn),
            ..Default::default()
        };
        assert_eq!(logs.recent(&errors, 100).len(), 1);
        let trace = Filter {
            trace_id: Some("t1".into()),
            function: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(logs.recent(&trace, 2).len(), 2);
        assert_eq!(follower.try_recv().unwrap().msg, "a0");
    }
}
