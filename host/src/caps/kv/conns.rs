//! The database connections `pb:kv` keeps for itself.
//!
//! A statement through a sqlx 0.8 pool costs three round trips to SQLite's
//! worker thread or to PostgreSQL: a ping before the pool hands the
//! connection out (`test_before_acquire`), the statement, and a ping when
//! it comes back. Measured by `tests/benches/kv.rs` (see the README), the
//! get's SELECT through the pool took 3x–5x as long as on a connection the
//! caller owns, on both backends. So `pb:kv` takes up to
//! [`MAX_OWN`] connections out of the host's pool (sqlx `detach`) and lends
//! each to one call at a time, without pings; a connection idle for more
//! than [`PING_AFTER_IDLE`] is pinged before it is lent again, as the pool
//! would. When all are lent, a call borrows from the pool as usual. A
//! connection whose call failed other than with an SQL error, or whose call
//! was cancelled (the guest was stopped mid-call), is closed, not lent again.
//!
//! The set belongs to one host (one [`Services`]); it is found through a
//! small process-wide table keyed by the `Services` and dropped, with its
//! connections, once that host is gone.

use super::reader::Readers;
use crate::caps::services::Services;
use crate::store::Db;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Postgres, Sqlite};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Connections one host's `pb:kv` keeps at most, beyond its pool's.
pub const MAX_OWN: usize = 8;
/// An own connection idle for longer is pinged before it is lent.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(60);

enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// A connection to run one statement on.
pub enum ConnMut<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// Runs `$body` with `$c` bound to the lease's connection (`&mut` to the
/// backend's connection type).
macro_rules! on_conn {
    ($lease:expr, $c:ident => $body:expr) => {
        match $lease.conn() {
            $crate::caps::kv::conns::ConnMut::Sqlite($c) => $body,
            $crate::caps::kv::conns::ConnMut::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_conn;

/// One host's own connections.
#[derive(Default)]
pub struct Conns {
    /// Idle connections, with when they were last used.
    free: Mutex<Vec<(Conn, Instant)>>,
    /// Own connections open (idle or lent).
    open: AtomicUsize,
    /// SQLite's direct readers (`super::reader`), made at first use.
    readers: OnceLock<Option<Readers>>,
}

/// The own connections of the host that `services` belongs to.
pub fn of(services: &Arc<Services>) -> Arc<Conns> {
    static TABLE: Mutex<Vec<(Weak<Services>, Arc<Conns>)>> = Mutex::new(Vec::new());
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    // A live owner at the same address is this host (a dead one's address
    // may have been reused by a new host).
    let found = table
        .iter()
        .find(|(owner, _)| {
            owner.strong_count() > 0 && std::ptr::eq(owner.as_ptr(), Arc::as_ptr(services))
        })
        .map(|(_, conns)| conns.clone());
    if let Some(conns) = found {
        return conns;
    }
    // A new host: forget those that are gone (closing their connections).
    table.retain(|(owner, _)| owner.strong_count() > 0);
    let conns = Arc::new(Conns::default());
    table.push((Arc::downgrade(services), conns.clone()));
    conns
}

impl Conns {
    /// Direct readers of `db` when it is a SQLite file.
    pub fn readers(&self, db: &Db) -> Option<&Readers> {
        self.readers.get_or_init(|| Readers::for_db(db)).as_ref()
    }

    /// A connection for one statement: an idle own one, a new own one, or
    /// (all lent) one of `db`'s pool.
    pub async fn lease<'a>(&'a self, db: &Db) -> sqlx::Result<Lease<'a>> {
        loop {
            let idle = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((mut conn, since)) = idle else { break };
            let slot = Slot::taken(&self.open);
            if since.elapsed() > PING_AFTER_IDLE {
                let alive = match &mut conn {
                    Conn::Sqlite(c) => c.ping().await,
                    Conn::Postgres(c) => c.ping().await,
                };
                if alive.is_err() {
                    continue; // closed; the slot is freed
                }
            }
            slot.keep();
            return Ok(self.own(conn));
        }
        if self.open.fetch_add(1, Ordering::AcqRel) < MAX_OWN {
            let slot = Slot::taken(&self.open);
            let conn = match db {
                Db::Sqlite(p) => Conn::Sqlite(p.acquire().await?.detach()),
                Db::Postgres(p) => Conn::Postgres(p.acquire().await?.detach()),
            };
            slot.keep();
            return Ok(self.own(conn));
        }
        self.open.fetch_sub(1, Ordering::AcqRel);
        let held = match db {
            Db::Sqlite(p) => Held::PoolSqlite(p.acquire().await?),
            Db::Postgres(p) => Held::PoolPostgres(p.acquire().await?),
        };
        Ok(Lease {
            conns: self,
            held,
            reusable: false,
        })
    }

    fn own(&self, conn: Conn) -> Lease<'_> {
        Lease {
            conns: self,
            held: Held::Own(Some(conn)),
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

enum Held {
    Own(Option<Conn>),
    PoolSqlite(PoolConnection<Sqlite>),
    PoolPostgres(PoolConnection<Postgres>),
}

/// A connection lent to one call; given back when dropped.
pub struct Lease<'a> {
    conns: &'a Conns,
    held: Held,
    /// Set by [`Lease::finished`] when the connection may be lent again.
    reusable: bool,
}

impl Lease<'_> {
    pub fn conn(&mut self) -> ConnMut<'_> {
        match &mut self.held {
            Held::Own(Some(Conn::Sqlite(c))) => ConnMut::Sqlite(c),
            Held::Own(Some(Conn::Postgres(c))) => ConnMut::Postgres(c),
            Held::Own(None) => unreachable!("a lease holds its connection until dropped"),
            Held::PoolSqlite(c) => ConnMut::Sqlite(c),
            Held::PoolPostgres(c) => ConnMut::Postgres(c),
        }
    }

    /// Records how the call ended: the connection is lent again after
    /// success or an SQL error, and closed after anything else.
    pub fn finished<T>(&mut self, result: &sqlx::Result<T>) {
        self.reusable = matches!(result, Ok(_) | Err(sqlx::Error::Database(_)));
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Held::Own(conn) = &mut self.held {
            match conn.take() {
                Some(conn) if self.reusable => self
                    .conns
                    .free
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((conn, Instant::now())),
                // Dropping it closes it.
                _ => {
                    self.conns.open.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }
}
