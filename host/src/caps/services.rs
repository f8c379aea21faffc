//! What capabilities need from the host beyond one invocation: the database,
//! the data folder, and pb:secrets' environment and master key. Set once the
//! host has opened its database; absent in `pbs serve COMPONENT`
//! (single-component mode) and at build time, where the storage-backed
//! capabilities answer `unavailable`.

use crate::caps::secrets::crypto::MasterKey;
use crate::store::Db;
use std::path::PathBuf;
use std::sync::Arc;

pub struct Services {
    pub db: Db,
    /// The data folder (`pb_data`).
    pub data_dir: PathBuf,
    /// The environment whose secrets functions read (`--env`, `PB_ENV`).
    pub environment: Arc<str>,
    /// The master key of pb:secrets.
    pub secrets_key: Arc<MasterKey>,
    /// pb:jobs: the wake-up of this host's workers and the queue's caches.
    pub jobs: Arc<crate::caps::jobs::JobsHub>,
    /// pb:files: the host's file store (a folder or S3).
    pub files: Arc<crate::caps::files::Files>,
}

/// The message of the `unavailable` error when there is no database.
pub fn no_database(package: &str) -> String {
    format!(
        "{package} needs the full host (`pbs serve` with a data folder), not single-component mode"
    )
}
