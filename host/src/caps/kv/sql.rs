//! The storage of `pb:kv` on both backends: table `pbs_kv` (migration
//! `0004_kv.sql`; UNLOGGED on PostgreSQL). Every operation is one statement,
//! so it is atomic on both backends without an explicit transaction: an
//! upsert (`INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`) for `incr`
//! and `set-if-absent`, a conditional `UPDATE` for `compare-and-swap`.
//! PostgreSQL locks the row for the upsert and re-checks a conditional
//! update's `WHERE` after waiting for a concurrent writer; SQLite takes its
//! write lock before the statement reads anything. A row past its
//! `expires_ms` is treated as absent inside each statement, so a key past
//! its TTL is never returned even before [`sweep`] deletes it.
//!
//! Each operation runs on the [`Conn`] it is given: one of `pb:kv`'s own
//! connections ([`super::KvStore`]), or a `pb:data` transaction's for
//! `set-in` / `delete-in`; only the sweeper uses the host's pool.
//!
//! Times are the host's clock in ms since the Unix epoch (hosts sharing one
//! PostgreSQL should keep their clocks in sync, e.g. with NTP).

use crate::store::{Conn, Db, Dialect};

/// The condition "this row is live" at time `$n`.
macro_rules! live {
    ($n:literal) => {
        concat!("(expires_ms IS NULL OR expires_ms > $", $n, ")")
    };
}

/// The value of a live key.
pub async fn get(mut c: Conn<'_>, ns: &str, key: &str, now: i64) -> sqlx::Result<Option<Vec<u8>>> {
    c.query(concat!(
        "SELECT value FROM pbs_kv WHERE namespace = $1 AND key = $2 AND ",
        live!(3)
    ))
    .bind(ns)
    .bind(key)
    .bind(now)
    .optional_scalar()
    .await
}

/// Sets the value and the expiry (none = never, which also clears an
/// earlier TTL, as Redis's `SET` does).
pub async fn set(
    mut c: Conn<'_>,
    ns: &str,
    key: &str,
    value: &[u8],
    expires: Option<i64>,
) -> sqlx::Result<()> {
    c.query(
        "INSERT INTO pbs_kv (namespace, key, value, expires_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (namespace, key) DO UPDATE \
         SET value = excluded.value, expires_ms = excluded.expires_ms",
    )
    .bind(ns)
    .bind(key)
    .bind(value)
    .bind(expires)
    .execute()
    .await
    .map(|_| ())
}

/// Deletes the key; true when it was live (removing an expired row that
/// the sweeper has not reached yet answers false).
pub async fn delete(mut c: Conn<'_>, ns: &str, key: &str, now: i64) -> sqlx::Result<bool> {
    let removed: Option<Option<i64>> = c
        .query("DELETE FROM pbs_kv WHERE namespace = $1 AND key = $2 RETURNING expires_ms")
        .bind(ns)
        .bind(key)
        .optional_scalar()
        .await?;
    Ok(matches!(removed, Some(None)) || matches!(removed, Some(Some(at)) if at > now))
}

/// Adds `delta` to the decimal counter at `key` (absent or expired = 0, and
/// a new counter has no TTL; an existing one keeps its TTL). None when the
/// stored value is not a canonical decimal `s64` or the sum would overflow:
/// then nothing is written.
pub async fn incr(
    mut c: Conn<'_>,
    ns: &str,
    key: &str,
    delta: i64,
    now: i64,
) -> sqlx::Result<Option<i64>> {
    let sql = c.dialect().pick(
        // CAST(text AS INTEGER) reads the longest integer prefix and
        // clamps, so a value is a counter when it survives the round trip
        // unchanged; an overflowing sum becomes a REAL.
        "INSERT INTO pbs_kv AS kv (namespace, key, value, expires_ms) \
         VALUES ($1, $2, CAST(CAST($3 AS TEXT) AS BLOB), NULL) \
         ON CONFLICT (namespace, key) DO UPDATE SET \
           value = CASE WHEN kv.expires_ms <= $4 THEN excluded.value \
             ELSE CAST(CAST(CAST(kv.value AS INTEGER) + $3 AS TEXT) AS BLOB) END, \
           expires_ms = CASE WHEN kv.expires_ms <= $4 THEN NULL ELSE kv.expires_ms END \
         WHERE kv.expires_ms <= $4 \
           OR (CAST(CAST(kv.value AS INTEGER) AS BLOB) = kv.value \
               AND typeof(CAST(kv.value AS INTEGER) + $3) = 'integer') \
         RETURNING value",
        // encode(…, 'escape') turns any bytes into text safely; an overflow
        // is SQLSTATE 22003, answered as None below.
        "INSERT INTO pbs_kv AS kv (namespace, key, value, expires_ms) \
         VALUES ($1, $2, convert_to($3::text, 'UTF8'), NULL) \
         ON CONFLICT (namespace, key) DO UPDATE SET \
           value = CASE WHEN kv.expires_ms <= $4 THEN excluded.value \
             ELSE convert_to((encode(kv.value, 'escape')::bigint + $3)::text, 'UTF8') END, \
           expires_ms = CASE WHEN kv.expires_ms <= $4 THEN NULL ELSE kv.expires_ms END \
         WHERE kv.expires_ms <= $4 \
           OR encode(kv.value, 'escape') ~ '^(0|-?[1-9][0-9]{0,18})$' \
         RETURNING value",
    );
    let postgres = c.dialect() == Dialect::Postgres;
    let stored: Option<Vec<u8>> = match c
        .query(sql)
        .bind(ns)
        .bind(key)
        .bind(delta)
        .bind(now)
        .optional_scalar()
        .await
    {
        Err(e) if postgres && is_overflow(&e) => None,
        r => r?,
    };
    Ok(stored.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()))
}

