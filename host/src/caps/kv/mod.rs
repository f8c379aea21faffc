//! `pb:kv` — key-value state with TTLs, counters and locks.
//!
//! Not implemented on this host yet: `open` answers the typed `unavailable`
//! error, so no bucket is ever handed out (the bucket methods answer the same
//! error should one exist).

use crate::caps::bindings::kv::store::{self, Error, Host, HostBucket, KeyPage};
use crate::caps::data::Transaction;
use crate::engine::Invocation;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// The host side of a `bucket` resource.
pub struct Bucket;

/// Per-call view of an invocation for `pb:kv`.
pub struct KvView<'a> {
    pub table: &'a mut ResourceTable,
}

struct HasKvView;
impl HasData for HasKvView {
    type Data<'a> = KvView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    store::add_to_linker::<_, HasKvView>(linker, |s| KvView {
        table: &mut s.table,
    })
}

fn unavailable<T>() -> wasmtime::Result<Result<T, Error>> {
    Ok(Err(Error::Unavailable(crate::caps::unavailable("pb:kv"))))
}

type Bytes = Vec<u8>;

impl Host for KvView<'_> {
    async fn open(
        &mut self,
        _namespace: Option<String>,
    ) -> wasmtime::Result<Result<Resource<Bucket>, Error>> {
        unavailable()
    }
}

impl HostBucket for KvView<'_> {
    async fn get(
        &mut self,
        _b: Resource<Bucket>,
        _k: String,
    ) -> wasmtime::Result<Result<Option<Bytes>, Error>> {
        unavailable()
    }
    async fn set(
        &mut self,
        _b: Resource<Bucket>,
        _k: String,
        _v: Bytes,
        _ttl: Option<u64>,
    ) -> wasmtime::Result<Result<(), Error>> {
        unavailable()
    }
    async fn delete(
        &mut self,
        _b: Resource<Bucket>,
        _k: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        unavailable()
    }
    async fn incr(
        &mut self,
        _b: Resource<Bucket>,
        _k: String,
        _d: i64,
    ) -> wasmtime::Result<Result<i64, Error>> {
        unavailable()
    }
    async fn set_if_absent(
        &mut self,
        _b: Resource<Bucket>,
        _k: String,
        _v: Bytes,
        _ttl: Option<u64>,
    ) -> wasmtime::Result<Result<bool, Error>> {
        unavailable()
    }
    async fn compare_and_swap(
        &mut self,
        _b: Resource<Bucket>,
        _k: String,
        _expected: Option<Bytes>,
        _v: Bytes,
        _ttl: Option<u64>,
    ) -> wasmtime::Result<Result<bool, Error>> {
        unavailable()
    }
    async fn list_keys(
        &mut self,
        _b: Resource<Bucket>,
        _prefix: String,
        _cursor: Option<String>,
        _limit: Option<u32>,
    ) -> wasmtime::Result<Result<KeyPage, Error>> {
        unavailable()
    }
    async fn set_in(
        &mut self,
        _b: Resource<Bucket>,
        _tx: Resource<Transaction>,
        _k: String,
        _v: Bytes,
        _ttl: Option<u64>,
    ) -> wasmtime::Result<Result<(), Error>> {
        unavailable()
    }
    async fn delete_in(
        &mut self,
        _b: Resource<Bucket>,
        _tx: Resource<Transaction>,
        _k: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        unavailable()
    }
    async fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}
