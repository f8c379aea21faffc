//! One host's records store — its database, the connections it lends to
//! calls, the collections catalogue, the record hooks, the transaction
//! slots — held by the host's `Services` (`services.data`).
//!
//! Every operation that writes runs on a [`Conn`] inside one database
//! transaction; the functions of [`super::write`] take that `Conn`, so a
//! `pb:data` transaction, record hooks or an outbox can share it.

use super::catalog::Catalog;
use super::error::{DataError, DataResult};
use super::filter::SqlValue;
use super::values::Cell;
use crate::caps::files::Files;
use crate::store::{Arg, Db, Dialect, Lease, Leases};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// One host's records store.
pub struct Store {
    pub db: Db,
    /// Connections lent to one call at a time, without the pool's pings (a
    /// set of its own, apart from pb:kv's).
    pub leases: Leases,
    pub catalog: Catalog,
    /// Record hooks: their bindings and the runner.
    pub hooks: super::hooks::Hooks,
    /// pb:files, whose files go with their records.
    pub files: Arc<Files>,
    /// The slots of open transactions ([`super::tx::MAX_OPEN`]).
    pub(super) tx_slots: Arc<Semaphore>,
}

impl Store {
    pub fn new(db: Db, files: Arc<Files>) -> Store {
        Store {
            db,
            leases: Leases::default(),
            catalog: Catalog::default(),
            hooks: Default::default(),
            files,
            tx_slots: Arc::new(Semaphore::new(super::tx::MAX_OPEN)),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// A connection lent for one call; give it back through [`finished`].
    pub async fn lease(&self) -> DataResult<Lease<'_>> {
        self.leases
            .lease(&self.db)
            .await
            .map_err(|e| DataError::db("acquire a connection", e))
    }

    /// Deletes the files of a deleted record (`record` some) or of a deleted
    /// collection; a failure is logged, the records are gone either way.
    pub async fn delete_files(&self, collection: &str, record: Option<&str>) {
        let deleted = match record {
            Some(id) => self.files.delete_record(collection, id).await,
            None => self.files.delete_collection(collection).await,
        };
        if let Err(e) = deleted {
            tracing::warn!(target: "pb.data", collection, record, "deleting the files failed: {e}");
        }
    }

    /// The name of the collection named or with the id `name_or_id` (what
    /// pb:files keys a record's files by), if there is one — for
    /// `/api/files/{collectionId}/…`, the URL the PocketBase SDK builds.
    pub async fn collection_name(&self, name_or_id: &str) -> Option<String> {
        self.catalog
            .get(&self.db, name_or_id)
            .await
            .ok()
            .map(|(_, c)| c.name.clone())
    }

    /// Deletes one file of a record (no longer named by it); a failure is
    /// logged.
    pub async fn delete_file(&self, collection: &str, record: &str, filename: &str) {
        if let Err(e) = self.files.delete(collection, record, filename).await {
            tracing::warn!(target: "pb.data", collection, record, filename, "deleting a file failed: {e}");
        }
    }
}

/// Tells the lease whether its connection may be lent again: not after a
/// host failure, whose state is unknown.
pub fn finished<T>(lease: &mut Lease<'_>, result: &DataResult<T>) {
    lease.finished(!matches!(result, Err(DataError::Internal)));
}

/// The failure of a transaction's `BEGIN` or `COMMIT`.
pub fn tx_failed(e: sqlx::Error) -> DataError {
    DataError::db("a transaction", e)
}

impl From<SqlValue> for Arg {
    fn from(v: SqlValue) -> Arg {
        match v {
            SqlValue::Null => Arg::Null,
            SqlValue::Bool(b) => Arg::Bool(b),
            SqlValue::Int(i) => Arg::Int(i),
            SqlValue::Float(f) => Arg::Float(f),
            SqlValue::Text(t) => Arg::Text(t),
        }
    }
}

impl From<&Cell> for Arg {
    fn from(c: &Cell) -> Arg {
        match c {
            Cell::Text(s) => Arg::Text(s.clone()),
            Cell::List(l) => Arg::Text(Cell::list_text(l)),
            Cell::Number(n) => Arg::Float(*n),
            Cell::Bool(b) => Arg::Bool(*b),
            Cell::Json(j) => Arg::OptText(j.clone()),
            Cell::Vector(v) => Arg::Vector(v.clone()),
        }
    }
}
