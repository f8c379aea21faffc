//! The storage of `pb:jobs` on both backends: tables `pbs_jobs` and
//! `pbs_job_bindings` (migration `0007_jobs.sql`). Every change of a job is
//! one statement, so it is atomic without an explicit transaction:
//!
//! - **enqueue**: an `INSERT … ON CONFLICT DO NOTHING` on the partial
//!   unique index of dedupe keys (on PostgreSQL, with a `NOTIFY pbs_jobs`
//!   that other hosts' workers listen to);
//! - **claim**: one `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`
//!   that moves due jobs to `running` with a lease. PostgreSQL's sub-select
//!   takes `FOR UPDATE SKIP LOCKED`, so workers on several hosts never wait
//!   for or take each other's rows; SQLite runs the statement as one write
//!   transaction, so two claims never overlap;
//! - every later change of a running job (heartbeat, completion, failure,
//!   release) names the attempt it belongs to (`attempts = $n AND state =
//!   'running'`): a worker whose lease ran out and was claimed again cannot
//!   overwrite the newer attempt.
//!
//! Times are ms since the Unix epoch, from the host's clock.

use crate::store::{Arg, Conn, Db, Dialect, Query, Row};
use serde::Serialize;

/// The states a job is in.
pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const COMPLETED: &str = "completed";
/// The last attempt failed; the job waits for its retry.
pub const FAILED: &str = "failed";
pub const DEAD: &str = "dead";
pub const CANCELLED: &str = "cancelled";
/// Every state, as the admin API accepts them in `?state=`.
pub const STATES: [&str; 6] = [QUEUED, RUNNING, COMPLETED, FAILED, DEAD, CANCELLED];

/// The PostgreSQL channel enqueues notify and workers listen on.
pub const CHANNEL: &str = "pbs_jobs";

/// One write at a time from this process to a SQLite database's job
/// tables. SQLite has a single writer; a connection that finds the write
/// lock taken sleeps in SQLite's busy handler (1, 2, 5, 10 … ms) rather
/// than queueing, which under load costs more than the writes themselves.
/// Queueing here instead keeps every write a few µs of waiting. (Shared by
/// every host of the process, which only tests have several of.)
static SQLITE_WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The writer's turn on SQLite; nothing on PostgreSQL.
async fn writer(db: &Db) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    match db.dialect() {
        Dialect::Sqlite => Some(SQLITE_WRITER.lock().await),
        Dialect::Postgres => None,
    }
}

/// A job to insert, validated by the capability.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    /// The function that consumes it.
    pub function: String,
    /// The version it runs on.
    pub version: String,
    pub name: String,
    pub payload: String,
    pub max_attempts: i32,
    pub priority: i32,
    pub run_at: i64,
    pub dedupe_key: Option<String>,
    /// The function that enqueued it.
    pub enqueued_by: String,
    /// The W3C trace context of the span that enqueued it.
    pub trace_parent: Option<String>,
    pub now: i64,
}

/// A job as a worker claimed it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub function: String,
    pub version: String,
    pub name: String,
    pub payload: String,
    /// This attempt (1 on the first run).
    pub attempt: i32,
    pub max_attempts: i32,
    /// The W3C trace context of the span that enqueued it.
    pub trace_parent: Option<String>,
}

/// A job as the admin API and `status` show it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: String,
    pub function: String,
    pub version: String,
    pub name: String,
    pub payload: serde_json::Value,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub priority: i32,
    pub run_at_ms: i64,
    pub lease_until_ms: Option<i64>,
    pub dedupe_key: Option<String>,
    pub last_error: Option<String>,
    pub enqueued_by: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
}

/// The states of a job that is not done: such a job pins its version.
pub const UNFINISHED: &str = "('queued', 'running', 'failed')";

const INSERT: &str =
    "INSERT INTO pbs_jobs (id, function, version, name, payload, state, attempts, \
     max_attempts, priority, run_at, dedupe_key, enqueued_by, created_ms, updated_ms, trace_parent) \
     VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $8, $9, $10, $11, $11, $12) \
     ON CONFLICT (function, dedupe_key) \
     WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running', 'failed') DO NOTHING \
     RETURNING id";

