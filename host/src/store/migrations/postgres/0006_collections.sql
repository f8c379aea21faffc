-- pb:data: the collections catalogue. One row per collection; its records
-- live in their own table `c_<name>` (see host/src/caps/data/migrate.rs).
-- `fields` is the JSON array of field definitions in the admin API's shape;
-- the rules are PocketBase filter expressions (NULL = admin token only,
-- '' = public). `created`/`updated` are PocketBase's text timestamps
-- (`YYYY-MM-DD HH:MM:SS.sssZ`); `updated_ms` lets hosts sharing a database
-- notice a change.
CREATE TABLE pbs_collections (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    fields      TEXT NOT NULL,
    list_rule   TEXT,
    view_rule   TEXT,
    create_rule TEXT,
    update_rule TEXT,
    delete_rule TEXT,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
CREATE UNIQUE INDEX pbs_collections_name ON pbs_collections (lower(name));
