-- pb:secrets: one AES-256-GCM sealed value per (environment, name); see
-- host/src/caps/secrets/crypto.rs for the format. `key_id` names the master
-- key a value was sealed with (a fingerprint, not the key); `hosts` are the
-- hosts its `{{secret:NAME}}` placeholders may be sent to (comma-separated).
CREATE TABLE pbs_secrets (
    environment TEXT NOT NULL,
    name        TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    key_id      TEXT NOT NULL,
    hosts       TEXT NOT NULL DEFAULT '',
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (environment, name)
);
