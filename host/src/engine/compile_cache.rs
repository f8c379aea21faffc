//! Cranelift's incremental compilation cache, shared by every engine of the
//! process, in the host's data folder. A process without one (a CLI
//! command, `pbs serve COMPONENT`) compiles each thing once and keeps none.
//!
//! Every JS function is the same engine code (QuickJS and our Web APIs)
//! with a different snapshot of memory, so once one was compiled, the
//! functions of the next one are found here and only what differs is
//! compiled: a redeploy of a JS function (what `pbs dev` does on each
//! save) costs a fraction of the first.
//! Keys hash each function's Cranelift IR and the compiler's settings, so
//! an entry is only ever used for identical code.
//!
//! On disk, not in memory: the entries of one JS engine are ~25 MB, which
//! a host that idles at ~24 MB would otherwise hold for good (issue 13's
//! goal: within 64 MB after any number of deploys).

use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::CacheStore;

/// Bytes the cache keeps on disk; past this it starts over.
pub const MAX_DISK_BYTES: usize = 512 << 20;

#[derive(Debug, Default)]
pub struct CompileCache {
    disk: OnceLock<Disk>,
}

#[derive(Debug)]
struct Disk {
    dir: PathBuf,
    bytes: AtomicUsize,
    max: usize,
    /// Serializes starting over, so two threads do not both empty it.
    reset: Mutex<()>,
}

/// The process's cache.
pub fn shared() -> Arc<CompileCache> {
    static CACHE: OnceLock<Arc<CompileCache>> = OnceLock::new();
    CACHE.get_or_init(Default::default).clone()
}

impl CompileCache {
    /// Keeps the cache in `dir` from now on (the first call wins). The
    /// folder is created; without it there is no cache.
    pub fn use_dir(&self, dir: &Path) {
        self.use_dir_within(dir, MAX_DISK_BYTES)
    }

    fn use_dir_within(&self, dir: &Path, max: usize) {
        if self.disk.get().is_some() {
            return;
        }
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "no compile cache");
            return;
        }
        let disk = Disk {
            bytes: AtomicUsize::new(dir_bytes(dir)),
            dir: dir.to_path_buf(),
            max,
            reset: Mutex::new(()),
        };
        let _ = self.disk.set(disk);
    }

    /// Bytes of compiled code held now.
    pub fn bytes(&self) -> usize {
        self.disk
            .get()
            .map_or(0, |disk| disk.bytes.load(Ordering::Relaxed))
    }
}

impl CacheStore for CompileCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let disk = self.disk.get()?;
        std::fs::read(disk.path(key)).ok().map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        self.disk.get().is_some_and(|disk| disk.insert(key, &value))
    }
}

impl Disk {
    /// `dir/ab/abcdef…`: the SHA-256 of the key, in 256 folders.
    fn path(&self, key: &[u8]) -> PathBuf {
        let name = hex::encode(Sha256::digest(key));
        self.dir.join(&name[..2]).join(name)
    }

    fn insert(&self, key: &[u8], value: &[u8]) -> bool {
        if value.len() > self.max {
            return false;
        }
        if self.bytes.fetch_add(value.len(), Ordering::Relaxed) + value.len() > self.max {
            self.start_over();
            self.bytes.fetch_add(value.len(), Ordering::Relaxed);
        }
        let path = self.path(key);
        // Written aside and renamed, so a reader (another thread, or a CLI
        // sharing the folder) never sees half an entry; the aside name is
        // the writer's own (two threads may insert the same key).
        static WRITES: AtomicUsize = AtomicUsize::new(0);
        let n = WRITES.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, value))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
            self.bytes.fetch_sub(value.len(), Ordering::Relaxed);
        }
        written.is_ok()
    }

    fn start_over(&self) {
        let Ok(_one) = self.reset.lock() else { return };
        if self.bytes.load(Ordering::Relaxed) <= self.max {
            return; // another thread just did
        }
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        self.bytes.store(0, Ordering::Relaxed);
    }
}

/// Bytes of the files in `dir` and its sub-folders.
fn dir_bytes(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&entry.path()),
            Ok(m) => m.len() as usize,
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_disk_entries_survive_a_new_process_and_keep_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::default();
        // No folder, no cache.
        assert!(!cache.insert(b"before", vec![9; 3]));
        cache.use_dir(dir.path());
        assert!(cache.get(b"before").is_none());
        assert!(cache.insert(b"a", vec![1; 10]));
        assert_eq!(cache.get(b"a").as_deref(), Some(&[1u8; 10][..]));

        // A later process finds it, and counts what is there.
        let later = CompileCache::default();
        later.use_dir_within(dir.path(), 100);
        assert_eq!(later.bytes(), 10);
        assert_eq!(later.get(b"a").as_deref(), Some(&[1u8; 10][..]));
        assert!(later.get(b"b").is_none());

        // Over the bound: it starts over with the new entry.
        assert!(later.insert(b"big", vec![0; 85]));
        assert!(later.insert(b"c", vec![3; 20]));
        assert!(later.get(b"a").is_none() && later.get(b"big").is_none());
        assert_eq!(later.get(b"c").as_deref(), Some(&[3u8; 20][..]));
        assert_eq!(later.bytes(), 20);
    }
}
