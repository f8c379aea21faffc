//! `pb:kv`: key-value state with TTLs, counters and locks.
//!
//! ```no_run
//! # use std::time::Duration;
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Visit { n: i64 }
//! # fn main() -> pb_sdk::Result<()> {
//! let kv = pb_sdk::kv::open()?;                 // the function's own namespace
//! let n = kv.incr("visits", 1)?;                // a counter
//! kv.set_json("last", &Visit { n })?;           // any serde value
//! let last: Option<Visit> = kv.get_json("last")?;
//! if kv.lock("daily-report", Duration::from_secs(60))? { /* only one caller gets here */ }
//! # Ok(()) }
//! ```

use crate::bindings::pb::kv::store;
use crate::data::Transaction;
use crate::Error;
use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;

/// Keys fetched per `list-keys` call by [`Bucket::keys`].
const KEYS_PAGE: u32 = 1000;

/// A namespace of keys.
pub struct Bucket {
    inner: store::Bucket,
}

/// The function's own namespace (no other function sees it).
pub fn open() -> Result<Bucket, Error> {
    Ok(Bucket {
        inner: store::open(None)?,
    })
}

/// The namespace `shared`, seen by every function of the host.
pub fn open_shared() -> Result<Bucket, Error> {
    Ok(Bucket {
        inner: store::open(Some("shared"))?,
    })
}

/// The host's TTL in milliseconds (rounded up: a TTL never shortens).
fn ttl_ms(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|d| u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
}

impl Bucket {
    /// The value, or none when absent or expired.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.inner.get(key)?)
    }

    /// The value as text; `decode` when it is not UTF-8.
    pub fn get_string(&self, key: &str) -> Result<Option<String>, Error> {
        self.get(key)?
            .map(|v| {
                String::from_utf8(v)
                    .map_err(|_| Error::Decode(format!("the value of {key:?} is not UTF-8")))
            })
            .transpose()
    }

    /// The value as JSON of type `T`; `decode` when it is not.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.get(key)?
            .map(|v| serde_json::from_slice(&v).map_err(Error::from))
            .transpose()
    }

    /// Sets the value (no expiry).
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        Ok(self.inner.set(key, value.as_ref(), None)?)
    }

    /// Sets the value; it expires after `ttl`.
    pub fn set_with_ttl(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<(), Error> {
        Ok(self.inner.set(key, value.as_ref(), ttl_ms(Some(ttl)))?)
    }

    /// Sets `value` as JSON.
    pub fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), Error> {
        self.set(key, serde_json::to_vec(value)?)
    }

    /// True when a key was removed.
    pub fn delete(&self, key: &str) -> Result<bool, Error> {
        Ok(self.inner.delete(key)?)
    }

    /// Adds `delta` to a decimal counter (absent = 0); the new value.
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64, Error> {
        Ok(self.inner.incr(key, delta)?)
    }

    /// Sets only when absent (or expired); true when this call set it.
    pub fn set_if_absent(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, Error> {
        Ok(self.inner.set_if_absent(key, value.as_ref(), ttl_ms(ttl))?)
    }

    /// A lock held for `ttl` unless released: true when this call took it.
    pub fn lock(&self, key: &str, ttl: Duration) -> Result<bool, Error> {
        self.set_if_absent(key, b"locked", Some(ttl))
    }

    /// Sets `value` only when the current value is `expected` (none =
    /// absent); true when it did.
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, Error> {
        Ok(self
            .inner
            .compare_and_swap(key, expected, value.as_ref(), ttl_ms(ttl))?)
    }

    /// Every key starting with `prefix`, in order (fetched a page at a
    /// time).
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .inner
                .list_keys(prefix, cursor.as_deref(), Some(KEYS_PAGE))?;
            keys.extend(page.keys);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(keys),
            }
        }
    }

    /// `set` inside a `pb:data` transaction: visible once it commits.
    pub fn set_in(
        &self,
        tx: &Transaction,
        key: &str,
        value: impl AsRef<[u8]>,
    ) -> Result<(), Error> {
        Ok(self.inner.set_in(tx.raw(), key, value.as_ref(), None)?)
    }

    /// `delete` inside a `pb:data` transaction.
    pub fn delete_in(&self, tx: &Transaction, key: &str) -> Result<bool, Error> {
        Ok(self.inner.delete_in(tx.raw(), key)?)
    }

    /// The raw binding.
    pub fn raw(&self) -> &store::Bucket {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::ttl_ms;
    use std::time::Duration;

    #[test]
    fn ttls_round_up_to_milliseconds() {
        assert_eq!(ttl_ms(None), None);
        assert_eq!(ttl_ms(Some(Duration::from_secs(2))), Some(2000));
        assert_eq!(ttl_ms(Some(Duration::from_micros(1))), Some(1));
        assert_eq!(ttl_ms(Some(Duration::MAX)), Some(u64::MAX));
    }
}
