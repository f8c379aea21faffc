-- The source map of a version built from JS/TS (also inside the component
-- as a custom section), so stack traces show .ts positions without reading
-- the whole component back.
ALTER TABLE pbs_versions ADD COLUMN source_map BYTEA;
-- Hosts each function may reach (comma-separated allowlist entries), on top
-- of the host-wide `--allow-host` list.
ALTER TABLE pbs_functions ADD COLUMN allowed_hosts TEXT NOT NULL DEFAULT '';
