//! Per-invocation limits: memory through a `ResourceLimiter`, wall-clock
//! time through a deadline the epoch callback checks.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Caps the memory of one instance — all its linear memories together —
/// and, through a budget shared by every instance of the host, the memory
/// of all guests together (so many guests at their limit cannot exhaust the
/// machine). Remembers which cap a guest hit, so the error can say so.
pub struct InstanceLimiter {
    pub memory_limit: usize,
    /// Bytes of linear memory the instance holds now, across its memories.
    pub memory_used: usize,
    pub memory_exceeded: bool,
    pub budget: Arc<MemoryBudget>,
    pub budget_exhausted: bool,
    pub tables_limit: usize,
}

/// Linear memory all live instances may hold together.
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Self {
        MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held by live instances now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&n| n <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl Drop for InstanceLimiter {
    fn drop(&mut self) {
        self.budget.give_back(self.memory_used);
    }
}

/// Elements one table may hold.
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_used - current.min(self.memory_used) + desired;
        if total > self.memory_limit {
            self.memory_exceeded = true;
            wasmtime::bail!(
                "memory limit exceeded: the function asked for {} MiB in all, the limit is {} MiB",
                total >> 20,
                self.memory_limit >> 20
            );
        }
        if total > self.memory_used {
            if !self.budget.try_take(total - self.memory_used) {
                self.budget_exhausted = true;
                wasmtime::bail!(
                    "the host's memory budget for all functions ({} MiB) is exhausted",
                    self.budget.limit() >> 20
                );
            }
        } else {
            self.budget.give_back(self.memory_used - total);
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.tables_limit)
    }
}

fn clock_base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    clock_base().elapsed().as_millis() as u64
}

/// A deadline shared between the request handler (which extends it once the
/// response headers are out) and the epoch callback (which enforces it).
pub struct Deadline {
    at_ms: AtomicU64,
    hit: AtomicBool,
}

impl Deadline {
    pub fn after(d: Duration) -> Self {
        Deadline {
            at_ms: AtomicU64::new(now_ms().saturating_add(d.as_millis() as u64)),
            hit: AtomicBool::new(false),
        }
    }

    /// Moves the deadline to `d` from now.
    pub fn reset(&self, d: Duration) {
        self.at_ms.store(
            now_ms().saturating_add(d.as_millis() as u64),
            Ordering::Relaxed,
        );
    }

    pub fn expired(&self) -> bool {
        now_ms() >= self.at_ms.load(Ordering::Relaxed)
    }

    pub fn mark_hit(&self) {
        self.hit.store(true, Ordering::Relaxed);
    }

    /// Whether the guest was stopped because the deadline passed.
    pub fn was_hit(&self) -> bool {
        self.hit.load(Ordering::Relaxed)
    }
}
