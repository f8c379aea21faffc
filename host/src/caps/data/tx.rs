//! The host side of a `pb:data` `transaction` resource: one database
//! transaction, owned (`sqlx::Transaction<'static, _>` on a connection of
//! the host's pool), begun with `BEGIN IMMEDIATE` on SQLite so two
//! transactions that read then write serialise on the write lock instead of
//! failing to upgrade it. The record operations run the same `read` /
//! `write` / `vector` SQL as [`super::ops`], with full rights (functions
//! are not subject to rules), on the transaction's connection; `pb:kv`
//! `set-in` / `delete-in` and `pb:jobs` `enqueue-in` borrow the same
//! connection through [`Transaction::conn`].
//!
//! After `commit` or `rollback` every call fails with `invalid`. A
//! transaction dropped without either — the guest forgot, trapped, timed
//! out or its instance was killed (the `Store` and its `ResourceTable` go)
//! — rolls back: sqlx's `Transaction` does so on drop (the `ROLLBACK` is
//! queued on the connection, which the pool runs before lending it again).

use super::catalog::Snapshot;
use super::error::{DataError, DataResult};
use super::ids;
use super::ops::Page;
use super::read::{self, ListQuery};
use super::rules::{condition, Access, Op};
use super::schema::Collection;
use super::store::{Conn, Store};
use super::values::Record;
use super::{vector, write};
use crate::store::Db;
use serde_json::{Map, Value};
use sqlx::{Postgres, Sqlite};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Run after a commit (e.g. wake this host's job workers).
type AfterCommit = Box<dyn FnOnce() + Send + Sync>;

enum Inner {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// pb:files' files to delete once the transaction has committed: a deleted
/// record's (collection, record), or one file no longer named by its record.
enum Files {
    Record(String, String),
    File(String, String, String),
}

/// The host side of a `transaction` resource.
pub struct Transaction {
    store: Arc<Store>,
    /// None once committed or rolled back.
    inner: Option<Inner>,
    after_commit: Vec<AfterCommit>,
    files: Vec<Files>,
    /// One of the host's [`MAX_OPEN`] slots, given back when done.
    slot: Option<OwnedSemaphorePermit>,
}

/// The file names a `file` field's cell holds (as in `ops.rs`).
fn file_names(cell: &super::values::Cell) -> Vec<String> {
    match cell {
        super::values::Cell::Text(s) if !s.is_empty() => vec![s.clone()],
        super::values::Cell::List(l) => l.clone(),
        _ => Vec::new(),
    }
}

const ACCESS: Access = Access::Full;

/// At most this many transactions are open on one host at a time (each
/// holds a connection of the pool, which has [`crate::store::MAX_CONNECTIONS`]):
/// the rest of the host keeps connections even when guests leave
/// transactions open.
pub const MAX_OPEN: usize = crate::store::MAX_CONNECTIONS as usize / 2;

/// How long `begin` waits for one of the [`MAX_OPEN`] slots.
const SLOT_WAIT: Duration = Duration::from_secs(10);

/// The transaction slots of the host whose store is `store`.
fn slots(store: &Arc<Store>) -> Arc<Semaphore> {
    static TABLE: Mutex<Vec<(Weak<Store>, Arc<Semaphore>)>> = Mutex::new(Vec::new());
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    table.retain(|(owner, _)| owner.strong_count() > 0);
    if let Some((_, s)) = table
        .iter()
        .find(|(owner, _)| std::ptr::eq(owner.as_ptr(), Arc::as_ptr(store)))
    {
        return s.clone();
    }
    let s = Arc::new(Semaphore::new(MAX_OPEN));
    table.push((Arc::downgrade(store), s.clone()));
    s
}

fn done() -> DataError {
    DataError::invalid("the transaction has already been committed or rolled back")
}

impl Transaction {
    /// Begins a transaction on a connection of the store's pool.
    pub async fn begin(store: Arc<Store>) -> DataResult<Transaction> {
        let slot = match tokio::time::timeout(SLOT_WAIT, slots(&store).acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(DataError::Quota(format!(
                    "more than {MAX_OPEN} pb:data transactions are open on this host; \
                     commit or roll back the ones you began"
                )))
            }
        };
        let db_err = |e| DataError::db("begin a transaction", e);
        let inner = match &store.db {
            Db::Sqlite(pool) => {
                Inner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?)
            }
            Db::Postgres(pool) => Inner::Postgres(pool.begin().await.map_err(db_err)?),
        };
        Ok(Transaction {
            store,
            inner: Some(inner),
            after_commit: Vec::new(),
            files: Vec::new(),
            slot: Some(slot),
        })
    }

    /// Whether the transaction is still open.
    pub fn is_open(&self) -> bool {
        self.inner.is_some()
    }

    /// The transaction's connection; `invalid` once it is done.
    pub fn conn(&mut self) -> DataResult<Conn<'_>> {
        match self.inner.as_mut() {
            Some(Inner::Sqlite(tx)) => Ok(Conn::Sqlite(&mut *tx)),
            Some(Inner::Postgres(tx)) => Ok(Conn::Postgres(&mut *tx)),
            None => Err(done()),
        }
    }

    /// Runs `f` once the transaction has committed (never if it rolls back).
    pub fn after_commit(&mut self, f: impl FnOnce() + Send + Sync + 'static) {
        self.after_commit.push(Box::new(f));
    }

    pub async fn commit(&mut self) -> DataResult<()> {
        let db_err = |e| DataError::db("commit a transaction", e);
        let inner = self.inner.take().ok_or_else(done)?;
        let _slot = self.slot.take();
        match inner {
            Inner::Sqlite(tx) => tx.commit().await.map_err(db_err)?,
            Inner::Postgres(tx) => tx.commit().await.map_err(db_err)?,
        }
        for f in std::mem::take(&mut self.after_commit) {
            f();
        }
        // Committed: the files of deleted records, and files no longer
        // named, go too (as after `ops.rs`'s own transactions).
        for f in std::mem::take(&mut self.files) {
            match f {
                Files::Record(c, id) => self.store.delete_files(&c, Some(&id)).await,
                Files::File(c, id, name) => self.store.delete_file(&c, &id, &name).await,
            }
        }
        Ok(())
    }

    pub async fn rollback(&mut self) -> DataResult<()> {
        self.after_commit.clear();
        self.files.clear();
        let db_err = |e| DataError::db("roll back a transaction", e);
        let inner = self.inner.take().ok_or_else(done)?;
        let _slot = self.slot.take();
        match inner {
            Inner::Sqlite(tx) => tx.rollback().await.map_err(db_err),
            Inner::Postgres(tx) => tx.rollback().await.map_err(db_err),
        }
    }

    async fn collection(&self, name: &str) -> DataResult<(Arc<Snapshot>, Arc<Collection>)> {
        if self.inner.is_none() {
            return Err(done());
        }
        self.store.collection(name).await
    }

    /// A failed call may have met a table another host changed.
    fn after<T>(&self, result: DataResult<T>) -> DataResult<T> {
        if let Err(DataError::Internal) = &result {
            self.store.catalog.invalidate();
        }
        result
    }

    pub async fn get_one(
        &mut self,
        collection: &str,
        id: &str,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::View, ACCESS)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let found = read::get(&mut self.conn()?, &c, id, rule).await;
        match self.after(found)? {
            Some(r) => Ok((c, r)),
            None => Err(DataError::missing_record()),
        }
    }

    pub async fn list(
        &mut self,
        collection: &str,
        q: &ListQuery,
    ) -> DataResult<(Arc<Collection>, Page)> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::List, ACCESS)?;
        let listed = read::list(&mut self.conn()?, &c, q, rule).await;
        let (items, total) = self.after(listed)?;
        let per_page = q.per_page();
        let (total_items, total_pages) = match total {
            Some(t) => (t, (t + i64::from(per_page) - 1) / i64::from(per_page)),
            None => (-1, -1),
        };
        Ok((
            c,
            Page {
                page: q.page(),
                per_page,
                total_items,
                total_pages,
                items,
            },
        ))
    }

    pub async fn first(
        &mut self,
        collection: &str,
        filter: &str,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let q = ListQuery {
            page: Some(1),
            per_page: Some(1),
            filter: Some(filter.to_string()),
            skip_total: true,
            ..ListQuery::default()
        };
        let (c, page) = self.list(collection, &q).await?;
        match page.items.into_iter().next() {
            Some(r) => Ok((c, r)),
            None => Err(DataError::missing_record()),
        }
    }

    pub async fn create(
        &mut self,
        collection: &str,
        input: &Map<String, Value>,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (snap, c) = self.collection(collection).await?;
        // Full access: no create rule to check after the insert (see ops.rs).
        condition(&c, Op::Create, ACCESS)?;
        let created = write::create(&mut self.conn()?, &snap, &c, input).await;
        Ok((c, self.after(created)?))
    }

    pub async fn update(
        &mut self,
        collection: &str,
        id: &str,
        patch: &Map<String, Value>,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (snap, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Update, ACCESS)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let updated =
            write::update_with_before(&mut self.conn()?, &snap, &c, id, patch, rule).await;
        let Some(u) = self.after(updated)? else {
            return Err(DataError::missing_record());
        };
        for (f, (old, new)) in c
            .fields
            .iter()
            .zip(u.before.cells.iter().zip(&u.after.cells))
        {
            if !matches!(f.ty, super::schema::FieldType::File { .. }) {
                continue;
            }
            let kept = file_names(new);
            for name in file_names(old).into_iter().filter(|n| !kept.contains(n)) {
                self.files
                    .push(Files::File(c.name.clone(), id.to_string(), name));
            }
        }
        Ok((c, u.after))
    }

    pub async fn delete(&mut self, collection: &str, id: &str) -> DataResult<()> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Delete, ACCESS)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let deleted = write::delete(&mut self.conn()?, &c, id, rule).await;
        match self.after(deleted)? {
            Some(_) => {
                self.files
                    .push(Files::Record(c.name.clone(), id.to_string()));
                Ok(())
            }
            None => Err(DataError::missing_record()),
        }
    }

    pub async fn vector_search(
        &mut self,
        collection: &str,
        q: &vector::Query<'_>,
    ) -> DataResult<(Arc<Collection>, Vec<(Record, f64)>)> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::List, ACCESS)?;
        vector::check(&c, q)?;
        let found = vector::search(&mut self.conn()?, &c, q, rule).await;
        Ok((c, self.after(found)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn store(dir: &tempfile::TempDir) -> Arc<Store> {
        let db = Db::open(&dir.path().join("data.db").to_string_lossy())
            .await
            .unwrap();
        if let Db::Sqlite(pool) = &db {
            sqlx::query("CREATE TABLE t (x INTEGER)")
                .execute(pool)
                .await
                .unwrap();
        }
        Arc::new(Store {
            db,
            conns: Default::default(),
            catalog: Default::default(),
            services: std::sync::Weak::new(),
        })
    }

    async fn insert(tx: &mut Transaction) {
        tx.conn()
            .unwrap()
            .execute("INSERT INTO t (x) VALUES (1)", Vec::new())
            .await
            .unwrap();
    }

    async fn rows(store: &Store) -> i64 {
        let Db::Sqlite(pool) = &store.db else {
            unreachable!()
        };
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn dropped_without_commit_rolls_back_and_frees_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let mut tx = Transaction::begin(store.clone()).await.unwrap();
        insert(&mut tx).await;
        let r = ran.clone();
        tx.after_commit(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        drop(tx);
        assert_eq!(rows(&store).await, 0);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        // The write lock is free: a new transaction writes and commits.
        let mut tx = Transaction::begin(store.clone()).await.unwrap();
        insert(&mut tx).await;
        let r = ran.clone();
        tx.after_commit(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        tx.commit().await.unwrap();
        assert_eq!(rows(&store).await, 1);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn after_commit_or_rollback_every_call_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        for commit in [true, false] {
            let mut tx = Transaction::begin(store.clone()).await.unwrap();
            insert(&mut tx).await;
            if commit {
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
            }
            assert!(!tx.is_open());
            assert!(matches!(tx.conn(), Err(DataError::Invalid { .. })));
            assert!(matches!(tx.commit().await, Err(DataError::Invalid { .. })));
            assert!(matches!(
                tx.rollback().await,
                Err(DataError::Invalid { .. })
            ));
            assert!(matches!(
                tx.get_one("anything", "x").await,
                Err(DataError::Invalid { .. })
            ));
        }
        assert_eq!(rows(&store).await, 1);
    }

    #[tokio::test]
    async fn slots_are_given_back_on_commit_rollback_and_drop() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        for i in 0..3 * MAX_OPEN {
            let mut tx = Transaction::begin(store.clone()).await.unwrap();
            match i % 3 {
                0 => tx.commit().await.unwrap(),
                1 => tx.rollback().await.unwrap(),
                _ => drop(tx),
            }
        }
        assert_eq!(slots(&store).available_permits(), MAX_OPEN);
    }
}
