//! `pb:data` — records and vector search (`wit/deps/pb-data/data.wit`), on
//! the host's database, and the collections they live in. This file is the
//! WIT face; the same operations serve the records REST API
//! (`triggers/http/records.rs`).
//!
//! | file | what |
//! |---|---|
//! | [`schema`] | collections and field types: definitions, validation, JSON |
//! | [`catalog`] | table `pbs_collections`, its cache, schema changes in one transaction |
//! | [`migrate`] | the DDL of a collection's table on SQLite and PostgreSQL, lossy-change checks |
//! | [`ops`] | the record operations: collection lookup, [`rules`], transactions |
//! | [`tx`] | a shared database transaction: `pb.tx`, and the writes that run record hooks |
//! | [`hooks`] | record hooks as writes see them: bindings, depth, the runner (`triggers/hooks`) |
//! | [`read`], [`write`] | the SQL of reads and of writes (every write takes a `Conn` inside a transaction) |
//! | [`vector`] | nearest-neighbour search: pgvector HNSW, exact scan on SQLite |
//! | [`values`] | JSON ↔ column values, PocketBase's conversions and field checks |
//! | [`filter`] | PocketBase's filter language → parameterized SQL |
//! | [`store`] | one host's store (database, connections, catalogue, hooks), held by `Services` |
//! | [`status`] | the HTTP status of each error case (shared with the JS engine) |
//!
//! Functions act with full rights (rules do not apply). `begin` opens a
//! [`tx::Transaction`], which pb:kv's `set-in`/`delete-in` and pb:jobs'
//! `enqueue-in` share.
//! Not in single-component mode (`pbs serve COMPONENT`): there is no
//! database, and every call answers `unavailable`.

pub mod catalog;
pub mod error;
pub mod filter;
pub mod hooks;
pub mod ids;
pub mod migrate;
pub mod ops;
pub mod read;
pub mod rules;
pub mod schema;
pub mod status;
pub mod store;
pub mod tx;
pub mod values;
pub mod vector;
pub mod write;

use crate::caps::bindings::data::records::{self, Host, HostTransaction};
use crate::caps::bindings::data::types::{
    self, Error, ListOptions, ListResult, ScoredRecord, VectorQuery,
};
use crate::caps::error::{self as failure, Answer};
use crate::caps::services::Services;
use crate::engine::Invocation;
use crate::telemetry::{Call, CallKind, Scope};
use error::DataError;
use hooks::Origin;
use rules::Access;
use serde_json::{Map, Value};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

pub use store::Store;
pub use tx::Transaction;

/// Per-call view of an invocation for `pb:data`.
pub struct DataView<'a> {
    pub table: &'a mut ResourceTable,
    pub function: &'a Arc<str>,
    /// The invocation's telemetry: a span and the rows of each call.
    pub obs: &'a Scope,
    pub services: Option<&'a Arc<Services>>,
    /// Inside a record hook: its depth and the write's transaction.
    pub origin: &'a Origin,
}

struct HasDataView;
impl HasData for HasDataView {
    type Data<'a> = DataView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    fn view(s: &mut Invocation) -> DataView<'_> {
        DataView {
            table: &mut s.table,
            function: &s.trace.function,
            obs: &s.trace.scope,
            services: s.services.as_ref(),
            origin: &s.hook,
        }
    }
    types::add_to_linker::<_, HasDataView>(linker, view)?;
    records::add_to_linker::<_, HasDataView>(linker, view)
}

/// The WIT error of a failed `op` (its details, for an internal error,
/// were logged where it happened).
fn wit_error(e: DataError, op: &str) -> Error {
    let message = match &e {
        DataError::Internal => failure::internal_message("pb:data", op),
        other => other.message(),
    };
    match e.case() {
        "not-found" => Error::NotFound(message),
        "invalid" => Error::Invalid(message),
        "conflict" => Error::Conflict(message),
        "denied" => Error::Denied(message),
        "quota" => Error::Quota(message),
        _ => Error::Internal(message),
    }
}

