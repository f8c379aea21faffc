//! The files of a host on its object store (`object_store`: a local folder
//! or S3), for the WIT face ([`super`]), the HTTP route
//! (`triggers/http/files.rs`) and record deletion.
//!
//! Every operation checks its names ([`super::name`]) before it touches
//! the store. A save is atomic on both backends: the local store writes a
//! temporary file `<name>#<n>` next to the target and renames it into
//! place (listings skip such files); S3 shows an object only once its PUT
//! completed.

use super::config::{self, FilesConfig};
use super::name::{self, BadName};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetResultPayload, ObjectMeta, ObjectStore, PutPayload};
use std::io::Read;
use std::sync::Arc;

/// Most files `list` returns for one record (more is a `quota` error).
pub const MAX_LIST: usize = 1000;
/// Keys listed, then deleted, per round when deleting a record's or a
/// collection's files (S3 deletes up to 1,000 per request).
pub const DELETE_BATCH: usize = 1000;
/// Bytes per chunk when a local file is streamed to an HTTP client.
pub const STREAM_CHUNK: u64 = 256 << 10;

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Quota(String),
    /// The store failed; the text (paths, the store's answer) is for logs.
    #[error("{0}")]
    Internal(String),
}

impl From<BadName> for FileError {
    fn from(e: BadName) -> Self {
        FileError::Invalid(e.0)
    }
}

fn internal(e: object_store::Error) -> FileError {
    FileError::Internal(e.to_string())
}

/// What a listing, a save or a `head` tells about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub filename: String,
    pub size: u64,
    /// Milliseconds since the Unix epoch.
    pub modified_ms: u64,
    /// The store's version tag of the content (for HTTP `ETag`).
    pub e_tag: Option<String>,
}

impl FileMeta {
    fn of(filename: String, meta: &ObjectMeta) -> FileMeta {
        FileMeta {
            filename,
            size: meta.size,
            modified_ms: meta.last_modified.timestamp_millis().max(0) as u64,
            e_tag: meta.e_tag.clone(),
        }
    }
}

/// A file's bytes as a stream (for HTTP), and what it is.
pub struct FileStream {
    pub meta: FileMeta,
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

/// The files of one host.
pub struct Files {
    store: Arc<dyn ObjectStore>,
    max_file_size: u64,
    described: String,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("store", &self.described)
            .field("max_file_size", &self.max_file_size)
            .finish()
    }
}

impl Files {
    /// The store `config` names (creating the local folder).
    pub fn open(config: &FilesConfig, data_dir: &std::path::Path) -> anyhow::Result<Files> {
        let (store, described) = config::open(config, data_dir)?;
        tracing::info!(
            target: "pb.files",
            store = %described,
            max_file_size = config.max_file_size,
            "pb:files ready"
        );
        Ok(Files::with_store(store, config.max_file_size, described))
    }

    /// Files on any object store (tests use `object_store::memory`).
    pub fn with_store(store: Arc<dyn ObjectStore>, max_file_size: u64, described: String) -> Files {
        Files {
            store,
            max_file_size,
            described,
        }
    }

    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    /// Where the files are, for logs (no credentials).
    pub fn described(&self) -> &str {
        &self.described
    }

    fn too_large(&self, size: u64) -> Result<(), FileError> {
        if size > self.max_file_size {
            return Err(FileError::Quota(format!(
                "the file is {size} bytes; this host accepts files of at most {} bytes ({} MiB)",
                self.max_file_size,
                self.max_file_size >> 20
            )));
        }
        Ok(())
    }

    /// The object of a file (its name checked first).
    async fn get(
        &self,
        collection: &str,
        record_id: &str,
        filename: &str,
    ) -> Result<object_store::GetResult, FileError> {
        let key = name::key(collection, record_id, filename)?;
        self.store
            .get_opts(&key, GetOptions::default())
            .await
            .map_err(|e| not_found(e, filename))
    }

    /// A file's bytes; larger than the limit is `quota` (a file stored by
    /// other means, or before the limit was lowered).
    pub async fn read(
        &self,
        collection: &str,
        record_id: &str,
        filename: &str,
    ) -> Result<Bytes, FileError> {
        let got = self.get(collection, record_id, filename).await?;
        self.too_large(got.meta.size)?;
        got.bytes().await.map_err(|e| not_found(e, filename))
    }

    /// Writes a file, replacing one of the same name, atomically.
    pub async fn save(
        &self,
        collection: &str,
        record_id: &str,
        filename: &str,
        data: Bytes,
    ) -> Result<FileMeta, FileError> {
        let key = name::key(collection, record_id, filename)?;
        self.too_large(data.len() as u64)?;
        let size = data.len() as u64;
        self.store
            .put_opts(&key, PutPayload::from_bytes(data), Default::default())
            .await
            .map_err(internal)?;
        // The store's own modification time, as `list` will show it.
        let meta = self.head_key(&key, filename).await?;
        Ok(FileMeta { size, ..meta })
    }

