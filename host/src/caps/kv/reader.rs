//! `pb:kv` reads on SQLite, run on the calling thread.
//!
//! sqlx runs every SQLite connection on a worker thread of its own, so a
//! statement costs two thread hand-offs; for a KV `get` those were over a
//! third of the call (`tests/benches/kv.rs`), while the lookup itself takes a
//! few microseconds. In WAL mode a reader never waits for a writer (it reads
//! the last committed snapshot), so `get` and `list-keys` run here, on
//! read-only connections of their own, synchronously. The busy timeout is
//! zero: in the rare case SQLite still answers `SQLITE_BUSY` (a checkpoint
//! restarting the WAL, recovery after a crash), the call is handed back and
//! goes the sqlx way, which waits asynchronously. A thread is therefore
//! never blocked waiting for a lock.
//!
//! Writes stay on sqlx: they take SQLite's write lock and may wait for it.

use crate::store::Db;
use rusqlite::{ffi, Connection, OpenFlags, OptionalExtension};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Read-only connections kept for reuse, at most.
const MAX_IDLE: usize = 8;

/// Read-only connections to one host's SQLite file.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// The answer of a direct read; `Busy` means "go the sqlx way".
pub enum Read<T> {
    Done(T),
    Busy,
}

impl Readers {
    /// Readers for `db`, or none (PostgreSQL, or an in-memory SQLite that
    /// other connections cannot open).
    pub fn for_db(db: &Db) -> Option<Readers> {
        Some(Readers {
            path: db.sqlite_file()?,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The value of a live key in `ns` at time `now`.
    pub fn get(&self, ns: &str, key: &str, now: i64) -> rusqlite::Result<Read<Option<Vec<u8>>>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT value FROM pbs_kv WHERE namespace = ?1 AND key = ?2 \
                 AND (expires_ms IS NULL OR expires_ms > ?3)",
            )?
            .query_row((ns, key, now), |row| row.get(0))
            .optional()
        })
    }

    /// Runs `read` on an idle connection (or a new one); gives it back
    /// afterwards unless it failed other than by being busy.
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Read<T>> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open()?,
        };
        let result = read(&conn);
        let busy = matches!(&result, Err(e) if is_busy(e));
        if result.is_ok() || busy {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        match result {
            Ok(v) => Ok(Read::Done(v)),
            Err(_) if busy => Ok(Read::Busy),
            Err(e) => Err(e),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait on the calling thread (see the module comment).
        conn.busy_timeout(Duration::ZERO)?;
        Ok(conn)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_what_sqlx_wrote_and_skips_expired_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("data.db").to_string_lossy().into_owned();
        let db = Db::open(&url).await.unwrap();
        db.query(
            "INSERT INTO pbs_kv (namespace, key, value, expires_ms) VALUES \
             ('ns', 'live', x'01', NULL), ('ns', 'old', x'02', 5)",
        )
        .execute()
        .await
        .unwrap();
        let readers = Readers::for_db(&db).unwrap();
        let get = |key: &str| match readers.get("ns", key, 10).unwrap() {
            Read::Done(v) => v,
            Read::Busy => panic!("busy"),
        };
        assert_eq!(get("live"), Some(vec![1]));
        assert_eq!(get("old"), None);
        assert_eq!(get("none"), None);
        // A connection is reused, and sees writes made after it was opened.
        db.query("UPDATE pbs_kv SET value = x'03' WHERE key = 'live'")
            .execute()
            .await
            .unwrap();
        assert_eq!(get("live"), Some(vec![3]));
        assert_eq!(readers.idle.lock().unwrap().len(), 1);
    }
}
