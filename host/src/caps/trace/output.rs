//! A guest's stdout and stderr, turned into log lines of the host
//! (`pb.guest.stdout` / `pb.guest.stderr`, tagged with the function and
//! trace id, and kept in the function's buffer for `pbs logs`), with a
//! byte budget per invocation so a guest cannot flood the host's log, and
//! never written raw to the host's own output (where it could pose as the
//! host's messages). Secret values the invocation has read are redacted
//! from each line ([`super::redact`]).

use super::redact::Redactor;
use crate::telemetry::logs::Fields;
use crate::telemetry::{Level, LogRecord, Scope};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Bytes of stdout + stderr kept per invocation; the rest is dropped.
pub const MAX_GUEST_OUTPUT: usize = 64 * 1024;
/// Longest line kept; a longer one is cut.
const MAX_LINE: usize = 8 * 1024;

#[derive(Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One invocation's stdout or stderr.
#[derive(Clone)]
pub struct GuestOutput {
    inner: Arc<Mutex<LineBuffer>>,
}

struct LineBuffer {
    function: Arc<str>,
    scope: Arc<Scope>,
    stream: Stream,
    pending: Vec<u8>,
    budget: Arc<AtomicUsize>,
    cut: bool,
    redactor: Redactor,
}

impl GuestOutput {
    /// Stdout and stderr of one invocation, sharing one budget, with the
    /// invocation's redactor.
    pub fn pair(scope: Arc<Scope>, redactor: Redactor) -> (GuestOutput, GuestOutput) {
        let budget = Arc::new(AtomicUsize::new(MAX_GUEST_OUTPUT));
        let make = |stream| GuestOutput {
            inner: Arc::new(Mutex::new(LineBuffer {
                function: scope.function.clone(),
                scope: scope.clone(),
                stream,
                pending: Vec::new(),
                budget: budget.clone(),
                cut: false,
                redactor: redactor.clone(),
            })),
        };
        (make(Stream::Stdout), make(Stream::Stderr))
    }
}

impl GuestOutput {
    /// Sends what follows to the invocation `scope` (a reused instance's
    /// next request), with a full budget; a pending partial line is written
    /// to the invocation it came from first.
    pub fn rebind(&self, scope: Arc<Scope>) {
        let mut line = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !line.pending.is_empty() {
            line.emit();
        }
        line.budget.store(MAX_GUEST_OUTPUT, Ordering::Relaxed);
        line.cut = false;
        line.function = scope.function.clone();
        line.scope = scope;
    }
}

impl LineBuffer {
    fn write(&mut self, mut bytes: &[u8]) {
        let allowed = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                Some(left.saturating_sub(bytes.len()))
            })
            .unwrap_or(0);
        if allowed < bytes.len() {
            bytes = &bytes[..allowed];
            if !self.cut {
                self.cut = true;
                tracing::warn!(target: "pb.guest", function = %self.function, "guest output over {MAX_GUEST_OUTPUT} bytes; the rest of this invocation's output is dropped");
            }
        }
        for &b in bytes {
            if b == b'\n' {
                self.emit();
            } else if self.pending.len() < MAX_LINE {
                self.pending.push(b);
            }
        }
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.pending);
        let line = self.redactor.redact(&line);
        let function = &*self.function;
        let trace_id = self.scope.trace_id();
        let level = match self.stream {
            Stream::Stdout => {
                tracing::info!(target: "pb.guest.stdout", function, trace_id = %trace_id, "{line}");
                Level::Info
            }
            Stream::Stderr => {
                tracing::warn!(target: "pb.guest.stderr", function, trace_id = %trace_id, "{line}");
                Level::Warn
            }
        };
        if self.scope.trigger != crate::telemetry::Trigger::Build {
            self.scope.telemetry().logs().push(LogRecord {
                time_ms: crate::telemetry::scope::now_ms(),
                level,
                component: "wasm",
                function: self.function.clone(),
                version: self.scope.version.clone(),
                trace_id: Some(trace_id),
                span_id: self.scope.span_id(),
                msg: line.into_owned(),
                fields: Fields::None,
            });
        }
        self.pending.clear();
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Ok(mut inner) = self.inner.lock() {
            inner.write(buf);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
