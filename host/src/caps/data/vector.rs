//! Nearest-neighbour search over `vector(N)` fields, ranked by cosine
//! similarity (the score: 1 = same direction), best first.
//!
//! - **PostgreSQL**: the column is pgvector's `vector(N)` with an HNSW index
//!   (`vector_cosine_ops`); the query is `ORDER BY col <=> $q LIMIT top`
//!   with `hnsw.ef_search` set for the transaction to [`ef_search`] (recall
//!   ≥ 0.95 for top 10, see `tests/benches/vector.rs`) and pgvector 0.8's
//!   iterative scans (`relaxed_order`, re-sorted outside) so a filter that
//!   rejects most neighbours still fills `top`.
//! - **SQLite**: the column is a little-endian f32 BLOB and the search is
//!   exact: SQLite scans the rows that pass the filter and scores each with
//!   `pbs_cosine(col, query)`, a function of ours registered on the
//!   connection ([`register`]) that reads both BLOBs in place; `ORDER BY …
//!   LIMIT top` keeps the best in SQLite's own top-k sorter, so only `top`
//!   rows ever leave SQLite.

use super::error::{clip, DataError, DataResult};
use super::read::{columns_of, decode, Where};
use super::schema::{quote, Collection, FieldType};
use super::values::Record;
use crate::store::{Arg, Conn, Dialect};

/// Most results of one search.
pub const MAX_TOP: u32 = 1000;
/// Name of the SQLite scoring function.
const FUNCTION: &str = "pbs_cosine";

/// A validated query.
pub struct Query<'a> {
    pub field: &'a str,
    pub vector: &'a [f32],
    pub filter: Option<&'a str>,
    pub top: u32,
}

/// HNSW's candidate list for a search of `top`: at least 100, which gave
/// recall@10 ≥ 0.95 on 100k × 384 (the benchmark), and never below `top`.
pub fn ef_search(top: u32) -> u32 {
    (top * 2).clamp(100, 1000)
}

/// Checks a query against the collection: a `vector` field, the right
/// dimension, finite values, not all zero, `top` in 1..=[`MAX_TOP`].
pub fn check<'a>(c: &'a Collection, q: &Query<'_>) -> DataResult<&'a super::schema::Field> {
    let field = c.field(q.field).ok_or_else(|| {
        DataError::invalid(format!(
            "Collection {:?} has no field {:?}.",
            c.name,
            clip(q.field)
        ))
    })?;
    let FieldType::Vector { dimensions } = field.ty else {
        return Err(DataError::invalid(format!(
            "Field {:?} is a {} field, not a vector field.",
            field.name,
            field.ty.name()
        )));
    };
    if q.vector.len() != dimensions as usize {
        return Err(DataError::invalid(format!(
            "The query vector has {} dimensions; field {:?} has {dimensions}.",
            q.vector.len(),
            field.name
        )));
    }
    if q.vector.iter().any(|x| !x.is_finite()) {
        return Err(DataError::invalid(
            "The query vector holds NaN or an infinite value.",
        ));
    }
    if q.vector.iter().all(|x| *x == 0.0) {
        return Err(DataError::invalid(
            "The query vector is all zeros; it has no direction to compare.",
        ));
    }
    if q.top == 0 || q.top > MAX_TOP {
        return Err(DataError::invalid(format!(
            "`top` must be from 1 to {MAX_TOP}, not {}.",
            q.top
        )));
    }
    Ok(field)
}

