//! The writer behind the host's log (`tracing`'s fmt layer): a line is
//! formatted on the thread that logs it and appended to a shared buffer;
//! one thread writes what gathered to stderr, many lines per `write`.
//!
//! Why not `tracing-appender`'s non-blocking writer, which this replaced: it
//! hands each line through a channel whose receiver wakes (and first spins,
//! then yields) once per line. With `pbs serve` logging a line per
//! invocation, that was a fifth of the host's CPU at 19,000 requests/s on
//! two cores (`sched_yield`, futex wake-ups and context switches). Here a
//! logging thread takes a lock and copies its line; the writer wakes once
//! per burst, waits [`GATHER`] for the rest of it, and writes it whole.
//!
//! Nothing is dropped: past [`MAX_BUFFERED`] bytes a logging thread waits
//! for the writer. Dropping the [`Guard`] writes what is left.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// How long the writer lets a burst of lines gather before writing it: the
/// most a line waits to be seen.
pub const GATHER: Duration = Duration::from_millis(5);
/// Bytes buffered at most before a logging thread waits.
pub const MAX_BUFFERED: usize = 1 << 20;

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// The buffer went from empty to not, or the guard was dropped.
    wake: Condvar,
    /// The writer took the buffer: there is room again.
    room: Condvar,
}

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A thread that panicked while holding it left a consistent buffer.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the fmt layer writes to (`with_writer`).
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Keeps the writer thread; dropping it writes what is buffered and stops it.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer to `out`, written by a thread of its own named `name`.
pub fn batch_writer<W: Write + Send + 'static>(
    out: W,
    name: &str,
) -> std::io::Result<(BatchWriter, Guard)> {
    let shared = Arc::new(Shared::default());
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || write_batches(&shared, out))?
    };
    Ok((
        BatchWriter {
            shared: shared.clone(),
        },
        Guard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_batches<W: Write>(shared: &Shared, mut out: W) {
    let mut spare = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.buf.is_empty() && !state.closed {
            state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if !state.closed {
            drop(state);
            std::thread::sleep(GATHER);
            state = shared.lock();
        }
        let closed = state.closed;
        let mut batch = std::mem::replace(&mut state.buf, std::mem::take(&mut spare));
        drop(state);
        shared.room.notify_all();
        // Where stderr is gone there is nowhere to report that to.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        spare = batch;
        if closed && shared.lock().buf.is_empty() {
            return;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's writes (the fmt layer writes a whole line at once).
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut state = self.shared.lock();
        while state.buf.len() >= MAX_BUFFERED && !state.closed {
            state = self
                .shared
                .room
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        let was_empty = state.buf.is_empty();
        state.buf.extend_from_slice(bytes);
        drop(state);
        if was_empty {
            self.shared.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read after the writer is gone, and that is slow
    /// enough for the buffer to fill.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_micros(200));
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_per_thread() {
        let sink = Sink::default();
        let (writer, guard) = batch_writer(sink.clone(), "test-log").unwrap();
        // 4 threads × 20,000 lines of ~60 bytes: 4.8 MB, several times the
        // buffer's bound, so logging threads also wait for room.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        let line = format!("thread {t} line {i:>6} {}\n", "x".repeat(32));
                        writer.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        for line in out.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(parts.len(), 5, "a torn line: {line:?}");
            let t: usize = parts[1].parse().unwrap();
            let i: usize = parts[3].parse().unwrap();
            assert_eq!(i, next[t], "thread {t} out of order");
            next[t] += 1;
        }
        assert_eq!(next, [20_000; 4]);
    }
}