/// Binds the 12 values of [`INSERT`] (created and updated share one).
fn bind_job<'e, 'q>(q: Query<'e, 'q>, job: &'q NewJob) -> Query<'e, 'q> {
    q.bind(&job.id)
        .bind(&job.function)
        .bind(&job.version)
        .bind(&job.name)
        .bind(&job.payload)
        .bind(job.max_attempts)
        .bind(job.priority)
        .bind(job.run_at)
        .bind(&job.dedupe_key)
        .bind(&job.enqueued_by)
        .bind(job.now)
        .bind(&job.trace_parent)
}

/// [`insert`] on a connection of the pool, in the writer's turn.
pub async fn insert_alone(db: &Db, job: &NewJob) -> sqlx::Result<(String, bool)> {
    let _turn = writer(db).await;
    let mut conn = db.acquire().await?;
    insert(conn.conn(), job).await
}

/// Inserts `job` on `c` (a connection of the pool, or a caller's own
/// transaction, which holds SQLite's write lock already); with a dedupe key
/// already held by an unfinished job of the same function, returns that
/// job's id instead (and inserts nothing). The second value says whether a
/// new job was inserted.
pub async fn insert(mut c: Conn<'_>, job: &NewJob) -> sqlx::Result<(String, bool)> {
    let sql = c.dialect().pick(
        INSERT.to_string(),
        format!("WITH ins AS ({INSERT}) SELECT ins.id FROM ins, pg_notify('{CHANNEL}', '') AS n"),
    );
    let existing_sql = format!(
        "SELECT id FROM pbs_jobs WHERE function = $1 AND dedupe_key = $2 AND state IN {UNFINISHED}"
    );
    // The job holding the key may finish between the insert that conflicts
    // and the look-up: then the insert is tried again.
    for _ in 0..3 {
        let inserted: Option<String> = bind_job(c.query(&sql), job).optional_scalar().await?;
        if let Some(id) = inserted {
            return Ok((id, true));
        }
        let Some(key) = &job.dedupe_key else {
            return Err(sqlx::Error::RowNotFound);
        };
        let existing: Option<String> = c
            .query(&existing_sql)
            .bind(&job.function)
            .bind(key)
            .optional_scalar()
            .await?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
    }
    Err(sqlx::Error::Protocol(
        "the dedupe key kept changing hands".into(),
    ))
}

/// Inserts jobs without dedupe keys in one statement (on PostgreSQL with
/// one `NOTIFY`): what the enqueue batcher of [`super::JobsHub`] sends.
pub async fn insert_many(db: &Db, jobs: &[NewJob]) -> sqlx::Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut values = String::new();
    for i in 0..jobs.len() {
        let b = i * 12;
        if i > 0 {
            values.push_str(", ");
        }
        values.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, 'queued', 0, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8,
            b + 9,
            b + 10,
            b + 11,
            b + 11,
            b + 12
        ));
    }
    let insert = format!(
        "INSERT INTO pbs_jobs (id, function, version, name, payload, state, attempts, \
         max_attempts, priority, run_at, dedupe_key, enqueued_by, created_ms, updated_ms, \
         trace_parent) VALUES {values}"
    );
    let sql = db.dialect().pick(
        format!("{insert} RETURNING 1"),
        format!(
            "WITH ins AS ({insert} RETURNING 1) SELECT COUNT(*) FROM ins, pg_notify('{CHANNEL}', '') AS n"
        ),
    );
    let _turn = writer(db).await;
    let mut q = db.query(&sql);
    for job in jobs {
        q = bind_job(q, job);
    }
    q.fetch_all().await?;
    Ok(())
}

/// Marks running attempts completed in one statement; returns the ids it
/// did (the others were no longer their worker's).
pub async fn complete_many(db: &Db, done: &[(String, i32)], now: i64) -> sqlx::Result<Vec<String>> {
    if done.is_empty() {
        return Ok(Vec::new());
    }
    let set = "state = 'completed', lease_until = NULL, last_error = NULL, finished_ms = $1, updated_ms = $1";
    let _turn = writer(db).await;
    match db.dialect() {
        // Two arrays: one statement plan whatever the batch's size.
        Dialect::Postgres => {
            let sql = format!(
                "UPDATE pbs_jobs SET {set} WHERE state = 'running' AND (id, attempts) IN \
                 (SELECT * FROM UNNEST($2::text[], $3::int4[])) RETURNING id"
            );
            db.query(&sql)
                .bind(now)
                .bind_arg(Arg::TextList(
                    done.iter().map(|(id, _)| id.clone()).collect(),
                ))
                .bind_arg(Arg::IntList(done.iter().map(|(_, a)| *a).collect()))
                .scalars()
                .await
        }
        Dialect::Sqlite => {
            let pairs: Vec<String> = (0..done.len())
                .map(|i| format!("(${}, ${})", 2 * i + 2, 2 * i + 3))
                .collect();
            let sql = format!(
                "UPDATE pbs_jobs SET {set} WHERE state = 'running' AND (id, attempts) IN \
                 (VALUES {}) RETURNING id",
                pairs.join(", ")
            );
            let mut q = db.query(&sql).bind(now);
            for (id, attempt) in done {
                q = q.bind(id).bind(*attempt);
            }
            q.scalars().await
        }
    }
}

