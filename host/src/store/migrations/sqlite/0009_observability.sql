-- Observability (host/src/telemetry/): the cost ledger summed per function
-- per hour (hour_ms = the hour's start, UTC, in ms), written by each host
-- every few seconds with one upsert per row; and the W3C trace context of
-- the span that enqueued a job, so its run links to it.
CREATE TABLE pbs_usage (
    function        TEXT   NOT NULL,
    hour_ms         BIGINT NOT NULL,
    invocations     BIGINT NOT NULL DEFAULT 0,
    errors          BIGINT NOT NULL DEFAULT 0,
    wall_us         BIGINT NOT NULL DEFAULT 0,
    cpu_us          BIGINT NOT NULL DEFAULT 0,
    fuel            BIGINT NOT NULL DEFAULT 0,
    memory_peak_max BIGINT NOT NULL DEFAULT 0,
    fetches         BIGINT NOT NULL DEFAULT 0,
    fetch_bytes_out BIGINT NOT NULL DEFAULT 0,
    fetch_bytes_in  BIGINT NOT NULL DEFAULT 0,
    rows_read       BIGINT NOT NULL DEFAULT 0,
    rows_written    BIGINT NOT NULL DEFAULT 0,
    kv_ops          BIGINT NOT NULL DEFAULT 0,
    file_ops        BIGINT NOT NULL DEFAULT 0,
    job_ops         BIGINT NOT NULL DEFAULT 0,
    secret_ops      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (function, hour_ms)
);

ALTER TABLE pbs_jobs ADD COLUMN trace_parent TEXT;
