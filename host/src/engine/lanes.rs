//! Two lanes for guests: quick invocations on the host's runtime, and
//! long-running ones on threads of lower OS priority.
//!
//! Every running guest yields at each epoch tick (1 ms), so a busy guest
//! cannot hold a worker for long. That alone is not enough when there are
//! more busy guests than cores: a quick request of another tenant waits
//! behind all of them in the run queue, and the operating system shares
//! the cores between the busy workers, the quick one and the clients
//! (`bench/noisy.sh`: a trivial function's p99 went to 15–30× its solo
//! figure next to 4 CPU burners on 2 cores, its throughput to a tenth).
//!
//! So an invocation that has used more than [`LONG_AFTER`] of CPU is
//! *long-running*: at its next yield its task moves to the long lane, a
//! runtime whose threads (`pbs-long`, one per core) run [`LONG_NICE`]
//! nice levels below the host's. The kernel then gives the cores to the host's own
//! workers first (requests, quick guests, host calls) and the rest to
//! long-running guests. Nothing is reserved: alone, long-running guests
//! use every core. Their host calls run in the long lane too; the I/O and
//! timers they wait on stay with the runtime that made them.
//!
//! What moves is a whole task: an HTTP invocation's, a job run's, a cron
//! tick's. A record hook runs inside the task of the write that fires it
//! and moves with it (a hook fired by the records API runs in the
//! connection's task, which stays).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::task::JoinHandle;

/// CPU time after which an invocation is long-running. Quick handlers (a
/// record read, a prompt sent) take well under a millisecond of host CPU;
/// a JS function rendering a large answer a few.
pub const LONG_AFTER: Duration = Duration::from_millis(2);
/// How much lower the long lane's OS priority is than the host's (nice
/// +5, at most 19): next to busy threads of the host's priority its
/// threads get about a quarter of a core each (kernel weights 335 against
/// 1024), and every idle cycle otherwise. +10 (weight 110) gave a quiet
/// tenant next to 4 burners ~20% more throughput in `bench/noisy.sh`, but
/// starved CPU-bound functions tenfold whenever anything else on the
/// machine (the database, a build) kept the cores busy; with no offset
/// (only the separate runtime) the quiet tenant kept ~60–80% of its solo
/// throughput instead of ~100%.
pub const LONG_NICE: i32 = 5;

/// The long lane: made at first use, kept for the life of the process (a
/// runtime may not be dropped from async code).
fn long_lane() -> &'static tokio::runtime::Runtime {
    static LANE: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    LANE.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("pbs-long")
            .on_thread_start(|| {
                // Relative to the host's own priority (a host started with
                // `nice` keeps the difference; raising a priority would
                // need a privilege anyway).
                let nice = (thread_nice() + LONG_NICE).min(19);
                // SAFETY: a plain libc call on the calling thread's own id.
                // A failure leaves the thread at the host's priority.
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice);
                }
            })
            .enable_all()
            .build()
            .expect("start the long-running guests' runtime")
    })
}

/// The calling thread's nice value.
fn thread_nice() -> i32 {
    // SAFETY: a plain libc call on the calling thread's own id.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}

/// One invocation's lane (in its store's state): the epoch tick marks it
/// long-running, [`Lane::run`] moves it.
#[derive(Default)]
pub struct Turn {
    long: AtomicBool,
}

tokio::task_local! {
    /// The turn of the [`Lane`] being polled: invocations started inside
    /// it (a job's, a cron tick's, a hook's inside either) count against it.
    static CURRENT: Arc<Turn>;
}

impl Turn {
    pub fn new() -> Arc<Turn> {
        Arc::default()
    }

    /// The turn of the lane this task runs in, or a new one outside a lane
    /// (where nothing moves: the caller wraps its task in [`Lane::run`]
    /// with the store's turn, as the HTTP trigger does).
    pub fn current() -> Arc<Turn> {
        CURRENT.try_with(Arc::clone).unwrap_or_default()
    }

    /// At an epoch tick, with the CPU time the invocation has used.
    pub fn tick(&self, cpu: Duration) {
        if cpu >= LONG_AFTER && !self.long.load(Ordering::Relaxed) {
            self.long.store(true, Ordering::Relaxed);
        }
    }

    pub fn is_long(&self) -> bool {
        self.long.load(Ordering::Relaxed)
    }

    /// Long-running from the start (its function's last run was).
    pub fn start_long(&self) {
        self.long.store(true, Ordering::Relaxed);
    }
}

/// What a function's last invocation (of any trigger) was, so that the
/// next one of a CPU-bound function starts in the long lane: otherwise
/// each of them first runs its 2 ms (and up to an epoch tick more) on a
/// host worker, and the kernel then owes that CPU time to the long lane's
/// threads on that core, so a runnable host worker waited up to 5 ms for
/// its core (`perf sched latency` next to one burner; the quiet tenant's
/// p99 was ~3 ms, against ~0.5 ms next to a busy loop outside the host).
/// A function that turns quick again is back on the host's workers after
/// one invocation (its CPU time is the time its task was polled, so a
/// quick run preempted mid-poll may count as long once more).
#[derive(Default, Debug)]
pub struct Hint {
    long: AtomicBool,
}

impl Hint {
    /// Starts `turn` long when the last invocation was (and says so).
    pub fn apply(&self, turn: &Turn) -> bool {
        let long = self.long.load(Ordering::Relaxed);
        if long {
            turn.start_long();
        }
        long
    }

    /// The invocation that just ended used `cpu`.
    pub fn ended(&self, cpu: Duration) {
        let long = cpu >= LONG_AFTER;
        if self.long.load(Ordering::Relaxed) != long {
            self.long.store(long, Ordering::Relaxed);
        }
    }
}

/// Runs an invocation's task: polled where it was spawned until its
/// [`Turn`] says long-running, then in the long lane. Dropping it (the
/// task aborted) aborts the moved task too.
pub struct Lane<F: Future> {
    turn: Arc<Turn>,
    state: State<tokio::task::futures::TaskLocalFuture<Arc<Turn>, F>>,
}

enum State<F: Future> {
    Here(Pin<Box<F>>),
    Moved(JoinHandle<F::Output>),
    Gone,
}

impl<F> Lane<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// `fut`, on the host's runtime until `turn` says long-running. Stores
    /// made inside it take `turn` ([`Turn::current`]).
    pub fn run(turn: Arc<Turn>, fut: F) -> Lane<F> {
        Lane {
            state: State::Here(Box::pin(CURRENT.scope(turn.clone(), fut))),
            turn,
        }
    }

    /// [`Self::run`] with a turn of its own, for a task whose invocations
    /// are started inside it (jobs, cron ticks).
    pub fn spawned(fut: F) -> Lane<F> {
        Self::run(Turn::new(), fut)
    }
}