/// Claims up to `n` due jobs: `running`, one more attempt, leased until
/// `lease_until`. Highest priority first, then the earliest due.
pub async fn claim(db: &Db, n: i64, now: i64, lease_until: i64) -> sqlx::Result<Vec<Claimed>> {
    let _turn = writer(db).await;
    let lock = db.dialect().pick("", " FOR UPDATE SKIP LOCKED");
    let sql = format!(
        "UPDATE pbs_jobs SET state = 'running', attempts = attempts + 1, lease_until = $2, \
         started_ms = $1, updated_ms = $1 \
         WHERE id IN (SELECT id FROM pbs_jobs WHERE state IN ('queued', 'failed') AND run_at <= $1 \
           ORDER BY priority DESC, run_at, id LIMIT $3{lock}) \
         RETURNING id, function, version, name, payload, attempts, max_attempts, priority, run_at, \
         trace_parent"
    );
    let mut rows = db
        .query(&sql)
        .bind(now)
        .bind(lease_until)
        .bind(n)
        .fetch_all()
        .await?
        .into_iter()
        .map(|r| {
            Ok((
                r.get::<i32>("priority")?,
                r.get::<i64>("run_at")?,
                Claimed {
                    id: r.get("id")?,
                    function: r.get("function")?,
                    version: r.get("version")?,
                    name: r.get("name")?,
                    payload: r.get("payload")?,
                    attempt: r.get("attempts")?,
                    max_attempts: r.get("max_attempts")?,
                    trace_parent: r.get("trace_parent")?,
                },
            ))
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    // RETURNING has no order: start them in the claim's.
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.id.cmp(&b.2.id)));
    Ok(rows.into_iter().map(|(_, _, c)| c).collect())
}