/// A record or patch from the guest: a JSON object of bounded size.
fn parse_object(text: &str, what: &str) -> Result<Map<String, Value>, Error> {
    if text.len() > write::MAX_RECORD_BYTES {
        return Err(Error::Quota(format!(
            "the {what} is {} bytes; at most {} are allowed",
            text.len(),
            write::MAX_RECORD_BYTES
        )));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(Error::Invalid(format!("the {what} must be a JSON object"))),
        Err(e) => Err(Error::Invalid(format!("the {what} is not valid JSON: {e}"))),
    }
}

/// Rows a call's answer holds, for the ledger and its span.
trait Rows {
    fn rows(&self) -> u64;
}

impl Rows for String {
    fn rows(&self) -> u64 {
        1
    }
}

impl Rows for () {
    fn rows(&self) -> u64 {
        1
    }
}

impl Rows for ListResult {
    fn rows(&self) -> u64 {
        self.items.len() as u64
    }
}

impl Rows for Vec<ScoredRecord> {
    fn rows(&self) -> u64 {
        self.len() as u64
    }
}

/// Whether a call reads or writes its rows (or neither: commit, rollback).
#[derive(Clone, Copy)]
enum Rw {
    Read,
    Write,
    Neither,
}

/// Ends a `pb.data.*` host call: counts the rows of `result` and sets the
/// span's outcome.
fn finish<T: Rows>(mut call: Call<'_>, rw: Rw, result: &Result<T, DataError>) {
    match (result, rw) {
        (Ok(v), Rw::Read) => call.rows(v.rows(), 0),
        (Ok(v), Rw::Write) => call.rows(0, v.rows()),
        _ => {}
    }
    call.end(result.as_ref().err().map(|e| e.case()));
}

/// Runs one operation on the host's store as a `pb.data.<op>` host call
/// (collection and rows on its span); the store's error becomes the WIT
/// error.
macro_rules! op {
    ($self:ident, $name:literal, $rw:expr, $collection:expr, |$store:ident| $body:expr) => {{
        let Some(services) = $self.services else {
            return Ok(Err(failure::unavailable("pb:data")));
        };
        let $store = &services.data;
        let mut call = $self.obs.call(concat!("pb.data.", $name), CallKind::Data);
        if let Err(e) = failure::budget(&call)? {
            return Ok(Err(failure::refused(call, e)));
        }
        call.attr_str("db.collection.name", $collection);
        let result = call.run(async { $body.await }).await;
        finish(call, $rw, &result);
        Ok(result.map_err(|e| wit_error(e, $name)))
    }};
}

impl types::Host for DataView<'_> {}

