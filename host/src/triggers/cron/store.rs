//! The storage of cron on both backends: `pbs_cron_schedules` and
//! `pbs_cron_ticks` (migration `0007_jobs.sql`). A tick is claimed by
//! inserting its row (primary key: schedule id + scheduled time): of
//! several hosts sharing one database, exactly one inserts it and runs it.

use crate::store::Db;
use serde::Serialize;

/// A schedule as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub id: String,
    pub function: String,
    pub func: String,
    pub cron: String,
    pub timezone: Option<String>,
    pub created_ms: i64,
    /// The latest tick claimed (by any host).
    pub last_ms: Option<i64>,
}

/// One fired tick.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub scheduled_ms: i64,
    /// running, completed or failed.
    pub state: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub error: Option<String>,
}

pub async fn schedules(db: &Db) -> sqlx::Result<Vec<Schedule>> {
    db.query(
        "SELECT id, function, func, cron, timezone, created_ms, last_ms FROM pbs_cron_schedules \
         ORDER BY function, func, id",
    )
    .fetch_all()
    .await?
    .iter()
    .map(|r| {
        Ok(Schedule {
            id: r.get("id")?,
            function: r.get("function")?,
            func: r.get("func")?,
            cron: r.get("cron")?,
            timezone: r.get("timezone")?,
            created_ms: r.get("created_ms")?,
            last_ms: r.get("last_ms")?,
        })
    })
    .collect()
}

/// Replaces the set of schedules in one transaction: schedules already
/// stored (same id) keep their history; new ones start at `now`.
pub async fn replace(db: &Db, set: &[Schedule], now: i64) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    let mut conn = tx.conn();
    let kept: Vec<&str> = set.iter().map(|s| s.id.as_str()).collect();
    let existing: Vec<String> = conn
        .query("SELECT id FROM pbs_cron_schedules")
        .scalars()
        .await?;
    for id in existing.iter().filter(|id| !kept.contains(&id.as_str())) {
        conn.query("DELETE FROM pbs_cron_schedules WHERE id = $1")
            .bind(id)
            .execute()
            .await?;
    }
    for s in set {
        conn.query(
            "INSERT INTO pbs_cron_schedules (id, function, func, cron, timezone, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&s.id)
        .bind(&s.function)
        .bind(&s.func)
        .bind(&s.cron)
        .bind(&s.timezone)
        .bind(now)
        .execute()
        .await?;
    }
    tx.commit().await
}

/// Claims the tick of `schedule` at `scheduled_ms`; true when this call
/// did (and so must run it).
pub async fn claim(db: &Db, schedule: &str, scheduled_ms: i64, now: i64) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let mut conn = tx.conn();
    let n = conn
        .query(
            "INSERT INTO pbs_cron_ticks (schedule_id, scheduled_ms, state, started_ms) \
             VALUES ($1, $2, 'running', $3) ON CONFLICT (schedule_id, scheduled_ms) DO NOTHING",
        )
        .bind(schedule)
        .bind(scheduled_ms)
        .bind(now)
        .execute()
        .await?;
    if n == 1 {
        conn.query(
            "UPDATE pbs_cron_schedules SET last_ms = $2 \
             WHERE id = $1 AND (last_ms IS NULL OR last_ms < $2)",
        )
        .bind(schedule)
        .bind(scheduled_ms)
        .execute()
        .await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

/// Records how a tick ended.
pub async fn finish(
    db: &Db,
    schedule: &str,
    scheduled_ms: i64,
    error: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    db.query(
        "UPDATE pbs_cron_ticks SET state = $3, error = $4, finished_ms = $5 \
         WHERE schedule_id = $1 AND scheduled_ms = $2",
    )
    .bind(schedule)
    .bind(scheduled_ms)
    .bind(if error.is_some() {
        "failed"
    } else {
        "completed"
    })
    .bind(error)
    .bind(now)
    .execute()
    .await?;
    Ok(())
}

/// The latest fired tick of each schedule.
pub async fn last_ticks(db: &Db) -> sqlx::Result<Vec<(String, Tick)>> {
    db.query(
        "SELECT t.schedule_id, t.scheduled_ms, t.state, t.started_ms, t.finished_ms, t.error \
         FROM pbs_cron_ticks t JOIN pbs_cron_schedules s \
           ON s.id = t.schedule_id AND s.last_ms = t.scheduled_ms",
    )
    .fetch_all()
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.get("schedule_id")?,
            Tick {
                scheduled_ms: r.get("scheduled_ms")?,
                state: r.get("state")?,
                started_ms: r.get("started_ms")?,
                finished_ms: r.get("finished_ms")?,
                error: r.get("error")?,
            },
        ))
    })
    .collect()
}

/// Deletes ticks scheduled before `before`, and marks ticks still
/// `running` that started before `stale` as failed (their host stopped).
pub async fn tidy(db: &Db, before: i64, stale: i64, now: i64) -> sqlx::Result<()> {
    db.query("DELETE FROM pbs_cron_ticks WHERE scheduled_ms < $1")
        .bind(before)
        .execute()
        .await?;
    db.query(
        "UPDATE pbs_cron_ticks SET state = 'failed', finished_ms = $2, \
         error = 'the host running it stopped before it finished' \
         WHERE state = 'running' AND started_ms < $1",
    )
    .bind(stale)
    .bind(now)
    .execute()
    .await?;
    Ok(())
}
