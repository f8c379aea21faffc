//! Connections a capability keeps for itself and lends to one call at a
//! time ([`Leases`]), for the statements on its hot path.
//!
//! A statement through a sqlx 0.8 pool costs three round trips to SQLite's
//! worker thread or to PostgreSQL: a ping before the pool hands the
//! connection out (`test_before_acquire`, PostgreSQL only since the
//! SQLite pool skips it: `store::open_sqlite`), the statement, and a ping
//! when it comes back. Measured by `tests/benches/kv.rs` (see the README), the
//! `pb:kv` get's SELECT through the pool took 3x–5x as long as on a
//! connection the caller owns, on both backends. So a [`Leases`] takes up to
//! [`MAX_OWN`] connections out of the host's pool (sqlx `detach`) and lends
//! each to one call at a time, without pings; a connection idle for more
//! than [`PING_AFTER_IDLE`] is pinged before it is lent again, as the pool
//! would. When all are lent, a call borrows from the pool as usual. A
//! connection whose call failed other than with an SQL error, or whose call
//! was cancelled (the guest was stopped mid-call), is closed, not lent again.
//!
//! Each capability that wants them (`pb:kv`, `pb:data`) holds a set of its
//! own in the host's `Services`, so one cannot starve the other.

use super::sql::{Conn, Connection};
use super::Db;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Connections one set keeps at most, beyond the pool's.
pub const MAX_OWN: usize = 8;
/// An own connection idle for longer is pinged before it is lent.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(60);

/// One capability's own connections.
#[derive(Default)]
pub struct Leases {
    /// Idle connections, with when they were last used.
    free: Mutex<Vec<(Connection, Instant)>>,
    /// Own connections open (idle or lent).
    open: AtomicUsize,
}

impl Leases {
    /// A connection for one call: an idle own one, a new own one, or (all
    /// lent) one of `db`'s pool.
    pub async fn lease<'a>(&'a self, db: &Db) -> sqlx::Result<Lease<'a>> {
        loop {
            let idle = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((mut conn, since)) = idle else { break };
            let slot = Slot::taken(&self.open);
            if since.elapsed() > PING_AFTER_IDLE && conn.ping().await.is_err() {
                continue; // closed; the slot is freed
            }
            slot.keep();
            return Ok(self.lend(conn, true));
        }
        if self.open.fetch_add(1, Ordering::AcqRel) < MAX_OWN {
            let slot = Slot::taken(&self.open);
            let conn = db.acquire().await?.detach();
            slot.keep();
            return Ok(self.lend(conn, true));
        }
        self.open.fetch_sub(1, Ordering::AcqRel);
        Ok(self.lend(db.acquire().await?, false))
    }

    fn lend(&self, conn: Connection, own: bool) -> Lease<'_> {
        Lease {
            leases: self,
            conn: Some(conn),
            own,
            reusable: false,
        }
    }
}

/// One counted own connection, given up (the count lowered) when dropped
/// unless kept: so a call cancelled while opening or pinging one does not
/// leak its place.
struct Slot<'a> {
    open: &'a AtomicUsize,
    kept: bool,
}

impl<'a> Slot<'a> {
    fn taken(open: &'a AtomicUsize) -> Self {
        Slot { open, kept: false }
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A connection lent to one call; given back when dropped.
pub struct Lease<'a> {
    leases: &'a Leases,
    /// Some until dropped.
    conn: Option<Connection>,
    /// One of the set's own (else the pool's, which takes it back).
    own: bool,
    /// Set by [`Lease::finished`] when the connection may be lent again.
    reusable: bool,
}

impl Lease<'_> {
    pub fn conn(&mut self) -> Conn<'_> {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
            .conn()
    }

    /// Records how the call ended: `ok` when the connection is in a known
    /// state (a success, or an error the database reported) and may be lent
    /// again; otherwise it is closed.
    pub fn finished(&mut self, ok: bool) {
        self.reusable = ok;
    }

    /// [`Lease::finished`] from the outcome of an sqlx call.
    pub fn finished_with<T>(&mut self, result: &sqlx::Result<T>) {
        self.finished(matches!(result, Ok(_) | Err(sqlx::Error::Database(_))));
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !self.own {
            return; // the pool's: dropping gives it back
        }
        if self.reusable {
            self.leases
                .free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((conn, Instant::now()));
        } else {
            // Dropping it closes it.
            drop(conn);
            self.leases.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
