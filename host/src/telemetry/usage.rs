//! The cost ledger summed per function per hour (UTC), in the database
//! (`pbs_usage`, one row per function and hour).
//!
//! An invocation's cost is added in memory when it ends ([`Usage::add`])
//! and written with one upsert per (function, hour) every
//! [`FLUSH_EVERY`] ([`flush_loop`]), at shutdown, and before the usage
//! endpoint reads ([`read`]) — so a host's own invocations are always in
//! what it answers, and hosts sharing a database see each other's within
//! [`FLUSH_EVERY`]. The counters add up across hosts; `memory_peak_max` is
//! the largest peak of the hour.

use super::scope::Cost;
use crate::store::Db;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// How often the sums in memory are written to the database.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// Hours one usage answer covers at most.
pub const MAX_HOURS: i64 = 24 * 90;

/// One function's usage in one hour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sums {
    pub invocations: i64,
    pub errors: i64,
    pub wall_us: i64,
    pub cpu_us: i64,
    pub fuel: i64,
    pub memory_peak_max: i64,
    pub fetches: i64,
    pub fetch_bytes_out: i64,
    pub fetch_bytes_in: i64,
    pub rows_read: i64,
    pub rows_written: i64,
    pub kv_ops: i64,
    pub file_ops: i64,
    pub job_ops: i64,
    pub secret_ops: i64,
}

const COLUMNS: [&str; 15] = [
    "invocations",
    "errors",
    "wall_us",
    "cpu_us",
    "fuel",
    "memory_peak_max",
    "fetches",
    "fetch_bytes_out",
    "fetch_bytes_in",
    "rows_read",
    "rows_written",
    "kv_ops",
    "file_ops",
    "job_ops",
    "secret_ops",
];