/// The statement of a search and its arguments: the nearest `top` ids in a
/// sub-query (the HNSW index scan on PostgreSQL, SQLite's scan scoring each
/// row that passes the filter), joined back to their records. The columns
/// are [`columns_of`] then the score.
pub fn statement(
    c: &Collection,
    q: &Query<'_>,
    rule: Option<&str>,
    d: Dialect,
) -> DataResult<(String, Vec<Arg>)> {
    let field = check(c, q)?;
    let col = quote(&field.name);
    let table = quote(&c.table());
    let mut w = Where::new(d);
    let q1 = w.bind(match d {
        Dialect::Sqlite => {
            let norm = q.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            Arg::Vector(Some(q.vector.iter().map(|x| x / norm).collect()))
        }
        Dialect::Postgres => Arg::Vector(Some(q.vector.to_vec())),
    });
    // The filters first: on SQLite, a condition on the vector column would
    // make every row's vector be read, not only those that pass.
    if let Some(rule) = rule {
        w.filter(c, rule, "rule")?;
    }
    if let Some(f) = q.filter {
        w.filter(c, f, "filter")?;
    }
    let (inner, score, order) = match d {
        // `pbs_cosine` is NULL for a NULL vector: such rows sort last and
        // are dropped after.
        Dialect::Sqlite => (
            format!(
                "SELECT \"id\" AS sid, {FUNCTION}({col}, {q1}) AS score FROM {table}{} \
                 ORDER BY 2 DESC LIMIT {}",
                w.sql(),
                q.top
            ),
            "s.score",
            "s.score DESC",
        ),
        Dialect::Postgres => {
            w.raw(format!("{col} IS NOT NULL"));
            (
                format!(
                    "SELECT \"id\" AS sid, {col} <=> {q1}::vector AS dist FROM {table}{} \
                     ORDER BY {col} <=> {q1}::vector LIMIT {}",
                    w.sql(),
                    q.top
                ),
                "1 - s.dist",
                "s.dist ASC",
            )
        }
    };
    let sql = format!(
        "SELECT {}, {score} FROM ({inner}) AS s JOIN {table} AS r ON r.\"id\" = s.sid ORDER BY {order}",
        columns_of(c, d, "r.")
    );
    Ok((sql, w.args))
}

/// The `top` records nearest to the query that match `rule` and the
/// query's filter, with their scores, best first. `conn` must be inside a
/// transaction on PostgreSQL (the HNSW settings are transaction-local).
pub async fn search(
    conn: &mut Conn<'_>,
    c: &Collection,
    q: &Query<'_>,
    rule: Option<&str>,
) -> DataResult<Vec<(Record, f64)>> {
    let d = conn.dialect();
    let (sql, args) = statement(c, q, rule, d)?;
    if d == Dialect::Postgres {
        conn.query(
            "SELECT set_config('hnsw.ef_search', $1, true), \
             set_config('hnsw.iterative_scan', 'relaxed_order', true)",
        )
        .bind(ef_search(q.top).to_string())
        .execute()
        .await
        .map_err(|e| DataError::db("set up a vector search", e))?;
    }
    let rows = match conn.fetch(&sql, args.clone()).await {
        Err(sqlx::Error::Database(e)) if e.message().contains(FUNCTION) => {
            // A SQLite connection that has not met the function yet.
            if let Some(sc) = conn.as_sqlite() {
                register(sc).await?;
            }
            conn.fetch(&sql, args).await
        }
        other => other,
    }
    .map_err(|e| DataError::db("vector search", e))?;
    let i = c.fields.len() + 3;
    let scores: Vec<f64> = rows
        .iter()
        .map(|r| r.get::<Option<f64>>(i).ok().flatten().unwrap_or(f64::NAN))
        .collect();
    let records = decode(rows, c)?;
    // A stored zero vector has no score (NULL): left out.
    Ok(records
        .into_iter()
        .zip(scores)
        .filter(|(_, s)| s.is_finite())
        .collect())
}

