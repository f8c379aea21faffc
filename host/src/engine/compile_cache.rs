//! Cranelift's incremental compilation cache, in memory, shared by every
//! engine of the process.
//!
//! Every JS function is the same engine code (QuickJS and our Web APIs)
//! with a different snapshot of memory, so once one was compiled, the
//! functions of the next one are found here and only what differs is
//! compiled: a redeploy of a JS function (and `pbs dev`'s rebuilds, whose
//! snapshotting compiles the engine too) costs a fraction of the first.
//! Keys hash each function's Cranelift IR and the compiler's settings, so
//! an entry is only ever used for identical code.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::CacheStore;

/// Bytes of compiled code the cache keeps; past this it starts over.
pub const MAX_BYTES: usize = 48 << 20;

#[derive(Debug, Default)]
pub struct CompileCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
}

/// The process's cache.
pub fn shared() -> Arc<CompileCache> {
    static CACHE: OnceLock<Arc<CompileCache>> = OnceLock::new();
    CACHE.get_or_init(Default::default).clone()
}

impl CompileCache {
    /// Bytes held now (keys and values).
    pub fn bytes(&self) -> usize {
        self.inner.lock().map(|i| i.bytes).unwrap_or(0)
    }
}

impl CacheStore for CompileCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let inner = self.inner.lock().ok()?;
        inner.entries.get(key).map(|v| Cow::Owned(v.clone()))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        let size = key.len() + value.len();
        if size > MAX_BYTES {
            return false;
        }
        if inner.bytes + size > MAX_BYTES {
            inner.entries = HashMap::new();
            inner.bytes = 0;
        }
        if let Some(old) = inner.entries.insert(key.to_vec(), value) {
            inner.bytes -= key.len() + old.len();
        }
        inner.bytes += size;
        true
    }
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
}
