-- pb:jobs: the persistent job queue (host/src/caps/jobs/, the workers in
-- host/src/triggers/jobs/). One row per job. `function` consumes it, on
-- `version` (the deployment version pinned at enqueue); `state` is queued,
-- running, completed, failed (waiting for a retry), dead or cancelled.
-- Times are ms since the Unix epoch. A worker claims due rows in one
-- UPDATE … RETURNING (SQLite runs it as one write transaction), holds a
-- lease (`lease_until`) extended while the job runs, and an expired lease
-- makes the job claimable again.
CREATE TABLE pbs_jobs (
    id           TEXT PRIMARY KEY,
    function     TEXT NOT NULL,
    version      TEXT NOT NULL,
    name         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    run_at       INTEGER NOT NULL,
    lease_until  INTEGER,
    dedupe_key   TEXT,
    last_error   TEXT,
    enqueued_by  TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    started_ms   INTEGER,
    finished_ms  INTEGER
);
-- The claim: due jobs, highest priority first, then oldest.
CREATE INDEX pbs_jobs_due ON pbs_jobs (priority DESC, run_at, id)
    WHERE state IN ('queued', 'failed');
-- Expired leases.
CREATE INDEX pbs_jobs_lease ON pbs_jobs (lease_until) WHERE state = 'running';
-- A dedupe key is unique among the unfinished jobs of a function.
CREATE UNIQUE INDEX pbs_jobs_dedupe ON pbs_jobs (function, dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running', 'failed');
-- The admin list (by state, newest first) and the sweep of old finished jobs.
CREATE INDEX pbs_jobs_state ON pbs_jobs (state, created_ms);

-- Which function consumes a job name (the manifest's `jobs` section);
-- without a row, a job runs on the function that enqueued it.
CREATE TABLE pbs_job_bindings (
    name       TEXT PRIMARY KEY,
    function   TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);

-- Cron schedules (the manifest's `cron` section). `id` is derived from
-- (function, func, cron, timezone), so an unchanged schedule keeps its id
-- and its history when the set is replaced. `last_ms` is the latest tick
-- claimed, `created_ms` the lower bound of ticks to fire.
CREATE TABLE pbs_cron_schedules (
    id         TEXT PRIMARY KEY,
    function   TEXT NOT NULL,
    func       TEXT NOT NULL,
    cron       TEXT NOT NULL,
    timezone   TEXT,
    created_ms INTEGER NOT NULL,
    last_ms    INTEGER
);

-- One row per fired tick: the primary key is the claim, so hosts sharing the
-- database fire each tick once.
CREATE TABLE pbs_cron_ticks (
    schedule_id  TEXT NOT NULL,
    scheduled_ms INTEGER NOT NULL,
    state        TEXT NOT NULL,
    started_ms   INTEGER NOT NULL,
    finished_ms  INTEGER,
    error        TEXT,
    PRIMARY KEY (schedule_id, scheduled_ms)
) WITHOUT ROWID;
