-- pb:kv: one row per live key. `namespace` is `fn:<function>` for a
-- function's own keys or `shared`; `expires_ms` (ms since the Unix epoch,
-- none = never) is checked by every read, and the sweeper deletes rows
-- past it. Values are always stored as BLOBs, compared byte for byte.
CREATE TABLE pbs_kv (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    expires_ms INTEGER,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX pbs_kv_expires ON pbs_kv (expires_ms) WHERE expires_ms IS NOT NULL;
