//! The record operations both faces call — the REST API
//! (`triggers/http/records.rs`) and `pb:data` (`mod.rs`): find the
//! collection, apply its rules for the caller's [`Access`], and run the
//! SQL of `read` / `write` / `vector` on a lent connection, writes inside
//! one transaction.

use super::catalog::Snapshot;
use super::error::{DataError, DataResult};
use super::ids;
use super::read::{self, ListQuery, Where};
use super::rules::{condition, Access, Op};
use super::schema::{quote, Collection};
use super::store::{in_tx, with_conn, Store};
use super::values::Record;
use super::vector;
use super::write;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The file names a `file` field's cell holds.
fn file_names(cell: &super::values::Cell) -> Vec<String> {
    match cell {
        super::values::Cell::Text(s) if !s.is_empty() => vec![s.clone()],
        super::values::Cell::List(l) => l.clone(),
        _ => Vec::new(),
    }
}

/// One page of records.
pub struct Page {
    pub page: u32,
    pub per_page: u32,
    /// -1 when the total was skipped.
    pub total_items: i64,
    pub total_pages: i64,
    pub items: Vec<Record>,
}

impl Store {
    /// The collection named (or with the id) `name`.
    pub async fn collection(&self, name: &str) -> DataResult<(Arc<Snapshot>, Arc<Collection>)> {
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
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::View, access)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let found = with_conn!(self, |conn| read::get(&mut conn, &c, id, rule));
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
    ) -> DataResult<(Arc<Collection>, Page)> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::List, access)?;
        let listed = with_conn!(self, |conn| read::list(&mut conn, &c, q, rule));
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

    /// The first record matching `filter` (in `created` order), or not-found.
    pub async fn first(
        &self,
        collection: &str,
        filter: &str,
        access: Access,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let q = ListQuery {
            page: Some(1),
            per_page: Some(1),
            filter: Some(filter.to_string()),
            skip_total: true,
            ..ListQuery::default()
        };
        let (c, page) = self.list(collection, &q, access).await?;
        match page.items.into_iter().next() {
            Some(r) => Ok((c, r)),
            None => Err(DataError::missing_record()),
        }
    }

    pub async fn create(
        &self,
        collection: &str,
        input: &Map<String, Value>,
        access: Access,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (snap, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Create, access)?;
        let created = in_tx!(self, |conn| async {
            let record = write::create(&mut conn, &snap, &c, input).await?;
            if let Some(rule) = rule {
                // The new record must match the create rule (else rolled back).
                let mut w = Where::new(conn.dialect());
                w.arg(
                    format!("\"id\" = {}", w.next()),
                    super::store::Arg::Text(record.id.clone()),
                );
                w.filter(&c, rule, "rule")?;
                let sql = format!("SELECT COUNT(*) FROM {}{}", quote(&c.table()), w.sql());
                let n = conn
                    .count(&sql, w.args)
                    .await
                    .map_err(|e| DataError::db("check the create rule", e))?;
                if n == 0 {
                    return Err(DataError::invalid("Failed to create record."));
                }
            }
            Ok(record)
        });
        Ok((c, self.after(created)?))
    }

    pub async fn update(
        &self,
        collection: &str,
        id: &str,
        patch: &Map<String, Value>,
        access: Access,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (snap, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Update, access)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let updated = in_tx!(self, |conn| write::update_with_before(
            &mut conn, &snap, &c, id, patch, rule
        ));
        match self.after(updated)? {
            Some(u) => {
                // Committed: files no longer named by a file field go.
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
                        self.delete_file(&c.name, id, &name).await;
                    }
                }
                Ok((c, u.after))
            }
            None => Err(DataError::missing_record()),
        }
    }

    pub async fn delete(&self, collection: &str, id: &str, access: Access) -> DataResult<()> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Delete, access)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let deleted = in_tx!(self, |conn| write::delete(&mut conn, &c, id, rule));
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
    ) -> DataResult<(Arc<Collection>, Vec<(Record, f64)>)> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::List, access)?;
        vector::check(&c, q)?;
        let found = match self.dialect() {
            // The HNSW settings are transaction-local.
            super::filter::Dialect::Postgres => {
                in_tx!(self, |conn| vector::search(&mut conn, &c, q, rule))
            }
            super::filter::Dialect::Sqlite => {
                with_conn!(self, |conn| vector::search(&mut conn, &c, q, rule))
            }
        };
        Ok((c, self.after(found)?))
    }
}
