//! The record operations both faces call — the REST API
//! (`triggers/http/records.rs`) and `pb:data` (`mod.rs`): find the
//! collection, apply its rules for the caller's [`Access`], and run the
//! SQL of `read` / `write` / `vector` on a lent connection, writes inside
//! one transaction.
//!
//! Who calls is an [`Origin`]: inside a before-hook, every operation joins
//! the transaction of the write that ran the hook. A write to a collection
//! with hooks runs in a [`Transaction`] (which runs them); one without
//! takes the shorter way, a transaction on a lent connection.

use super::error::{DataError, DataResult};
use super::hooks::{Event, Origin};
use super::ids;
use super::read::{self, ListQuery};
use super::rules::{condition, Access, Op};
use super::schema::Collection;
use super::store::{finished, tx_failed, Store};
use super::tx::Transaction;
use super::values::Record;
use super::vector;
use super::write;
use crate::store::Dialect;
use serde_json::{Map, Value};
use std::sync::Arc;

/// One page of records.
pub struct Page {
    pub page: u32,
    pub per_page: u32,
    /// -1 when the total was skipped.
    pub total_items: i64,
    pub total_pages: i64,
    pub items: Vec<Record>,
}

impl Page {
    /// The page `q` asked for, from the rows and total `read::list` found.
    pub fn new(q: &ListQuery, (items, total): (Vec<Record>, Option<i64>)) -> Page {
        let per_page = q.per_page();
        let (total_items, total_pages) = match total {
            Some(t) => (t, (t + i64::from(per_page) - 1) / i64::from(per_page)),
            None => (-1, -1),
        };
        Page {
            page: q.page(),
            per_page,
            total_items,
            total_pages,
            items,
        }
    }
}

/// How many times a create that met a schema change runs again.
const MIGRATION_RETRIES: usize = 3;

impl Store {
    /// The collection named (or with the id) `name`.
    pub async fn collection(
        &self,
        name: &str,
    ) -> DataResult<(Arc<super::catalog::Snapshot>, Arc<Collection>)> {
        self.catalog.get(&self.db, name).await
    }

    /// A failed call may have met a table another host changed: read the
    /// catalogue again next time.
    fn after<T>(&self, result: DataResult<T>) -> DataResult<T> {
        if let Err(DataError::Internal) = &result {
            self.catalog.invalidate();
        }
        result
    }

