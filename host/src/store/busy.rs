//! What a SQLite connection of the host does when another holds the write
//! lock: wait in short steps.
//!
//! SQLite allows one writer at a time. With `busy_timeout`, a connection
//! that finds the lock taken sleeps on SQLite's own schedule — 1, 2, 5, 10,
//! 15, 20, 25, 25, 25, 50, 50, then 100 ms at a time — and checks again
//! only when it wakes. A write takes well under a millisecond, so under
//! concurrent writes (32 requests each doing a `pb:kv` incr and a
//! `pb:data` create) the lock changes hands hundreds of times while a
//! waiter sleeps its 50 or 100 ms, and whoever happens to ask at the right
//! moment wins: a few writers wait for seconds. Measured with the visits
//! examples (README, "Per language"): p99 of 0.85–1.6 s at c=32 with
//! SQLite's schedule, in every language.
//!
//! This handler sleeps [`FIRST_STEP`], doubling up to [`MAX_STEP`], so a
//! waiter looks again within a millisecond of the lock being freed, and
//! gives up after [`crate::store::SQLITE_BUSY_TIMEOUT`] as before (the
//! statement then fails with `SQLITE_BUSY`). It runs on the connection's
//! sqlx worker thread, which is blocked in the statement anyway.

use std::ffi::{c_int, c_void};
use std::time::Duration;

/// The first wait after finding the lock taken.
pub const FIRST_STEP: Duration = Duration::from_micros(50);
/// The longest single wait.
pub const MAX_STEP: Duration = Duration::from_millis(1);

/// The wait before retry number `count` (0-based), or none once the waits
/// so far add up to `timeout`.
pub fn step(count: u32, timeout: Duration) -> Option<Duration> {
    // 50 µs, 100, 200, 400, 800, then 1 ms each.
    let ramp = |n: u32| (FIRST_STEP * 2u32.saturating_pow(n)).min(MAX_STEP);
    let ramp_steps = (0..).take_while(|&n| ramp(n) < MAX_STEP).count() as u32;
    let waited = if count <= ramp_steps {
        (0..count).map(ramp).sum::<Duration>()
    } else {
        (0..ramp_steps).map(ramp).sum::<Duration>() + MAX_STEP * (count - ramp_steps)
    };
    (waited < timeout).then(|| ramp(count))
}

extern "C" fn on_busy(_: *mut c_void, count: c_int) -> c_int {
    match step(count.max(0) as u32, super::SQLITE_BUSY_TIMEOUT) {
        Some(wait) => {
            std::thread::sleep(wait);
            1
        }
        None => 0,
    }
}

/// Replaces the connection's busy timeout with [`on_busy`].
pub async fn install(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle
        .as_raw_handle()
        .as_ptr()
        .cast::<rusqlite::ffi::sqlite3>();
    // SAFETY: `db` is this connection's open handle, locked for us; the
    // handler has no state (null argument) and lives for the program.
    let rc =
        unsafe { rusqlite::ffi::sqlite3_busy_handler(db, Some(on_busy), std::ptr::null_mut()) };
    if rc != rusqlite::ffi::SQLITE_OK {
        return Err(sqlx::Error::Protocol(format!(
            "sqlite3_busy_handler failed with code {rc}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_ramp_up_to_a_millisecond_and_stop_at_the_timeout() {
        let t = Duration::from_secs(10);
        let us = |n| step(n, t).unwrap().as_micros();
        assert_eq!(
            [us(0), us(1), us(2), us(3), us(4), us(5), us(6)],
            [50, 100, 200, 400, 800, 1000, 1000]
        );
        let total: Duration = (0..).map_while(|n| step(n, t)).sum();
        assert!(total >= t && total < t + MAX_STEP * 2, "{total:?}");
        assert_eq!(step(0, Duration::ZERO), None);
    }
}
