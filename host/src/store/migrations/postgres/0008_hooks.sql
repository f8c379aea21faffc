-- Record hooks (host/src/caps/data/hooks/): the export `func` of function
-- `function` runs on `event` (before_create … after_delete) of the
-- collection named `collection`. Replaced as a set by
-- `PUT /api/pb_serverless/_admin/hooks` (what `pbs deploy` sends from the
-- manifest's `hooks`); `position` keeps the order hooks on one event run in.
CREATE TABLE pbs_hooks (
    position   BIGINT PRIMARY KEY,
    collection TEXT NOT NULL,
    event      TEXT NOT NULL,
    function   TEXT NOT NULL,
    func       TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
