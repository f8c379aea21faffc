//! Connection pools and migrations for the two backends: SQLite (the
//! zero-set-up default, `pb_data/data.db`, WAL) and PostgreSQL (`--db
//! postgres://…`, several hosts may share it).
//!
//! Queries that read the same in both dialects are written once with `$N`
//! placeholders (sqlx's SQLite driver binds `$N` by number) and run through
//! [`on_pool!`]; anything dialect-specific lives next to its capability.

mod busy;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Connections per pool.
pub const MAX_CONNECTIONS: u32 = 16;
/// How long a SQLite writer waits for the lock before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A database handle: one pool of either backend.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool (and, inside
/// transactions, works the same with `$pool` being a transaction).
#[macro_export]
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

impl Db {
    /// Opens `url` (`postgres://…`, `sqlite://…`, or a file path) and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).context("parse the PostgreSQL URL")?;
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .context("connect to PostgreSQL")?;
            Db::Postgres(pool)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            Db::Sqlite(open_sqlite(Path::new(path)).await?)
        };
        db.migrate().await?;
        Ok(db)
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(p) => sqlx::migrate!("src/store/migrations/sqlite").run(p).await,
            Db::Postgres(p) => sqlx::migrate!("src/store/migrations/postgres").run(p).await,
        }
        .context("migrate the database")
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
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
