-- Immutable component versions, addressed by the SHA-256 of their bytes.
CREATE TABLE pbs_versions (
    hash       TEXT PRIMARY KEY,
    component  BYTEA NOT NULL,
    size       BIGINT NOT NULL,
    exports    TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- A version precompiled for one engine configuration.
CREATE TABLE pbs_artifacts (
    version  TEXT NOT NULL REFERENCES pbs_versions(hash),
    engine   TEXT NOT NULL,
    artifact BYTEA NOT NULL,
    PRIMARY KEY (version, engine)
);

-- The version each function serves now.
CREATE TABLE pbs_functions (
    name       TEXT PRIMARY KEY,
    version    TEXT NOT NULL REFERENCES pbs_versions(hash),
    triggers   TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- Every deploy, newest last.
CREATE TABLE pbs_deployments (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL REFERENCES pbs_versions(hash),
    created_ms BIGINT NOT NULL
);
CREATE INDEX pbs_deployments_name ON pbs_deployments (name, id);