impl<F> Future for Lane<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Here(fut) => {
                    if !this.turn.is_long() {
                        return fut.as_mut().poll(cx);
                    }
                    // Between two polls the task is parked at a yield (or
                    // a host call), so it can move.
                    let State::Here(fut) = std::mem::replace(&mut this.state, State::Gone) else {
                        unreachable!()
                    };
                    this.state = State::Moved(long_lane().spawn(fut));
                }
                State::Moved(task) => {
                    let done = ready!(Pin::new(task).poll(cx));
                    this.state = State::Gone;
                    return Poll::Ready(match done {
                        Ok(out) => out,
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        // Nothing aborts the moved task but dropping this.
                        Err(e) => panic!("a long-running invocation was cancelled: {e}"),
                    });
                }
                State::Gone => panic!("polled after completion"),
            }
        }
    }
}

impl<F: Future> Drop for Lane<F> {
    fn drop(&mut self) {
        if let State::Moved(task) = &self.state {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread() -> String {
        std::thread::current()
            .name()
            .unwrap_or_default()
            .to_string()
    }

    #[tokio::test]
    async fn a_long_running_task_moves_to_the_long_lane() {
        let turn = Turn::new();
        let t = turn.clone();
        let task = tokio::spawn(Lane::run(turn.clone(), async move {
            let before = thread();
            t.tick(Duration::from_micros(100));
            tokio::task::yield_now().await;
            let quick = thread();
            t.tick(LONG_AFTER);
            tokio::task::yield_now().await;
            (before, quick, thread())
        }));
        let (before, quick, after) = task.await.unwrap();
        assert_eq!(before, quick, "a quick task stays");
        assert_ne!(before, "pbs-long");
        assert_eq!(after, "pbs-long");
        assert!(turn.is_long());
        // The lane's threads run at a lower priority than the host's.
        let long = long_lane().spawn(async { thread_nice() }).await.unwrap();
        let host = thread_nice();
        assert_eq!(long, (host + LONG_NICE).min(19), "host {host}");
    }

    #[tokio::test]
    async fn stores_made_inside_a_lane_share_its_turn() {
        // A job's store is made inside its task: marking that store's turn
        // must move the task.
        let task = tokio::spawn(Lane::spawned(async {
            let before = thread();
            Turn::current().tick(LONG_AFTER);
            tokio::task::yield_now().await;
            (before, thread())
        }));
        let (before, after) = task.await.unwrap();
        assert_ne!(before, "pbs-long");
        assert_eq!(after, "pbs-long");
        // Outside a lane each call is a turn of its own.
        assert!(!Arc::ptr_eq(&Turn::current(), &Turn::current()));
    }

    #[tokio::test]
    async fn a_function_that_ran_long_starts_its_next_run_in_the_long_lane() {
        let hint = Hint::default();
        let run = |hint: &Hint| {
            let turn = Turn::new();
            hint.apply(&turn);
            tokio::spawn(Lane::run(turn, async { thread() }))
        };
        assert_ne!(run(&hint).await.unwrap(), "pbs-long", "no history: here");
        hint.ended(LONG_AFTER);
        // Moved before its first poll: nothing of it runs on the host's workers.
        assert_eq!(run(&hint).await.unwrap(), "pbs-long");
        hint.ended(Duration::from_micros(300));
        assert_ne!(run(&hint).await.unwrap(), "pbs-long", "quick again: back");
    }

    #[tokio::test]
    async fn dropping_the_task_aborts_the_moved_one() {
        let turn = Turn::new();
        turn.tick(LONG_AFTER);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut lane = Box::pin(Lane::run(turn, async move {
            let _tx = tx;
            std::future::pending::<()>().await
        }));
        // One poll moves it.
        assert!(futures::poll!(&mut lane).is_pending());
        drop(lane);
        // The moved task is aborted: its sender goes, the receiver sees it.
        assert!(tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .unwrap()
            .is_err());
    }
}
