-- Invocations one instance of a function may serve in turn; 0: a fresh
-- instance for each (the default). See engine/warm.rs.
ALTER TABLE pbs_functions ADD COLUMN reuse BIGINT NOT NULL DEFAULT 0;
