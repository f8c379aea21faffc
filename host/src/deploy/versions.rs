//! The versions of a function: listing them, rolling back to one, and
//! retention (pruning old versions).
//!
//! A version is immutable and addressed by the SHA-256 of its component; the
//! same bytes deployed under two names are one version. The versions *of a
//! function* are those its deploy history (`pbs_deployments`) names. Pruning
//! keeps, for every function, its newest `keep` versions, and never removes
//! a version a function serves now or one an unfinished job is pinned to
//! (a job runs on the version that enqueued it).

use super::registry::{FunctionInfo, Registry};
use crate::caps::jobs::is_js_bundle;
use crate::caps::jobs::store::{pinned_versions, UNFINISHED};
use crate::store::Db;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Versions each function keeps when nothing else is said (`pbs versions
/// prune` without `--keep`, and the pruning after every deploy).
pub const DEFAULT_KEEP: usize = 10;
/// Shortest version prefix `pbs rollback NAME VERSION` accepts.
pub const MIN_PREFIX: usize = 6;

/// One version of a function, as `pbs versions NAME` shows it.
#[derive(Serialize, Debug, Clone)]
pub struct VersionInfo {
    pub version: String,
    /// When the version was first stored.
    pub created_ms: i64,
    /// When this function last switched to it.
    pub deployed_ms: i64,
    pub size: i64,
    /// `js` (built from JS/TS by `pbs build`) or `component`.
    pub kind: &'static str,
    pub source_map: bool,
    /// Whether the function serves it now.
    pub active: bool,
    /// Unfinished jobs pinned to it.
    pub pinned_jobs: i64,
}

/// What a prune removed.
#[derive(Serialize, Debug, Default)]
pub struct Pruned {
    pub removed: Vec<String>,
    /// Versions still stored.
    pub kept: usize,
}

#[derive(Debug)]
pub enum VersionsError {
    NotFound(String),
    BadRequest(String),
    Internal(anyhow::Error),
}

impl VersionsError {
    pub fn status(&self) -> u16 {
        match self {
            VersionsError::NotFound(_) => 404,
            VersionsError::BadRequest(_) => 400,
            VersionsError::Internal(_) => 500,
        }
    }
}

impl std::fmt::Display for VersionsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionsError::NotFound(m) | VersionsError::BadRequest(m) => f.write_str(m),
            VersionsError::Internal(e) => write!(f, "{e:#}"),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for VersionsError {
    fn from(e: E) -> Self {
        VersionsError::Internal(e.into())
    }
}

/// The versions `name` has served, newest deploy first; `None` when the
/// function has no deploy history.
pub async fn list(db: &Db, name: &str) -> Result<Option<Vec<VersionInfo>>, VersionsError> {
    let active: Option<String> = db
        .query("SELECT version FROM pbs_functions WHERE name = $1")
        .bind(name)
        .optional_scalar()
        .await?;
    let rows = db
        .query(
            "SELECT d.version, MAX(d.id) AS last_id, MAX(d.created_ms) AS deployed_ms, \
             v.created_ms, v.size, v.exports, \
             CAST(CASE WHEN v.source_map IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_map \
             FROM pbs_deployments d JOIN pbs_versions v ON v.hash = d.version \
             WHERE d.name = $1 \
             GROUP BY d.version, v.created_ms, v.size, v.exports, v.source_map \
             ORDER BY last_id DESC",
        )
        .bind(name)
        .fetch_all()
        .await?;
    if rows.is_empty() && active.is_none() {
        return Ok(None);
    }
    let pinned = pinned_counts(db).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let version: String = r.get("version")?;
        let exports: Vec<String> =
            serde_json::from_str(&r.get::<String>("exports")?).unwrap_or_default();
        out.push(VersionInfo {
            active: active.as_deref() == Some(version.as_str()),
            pinned_jobs: pinned.get(&version).copied().unwrap_or(0),
            created_ms: r.get("created_ms")?,
            deployed_ms: r.get("deployed_ms")?,
            size: r.get("size")?,
            kind: if is_js_bundle(&exports) {
                "js"
            } else {
                "component"
            },
            source_map: r.get::<i64>("has_map")? != 0,
            version,
        });
    }
    Ok(Some(out))
}

/// Unfinished jobs per version.
async fn pinned_counts(db: &Db) -> anyhow::Result<HashMap<String, i64>> {
    let pinned = pinned_versions(db).await?;
    let sql = format!("SELECT COUNT(*) FROM pbs_jobs WHERE version = $1 AND state IN {UNFINISHED}");
    let mut counts = HashMap::new();
    for version in pinned {
        let n: i64 = db.query(&sql).bind(&version).scalar().await?;
        counts.insert(version, n);
    }
    Ok(counts)
}

