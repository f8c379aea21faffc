//! JS/TS test functions (`tests/js/src/`), built with the real pipeline
//! (`pbs::deploy::js`: the project's esbuild, QuickJS, Wizer) once per test
//! binary.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use pbs::config::Limits;
use pbs::engine::Runtime;

type Cache = Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Vec<u8>>>>>;

/// `tests/js` (its `node_modules` are installed by `scripts/setup.sh`).
pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// The component built from `tests/js/src/<file>`.
pub async fn build(file: &str) -> Vec<u8> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cell = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(file.to_string())
        .or_default()
        .clone();
    cell.get_or_init(|| async {
        match try_build(file).await {
            Ok(bytes) => bytes,
            Err(e) => panic!("pbs build tests/js/src/{file}: {e:#}"),
        }
    })
    .await
    .clone()
}

/// Builds without the cache; the error is the one `pbs build` prints.
pub async fn try_build(file: &str) -> anyhow::Result<Vec<u8>> {
    build_entry(&project_dir().join("src").join(file)).await
}

/// Builds any entry file (its project's esbuild must be installed).
pub async fn build_entry(entry: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let runtime = Runtime::new(
        Limits {
            max_instances: 2,
            ..crate::test_limits()
        },
        Vec::new(),
    )?;
    Ok(pbs::deploy::js::build(&runtime, entry).await?.component)
}