impl Host for DataView<'_> {
    async fn get_one(&mut self, collection: String, id: String) -> Answer<String, Error> {
        op!(self, "get-one", Rw::Read, &collection, |s| async {
            let (c, r) = s
                .get_one(&collection, &id, Access::Full, self.origin)
                .await?;
            Ok::<_, DataError>(Value::Object(r.to_json(&c)).to_string())
        })
    }

    async fn get_list(&mut self, collection: String, o: ListOptions) -> Answer<ListResult, Error> {
        let q = list_query(&o);
        let fields = o.fields;
        op!(self, "get-list", Rw::Read, &collection, |s| async {
            let (c, page) = s.list(&collection, &q, Access::Full, self.origin).await?;
            Ok::<_, DataError>(list_result(&c, page, fields.as_deref()))
        })
    }

    async fn get_first_list_item(
        &mut self,
        collection: String,
        filter: String,
    ) -> Answer<String, Error> {
        op!(
            self,
            "get-first-list-item",
            Rw::Read,
            &collection,
            |s| async {
                let (c, r) = s
                    .first(&collection, &filter, Access::Full, self.origin)
                    .await?;
                Ok::<_, DataError>(Value::Object(r.to_json(&c)).to_string())
            }
        )
    }

    async fn create(&mut self, collection: String, record: String) -> Answer<String, Error> {
        let input = match parse_object(&record, "record") {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        op!(self, "create", Rw::Write, &collection, |s| async {
            let (c, r) = s
                .create(&collection, &input, Access::Full, self.origin)
                .await?;
            Ok::<_, DataError>(Value::Object(r.to_json(&c)).to_string())
        })
    }

    async fn update(
        &mut self,
        collection: String,
        id: String,
        patch: String,
    ) -> Answer<String, Error> {
        let patch = match parse_object(&patch, "patch") {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        op!(self, "update", Rw::Write, &collection, |s| async {
            let (c, r) = s
                .update(&collection, &id, &patch, Access::Full, self.origin)
                .await?;
            Ok::<_, DataError>(Value::Object(r.to_json(&c)).to_string())
        })
    }

    async fn delete(&mut self, collection: String, id: String) -> Answer<(), Error> {
        op!(self, "delete", Rw::Write, &collection, |s| s.delete(
            &collection,
            &id,
            Access::Full,
            self.origin
        ))
    }

    async fn vector_search(
        &mut self,
        collection: String,
        q: VectorQuery,
    ) -> Answer<Vec<ScoredRecord>, Error> {
        op!(self, "vector-search", Rw::Read, &collection, |s| async {
            let query = vector::Query {
                field: &q.field,
                vector: &q.vector,
                filter: q.filter.as_deref().filter(|f| !f.trim().is_empty()),
                top: q.top,
            };
            let (c, found) = s
                .vector_search(&collection, &query, Access::Full, self.origin)
                .await?;
            Ok::<_, DataError>(
                found
                    .into_iter()
                    .map(|(r, score)| ScoredRecord {
                        record: Value::Object(r.to_json(&c)).to_string(),
                        score: score as f32,
                    })
                    .collect(),
            )
        })
    }

    async fn begin(&mut self) -> Answer<Resource<Transaction>, Error> {
        let Some(services) = self.services else {
            return Ok(Err(failure::unavailable("pb:data")));
        };
        if self.origin.scope.is_some() {
            return Ok(Err(Error::Invalid(
                "pb:data `begin` inside a before-hook: the hook already runs inside the \
                 write's transaction, and everything it writes commits or rolls back with it"
                    .into(),
            )));
        }
        let call = self.obs.call("pb.data.begin", CallKind::Data);
        if let Err(e) = failure::budget(&call)? {
            return Ok(Err(failure::refused(call, e)));
        }
        let begun = call.run(Transaction::begin(services.data.clone())).await;
        call.end(begun.as_ref().err().map(|e| e.case()));
        match begun {
            Ok(tx) => Ok(Ok(self.table.push(tx)?)),
            Err(e) => Ok(Err(wit_error(e, "begin"))),
        }
    }
}

/// Runs one operation on the transaction `$t` as a `pb.data.tx.<op>` host
/// call; the store's error becomes the WIT error.
macro_rules! tx_op {
    ($self:ident, $t:ident, $name:literal, $rw:expr, $collection:expr, |$tx:ident| $body:expr) => {{
        let $tx: &Transaction = $self.table.get(&$t)?;
        let mut call = $self
            .obs
            .call(concat!("pb.data.tx.", $name), CallKind::Data);
        if let Err(e) = failure::budget(&call)? {
            return Ok(Err(failure::refused(call, e)));
        }
        call.attr_str("db.collection.name", $collection);
        let result = call.run(async { $body.await }).await;
        finish(call, $rw, &result);
        Ok(result.map_err(|e| wit_error(e, concat!("tx.", $name))))
    }};
}

/// A page as `get-list` answers it, each record with only `fields` (all
/// when none).
fn list_result(c: &schema::Collection, page: ops::Page, fields: Option<&str>) -> ListResult {
    ListResult {
        page: page.page,
        per_page: page.per_page,
        total_items: page.total_items,
        total_pages: page.total_pages,
        items: page
            .items
            .iter()
            .map(|r| Value::Object(read::project(r.to_json(c), fields)).to_string())
            .collect(),
    }
}

fn list_query(o: &ListOptions) -> read::ListQuery {
    read::ListQuery {
        page: o.page,
        per_page: o.per_page,
        sort: o.sort.clone(),
        filter: o.filter.clone().filter(|f| !f.trim().is_empty()),
        skip_total: o.skip_total,
    }
}

impl HostTransaction for DataView<'_> {
    async fn get_one(
        &mut self,
        t: Resource<Transaction>,
        c: String,
        id: String,
    ) -> Answer<String, Error> {
        tx_op!(self, t, "get-one", Rw::Read, &c, |tx| async {
            let (c, r) = tx.get_one(&c, &id, Access::Full).await?;
            Ok::<_, DataError>(Value::Object(r.to_json(&c)).to_string())
        })
    }
    async fn get_list(
        &mut self,
        t: Resource<Transaction>,
        c: String,
        o: ListOptions,
    ) -> Answer<ListResult, Error> {
        let q = list_query(&o);
        let fields = o.fields;
        tx_op!(self, t, "get-list", Rw::Read, &c, |tx| async {
            let (c, page) = tx.list(&c, &q, Access::Full).await?;
            Ok::<_, DataError>(list_result(&c, page, fields.as_deref()))
        })
    }
    async fn get_first_list_item(
        &mut self,
        t: Resource<Transaction>,
        c: String,
        f: String,
    ) -> Answer<String, Error> {
        tx_op!(self, t, "get-first-list-item", Rw::Read, &c, |tx| async {
            let (c, r) = tx.first(&c, &f, Access::Full).await?;
            Ok::<_, DataError>(Value::Object(r.to_json(&c)).to_string())
        })
    }
    async fn create(
        &mut self,
        t: Resource<Transaction>,
        c: String,
        r: String,
    ) -> Answer<String, Error> {
        let input = match parse_object(&r, "record") {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        tx_op!(self, t, "create", Rw::Write, &c, |tx| async {
            let (c, r) = tx
                .create(&c, &input, Access::Full, self.origin.depth)
                .await?;
            Ok::<_, DataError>(Value::Object(r.to_json(&c)).to_string())
        })
    }
    async fn update(
        &mut self,
        t: Resource<Transaction>,
        c: String,
        id: String,
        p: String,
    ) -> Answer<String, Error> {
        let patch = match parse_object(&p, "patch") {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        tx_op!(self, t, "update", Rw::Write, &c, |tx| async {
            let (c, r) = tx
                .update(&c, &id, &patch, Access::Full, self.origin.depth)
                .await?;
            Ok::<_, DataError>(Value::Object(r.to_json(&c)).to_string())
        })
    }
    async fn delete(
        &mut self,
        t: Resource<Transaction>,
        c: String,
        id: String,
    ) -> Answer<(), Error> {
        tx_op!(self, t, "delete", Rw::Write, &c, |tx| tx.delete(
            &c,
            &id,
            Access::Full,
            self.origin.depth
        ))
    }
    async fn vector_search(
        &mut self,
        t: Resource<Transaction>,
        c: String,
        q: VectorQuery,
    ) -> Answer<Vec<ScoredRecord>, Error> {
        tx_op!(self, t, "vector-search", Rw::Read, &c, |tx| async {
            let query = vector::Query {
                field: &q.field,
                vector: &q.vector,
                filter: q.filter.as_deref().filter(|f| !f.trim().is_empty()),
                top: q.top,
            };
            let (c, found) = tx.vector_search(&c, &query, Access::Full).await?;
            Ok::<_, DataError>(
                found
                    .into_iter()
                    .map(|(r, score)| ScoredRecord {
                        record: Value::Object(r.to_json(&c)).to_string(),
                        score: score as f32,
                    })
                    .collect(),
            )
        })
    }
    async fn commit(&mut self, t: Resource<Transaction>) -> Answer<(), Error> {
        tx_op!(self, t, "commit", Rw::Neither, "", |tx| tx.commit())
    }
    async fn rollback(&mut self, t: Resource<Transaction>) -> Answer<(), Error> {
        tx_op!(self, t, "rollback", Rw::Neither, "", |tx| tx.rollback())
    }
    async fn drop(&mut self, t: Resource<Transaction>) -> wasmtime::Result<()> {
        self.table.delete(t)?;
        Ok(())
    }
}