fn n(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

impl Sums {
    fn add(&mut self, c: &Cost, failed: bool) {
        self.invocations += 1;
        self.errors += failed as i64;
        self.wall_us += n(c.wall_us);
        self.cpu_us += n(c.cpu_us);
        self.fuel += n(c.fuel);
        self.memory_peak_max = self.memory_peak_max.max(n(c.memory_peak));
        self.fetches += n(c.fetches);
        self.fetch_bytes_out += n(c.fetch_bytes_out);
        self.fetch_bytes_in += n(c.fetch_bytes_in);
        self.rows_read += n(c.rows_read);
        self.rows_written += n(c.rows_written);
        self.kv_ops += n(c.kv_ops);
        self.file_ops += n(c.file_ops);
        self.job_ops += n(c.job_ops);
        self.secret_ops += n(c.secret_ops);
    }

    fn merge(&mut self, o: &Sums) {
        let max = self.memory_peak_max.max(o.memory_peak_max);
        for (a, b) in self.values_mut().into_iter().zip(o.values()) {
            *a += b;
        }
        self.memory_peak_max = max;
    }

    fn values(&self) -> [i64; 15] {
        [
            self.invocations,
            self.errors,
            self.wall_us,
            self.cpu_us,
            self.fuel,
            self.memory_peak_max,
            self.fetches,
            self.fetch_bytes_out,
            self.fetch_bytes_in,
            self.rows_read,
            self.rows_written,
            self.kv_ops,
            self.file_ops,
            self.job_ops,
            self.secret_ops,
        ]
    }

    fn values_mut(&mut self) -> [&mut i64; 15] {
        [
            &mut self.invocations,
            &mut self.errors,
            &mut self.wall_us,
            &mut self.cpu_us,
            &mut self.fuel,
            &mut self.memory_peak_max,
            &mut self.fetches,
            &mut self.fetch_bytes_out,
            &mut self.fetch_bytes_in,
            &mut self.rows_read,
            &mut self.rows_written,
            &mut self.kv_ops,
            &mut self.file_ops,
            &mut self.job_ops,
            &mut self.secret_ops,
        ]
    }
}

/// The sums not yet written, by (function, hour).
#[derive(Default)]
pub struct Usage {
    pending: Mutex<HashMap<(String, i64), Sums>>,
    /// Serialises flushes (the endpoint's and the loop's).
    flushing: tokio::sync::Mutex<()>,
}

impl Usage {
    pub fn add(&self, function: &str, hour_ms: i64, cost: &Cost, failed: bool) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match pending.get_mut(&(function.to_string(), hour_ms)) {
            Some(s) => s.add(cost, failed),
            None => {
                let mut s = Sums::default();
                s.add(cost, failed);
                pending.insert((function.to_string(), hour_ms), s);
            }
        }
    }

    /// Writes the pending sums; on failure they stay pending.
    pub async fn flush(&self, db: &Db) -> sqlx::Result<()> {
        let _one = self.flushing.lock().await;
        let taken: Vec<((String, i64), Sums)> = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        if taken.is_empty() {
            return Ok(());
        }
        let d = db.dialect();
        let greatest = d.pick("max", "GREATEST");
        let updates: Vec<String> = COLUMNS
            .iter()
            .map(|c| match *c {
                "memory_peak_max" => format!("{c} = {greatest}(pbs_usage.{c}, excluded.{c})"),
                _ => format!("{c} = pbs_usage.{c} + excluded.{c}"),
            })
            .collect();
        let placeholders: Vec<String> = (3..3 + COLUMNS.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO pbs_usage (function, hour_ms, {}) VALUES ($1, $2, {}) \
             ON CONFLICT (function, hour_ms) DO UPDATE SET {}",
            COLUMNS.join(", "),
            placeholders.join(", "),
            updates.join(", ")
        );
        let mut failed: Option<sqlx::Error> = None;
        let mut back = Vec::new();
        for ((function, hour), sums) in taken {
            if failed.is_some() {
                back.push(((function, hour), sums));
                continue;
            }
            let mut q = db.query(&sql).bind(function.as_str()).bind(hour);
            for v in sums.values() {
                q = q.bind(v);
            }
            if let Err(e) = q.execute().await {
                failed = Some(e);
                back.push(((function, hour), sums));
            }
        }
        if !back.is_empty() {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (k, s) in back {
                pending.entry(k).or_default().merge(&s);
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// One hour of a function's usage, as the endpoint answers it.
#[derive(Debug, Serialize)]
pub struct Hour {
    /// The hour's start, RFC 3339 (UTC).
    pub hour: String,
    #[serde(flatten)]
    pub sums: Sums,
}

/// What `GET …/functions/NAME/usage` answers: the hours from `from_ms` to
/// `to_ms` (hour starts, inclusive) with their sums, and the total.
#[derive(Debug, Serialize)]
pub struct Report {
    pub function: String,
    pub hours: Vec<Hour>,
    pub total: Sums,
}

/// Flushes, then reads `function`'s usage between two hours.
pub async fn read(
    usage: &Usage,
    db: &Db,
    function: &str,
    from_ms: i64,
    to_ms: i64,
) -> sqlx::Result<Report> {
    usage.flush(db).await?;
    let sql = format!(
        "SELECT hour_ms, {} FROM pbs_usage WHERE function = $1 AND hour_ms >= $2 AND hour_ms <= $3 \
         ORDER BY hour_ms",
        COLUMNS.join(", ")
    );
    let rows = db
        .query(&sql)
        .bind(function)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all()
        .await?;
    let mut total = Sums::default();
    let mut hours = Vec::new();
    for r in rows {
        let hour_ms: i64 = r.get("hour_ms")?;
        let mut sums = Sums::default();
        for (slot, c) in sums.values_mut().into_iter().zip(COLUMNS) {
            *slot = r.get(c)?;
        }
        total.merge(&sums);
        hours.push(Hour {
            hour: chrono::DateTime::from_timestamp_millis(hour_ms)
                .map(|t| t.format("%Y-%m-%dT%H:00:00Z").to_string())
                .unwrap_or_default(),
            sums,
        });
    }
    Ok(Report {
        function: function.to_string(),
        hours,
        total,
    })
}

/// Writes the sums every [`FLUSH_EVERY`] until `stopped` changes, and
/// once more then.
pub async fn flush_loop(usage: super::Telemetry, db: Db, mut stopped: watch::Receiver<bool>) {
    loop {
        let stop = tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => false,
            _ = stopped.changed() => true,
        };
        if let Err(e) = usage.usage().flush(&db).await {
            tracing::warn!(target: "pbs::telemetry", "writing usage failed (kept for the next try): {e}");
        }
        if stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_add_and_merge() {
        let cost = Cost {
            wall_us: 10,
            rows_read: 2,
            memory_peak: 100,
            ..Default::default()
        };
        let mut a = Sums::default();
        a.add(&cost, false);
        a.add(
            &Cost {
                memory_peak: 300,
                ..cost
            },
            true,
        );
        assert_eq!(
            (a.invocations, a.errors, a.wall_us, a.rows_read),
            (2, 1, 20, 4)
        );
        assert_eq!(a.memory_peak_max, 300);
        let mut b = a;
        b.merge(&a);
        assert_eq!((b.invocations, b.memory_peak_max), (4, 300));
    }
}
