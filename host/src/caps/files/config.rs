//! Where a host keeps files, and the largest file it accepts: a folder
//! (default `<data dir>/storage`) or an S3-compatible bucket.
//!
//! ```text
//! pbs serve                                   # <dir>/storage
//! pbs serve --files /srv/pb_files             # another folder
//! PB_FILES_S3_ACCESS_KEY_ID=… PB_FILES_S3_SECRET_ACCESS_KEY=… \
//!   pbs serve --files s3://bucket/prefix --files-s3-endpoint http://127.0.0.1:9000 \
//!             --files-s3-region us-east-1 --files-s3-allow-http
//! ```
//!
//! Without keys, endpoint or region, the standard `AWS_*` variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT`, …) and then the
//! instance's role apply, as with any AWS client.

use anyhow::Context;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, RetryConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Largest file by default (`pbs serve --max-file-mb`): 50 MiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 50 << 20;
/// The folder under the data folder that holds files by default.
pub const STORAGE_DIR: &str = "storage";
/// Retries of one failed S3 request (object_store's default is 10 over up
/// to 3 minutes: far longer than a function may wait).
pub const S3_MAX_RETRIES: usize = 3;
/// Time one S3 operation may spend retrying.
pub const S3_RETRY_TIMEOUT: Duration = Duration::from_secs(15);

/// pb:files' settings of a host.
#[derive(Clone)]
pub struct FilesConfig {
    /// None = `<data dir>/storage`; a folder; or `s3://bucket[/prefix]`.
    pub location: Option<String>,
    /// The S3 client, when `location` is `s3://…`.
    pub s3: S3Config,
    /// Largest file a save accepts (and a read returns), in bytes.
    pub max_file_size: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            location: None,
            s3: S3Config::default(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }
}

impl std::fmt::Debug for FilesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesConfig")
            .field("location", &self.location)
            .field("s3", &self.s3)
            .field("max_file_size", &self.max_file_size)
            .finish()
    }
}

/// An S3-compatible service; what is none comes from the `AWS_*`
/// variables (or the instance's role, for keys).
#[derive(Clone, Default)]
pub struct S3Config {
    /// `http(s)://host:port` of a service other than AWS (MinIO, Garage, …).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow a plain-HTTP endpoint (a local server).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Config {
    /// Never shows the secret key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "…"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// `pbs serve`'s flags for pb:files (flattened into its arguments).
#[derive(clap::Args, Debug)]
pub struct FilesArgs {
    /// Where pb:files keeps files: a folder, or `s3://bucket[/prefix]` (keys
    /// from PB_FILES_S3_ACCESS_KEY_ID and PB_FILES_S3_SECRET_ACCESS_KEY, else
    /// AWS_*). Default: `<dir>/storage`.
    #[arg(long = "files", env = "PB_FILES")]
    location: Option<String>,
    /// The S3 endpoint of a service other than AWS (`http://127.0.0.1:9000`).
    #[arg(long, env = "PB_FILES_S3_ENDPOINT")]
    files_s3_endpoint: Option<String>,
    /// The S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long, env = "PB_FILES_S3_REGION")]
    files_s3_region: Option<String>,
    /// Allow a plain-HTTP S3 endpoint (a server on this machine or network).
    #[arg(long, env = "PB_FILES_S3_ALLOW_HTTP")]
    files_s3_allow_http: bool,
    /// Largest file pb:files accepts, in MiB.
    #[arg(long, env = "PB_MAX_FILE_MB", default_value_t = DEFAULT_MAX_FILE_SIZE >> 20)]
    max_file_mb: u64,
}

impl FilesArgs {
    /// The configuration; the S3 keys come from the environment only (a
    /// flag would show them to every user of the machine).
    pub fn config(self) -> anyhow::Result<FilesConfig> {
        anyhow::ensure!(
            (1..=1 << 20).contains(&self.max_file_mb),
            "--max-file-mb must be between 1 and 1048576"
        );
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(FilesConfig {
            location: self.location.filter(|l| !l.is_empty()),
            s3: S3Config {
                endpoint: self.files_s3_endpoint,
                region: self.files_s3_region,
                access_key_id: env("PB_FILES_S3_ACCESS_KEY_ID"),
                secret_access_key: env("PB_FILES_S3_SECRET_ACCESS_KEY"),
                allow_http: self.files_s3_allow_http,
            },
            max_file_size: self.max_file_mb << 20,
        })
    }
}

/// The store `config` names, and a description of it for logs.
pub fn open(
    config: &FilesConfig,
    data_dir: &Path,
) -> anyhow::Result<(Arc<dyn ObjectStore>, String)> {
    match config.location.as_deref() {
        Some(url) if url.starts_with("s3://") => open_s3(url, &config.s3),
        Some(url) if url.contains("://") => anyhow::bail!(
            "--files {url:?}: pb:files stores in a folder or in `s3://bucket[/prefix]`"
        ),
        Some(folder) => open_folder(Path::new(folder)),
        None => open_folder(&data_dir.join(STORAGE_DIR)),
    }
}

fn open_folder(folder: &Path) -> anyhow::Result<(Arc<dyn ObjectStore>, String)> {
    std::fs::create_dir_all(folder)
        .with_context(|| format!("create the files folder {}", folder.display()))?;
    // Emptied record and collection folders are removed with their last file.
    let store = LocalFileSystem::new_with_prefix(folder)
        .with_context(|| format!("open the files folder {}", folder.display()))?
        .with_automatic_cleanup(true);
    Ok((Arc::new(store), format!("folder {}", folder.display())))
}

fn open_s3(url: &str, s3: &S3Config) -> anyhow::Result<(Arc<dyn ObjectStore>, String)> {
    let rest = url.trim_start_matches("s3://");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    anyhow::ensure!(!bucket.is_empty(), "--files {url:?}: no bucket name");
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(RetryConfig {
            max_retries: S3_MAX_RETRIES,
            retry_timeout: S3_RETRY_TIMEOUT,
            ..Default::default()
        });
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &s3.region {
        builder = builder.with_region(region);
    }
    if let Some(key) = &s3.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if s3.allow_http {
        builder = builder.with_allow_http(true);
    }
    let store = builder
        .build()
        .with_context(|| format!("configure S3 storage {url}"))?;
    let prefix = prefix.trim_matches('/');
    let described = match &s3.endpoint {
        Some(e) => format!("s3://{bucket}/{prefix} at {e}"),
        None => format!("s3://{bucket}/{prefix}"),
    };
    if prefix.is_empty() {
        return Ok((Arc::new(store), described));
    }
    let prefix = object_store::path::Path::parse(prefix)
        .with_context(|| format!("--files {url:?}: a bad prefix"))?;
    Ok((Arc::new(PrefixStore::new(store, prefix)), described))
}
