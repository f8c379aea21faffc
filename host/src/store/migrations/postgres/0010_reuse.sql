-- Requests one instance of a function may serve in turn (HTTP); 0: a fresh
-- instance per request (the default). See engine/warm.rs.
ALTER TABLE pbs_functions ADD COLUMN reuse BIGINT NOT NULL DEFAULT 0;
