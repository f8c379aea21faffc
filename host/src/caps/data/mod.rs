//! `pb:data` — records, vector search and transactions.
//!
//! Not implemented on this host yet: every call answers the typed
//! `unavailable` error (never a trap), so components built against the whole
//! contract deploy and run today.

use crate::caps::bindings::data::records::{self, Host, HostTransaction};
use crate::caps::bindings::data::types::{
    self, Error, ListOptions, ListResult, ScoredRecord, VectorQuery,
};
use crate::engine::Invocation;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// The host side of a `transaction` resource.
pub struct Transaction;

/// Per-call view of an invocation for `pb:data`.
pub struct DataView<'a> {
    pub table: &'a mut ResourceTable,
}

struct HasDataView;
impl HasData for HasDataView {
    type Data<'a> = DataView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    fn view(s: &mut Invocation) -> DataView<'_> {
        DataView {
            table: &mut s.table,
        }
    }
    types::add_to_linker::<_, HasDataView>(linker, view)?;
    records::add_to_linker::<_, HasDataView>(linker, view)
}

fn unavailable<T>() -> wasmtime::Result<Result<T, Error>> {
    Ok(Err(Error::Unavailable(crate::caps::unavailable("pb:data"))))
}

impl types::Host for DataView<'_> {}

impl Host for DataView<'_> {
    async fn get_one(
        &mut self,
        _c: String,
        _id: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        unavailable()
    }
    async fn get_list(
        &mut self,
        _c: String,
        _o: ListOptions,
    ) -> wasmtime::Result<Result<ListResult, Error>> {
        unavailable()
    }
    async fn get_first_list_item(
        &mut self,
        _c: String,
        _f: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        unavailable()
    }
    async fn create(&mut self, _c: String, _r: String) -> wasmtime::Result<Result<String, Error>> {
        unavailable()
    }
    async fn update(
        &mut self,
        _c: String,
        _id: String,
        _p: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        unavailable()
    }
    async fn delete(&mut self, _c: String, _id: String) -> wasmtime::Result<Result<(), Error>> {
        unavailable()
    }
    async fn vector_search(
        &mut self,
        _c: String,
        _q: VectorQuery,
    ) -> wasmtime::Result<Result<Vec<ScoredRecord>, Error>> {
        unavailable()
    }
    async fn begin(&mut self) -> wasmtime::Result<Result<Resource<Transaction>, Error>> {
        unavailable()
    }
}

impl HostTransaction for DataView<'_> {
    async fn get_one(
        &mut self,
        _t: Resource<Transaction>,
        _c: String,
        _id: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        unavailable()
    }
    async fn get_list(
        &mut self,
        _t: Resource<Transaction>,
        _c: String,
        _o: ListOptions,
    ) -> wasmtime::Result<Result<ListResult, Error>> {
        unavailable()
    }
    async fn get_first_list_item(
        &mut self,
        _t: Resource<Transaction>,
        _c: String,
        _f: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        unavailable()
    }
    async fn create(
        &mut self,
        _t: Resource<Transaction>,
        _c: String,
        _r: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        unavailable()
    }
    async fn update(
        &mut self,
        _t: Resource<Transaction>,
        _c: String,
        _id: String,
        _p: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        unavailable()
    }
    async fn delete(
        &mut self,
        _t: Resource<Transaction>,
        _c: String,
        _id: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        unavailable()
    }
    async fn vector_search(
        &mut self,
        _t: Resource<Transaction>,
        _c: String,
        _q: VectorQuery,
    ) -> wasmtime::Result<Result<Vec<ScoredRecord>, Error>> {
        unavailable()
    }
    async fn commit(&mut self, _t: Resource<Transaction>) -> wasmtime::Result<Result<(), Error>> {
        unavailable()
    }
    async fn rollback(&mut self, _t: Resource<Transaction>) -> wasmtime::Result<Result<(), Error>> {
        unavailable()
    }
    async fn drop(&mut self, t: Resource<Transaction>) -> wasmtime::Result<()> {
        self.table.delete(t)?;
        Ok(())
    }
}
