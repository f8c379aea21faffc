//! What capabilities need from the host beyond one invocation: the
//! database, the data folder, pb:secrets' environment and master key, and
//! each capability's per-host state (caches, its own connections, queues).
//! Made once the host has opened its database and handed to every
//! invocation (an `Arc`); absent in `pbs serve COMPONENT` (single-component
//! mode) and at build time, where the storage-backed capabilities answer
//! `unavailable` ([`crate::caps::error::unavailable`]).

use crate::caps::secrets::MasterKey;
use crate::caps::{data, files, jobs, kv};
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
    /// pb:files: the host's file store (a folder or S3).
    pub files: Arc<files::Files>,
    /// pb:data: the collections, record hooks, connections and transactions.
    pub data: Arc<data::Store>,
    /// pb:kv: its connections and SQLite readers.
    pub kv: kv::KvStore,
    /// pb:jobs: the wake-up of this host's workers and the queue's caches.
    pub jobs: Arc<jobs::JobsHub>,
}

impl Services {
    pub fn new(
        db: Db,
        data_dir: PathBuf,
        environment: Arc<str>,
        secrets_key: Arc<MasterKey>,
        files: Arc<files::Files>,
    ) -> Services {
        Services {
            data: Arc::new(data::Store::new(db.clone(), files.clone())),
            kv: kv::KvStore::default(),
            jobs: Default::default(),
            db,
            data_dir,
            environment,
            secrets_key,
            files,
        }
    }
}