    /// True when a file was removed.
    pub async fn delete(
        &self,
        collection: &str,
        record_id: &str,
        filename: &str,
    ) -> Result<bool, FileError> {
        let key = name::key(collection, record_id, filename)?;
        // S3 answers a delete of a missing key with success: ask first.
        match self.head_key(&key, filename).await {
            Ok(_) => {}
            Err(FileError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        }
        Ok(self.delete_keys(vec![key]).await? == 1)
    }

    /// A record's files, by name; at most [`MAX_LIST`].
    pub async fn list(
        &self,
        collection: &str,
        record_id: &str,
    ) -> Result<Vec<FileMeta>, FileError> {
        let prefix = name::record_prefix(collection, record_id)?;
        let mut listing = self.store.list(Some(&prefix));
        let mut files = Vec::new();
        while let Some(meta) = listing.try_next().await.map_err(internal)? {
            let Some(filename) = name::filename_in(&prefix, &meta.location) else {
                continue;
            };
            if files.len() == MAX_LIST {
                return Err(FileError::Quota(format!(
                    "the record has more than {MAX_LIST} files; a listing returns at most {MAX_LIST}"
                )));
            }
            files.push(FileMeta::of(filename, &meta));
        }
        files.sort_by(|a, b| a.filename.cmp(&b.filename));
        Ok(files)
    }

    /// What a file is, without its bytes.
    pub async fn head(
        &self,
        collection: &str,
        record_id: &str,
        filename: &str,
    ) -> Result<FileMeta, FileError> {
        let key = name::key(collection, record_id, filename)?;
        self.head_key(&key, filename).await
    }

    async fn head_key(&self, key: &Path, filename: &str) -> Result<FileMeta, FileError> {
        let meta = self
            .store
            .get_opts(key, GetOptions::new().with_head(true))
            .await
            .map_err(|e| not_found(e, filename))?;
        Ok(FileMeta::of(filename.to_string(), &meta.meta))
    }

    /// A file as a stream of chunks, for serving it over HTTP without
    /// holding it in memory. No size limit: the bytes only pass through.
    pub async fn stream(
        &self,
        collection: &str,
        record_id: &str,
        filename: &str,
    ) -> Result<FileStream, FileError> {
        let got = self.get(collection, record_id, filename).await?;
        let meta = FileMeta::of(filename.to_string(), &got.meta);
        let body = match got.payload {
            // object_store reads local files 8 KiB per blocking task; serve
            // them in larger chunks.
            GetResultPayload::File(file, _) => local_chunks(file, got.range.end - got.range.start),
            GetResultPayload::Stream(s) => s.map_err(std::io::Error::other).boxed(),
        };
        Ok(FileStream { meta, body })
    }

    /// Deletes every file of a record; the number deleted.
    pub async fn delete_record(
        &self,
        collection: &str,
        record_id: &str,
    ) -> Result<usize, FileError> {
        let prefix = name::record_prefix(collection, record_id)?;
        self.delete_prefix(&prefix).await
    }

    /// Deletes every file of every record of a collection; the number deleted.
    pub async fn delete_collection(&self, collection: &str) -> Result<usize, FileError> {
        let prefix = name::collection_prefix(collection)?;
        self.delete_prefix(&prefix).await
    }

    /// Lists a batch, deletes it, and again until nothing is left (memory
    /// stays bounded, and no listing runs over folders being removed).
    async fn delete_prefix(&self, prefix: &Path) -> Result<usize, FileError> {
        let mut deleted = 0;
        loop {
            let batch: Vec<Path> = self
                .store
                .list(Some(prefix))
                .take(DELETE_BATCH)
                .map_ok(|meta| meta.location)
                .try_collect()
                .await
                .map_err(internal)?;
            if batch.is_empty() {
                return Ok(deleted);
            }
            let n = self.delete_keys(batch).await?;
            if n == 0 {
                // All of them deleted by someone else meanwhile: stop
                // rather than loop on a store that still lists them.
                return Ok(deleted);
            }
            deleted += n;
        }
    }

    /// Deletes keys; the number this call removed (a key already gone,
    /// deleted concurrently, does not count and is no error).
    async fn delete_keys(&self, keys: Vec<Path>) -> Result<usize, FileError> {
        let locations = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
        let mut results = self.store.delete_stream(locations);
        let mut n = 0;
        while let Some(result) = results.next().await {
            match result {
                Ok(_) => n += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(internal(e)),
            }
        }
        Ok(n)
    }
}

/// `NotFound` becomes the guest-facing `not-found`; anything else is internal.
fn not_found(e: object_store::Error, filename: &str) -> FileError {
    match e {
        object_store::Error::NotFound { .. } => {
            FileError::NotFound(format!("no file named {filename:?} in this record"))
        }
        e => internal(e),
    }
}

/// A local file's `len` bytes in [`STREAM_CHUNK`] chunks, each read on a
/// blocking thread. The file is open already: a save that replaces it
/// meanwhile (a rename) does not change what is sent.
fn local_chunks(file: std::fs::File, len: u64) -> BoxStream<'static, std::io::Result<Bytes>> {
    futures::stream::try_unfold((file, len), |(mut file, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        tokio::task::spawn_blocking(move || {
            let want = remaining.min(STREAM_CHUNK);
            let mut buf = Vec::with_capacity(want as usize);
            let read = (&mut file).take(want).read_to_end(&mut buf)? as u64;
            if read == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was being sent",
                ));
            }
            Ok(Some((Bytes::from(buf), (file, remaining - read))))
        })
        .await
        .map_err(std::io::Error::other)?
    })
    .boxed()
}