/// Registers `pbs_cosine` on a SQLite connection, and lets SQLite map the
/// database file into memory (a scan then reads pages without a system call
/// each).
pub async fn register(conn: &mut sqlx::SqliteConnection) -> DataResult<()> {
    use rusqlite::ffi;
    let mut handle = conn
        .lock_handle()
        .await
        .map_err(|e| DataError::db("lock the SQLite handle", e))?;
    let db = handle.as_raw_handle().as_ptr();
    let name = c"pbs_cosine";
    // SAFETY: `db` is a live connection held locked by `handle` for this
    // call; the function pointer is a plain `extern "C"` function with no
    // user data, valid for the life of the process.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            name.as_ptr(),
            2,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
            std::ptr::null_mut(),
            Some(cosine_function),
            None,
            None,
            None,
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(DataError::db(
            "register pbs_cosine",
            format!("sqlite3_create_function_v2 returned {rc}"),
        ));
    }
    let pragma = c"PRAGMA mmap_size = 1073741824";
    // SAFETY: as above; a NUL-terminated statement without callbacks.
    let rc = unsafe {
        ffi::sqlite3_exec(
            db,
            pragma.as_ptr(),
            None,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if rc != ffi::SQLITE_OK {
        tracing::debug!(target: "pb.data", "PRAGMA mmap_size returned {rc}");
    }
    Ok(())
}

/// `pbs_cosine(x BLOB, unit_query BLOB)`: the cosine similarity of two f32
/// LE vectors, the second already of length 1; NULL when either is not a
/// BLOB, their lengths differ, or `x` is all zeros.
unsafe extern "C" fn cosine_function(
    ctx: *mut rusqlite::ffi::sqlite3_context,
    argc: std::os::raw::c_int,
    argv: *mut *mut rusqlite::ffi::sqlite3_value,
) {
    use rusqlite::ffi;
    // SAFETY: SQLite passes `argc` valid values in `argv`, alive for this call.
    let result = unsafe {
        if argc == 2 && !argv.is_null() {
            let args = std::slice::from_raw_parts(argv, 2);
            match (blob(args[0]), blob(args[1])) {
                (Some(x), Some(q)) => cosine_unit(x, q),
                _ => None,
            }
        } else {
            None
        }
    };
    // SAFETY: `ctx` is the live context of this call.
    unsafe {
        match result {
            Some(s) => ffi::sqlite3_result_double(ctx, s),
            None => ffi::sqlite3_result_null(ctx),
        }
    }
}

/// The bytes of a BLOB value, borrowed from SQLite for the current call.
///
/// # Safety
/// `v` must be a value SQLite passed to the running function.
unsafe fn blob<'a>(v: *mut rusqlite::ffi::sqlite3_value) -> Option<&'a [u8]> {
    use rusqlite::ffi;
    // SAFETY: per the contract; `_blob` before `_bytes`, as SQLite documents.
    unsafe {
        if ffi::sqlite3_value_type(v) != ffi::SQLITE_BLOB {
            return None;
        }
        let p = ffi::sqlite3_value_blob(v) as *const u8;
        let n = ffi::sqlite3_value_bytes(v);
        if p.is_null() || n <= 0 {
            return None;
        }
        Some(std::slice::from_raw_parts(p, n as usize))
    }
}

/// Cosine similarity of `x` and the unit vector `q`, both f32 LE bytes:
/// dot(x, q) / |x|, in one pass with eight independent lanes (which the
/// compiler turns into SIMD).
pub fn cosine_unit(x: &[u8], q: &[u8]) -> Option<f64> {
    if x.len() != q.len() || !x.len().is_multiple_of(4) {
        return None;
    }
    let f = |b: &[u8], i: usize| f32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut dot = [0f32; 8];
    let mut sq = [0f32; 8];
    let mut xs = x.chunks_exact(32);
    let mut qs = q.chunks_exact(32);
    for (xc, qc) in (&mut xs).zip(&mut qs) {
        for lane in 0..8 {
            let (a, b) = (f(xc, lane * 4), f(qc, lane * 4));
            dot[lane] += a * b;
            sq[lane] += a * a;
        }
    }
    let (xr, qr) = (xs.remainder(), qs.remainder());
    let mut i = 0;
    while i + 4 <= xr.len() {
        let (a, b) = (f(xr, i), f(qr, i));
        dot[0] += a * b;
        sq[0] += a * a;
        i += 4;
    }
    let dot: f64 = dot.iter().map(|v| f64::from(*v)).sum();
    let sq: f64 = sq.iter().map(|v| f64::from(*v)).sum();
    if sq <= 0.0 || !sq.is_finite() || !dot.is_finite() {
        return None;
    }
    Some((dot / sq.sqrt()).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::data::values::vector_bytes;

    #[test]
    fn cosine_matches_the_definition() {
        for n in [1usize, 3, 8, 13, 384] {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() + 0.1).collect();
            let q: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let dot: f64 = x.iter().zip(&q).map(|(a, b)| f64::from(a * b)).sum();
            let nx: f64 = x.iter().map(|a| f64::from(a * a)).sum::<f64>().sqrt();
            let nq: f64 = q.iter().map(|a| f64::from(a * a)).sum::<f64>().sqrt();
            let unit: Vec<f32> = q.iter().map(|v| (f64::from(*v) / nq) as f32).collect();
            let got = cosine_unit(&vector_bytes(&x), &vector_bytes(&unit)).unwrap();
            assert!((got - dot / (nx * nq)).abs() < 1e-5, "{n}: {got}");
        }
        assert_eq!(
            cosine_unit(&vector_bytes(&[0.0; 4]), &vector_bytes(&[1.0; 4])),
            None
        );
        assert_eq!(cosine_unit(&[0; 8], &[0; 12]), None);
    }
}