    pub async fn get_one(
        &self,
        collection: &str,
        id: &str,
        access: Access,
        origin: &Origin,
    ) -> DataResult<(Arc<Collection>, Record)> {
        if let Some(tx) = &origin.scope {
            return tx.get_one(collection, id, access).await;
        }
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::View, access)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let mut lease = self.lease().await?;
        let found = read::get(&mut lease.conn(), &c, id, rule).await;
        finished(&mut lease, &found);
        match self.after(found)? {
            Some(r) => Ok((c, r)),
            None => Err(DataError::missing_record()),
        }
    }

    pub async fn list(
        &self,
        collection: &str,
        q: &ListQuery,
        access: Access,
        origin: &Origin,
    ) -> DataResult<(Arc<Collection>, Page)> {
        if let Some(tx) = &origin.scope {
            return tx.list(collection, q, access).await;
        }
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::List, access)?;
        let mut lease = self.lease().await?;
        let listed = read::list(&mut lease.conn(), &c, q, rule).await;
        finished(&mut lease, &listed);
        Ok((c, Page::new(q, self.after(listed)?)))
    }

    /// The first record matching `filter` (in `created` order), or not-found.
    pub async fn first(
        &self,
        collection: &str,
        filter: &str,
        access: Access,
        origin: &Origin,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let q = ListQuery::first(filter);
        let (c, page) = self.list(collection, &q, access, origin).await?;
        match page.items.into_iter().next() {
            Some(r) => Ok((c, r)),
            None => Err(DataError::missing_record()),
        }
    }

    /// A transaction of its own for a write that runs hooks, unless the
    /// writer is already inside one (a before-hook's).
    async fn hooked_tx(
        self: &Arc<Self>,
        c: &Collection,
        events: [Event; 2],
        origin: &Origin,
    ) -> DataResult<Option<(Transaction, bool)>> {
        if let Some(tx) = &origin.scope {
            return Ok(Some((tx.clone(), false)));
        }
        if self.hooks.any(&self.db, &c.name, events).await? {
            return Ok(Some((
                Transaction::begin_for_write(self.clone()).await?,
                true,
            )));
        }
        Ok(None)
    }

    pub async fn create(
        self: &Arc<Self>,
        collection: &str,
        input: &Map<String, Value>,
        access: Access,
        origin: &Origin,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (snap, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Create, access)?;
        let events = [Event::BeforeCreate, Event::AfterCreate];
        if let Some((tx, own)) = self.hooked_tx(&c, events, origin).await? {
            let created = tx.create(collection, input, access, origin.depth).await;
            return if own {
                tx.finish(created).await
            } else {
                created
            };
        }
        let mut created = self.create_alone(&snap, &c, input, rule).await;
        let (mut snap, mut c) = (snap, c);
        // A schema change may have come between our read of the catalogue
        // and the write (the insert named a column it had just dropped):
        // again, with the catalogue as it is now, while it keeps changing
        // (a few times at most). Each failed write was rolled back whole.
        for _ in 0..MIGRATION_RETRIES {
            if !matches!(created, Err(DataError::Internal)) {
                break;
            }
            let (fresh, now) = self.collection(collection).await?;
            if Arc::ptr_eq(&fresh, &snap) {
                break;
            }
            (snap, c) = (fresh, now);
            let rule = condition(&c, Op::Create, access)?;
            created = self.create_alone(&snap, &c, input, rule).await;
        }
        Ok((c, created?))
    }

    /// A create in a transaction of its own.
    async fn create_alone(
        &self,
        snap: &super::catalog::Snapshot,
        c: &Collection,
        input: &Map<String, Value>,
        rule: Option<&str>,
    ) -> DataResult<Record> {
        let mut lease = self.lease().await?;
        let mut tx = lease.conn().begin().await.map_err(tx_failed)?;
        let created = write::create_with_rule(&mut tx.conn(), snap, c, input, rule).await;
        let created = tx.finish(created, tx_failed).await;
        finished(&mut lease, &created);
        self.after(created)
    }

    pub async fn update(
        self: &Arc<Self>,
        collection: &str,
        id: &str,
        patch: &Map<String, Value>,
        access: Access,
        origin: &Origin,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (snap, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Update, access)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let events = [Event::BeforeUpdate, Event::AfterUpdate];
        if let Some((tx, own)) = self.hooked_tx(&c, events, origin).await? {
            let updated = tx.update(collection, id, patch, access, origin.depth).await;
            return if own {
                tx.finish(updated).await
            } else {
                updated
            };
        }
        let mut lease = self.lease().await?;
        let mut tx = lease.conn().begin().await.map_err(tx_failed)?;
        let updated = write::update_with_before(&mut tx.conn(), &snap, &c, id, patch, rule).await;
        let updated = tx.finish(updated, tx_failed).await;
        finished(&mut lease, &updated);
        match self.after(updated)? {
            Some(u) => {
                // Committed: files no longer named by a file field go.
                for name in u.dropped_files(&c) {
                    self.delete_file(&c.name, id, &name).await;
                }
                Ok((c, u.after))
            }
            None => Err(DataError::missing_record()),
        }
    }

    pub async fn delete(
        self: &Arc<Self>,
        collection: &str,
        id: &str,
        access: Access,
        origin: &Origin,
    ) -> DataResult<()> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Delete, access)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let events = [Event::BeforeDelete, Event::AfterDelete];
        if let Some((tx, own)) = self.hooked_tx(&c, events, origin).await? {
            let deleted = tx.delete(collection, id, access, origin.depth).await;
            return if own {
                tx.finish(deleted).await
            } else {
                deleted
            };
        }
        let mut lease = self.lease().await?;
        let mut tx = lease.conn().begin().await.map_err(tx_failed)?;
        let deleted = write::delete(&mut tx.conn(), &c, id, rule).await;
        let deleted = tx.finish(deleted, tx_failed).await;
        finished(&mut lease, &deleted);
        match self.after(deleted)? {
            Some(_record) => {
                // Committed: now its files (pb:files) go too.
                self.delete_files(&c.name, Some(id)).await;
                Ok(())
            }
            None => Err(DataError::missing_record()),
        }
    }

    /// Records nearest to a query vector, best first, with their scores;
    /// the list rule applies as for `list`.
    pub async fn vector_search(
        &self,
        collection: &str,
        q: &vector::Query<'_>,
        access: Access,
        origin: &Origin,
    ) -> DataResult<(Arc<Collection>, Vec<(Record, f64)>)> {
        if let Some(tx) = &origin.scope {
            return tx.vector_search(collection, q, access).await;
        }
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::List, access)?;
        vector::check(&c, q)?;
        let mut lease = self.lease().await?;
        let found = match self.dialect() {
            // The HNSW settings are transaction-local.
            Dialect::Postgres => {
                let mut tx = lease.conn().begin().await.map_err(tx_failed)?;
                let found = vector::search(&mut tx.conn(), &c, q, rule).await;
                tx.finish(found, tx_failed).await
            }
            Dialect::Sqlite => vector::search(&mut lease.conn(), &c, q, rule).await,
        };
        finished(&mut lease, &found);
        Ok((c, self.after(found)?))
    }
}
