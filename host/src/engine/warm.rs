//! Opt-in instance reuse ("warm" instances): a function deployed with
//! `reuse: N` keeps an instance after an invocation that ended well, and the
//! next invocation of the same function version (an HTTP request, a record
//! hook, a job or a cron tick) runs in it, up to N in turn — Cloudflare
//! Workers' isolate reuse, `wasmtime serve --max-instance-reuse-count`.
//! Globals persist between those invocations; limits (time, fuel, outbound
//! budget), telemetry and logs are per invocation.
//!
//! Why the boundaries hold:
//! - A pool belongs to one `Deployed` (one function, one version, one
//!   allowlist). A redeploy or rollback makes a new `Deployed` with an empty
//!   pool; the old one, and every instance in it, goes with the last
//!   request that holds it. Nothing crosses functions or versions.
//! - Only an instance whose request ended well comes back: a trap, a
//!   timeout, a memory or fuel limit, an abandoned request all drop it.
//! - Idle instances hold pool slots and memory, so they are bounded per
//!   function and host-wide, and one idle for [`IDLE_TIMEOUT`] is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// An idle instance older than this is dropped (its slot and memory go
/// back to the host).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often idle instances are checked for [`IDLE_TIMEOUT`].
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Default host-wide cap on the requests one instance may serve
/// (`pbs serve --max-reuse`); a function asks for its own N up to it.
pub const DEFAULT_MAX_REUSE: u32 = 100_000;
/// Default host-wide cap on idle instances kept for reuse
/// (`pbs serve --max-warm`).
pub const DEFAULT_MAX_WARM: u32 = 128;

/// An instance between requests (for HTTP: its store and bindings), with
/// the requests it has served so far.
struct Idle<T> {
    item: T,
    served: u32,
    since: Instant,
}

/// The count of idle instances on the whole host, against its cap.
pub struct WarmBudget {
    cap: usize,
    idle: AtomicUsize,
}

impl WarmBudget {
    pub fn new(cap: u32) -> Arc<Self> {
        Arc::new(WarmBudget {
            cap: cap as usize,
            idle: AtomicUsize::new(0),
        })
    }

    /// Idle instances held now (host-wide).
    pub fn idle(&self) -> usize {
        self.idle.load(Ordering::Relaxed)
    }

    fn try_take(&self) -> bool {
        self.idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.cap).then_some(n + 1)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.idle.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The idle instances of one deployed function version.
pub struct WarmPool<T> {
    /// Requests one instance serves before it is retired.
    pub max_requests: u32,
    /// Idle instances kept at most for this function.
    max_idle: usize,
    idle: Mutex<Vec<Idle<T>>>,
    budget: Arc<WarmBudget>,
    sweeping: std::sync::Once,
}

impl<T: Send + 'static> WarmPool<T> {
    pub fn new(max_requests: u32, max_idle: usize, budget: Arc<WarmBudget>) -> Arc<Self> {
        Arc::new(WarmPool {
            max_requests,
            max_idle,
            idle: Mutex::new(Vec::new()),
            budget,
            sweeping: std::sync::Once::new(),
        })
    }

    /// The most recently used idle instance (its pages are the likeliest
    /// to be warm in the CPU's caches), if any.
    /// Returns it with the requests it has served.
    pub fn take(&self) -> Option<(T, u32)> {
        let idle = self.lock().pop()?;
        self.budget.give_back(1);
        Some((idle.item, idle.served))
    }

    /// Keeps `warm` for a later request, unless it has served its share or
    /// a cap is reached (then it is dropped, freeing its slot).
    /// `served`: the requests it has served, the one just ended included.
    pub fn put(self: &Arc<Self>, item: T, served: u32) {
        if served >= self.max_requests {
            return;
        }
        let mut idle = self.lock();
        if idle.len() >= self.max_idle || !self.budget.try_take() {
            return;
        }
        idle.push(Idle {
            item,
            served,
            since: Instant::now(),
        });
        drop(idle);
        self.sweeping.call_once(|| self.spawn_sweeper());
    }

    /// Idle instances of this function now.
    pub fn idle(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle<T>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops instances idle for longer than [`IDLE_TIMEOUT`].
    fn sweep(&self) {
        let expired: Vec<Idle<T>> = {
            let mut idle = self.lock();
            let (old, fresh) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|w| w.since.elapsed() >= IDLE_TIMEOUT);
            *idle = fresh;
            old
        };
        self.budget.give_back(expired.len());
        // Stores are dropped here, outside the lock.
        drop(expired);
    }

    /// Sweeps while the pool lives; the task ends with it.
    fn spawn_sweeper(self: &Arc<Self>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Self> = Arc::downgrade(self);
        handle.spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                match weak.upgrade() {
                    Some(pool) => pool.sweep(),
                    None => return,
                }
            }
        });
    }
}

impl<T> Drop for WarmPool<T> {
    fn drop(&mut self) {
        let n = self.idle.get_mut().map(|v| v.len()).unwrap_or(0);
        self.budget.give_back(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_a_dropped_pool_gives_its_share_back() {
        let budget = WarmBudget::new(3);
        let a = WarmPool::<u8>::new(10, 2, budget.clone());
        let b = WarmPool::<u8>::new(10, 5, budget.clone());
        for i in 0..3 {
            a.put(i, 1);
        }
        assert_eq!(a.idle(), 2, "per-function cap");
        for i in 0..3 {
            b.put(i, 1);
        }
        assert_eq!(b.idle(), 1, "host-wide cap");
        assert_eq!(budget.idle(), 3);
        b.take();
        b.put(9, 10);
        assert_eq!(b.idle(), 0, "an instance that served its share is retired");
        assert_eq!(a.take(), Some((1, 1)), "the most recently used first");
        assert_eq!(budget.idle(), 1);
        drop(a);
        assert_eq!(budget.idle(), 0);
    }

    #[test]
    fn idle_instances_expire() {
        let pool = WarmPool::<u8>::new(10, 2, WarmBudget::new(4));
        pool.put(1, 1);
        pool.lock()[0].since -= IDLE_TIMEOUT;
        pool.put(2, 1);
        pool.sweep();
        assert_eq!(pool.take(), Some((2, 1)));
        assert_eq!(pool.budget.idle(), 0);
    }
}
