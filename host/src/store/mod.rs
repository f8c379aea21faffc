//! The database layer: one handle ([`Db`]), one executor ([`Conn`]), one
//! [`Dialect`], for the two backends — SQLite (the zero-set-up default,
//! `pb_data/data.db`, WAL) and PostgreSQL (`--db postgres://…`, several
//! hosts may share it) — and their migrations (`migrations/`).
//!
//! | file | what |
//! |---|---|
//! | [`sql`] | [`Conn`], [`Query`], [`Row`], [`Arg`], [`Connection`], [`Tx`]: how a statement runs on either backend |
//! | [`dialect`] | [`Dialect`] and [`Dialect::pick`]: the one way to write what differs between the dialects |
//! | [`leases`] | [`Leases`]: connections a capability keeps for its hot path |
//!
//! A statement that reads the same in both dialects is written once with
//! `$N` placeholders (sqlx's SQLite driver binds `$N` by number):
//!
//! ```no_run
//! # async fn f(db: &pbs::store::Db) -> sqlx::Result<()> {
//! let n: i64 = db
//!     .query("SELECT COUNT(*) FROM pbs_kv WHERE namespace = $1")
//!     .bind("shared")
//!     .scalar()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Capabilities get the database from the host's `Services` (passed in,
//! never looked up); the tables they own are theirs to query, and nobody
//! else's.

pub mod dialect;
pub mod leases;
mod migrations;
pub mod sql;

pub use dialect::Dialect;
pub use leases::{Lease, Leases};
pub use sql::{unique_violation, Arg, Conn, Connection, Query, Row, Tx};

mod busy;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Connections per pool.
pub const MAX_CONNECTIONS: u32 = 16;
/// How long a SQLite writer waits for the lock before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The database: a pool of connections to either backend. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
}

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    /// Opens `url` (`postgres://…`, `sqlite://…`, or a file path) and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).context("parse the PostgreSQL URL")?;
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .context("connect to PostgreSQL")?;
            Pool::Postgres(pool)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            Pool::Sqlite(open_sqlite(Path::new(path)).await?)
        };
        let db = Db { pool };
        db.migrate().await?;
        Ok(db)
    }

    pub fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.dialect().name()
    }

    /// The file of a SQLite database (none for PostgreSQL or an in-memory
    /// SQLite), for readers that open it themselves.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let Pool::Sqlite(pool) = &self.pool else {
            return None;
        };
        let path = pool.connect_options().get_filename().to_path_buf();
        let name = path.to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file::memory:") {
            return None;
        }
        Some(path)
    }

    /// The PostgreSQL pool, for what only PostgreSQL has (`LISTEN`).
    pub fn postgres(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite(_) => None,
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite(p) => migrations::migrator(migrations::SQLITE).run(p).await,
            Pool::Postgres(p) => migrations::migrator(migrations::POSTGRES).run(p).await,
        }
        .context("migrate the database")
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

async fn open_sqlite(path: &Path) -> anyhow::Result<SqlitePool> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        // Short waits for the write lock instead of SQLite's sleeps of up
        // to 100 ms (see busy.rs).
        .after_connect(|conn, _| Box::pin(busy::install(conn)))
        // No ping before a connection is handed out: an SQLite connection
        // lives in this process and cannot be closed under us the way a
        // server's can, and the ping sqlx makes when one comes back (which
        // also flushes a dropped transaction's rollback) stays. One round
        // trip to the connection's worker thread fewer per acquire — a
        // write with record hooks begins its transaction this way.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .with_context(|| format!("open SQLite database {}", path.display()))
}

/// Milliseconds since the Unix epoch, the time format of every table.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