fn is_overflow(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "22003")
}

/// Sets the key only when it is absent or expired; true when it did.
pub async fn set_if_absent(
    mut c: Conn<'_>,
    ns: &str,
    key: &str,
    value: &[u8],
    expires: Option<i64>,
    now: i64,
) -> sqlx::Result<bool> {
    c.query(
        "INSERT INTO pbs_kv AS kv (namespace, key, value, expires_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (namespace, key) DO UPDATE \
         SET value = excluded.value, expires_ms = excluded.expires_ms \
         WHERE kv.expires_ms <= $5 \
         RETURNING 1",
    )
    .bind(ns)
    .bind(key)
    .bind(value)
    .bind(expires)
    .bind(now)
    .fetch_optional()
    .await
    .map(|row| row.is_some())
}

/// Replaces the live value `expected` with `value`; true when it did.
pub async fn swap(
    mut c: Conn<'_>,
    ns: &str,
    key: &str,
    expected: &[u8],
    value: &[u8],
    expires: Option<i64>,
    now: i64,
) -> sqlx::Result<bool> {
    c.query(concat!(
        "UPDATE pbs_kv SET value = $3, expires_ms = $4 \
         WHERE namespace = $1 AND key = $2 AND value = $5 AND ",
        live!(6)
    ))
    .bind(ns)
    .bind(key)
    .bind(value)
    .bind(expires)
    .bind(expected)
    .bind(now)
    .execute()
    .await
    .map(|n| n == 1)
}

/// Live keys from `lower` (exclusive when `after`) up to `upper`
/// (exclusive; none = no bound), in byte order, at most `limit`.
#[allow(clippy::too_many_arguments)]
pub async fn list(
    mut c: Conn<'_>,
    ns: &str,
    lower: &str,
    after: bool,
    upper: Option<&str>,
    limit: i64,
    now: i64,
) -> sqlx::Result<Vec<String>> {
    macro_rules! sql {
        ($lower:literal, $upper:literal) => {
            concat!(
                "SELECT key FROM pbs_kv WHERE namespace = $1 AND key ",
                $lower,
                " $2",
                $upper,
                " AND ",
                live!(3),
                " ORDER BY key LIMIT $4"
            )
        };
    }
    let sql = match (after, upper.is_some()) {
        (false, false) => sql!(">=", ""),
        (false, true) => sql!(">=", " AND key < $5"),
        (true, false) => sql!(">", ""),
        (true, true) => sql!(">", " AND key < $5"),
    };
    let mut q = c.query(sql).bind(ns).bind(lower).bind(now).bind(limit);
    if let Some(upper) = upper {
        q = q.bind(upper);
    }
    q.scalars().await
}

/// Deletes up to `batch` rows past their TTL; returns how many.
pub async fn sweep(db: &Db, now: i64, batch: i64) -> sqlx::Result<u64> {
    db.query(
        "DELETE FROM pbs_kv WHERE (namespace, key) IN \
         (SELECT namespace, key FROM pbs_kv WHERE expires_ms <= $1 LIMIT $2)",
    )
    .bind(now)
    .bind(batch)
    .execute()
    .await
}
