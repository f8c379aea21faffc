-- The SHA-256 of each precompiled artifact, checked before it is loaded, so a
-- damaged blob is recompiled from the component instead of being run.
ALTER TABLE pbs_artifacts ADD COLUMN sha256 TEXT;
