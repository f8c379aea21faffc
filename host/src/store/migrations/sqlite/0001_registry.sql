-- Immutable component versions, addressed by the SHA-256 of their bytes.
CREATE TABLE pbs_versions (
    hash       TEXT PRIMARY KEY,
    component  BLOB NOT NULL,
    size       INTEGER NOT NULL,
    exports    TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);

-- A version precompiled for one engine configuration.
CREATE TABLE pbs_artifacts (
    version  TEXT NOT NULL REFERENCES pbs_versions(hash),
    engine   TEXT NOT NULL,
    artifact BLOB NOT NULL,
    PRIMARY KEY (version, engine)
);

-- The version each function serves now.
CREATE TABLE pbs_functions (
    name       TEXT PRIMARY KEY,
    version    TEXT NOT NULL REFERENCES pbs_versions(hash),
    triggers   TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);

-- Every deploy, newest last.
CREATE TABLE pbs_deployments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL REFERENCES pbs_versions(hash),
    created_ms INTEGER NOT NULL
);
CREATE INDEX pbs_deployments_name ON pbs_deployments (name, id);
