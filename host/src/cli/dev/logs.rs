//! How `pbs dev` prints the host's log: one readable line per event of a
//! function — its `console.*` and `pb.trace` output, its stdout/stderr, its
//! spans, and what the host says about it (a trap, a timeout, an uncaught
//! error with its source-mapped TypeScript stack) — with the time, the
//! function, the level and the trace id; the host's own warnings and
//! errors too; nothing else (`PBS_LOG` adds more, e.g. `PBS_LOG=debug`).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the dev printer as the process's subscriber.
pub fn install() {
    let filter = EnvFilter::try_from_env("PBS_LOG").unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,cranelift=warn,wasmtime=warn,hyper=warn,reqwest=warn")
    });
    let printer = DevPrinter {
        color: std::io::stderr().is_terminal(),
        verbose: std::env::var_os("PBS_LOG").is_some(),
    };
    let _ = tracing_subscriber::registry()
        .with(printer.with_filter(filter))
        .try_init();
}

struct DevPrinter {
    color: bool,
    /// `PBS_LOG` is set: print the host's info lines too.
    verbose: bool,
}

#[derive(Default)]
struct Fields {
    message: String,
    function: Option<String>,
    trace_id: Option<String>,
    span: Option<String>,
    duration_us: Option<u64>,
    error: Option<String>,
    /// A guest's structured fields (JSON object text), or the host's other fields.
    extra: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "duration_us" {
            self.duration_us = Some(value);
        } else {
            self.extra.push((field.name().into(), value.to_string()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "function" => self.function = Some(value.to_string()),
            "trace_id" => self.trace_id = Some(value.to_string()),
            "span" => self.span = Some(value.to_string()),
            "error" => self.error = Some(value.to_string()),
            "fields" if value == "{}" => {}
            name => self.extra.push((name.into(), value.to_string())),
        }
    }
}

impl<S: Subscriber> Layer<S> for DevPrinter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = *meta.level();
        let target = meta.target();
        let guest = target.starts_with("pb.guest");
        let mut f = Fields::default();
        event.record(&mut f);
        // The host's info chatter ("deployed", "database ready") is what
        // pbs dev's own progress lines already say.
        if !guest && level > Level::WARN && !self.verbose {
            return;
        }
        let line = self.render(level, target, guest, f);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
    }
}

impl DevPrinter {
    fn render(&self, level: Level, target: &str, guest: bool, f: Fields) -> String {
        let now = chrono::Local::now().format("%H:%M:%S%.3f");
        let who = f.function.clone().unwrap_or_else(|| "pbs".into());
        let (label, color) = match level {
            Level::ERROR => ("error", "31"),
            Level::WARN => ("warn ", "33"),
            Level::INFO => ("info ", "32"),
            Level::DEBUG => ("debug", "36"),
            Level::TRACE => ("trace", "90"),
        };
        let mut text = match (&f.span, f.duration_us) {
            (Some(span), Some(us)) => {
                let outcome = match &f.error {
                    Some(e) => format!(" failed: {e}"),
                    None => String::new(),
                };
                format!("span {span} {:.2} ms{outcome}", us as f64 / 1000.0)
            }
            _ => f.message.clone(),
        };
        if !guest && f.function.is_none() && target != "pbs" && self.verbose {
            text = format!("{target}: {text}");
        }
        for (k, v) in &f.extra {
            if k == "fields" {
                let _ = write!(text, " {v}");
            } else if k != "version" {
                let _ = write!(text, " {k}={v}");
            }
        }
        let source = match target {
            "pb.guest.stdout" => "stdout ",
            "pb.guest.stderr" => "stderr ",
            _ => "",
        };
        let head_plain = format!("{now} {who:<14} {label} {source}");
        let indent = " ".repeat(head_plain.chars().count());
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        let rest: String = lines.map(|l| format!("{indent}{l}\n")).collect();
        let trace = f
            .trace_id
            .as_deref()
            .map(|t| format!("  trace={t}"))
            .unwrap_or_default();
        if self.color {
            format!(
                "\x1b[90m{now}\x1b[0m \x1b[1m{who:<14}\x1b[0m \x1b[{color}m{label}\x1b[0m {source}{first}\x1b[90m{trace}\x1b[0m\n{rest}"
            )
        } else {
            format!("{head_plain}{first}{trace}\n{rest}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_line_has_its_function_level_and_trace_and_indents_a_stack() {
        let p = DevPrinter {
            color: false,
            verbose: false,
        };
        let f = Fields {
            message: "Error: boom\n    at GET (src/index.ts:4:9)".into(),
            function: Some("hello".into()),
            trace_id: Some("4f3a".into()),
            ..Fields::default()
        };
        let line = p.render(Level::ERROR, "pb.guest", true, f);
        let mut lines = line.lines();
        let first = lines.next().unwrap();
        assert!(
            first.contains(" hello ") && first.contains("error Error: boom"),
            "{line}"
        );
        assert!(first.ends_with("trace=4f3a"), "{line}");
        let second = lines.next().unwrap();
        assert!(
            second.trim_start().starts_with("at GET (src/index.ts:4:9)"),
            "{line}"
        );
        assert!(second.starts_with("    "), "{line}");
    }
}
