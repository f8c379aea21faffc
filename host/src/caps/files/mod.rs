//! `pb:files` — files attached to records.
//!
//! Not implemented on this host yet: every call answers the typed
//! `unavailable` error.

use crate::caps::bindings::files::storage::{self, Error, FileInfo, Host};
use crate::engine::Invocation;
use wasmtime::component::{HasData, Linker};

/// Per-call view of an invocation for `pb:files`.
pub struct FilesView;

struct HasFilesView;
impl HasData for HasFilesView {
    type Data<'a> = FilesView;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    storage::add_to_linker::<_, HasFilesView>(linker, |_| FilesView)
}

fn unavailable<T>() -> wasmtime::Result<Result<T, Error>> {
    Ok(Err(Error::Unavailable(crate::caps::unavailable(
        "pb:files",
    ))))
}

impl Host for FilesView {
    async fn read(
        &mut self,
        _c: String,
        _id: String,
        _name: String,
    ) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        unavailable()
    }
    async fn save(
        &mut self,
        _c: String,
        _id: String,
        _name: String,
        _data: Vec<u8>,
    ) -> wasmtime::Result<Result<FileInfo, Error>> {
        unavailable()
    }
    async fn delete(
        &mut self,
        _c: String,
        _id: String,
        _name: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        unavailable()
    }
    async fn list(
        &mut self,
        _c: String,
        _id: String,
    ) -> wasmtime::Result<Result<Vec<FileInfo>, Error>> {
        unavailable()
    }
}
