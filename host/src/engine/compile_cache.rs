//! Cranelift's incremental compilation cache, shared by every engine of the
//! process: in the host's data folder once the host has one, in memory
//! before that (a CLI building a project).
//!
//! Every JS function is the same engine code (QuickJS and our Web APIs)
//! with a different snapshot of memory, so once one was compiled, the
//! functions of the next one are found here and only what differs is
//! compiled: a redeploy of a JS function (and `pbs dev`'s rebuilds, whose
//! snapshotting compiles the engine too) costs a fraction of the first.
//! Keys hash each function's Cranelift IR and the compiler's settings, so
//! an entry is only ever used for identical code.
//!
//! A host keeps it on disk, not in memory: the cache of one JS engine is
//! about 40 MB, spread by the compiler's threads over every allocator
//! arena, where it pinned the pages around it. With it in memory a host
//! held 200–260 MB after a few redeploys of a small function; on disk the
//! process gives back what a compilation used (issue 13's 64 MB goal).

use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::CacheStore;

/// Bytes of compiled code the in-memory cache keeps; past this it starts over.
pub const MAX_BYTES: usize = 48 << 20;
/// Bytes the cache keeps on disk; past this it starts over.
pub const MAX_DISK_BYTES: usize = 512 << 20;

#[derive(Debug, Default)]
pub struct CompileCache {
    memory: Mutex<Memory>,
    disk: OnceLock<Disk>,
}

#[derive(Debug, Default)]
struct Memory {
    entries: HashMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
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
    /// Keeps the cache in `dir` from now on (the first call wins) and lets
    /// go of what was in memory. The folder is created; a folder that
    /// cannot be written leaves the cache in memory.
    pub fn use_dir(&self, dir: &Path) {
        self.use_dir_within(dir, MAX_DISK_BYTES)
    }

    fn use_dir_within(&self, dir: &Path, max: usize) {
        if self.disk.get().is_some() {
            return;
        }
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "compile cache stays in memory");
            return;
        }
        let disk = Disk {
            bytes: AtomicUsize::new(dir_bytes(dir)),
            dir: dir.to_path_buf(),
            max,
            reset: Mutex::new(()),
        };
        if self.disk.set(disk).is_ok() {
            if let Ok(mut memory) = self.memory.lock() {
                *memory = Memory::default();
            }
        }
    }

    /// Bytes held now (keys and values), in memory or on disk.
    pub fn bytes(&self) -> usize {
        match self.disk.get() {
            Some(disk) => disk.bytes.load(Ordering::Relaxed),
            None => self.memory.lock().map(|m| m.bytes).unwrap_or(0),
        }
    }
}

impl CacheStore for CompileCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        if let Some(disk) = self.disk.get() {
            return std::fs::read(disk.path(key)).ok().map(Cow::Owned);
        }
        let memory = self.memory.lock().ok()?;
        memory.entries.get(key).map(|v| Cow::Owned(v.clone()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        if let Some(disk) = self.disk.get() {
            return disk.insert(key, &value);
        }
        let Ok(mut memory) = self.memory.lock() else {
            return false;
        };
        let size = key.len() + value.len();
        if size > MAX_BYTES {
            return false;
        }
        if memory.bytes + size > MAX_BYTES {
            *memory = Memory::default();
        }
        if let Some(old) = memory.entries.insert(key.to_vec(), value) {
            memory.bytes -= key.len() + old.len();
        }
        memory.bytes += size;
        true
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
    fn keeps_entries_within_its_bound() {
        let cache = CompileCache::default();
        assert!(cache.insert(b"a", vec![1; 10]));
        assert_eq!(cache.get(b"a").as_deref(), Some(&[1u8; 10][..]));
        assert!(cache.insert(b"a", vec![2; 4]));
        assert_eq!(cache.bytes(), 5);
        assert!(!cache.insert(b"huge", vec![0; MAX_BYTES]));
        assert!(cache.insert(b"b", vec![0; MAX_BYTES - 10]));
        assert!(cache.get(b"b").is_some());
        // Over the bound: the cache starts over with the new entry.
        assert!(cache.insert(b"c", vec![0; 20]));
        assert!(cache.get(b"b").is_none() && cache.get(b"c").is_some());
        assert_eq!(cache.bytes(), 21);
    }

    #[test]
    fn on_disk_entries_survive_a_new_process_and_keep_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::default();
        assert!(cache.insert(b"before", vec![9; 3]));
        cache.use_dir(dir.path());
        // What was in memory is let go; the disk is used from now on.
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
