//! `pb:files` — files attached to records (`wit/deps/pb-files/files.wit`):
//! `read`, `save`, `delete`, `list` for (collection, record id, file name).
//!
//! - **Storage** ([`store`], [`config`]): `<data dir>/storage/` by default,
//!   or an S3-compatible bucket (`pbs serve --files s3://bucket/prefix`),
//!   through the `object_store` crate. The key of a file is
//!   `<collection>/<record-id>/<filename>`. A save is atomic: no reader ever
//!   sees half a file.
//! - **Names** ([`name`]): checked before anything touches storage; `..`,
//!   `.`, separators, NUL, control characters, empty and over-long names are
//!   `invalid`, with a message saying which rule was broken.
//! - **Size**: a file larger than the host's limit (`pbs serve
//!   --max-file-mb`, default [`config::DEFAULT_MAX_FILE_SIZE`]) is `quota`,
//!   on save and on read.
//! - **Records**: deleting a record deletes its files
//!   ([`Files::delete_record`], called by pb:data), deleting a collection
//!   all of its files ([`Files::delete_collection`]).
//! - **HTTP**: `GET /api/files/{collection}/{record}/{filename}` serves a
//!   file (`triggers/http/files.rs`).
//! - **Access**: any deployed function may use any record's files (functions
//!   are deployed by the admin); no rule checks files yet.
//!
//! Not in single-component mode (`pbs serve COMPONENT`): every call answers
//! `unavailable`.

pub mod config;
pub mod name;
pub mod store;

#[cfg(test)]
mod tests;

use crate::caps::bindings::files::storage::{self, Error, FileInfo, Host};
use crate::caps::error::{self as failure, Answer};
use crate::caps::services::Services;
use crate::engine::Invocation;
pub use config::FilesConfig;
/// The object store crate, for tests and tools that look at the storage.
pub use object_store;
use std::sync::Arc;
pub use store::{FileError, FileMeta, Files};
use wasmtime::component::{HasData, Linker};

/// Per-call view of an invocation for `pb:files`.
pub struct FilesView<'a> {
    pub function: &'a Arc<str>,
    /// The invocation's telemetry: a span and a ledger entry per call.
    pub obs: &'a crate::telemetry::Scope,
    pub services: Option<&'a Arc<Services>>,
}

struct HasFilesView;
impl HasData for HasFilesView {
    type Data<'a> = FilesView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    storage::add_to_linker::<_, HasFilesView>(linker, |s| FilesView {
        function: &s.trace.function,
        obs: &s.trace.scope,
        services: s.services.as_ref(),
    })
}

impl FilesView<'_> {
    /// Runs `op` on the host's files as a `pb.files.<name>` host call; a
    /// store failure is logged in full and the guest gets no paths.
    async fn run<T, F>(
        &self,
        op: &'static str,
        call: impl FnOnce(Arc<Services>) -> F,
    ) -> Answer<T, Error>
    where
        F: std::future::Future<Output = Result<T, FileError>>,
    {
        let Some(services) = self.services else {
            return Ok(Err(failure::unavailable("pb:files")));
        };
        let function = &**self.function;
        let name = match op {
            "read" => "pb.files.read",
            "save" => "pb.files.save",
            "delete" => "pb.files.delete",
            _ => "pb.files.list",
        };
        let traced = self.obs.call(name, crate::telemetry::CallKind::Files);
        if let Err(e) = failure::budget(&traced)? {
            return Ok(Err(failure::refused(traced, e)));
        }
        let result = traced.run(call(services.clone())).await;
        let result = result.map_err(|e| match e {
            FileError::NotFound(m) => Error::NotFound(m),
            FileError::Invalid(m) => Error::Invalid(m),
            FileError::Quota(m) => Error::Quota(m),
            FileError::Internal(detail) => failure::internal("pb:files", op, function, detail),
        });
        traced.end(failure::case(&result));
        Ok(result)
    }
}

fn info(meta: FileMeta) -> FileInfo {
    FileInfo {
        filename: meta.filename,
        size: meta.size,
        modified_ms: meta.modified_ms,
    }
}

impl Host for FilesView<'_> {
    async fn read(
        &mut self,
        collection: String,
        record_id: String,
        filename: String,
    ) -> Answer<Vec<u8>, Error> {
        self.run("read", |s| async move {
            let bytes = s.files.read(&collection, &record_id, &filename).await?;
            Ok(Vec::from(bytes))
        })
        .await
    }

    async fn save(
        &mut self,
        collection: String,
        record_id: String,
        filename: String,
        data: Vec<u8>,
    ) -> Answer<FileInfo, Error> {
        self.run("save", |s| async move {
            let meta = s
                .files
                .save(&collection, &record_id, &filename, data.into())
                .await?;
            Ok(info(meta))
        })
        .await
    }

    async fn delete(
        &mut self,
        collection: String,
        record_id: String,
        filename: String,
    ) -> Answer<bool, Error> {
        self.run("delete", |s| async move {
            s.files.delete(&collection, &record_id, &filename).await
        })
        .await
    }

    async fn list(
        &mut self,
        collection: String,
        record_id: String,
    ) -> Answer<Vec<FileInfo>, Error> {
        self.run("list", |s| async move {
            let files = s.files.list(&collection, &record_id).await?;
            Ok(files.into_iter().map(info).collect())
        })
        .await
    }
}