/// Switches `name` to one of its earlier versions: `to` (a full version or a
/// unique prefix of at least [`MIN_PREFIX`] characters), or by default the
/// version it served before the current one.
pub async fn rollback(
    registry: &Registry,
    name: &str,
    to: Option<&str>,
) -> Result<FunctionInfo, VersionsError> {
    let db = registry.db();
    let current: String = db
        .query("SELECT version FROM pbs_functions WHERE name = $1")
        .bind(name)
        .optional_scalar()
        .await?
        .ok_or_else(|| {
            VersionsError::NotFound(format!("no function named `{name}` is deployed"))
        })?;
    let history: Vec<String> = db
        .query(
            "SELECT d.version FROM pbs_deployments d JOIN pbs_versions v ON v.hash = d.version \
             WHERE d.name = $1 ORDER BY d.id DESC",
        )
        .bind(name)
        .scalars()
        .await?;
    let target = match to {
        None => history
            .iter()
            .find(|v| **v != current)
            .cloned()
            .ok_or_else(|| {
                VersionsError::NotFound(format!(
                    "`{name}` has no earlier version to roll back to (see `pbs versions {name}`)"
                ))
            })?,
        Some(prefix) => {
            if prefix.len() < MIN_PREFIX || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(VersionsError::BadRequest(format!(
                    "a version is at least {MIN_PREFIX} hex digits (as `pbs versions {name}` shows)"
                )));
            }
            let prefix = prefix.to_ascii_lowercase();
            let matching: HashSet<&String> =
                history.iter().filter(|v| v.starts_with(&prefix)).collect();
            match matching.len() {
                0 => {
                    return Err(VersionsError::NotFound(format!(
                        "`{name}` has no version {prefix} (see `pbs versions {name}`)"
                    )))
                }
                1 => (*matching.iter().next().expect("one")).clone(),
                _ => {
                    return Err(VersionsError::BadRequest(format!(
                        "{prefix} names {} versions of `{name}`: give more digits",
                        matching.len()
                    )))
                }
            }
        }
    };
    Ok(registry.activate(name, &target).await?)
}

/// Removes every stored version that no function keeps: for each function
/// its newest `keep` versions, the version it serves now, and every version
/// an unfinished job is pinned to stay.
pub async fn prune(db: &Db, keep: usize) -> Result<Pruned, VersionsError> {
    let history: Vec<(String, String)> = db
        .query("SELECT name, version FROM pbs_deployments ORDER BY id DESC")
        .fetch_all_as()
        .await?;
    let mut kept: HashSet<String> = HashSet::new();
    let mut per_name: HashMap<String, Vec<String>> = HashMap::new();
    for (name, version) in history {
        let seen = per_name.entry(name).or_default();
        if !seen.contains(&version) && seen.len() < keep {
            seen.push(version.clone());
            kept.insert(version);
        }
    }
    let active: Vec<String> = db
        .query("SELECT DISTINCT version FROM pbs_functions")
        .scalars()
        .await?;
    kept.extend(active);
    kept.extend(pinned_versions(db).await?);
    let stored: Vec<String> = db.query("SELECT hash FROM pbs_versions").scalars().await?;
    let mut pruned = Pruned::default();
    for hash in stored {
        if kept.contains(&hash) {
            pruned.kept += 1;
            continue;
        }
        if remove_version(db, &hash).await? {
            pruned.removed.push(hash);
        } else {
            pruned.kept += 1;
        }
    }
    if !pruned.removed.is_empty() {
        tracing::info!(
            removed = pruned.removed.len(),
            kept = pruned.kept,
            "pruned versions"
        );
    }
    Ok(pruned)
}

/// Deletes one version, its precompiled artifacts and its deploy-history
/// rows, in one transaction that checks again that no function serves it
/// and no unfinished job is pinned to it (another host may have switched
/// to it since the caller looked). False when it stays.
async fn remove_version(db: &Db, hash: &str) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    let mut conn = tx.conn();
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM pbs_functions WHERE version = $1) + \
         (SELECT COUNT(*) FROM pbs_jobs WHERE version = $1 AND state IN {UNFINISHED})"
    );
    let in_use: i64 = conn.query(&sql).bind(hash).scalar().await?;
    if in_use > 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    for sql in [
        "DELETE FROM pbs_artifacts WHERE version = $1",
        "DELETE FROM pbs_deployments WHERE version = $1",
        "DELETE FROM pbs_versions WHERE hash = $1",
    ] {
        conn.query(sql).bind(hash).execute().await?;
    }
    tx.commit().await?;
    Ok(true)
}
