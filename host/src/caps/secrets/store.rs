//! The storage of `pb:secrets` on both backends: table `pbs_secrets`
//! (migration `0005_secrets.sql`), one sealed value per (environment, name).
//! Values are sealed and opened here, so nothing above this file sees a
//! ciphertext and nothing below it sees a plaintext.

use super::crypto::{MasterKey, Undecryptable};
use super::placeholder::Binding;
use super::SecretError;
use crate::store::{now_ms, Db};

/// A secret as read back: its value and the hosts it is bound to.
pub struct Secret {
    pub value: String,
    pub hosts: Vec<Binding>,
}

/// One entry of a listing: never the value, only its mask.
#[derive(serde::Serialize)]
pub struct Listed {
    pub name: String,
    pub environment: String,
    /// See [`super::mask`]; none when the value does not decrypt.
    pub masked: Option<String>,
    pub hosts: Vec<String>,
    pub updated_ms: i64,
    /// Why the value does not decrypt, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

type Row = (Vec<u8>, String, String);

fn hosts_of(text: &str) -> Vec<Binding> {
    text.split(',')
        .filter(|h| !h.is_empty())
        .filter_map(|h| Binding::parse(h).ok())
        .collect()
}

/// Opens a stored value, telling "another key" from "damaged".
fn open(
    key: &MasterKey,
    environment: &str,
    name: &str,
    sealed: &[u8],
    key_id: &str,
) -> Result<String, SecretError> {
    let undecryptable = |detail: String| SecretError::Undecryptable {
        name: name.to_string(),
        environment: environment.to_string(),
        detail,
    };
    if key_id != key.id() {
        return Err(undecryptable(format!(
            "it was encrypted with the key with id {key_id}, this host's key (from {}) has id {}",
            key.source,
            key.id()
        )));
    }
    let plain = key
        .open(environment, name, sealed)
        .map_err(|Undecryptable| {
            undecryptable(
                "the stored value does not authenticate (damaged, tampered with, or moved from another name)"
                    .into(),
            )
        })?;
    String::from_utf8(plain).map_err(|_| undecryptable("the value is not UTF-8".into()))
}

/// The secret `name` of `environment`, or none.
pub async fn get(
    db: &Db,
    key: &MasterKey,
    environment: &str,
    name: &str,
) -> Result<Option<Secret>, SecretError> {
    let row: Option<Row> = db
        .query("SELECT sealed, key_id, hosts FROM pbs_secrets WHERE environment = $1 AND name = $2")
        .bind(environment)
        .bind(name)
        .fetch_optional_as()
        .await
        .map_err(SecretError::internal)?;
    let Some((sealed, key_id, hosts)) = row else {
        return Ok(None);
    };
    let value = open(key, environment, name, &sealed, &key_id)?;
    Ok(Some(Secret {
        value,
        hosts: hosts_of(&hosts),
    }))
}

/// Sets `name` in `environment`; `hosts` none keeps the bindings it had.
pub async fn set(
    db: &Db,
    key: &MasterKey,
    environment: &str,
    name: &str,
    value: &str,
    hosts: Option<&[Binding]>,
) -> Result<(), SecretError> {
    let sealed = key
        .seal(environment, name, value.as_bytes())
        .map_err(SecretError::Internal)?;
    let keep = hosts.is_none();
    let hosts = hosts
        .unwrap_or_default()
        .iter()
        .map(Binding::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let sql = if keep {
        "INSERT INTO pbs_secrets (environment, name, sealed, key_id, hosts, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (environment, name) DO UPDATE \
         SET sealed = excluded.sealed, key_id = excluded.key_id, updated_ms = excluded.updated_ms"
    } else {
        "INSERT INTO pbs_secrets (environment, name, sealed, key_id, hosts, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (environment, name) DO UPDATE \
         SET sealed = excluded.sealed, key_id = excluded.key_id, hosts = excluded.hosts, \
         updated_ms = excluded.updated_ms"
    };
    db.query(sql)
        .bind(environment)
        .bind(name)
        .bind(&sealed)
        .bind(key.id())
        .bind(&hosts)
        .bind(now_ms())
        .execute()
        .await
        .map_err(SecretError::internal)?;
    Ok(())
}

/// Binds `name` in `environment` to `hosts` (replacing its bindings),
/// keeping its value; false when it is not set.
pub async fn set_hosts(
    db: &Db,
    environment: &str,
    name: &str,
    hosts: &[Binding],
) -> Result<bool, SecretError> {
    let hosts = hosts
        .iter()
        .map(Binding::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let done = db
        .query("UPDATE pbs_secrets SET hosts = $1, updated_ms = $2 WHERE environment = $3 AND name = $4")
        .bind(&hosts)
        .bind(now_ms())
        .bind(environment)
        .bind(name)
        .execute()
        .await
        .map_err(SecretError::internal)?;
    Ok(done > 0)
}

/// Removes `name` from `environment`; false when it was not set.
pub async fn remove(db: &Db, environment: &str, name: &str) -> Result<bool, SecretError> {
    let done = db
        .query("DELETE FROM pbs_secrets WHERE environment = $1 AND name = $2")
        .bind(environment)
        .bind(name)
        .execute()
        .await
        .map_err(SecretError::internal)?;
    Ok(done > 0)
}

/// The secrets of `environment` by name, masked.
pub async fn list(db: &Db, key: &MasterKey, environment: &str) -> Result<Vec<Listed>, SecretError> {
    let rows: Vec<(String, Vec<u8>, String, String, i64)> = db
        .query(
            "SELECT name, sealed, key_id, hosts, updated_ms FROM pbs_secrets \
             WHERE environment = $1 ORDER BY name",
        )
        .bind(environment)
        .fetch_all_as()
        .await
        .map_err(SecretError::internal)?;
    Ok(rows
        .into_iter()
        .map(|(name, sealed, key_id, hosts, updated_ms)| {
            let opened = open(key, environment, &name, &sealed, &key_id);
            let hosts = hosts_of(&hosts).iter().map(Binding::to_string).collect();
            let (masked, error) = match opened {
                Ok(value) => (Some(super::mask(&value)), None),
                Err(e) => (None, Some(e.to_string())),
            };
            Listed {
                name,
                environment: environment.to_string(),
                masked,
                hosts,
                updated_ms,
                error,
            }
        })
        .collect())
}

/// How many stored values were sealed with another key than `key`, by key id.
pub async fn foreign_keys(db: &Db, key: &MasterKey) -> Result<Vec<(String, i64)>, SecretError> {
    db.query(
        "SELECT key_id, COUNT(*) FROM pbs_secrets WHERE key_id <> $1 GROUP BY key_id ORDER BY key_id",
    )
    .bind(key.id())
    .fetch_all_as()
    .await
    .map_err(SecretError::internal)
}

/// Re-seals every secret of every environment from `old` to `new` in one
/// transaction: all of them, or (on any error) none. Returns how many.
pub async fn rotate(db: &Db, old: &MasterKey, new: &MasterKey) -> Result<usize, SecretError> {
    // PostgreSQL: lock the rows against a host writing meanwhile; on
    // SQLite the transaction holds the write lock from its start.
    let select = db.dialect().pick(
        "SELECT environment, name, sealed, key_id FROM pbs_secrets ORDER BY environment, name",
        "SELECT environment, name, sealed, key_id FROM pbs_secrets ORDER BY environment, name \
         FOR UPDATE",
    );
    let mut tx = db.begin().await.map_err(SecretError::internal)?;
    let mut conn = tx.conn();
    let rows: Vec<(String, String, Vec<u8>, String)> = conn
        .query(select)
        .fetch_all_as()
        .await
        .map_err(SecretError::internal)?;
    let now = now_ms();
    for (environment, name, sealed, key_id) in &rows {
        let value = open(old, environment, name, sealed, key_id)?;
        let resealed = new
            .seal(environment, name, value.as_bytes())
            .map_err(SecretError::Internal)?;
        conn.query(
            "UPDATE pbs_secrets SET sealed = $1, key_id = $2, updated_ms = $3 \
             WHERE environment = $4 AND name = $5",
        )
        .bind(&resealed)
        .bind(new.id())
        .bind(now)
        .bind(environment)
        .bind(name)
        .execute()
        .await
        .map_err(SecretError::internal)?;
    }
    tx.commit().await.map_err(SecretError::internal)?;
    Ok(rows.len())
}
