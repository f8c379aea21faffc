-- pb:kv: one row per live key. `namespace` is `fn:<function>` for a
-- function's own keys or `shared`; `expires_ms` (ms since the Unix epoch,
-- none = never) is checked by every read, and the sweeper deletes rows
-- past it. UNLOGGED: no WAL for this state (it is lost after a crash of
-- the database server, and not replicated), which is what KV state with
-- TTLs is for. Keys sort byte by byte (COLLATE "C"), as in SQLite.
CREATE UNLOGGED TABLE pbs_kv (
    namespace  TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      BYTEA NOT NULL,
    expires_ms BIGINT,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX pbs_kv_expires ON pbs_kv (expires_ms) WHERE expires_ms IS NOT NULL;