/// Extends the lease of a running attempt; false when the job is no longer
/// this worker's (cancelled, or its lease ran out and it was claimed again).
pub async fn extend(db: &Db, id: &str, attempt: i32, lease_until: i64) -> sqlx::Result<bool> {
    let _turn = writer(db).await;
    let n = db.query(
            "UPDATE pbs_jobs SET lease_until = $3 WHERE id = $1 AND attempts = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(attempt)
        .bind(lease_until)
        .execute()
        .await?;
    Ok(n > 0)
}

/// Records a failed attempt: `failed` until `retry_at`, or `dead` once it
/// has had its attempts (or at once when `permanent`).
pub async fn fail(
    db: &Db,
    id: &str,
    attempt: i32,
    error: &str,
    retry_at: i64,
    permanent: bool,
    now: i64,
) -> sqlx::Result<bool> {
    let _turn = writer(db).await;
    let n = db
        .query(
            "UPDATE pbs_jobs SET \
               state = CASE WHEN $5 OR attempts >= max_attempts THEN 'dead' ELSE 'failed' END, \
               finished_ms = CASE WHEN $5 OR attempts >= max_attempts THEN $6 ELSE NULL END, \
               run_at = $4, last_error = $3, lease_until = NULL, updated_ms = $6 \
             WHERE id = $1 AND attempts = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(attempt)
        .bind(error)
        .bind(retry_at)
        .bind(permanent)
        .bind(now)
        .execute()
        .await?;
    Ok(n > 0)
}

/// Gives a running attempt back without counting it (the host was busy or
/// is stopping): queued again, due at `run_at`.
pub async fn release(db: &Db, id: &str, attempt: i32, run_at: i64, now: i64) -> sqlx::Result<bool> {
    let _turn = writer(db).await;
    let n = db
        .query(
            "UPDATE pbs_jobs SET state = 'queued', attempts = attempts - 1, lease_until = NULL, \
             run_at = $3, updated_ms = $4 \
             WHERE id = $1 AND attempts = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(attempt)
        .bind(run_at)
        .bind(now)
        .execute()
        .await?;
    Ok(n > 0)
}

/// The message a job gets when its worker went away.
pub const LEASE_EXPIRED: &str =
    "the host running this attempt stopped or lost the database before it finished (lease expired)";

/// Running jobs whose lease ran out (their worker died): queued again at
/// once, or dead when that was their last attempt. Returns how many.
pub async fn reclaim_expired(db: &Db, now: i64) -> sqlx::Result<u64> {
    let _turn = writer(db).await;
    db.query(
        "UPDATE pbs_jobs SET \
               state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
               finished_ms = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END, \
               last_error = $2, lease_until = NULL, run_at = $1, updated_ms = $1 \
             WHERE state = 'running' AND lease_until <= $1",
    )
    .bind(now)
    .bind(LEASE_EXPIRED)
    .execute()
    .await
}

/// When the next job becomes due (none queued: none), and when the first
/// lease of a running job runs out.
pub async fn next_times(db: &Db) -> sqlx::Result<(Option<i64>, Option<i64>)> {
    let due: Option<i64> = db
        .query("SELECT MIN(run_at) FROM pbs_jobs WHERE state IN ('queued', 'failed')")
        .scalar()
        .await?;
    let lease: Option<i64> = db
        .query("SELECT MIN(lease_until) FROM pbs_jobs WHERE state = 'running'")
        .scalar()
        .await?;
    Ok((due, lease))
}

const COLUMNS: &str = "id, function, version, name, payload, state, attempts, max_attempts, \
     priority, run_at, lease_until, dedupe_key, last_error, enqueued_by, created_ms, updated_ms, \
     started_ms, finished_ms";

fn job_row(r: &Row) -> sqlx::Result<JobRow> {
    let payload: String = r.get("payload")?;
    Ok(JobRow {
        id: r.get("id")?,
        function: r.get("function")?,
        version: r.get("version")?,
        name: r.get("name")?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
        state: r.get("state")?,
        attempts: r.get("attempts")?,
        max_attempts: r.get("max_attempts")?,
        priority: r.get("priority")?,
        run_at_ms: r.get("run_at")?,
        lease_until_ms: r.get("lease_until")?,
        dedupe_key: r.get("dedupe_key")?,
        last_error: r.get("last_error")?,
        enqueued_by: r.get("enqueued_by")?,
        created_ms: r.get("created_ms")?,
        updated_ms: r.get("updated_ms")?,
        started_ms: r.get("started_ms")?,
        finished_ms: r.get("finished_ms")?,
    })
}

/// One job.
pub async fn get(db: &Db, id: &str) -> sqlx::Result<Option<JobRow>> {
    let sql = format!("SELECT {COLUMNS} FROM pbs_jobs WHERE id = $1");
    match db.query(&sql).bind(id).fetch_optional().await? {
        Some(r) => Ok(Some(job_row(&r)?)),
        None => Ok(None),
    }
}

/// What the admin list filters on (each optional).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub state: Option<String>,
    pub name: Option<String>,
    pub function: Option<String>,
}

/// A page of jobs, newest first, and the number of jobs the filter matches.
pub async fn list(
    db: &Db,
    filter: &Filter,
    offset: i64,
    limit: i64,
) -> sqlx::Result<(Vec<JobRow>, i64)> {
    // Each filter is `($n IS NULL OR column = $n)`, so one statement serves
    // every combination.
    let cond = "($1 IS NULL OR state = $1) AND ($2 IS NULL OR name = $2) AND ($3 IS NULL OR function = $3)";
    let cond = db.dialect().pick(
        cond.to_string(),
        // PostgreSQL must know the type of a parameter compared with NULL.
        cond.replace("$1 IS", "$1::text IS")
            .replace("$2 IS", "$2::text IS")
            .replace("$3 IS", "$3::text IS"),
    );
    let page_sql = format!(
        "SELECT {COLUMNS} FROM pbs_jobs WHERE {cond} ORDER BY created_ms DESC, id DESC LIMIT $4 OFFSET $5"
    );
    let count_sql = format!("SELECT COUNT(*) FROM pbs_jobs WHERE {cond}");
    let rows = db
        .query(&page_sql)
        .bind(&filter.state)
        .bind(&filter.name)
        .bind(&filter.function)
        .bind(limit)
        .bind(offset)
        .fetch_all()
        .await?
        .iter()
        .map(job_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    let total: i64 = db
        .query(&count_sql)
        .bind(&filter.state)
        .bind(&filter.name)
        .bind(&filter.function)
        .scalar()
        .await?;
    Ok((rows, total))
}

/// Runs a dead, failed or cancelled job again now, with a fresh set of
/// attempts. `Ok(Ok(job))`: done, the job as it is now; `Ok(Err(true))`:
/// its state does not allow it (queued, running or completed);
/// `Ok(Err(false))`: there is no such job.
pub async fn retry(db: &Db, id: &str, now: i64) -> sqlx::Result<Result<JobRow, bool>> {
    let update = format!(
        "UPDATE pbs_jobs SET state = 'queued', attempts = 0, run_at = $2, lease_until = NULL, \
         finished_ms = NULL, updated_ms = $2 \
         WHERE id = $1 AND state IN ('dead', 'failed', 'cancelled') RETURNING {COLUMNS}"
    );
    let sql = match db.dialect() {
        // Other hosts' workers hear of it at once.
        Dialect::Postgres => {
            format!("WITH up AS ({update}) SELECT up.* FROM up, pg_notify('{CHANNEL}', '') AS n")
        }
        Dialect::Sqlite => update,
    };
    changed(db, &sql, id, now).await
}

/// Cancels a queued, failed or running job (a running attempt is stopped
/// by its worker at the next heartbeat and its result dropped). As
/// [`retry`]: the job, or whether it exists (and has finished already).
pub async fn cancel(db: &Db, id: &str, now: i64) -> sqlx::Result<Result<JobRow, bool>> {
    let sql = format!(
        "UPDATE pbs_jobs SET state = 'cancelled', lease_until = NULL, finished_ms = $2, \
         updated_ms = $2 WHERE id = $1 AND state IN ('queued', 'running', 'failed') \
         RETURNING {COLUMNS}"
    );
    changed(db, &sql, id, now).await
}

async fn changed(db: &Db, sql: &str, id: &str, now: i64) -> sqlx::Result<Result<JobRow, bool>> {
    let turn = writer(db).await;
    let row = match db.query(sql).bind(id).bind(now).fetch_optional().await? {
        Some(r) => Some(job_row(&r)?),
        None => None,
    };
    drop(turn);
    match row {
        Some(job) => Ok(Ok(job)),
        None => Ok(Err(exists(db, id).await?)),
    }
}

async fn exists(db: &Db, id: &str) -> sqlx::Result<bool> {
    Ok(db
        .query("SELECT 1 FROM pbs_jobs WHERE id = $1")
        .bind(id)
        .fetch_optional()
        .await?
        .is_some())
}

/// Deletes completed and cancelled jobs that finished before `before`, and
/// dead ones that died before `dead_before`, `batch` at most; returns how
/// many.
pub async fn sweep(db: &Db, before: i64, dead_before: i64, batch: i64) -> sqlx::Result<u64> {
    let _turn = writer(db).await;
    db.query(
        "DELETE FROM pbs_jobs WHERE id IN (SELECT id FROM pbs_jobs WHERE \
               (state IN ('completed', 'cancelled') AND finished_ms < $1) \
               OR (state = 'dead' AND finished_ms < $2) LIMIT $3)",
    )
    .bind(before)
    .bind(dead_before)
    .bind(batch)
    .execute()
    .await
}

/// The versions unfinished jobs run on: what a garbage collector of
/// versions must keep.
pub async fn pinned_versions(db: &Db) -> sqlx::Result<Vec<String>> {
    let sql = format!("SELECT DISTINCT version FROM pbs_jobs WHERE state IN {UNFINISHED}");
    db.query(&sql).scalars().await
}

/// Every job binding: job name → function.
pub async fn bindings(db: &Db) -> sqlx::Result<Vec<(String, String)>> {
    db.query("SELECT name, function FROM pbs_job_bindings ORDER BY name")
        .fetch_all_as()
        .await
}

/// Replaces every job binding, in one transaction.
pub async fn set_bindings(db: &Db, bindings: &[(String, String)], now: i64) -> sqlx::Result<()> {
    let _turn = writer(db).await;
    let mut tx = db.begin().await?;
    let mut conn = tx.conn();
    conn.query("DELETE FROM pbs_job_bindings").execute().await?;
    for (name, function) in bindings {
        conn.query("INSERT INTO pbs_job_bindings (name, function, updated_ms) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(function)
            .bind(now)
            .execute()
            .await?;
    }
    tx.commit().await
}
