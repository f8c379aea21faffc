//! `pb:kv` — key-value state with TTLs, counters and locks
//! (`wit/deps/pb-kv/kv.wit`), on the host's database: table `pbs_kv`, in
//! SQLite or (UNLOGGED) in PostgreSQL. The SQL is in [`sql`]; it runs on
//! connections of `pb:kv`'s own ([`KvStore`], see [`crate::store::leases`]),
//! and `get` on SQLite on the calling thread ([`reader`]). This file is the
//! WIT face: namespaces, validation, errors.
//!
//! - **Namespaces.** `open(none)` is the calling function's own namespace,
//!   seen by no other function; `open("shared")` is the one every function
//!   of the host (and of every host on the same database) sees. Any other
//!   name is `denied`: a function may not open another's namespace.
//! - **TTL.** `ttl-ms` makes a key expire; none means never (and `set`
//!   without a TTL clears an earlier one). A key past its TTL is never
//!   returned, counted or listed, even before the sweeper ([`sweep_loop`],
//!   every [`SWEEP_EVERY`]) deletes its row.
//! - **Counters.** `incr` works on a value that is a canonical decimal
//!   `s64` (`"0"`, `"-12"`, what JSON numbers look like); an absent or
//!   expired key counts from 0; anything else, or an overflow, is `invalid`
//!   and nothing is written.
//! - **Limits**: [`MAX_KEY_LEN`], [`MAX_VALUE_LEN`] (`quota` beyond),
//!   [`MAX_TTL_MS`], [`DEFAULT_PAGE`] / [`MAX_PAGE`] keys per `list-keys`.
//! - `set-in` / `delete-in` run the same statements on a `pb:data`
//!   transaction's connection ([`crate::caps::data::Transaction`]): the write lands
//!   only if the transaction commits.
//!
//! Not in single-component mode (`pbs serve COMPONENT`): there is no
//! database, and `open` answers `unavailable`.

pub mod reader;
pub mod sql;

use crate::caps::bindings::kv::store::{self, Error, Host, HostBucket, KeyPage};
use crate::caps::data::Transaction;
use crate::caps::error::{self as failure, Answer};
use crate::caps::services::Services;
use crate::engine::Invocation;
use crate::store::{now_ms, Db, Leases};
use crate::telemetry::{CallKind, Scope};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// Longest key (and list prefix or cursor), in bytes.
pub const MAX_KEY_LEN: usize = 512;
/// Largest value; a larger one is a `quota` error.
pub const MAX_VALUE_LEN: usize = 1 << 20;
/// Longest TTL: 100 years.
pub const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;
/// Keys per `list-keys` page when the guest gives no limit.
pub const DEFAULT_PAGE: u32 = 100;
/// Most keys per `list-keys` page (a larger limit is lowered to this).
pub const MAX_PAGE: u32 = 1000;
/// The namespace every function sees.
pub const SHARED: &str = "shared";
/// How often the sweeper deletes expired rows.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Rows one sweeper statement deletes at most (short write locks).
pub const SWEEP_BATCH: i64 = 1000;

/// The host side of a `bucket` resource: the namespace it opened, as
/// stored (`fn:<function>` or `shared`).
pub struct Bucket {
    namespace: Arc<str>,
}

/// What `pb:kv` keeps per host (in its `Services`): connections of its own,
/// and SQLite's direct readers.
#[derive(Default)]
pub struct KvStore {
    leases: Leases,
    /// Made at first use; none on PostgreSQL.
    readers: OnceLock<Option<reader::Readers>>,
}

impl KvStore {
    fn readers(&self, db: &Db) -> Option<&reader::Readers> {
        self.readers
            .get_or_init(|| reader::Readers::for_db(db))
            .as_ref()
    }
}

/// Per-call view of an invocation for `pb:kv`.
pub struct KvView<'a> {
    pub table: &'a mut ResourceTable,
    pub function: &'a Arc<str>,
    /// The invocation's telemetry: a span and a ledger entry per call.
    pub obs: &'a Scope,
    pub services: Option<&'a Arc<Services>>,
    /// Inside a before-hook: the write's transaction, which `set` and
    /// `delete` join (see [`crate::caps::data::hooks`]).
    pub scope: Option<&'a Transaction>,
}

struct HasKvView;
impl HasData for HasKvView {
    type Data<'a> = KvView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    store::add_to_linker::<_, HasKvView>(linker, |s| KvView {
        table: &mut s.table,
        function: &s.trace.function,
        obs: &s.trace.scope,
        services: s.services.as_ref(),
        scope: s.hook.scope.as_ref(),
    })
}

type Bytes = Vec<u8>;

fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::Invalid("the key is empty".into()));
    }
    check_text("key", key)
}

/// Keys, prefixes and cursors: at most [`MAX_KEY_LEN`] bytes, no NUL.
fn check_text(what: &str, text: &str) -> Result<(), Error> {
    if text.len() > MAX_KEY_LEN {
        return Err(Error::Invalid(format!(
            "the {what} is {} bytes long; at most {MAX_KEY_LEN} are allowed",
            text.len()
        )));
    }
    if text.contains('\0') {
        return Err(Error::Invalid(format!(
            "the {what} contains a NUL character"
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), Error> {
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::Quota(format!(
            "the value is {} bytes; at most {MAX_VALUE_LEN} are allowed",
            value.len()
        )));
    }
    Ok(())
}

/// The expiry time of a TTL given at `now`.
fn expiry(ttl_ms: Option<u64>, now: i64) -> Result<Option<i64>, Error> {
    match ttl_ms {
        None => Ok(None),
        Some(0) => Err(Error::Invalid("the TTL must be at least 1 ms".into())),
        Some(ttl) if ttl > MAX_TTL_MS => Err(Error::Invalid(format!(
            "the TTL is {ttl} ms; at most {MAX_TTL_MS} ms (100 years) is allowed"
        ))),
        // At most 100 years: no overflow.
        Some(ttl) => Ok(Some(now + ttl as i64)),
    }
}

/// The smallest string above every string that starts with `prefix`, in
/// byte (= code point) order; none when there is no such bound (empty
/// prefix, or only U+10FFFF).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 {
            0xD7FF => Some('\u{E000}'),
            n => char::from_u32(n + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl<'a> KvView<'a> {
    /// The host's services and the namespace of a bucket.
    fn target(&self, b: &Resource<Bucket>) -> Answer<(&'a Arc<Services>, Arc<str>), Error> {
        let bucket = self.table.get(b)?;
        Ok(match self.services {
            Some(s) => Ok((s, bucket.namespace.clone())),
            None => Err(failure::unavailable("pb:kv")),
        })
    }
}

impl KvView<'_> {
    /// Inside a before-hook, `incr`, `set-if-absent` and `compare-and-swap`
    /// are refused: they read and write on a connection of their own, so
    /// they would neither commit nor roll back with the write, and could
    /// wait for locks its transaction holds (SQLite's only write lock, a
    /// PostgreSQL row the hook just `set`).
    fn refused_in_hook(&self, op: &str) -> Result<(), Error> {
        if self.scope.is_none() {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "pb.kv {op} cannot run inside a before-hook (it would run outside the write's \
             transaction); use set/delete, which join that transaction, or do it in an after-hook"
        )))
    }
}

impl KvView<'_> {
    /// `get` on SQLite's direct readers ([`reader`]); none when there are
    /// none or SQLite was busy, and the caller goes the sqlx way.
    fn direct_get(
        &self,
        b: &Resource<Bucket>,
        key: &str,
    ) -> wasmtime::Result<Option<Result<Option<Bytes>, Error>>> {
        let Some(services) = self.services else {
            return Ok(None);
        };
        let bucket = self.table.get(b)?;
        let Some(readers) = services.kv.readers(&services.db) else {
            return Ok(None);
        };
        let call = self.obs.call("pb.kv.get", CallKind::Kv);
        if let Err(e) = failure::budget(&call)? {
            return Ok(Some(Err(failure::refused(call, e))));
        }
        Ok(match readers.get(&bucket.namespace, key, now_ms()) {
            Ok(reader::Read::Done(value)) => {
                call.end(None);
                Some(Ok(value))
            }
            // Counted again on the sqlx path: take the one back.
            Ok(reader::Read::Busy) => {
                crate::telemetry::Ledger::sub(&self.obs.ledger.kv_ops, 1);
                crate::telemetry::Ledger::sub(&self.obs.ledger.host_calls, 1);
                None
            }
            Err(e) => {
                call.end(Some("internal"));
                Some(Err(failure::internal("pb:kv", "get", self.function, e)))
            }
        })
    }
}

/// Runs one operation on a connection lent by `pb:kv`'s [`KvStore`]; a
/// database error becomes `internal` (logged). A `pb.kv.<op>` host call
/// ([`crate::telemetry::Scope::call`]).
macro_rules! op {
    ($self:ident, $b:ident, $name:literal, |$conn:ident, $ns:ident| $body:expr) => {{
        let (services, $ns) = match $self.target(&$b)? {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        let call = $self.obs.call(concat!("pb.kv.", $name), CallKind::Kv);
        if let Err(e) = failure::budget(&call)? {
            return Ok(Err(failure::refused(call, e)));
        }
        let work = async {
            let mut lease = services.kv.leases.lease(&services.db).await?;
            let $conn = lease.conn();
            let result = $body.await;
            lease.finished_with(&result);
            result
        };
        let result: Result<_, Error> = call
            .run(work)
            .await
            .map_err(|e| failure::internal("pb:kv", $name, $self.function, e));
        call.end(failure::case(&result));
        Ok::<_, wasmtime::Error>(result)
    }};
}

/// Runs one operation on the connection of the pb:data transaction `$tx`
/// (a `set-in`/`delete-in`, or a `set`/`delete` inside a before-hook); a
/// finished transaction is `invalid`. A `pb.kv.<op>` host call.
macro_rules! in_tx {
    ($self:ident, $b:ident, $tx:expr, $name:literal, |$conn:ident, $ns:ident| $body:expr) => {{
        let $ns = $self.table.get(&$b)?.namespace.clone();
        let call = $self.obs.call(concat!("pb.kv.", $name), CallKind::Kv);
        if let Err(e) = failure::budget(&call)? {
            return Ok(Err(failure::refused(call, e)));
        }
        let tx: Transaction = $tx;
        let mut guard = tx.lock().await;
        let $conn = match guard.conn() {
            Ok(c) => c,
            Err(e) => return Ok(Err(Error::Invalid(e.message()))),
        };
        let result = call
            .run($body)
            .await
            .map_err(|e| failure::internal("pb:kv", $name, $self.function, e));
        call.end(failure::case(&result));
        Ok(result)
    }};
}

macro_rules! check {
    ($e:expr) => {
        if let Err(e) = $e {
            return Ok(Err(e));
        }
    };
}

impl Host for KvView<'_> {
    async fn open(&mut self, namespace: Option<String>) -> Answer<Resource<Bucket>, Error> {
        if self.services.is_none() {
            return Ok(Err(failure::unavailable("pb:kv")));
        }
        let namespace: Arc<str> = match namespace.as_deref() {
            None => format!("fn:{}", self.function).into(),
            Some(SHARED) => SHARED.into(),
            Some(other) => {
                return Ok(Err(Error::Denied(format!(
                    "a function may open its own namespace (none) or {SHARED:?}, not {:?}",
                    other.chars().take(64).collect::<String>()
                ))))
            }
        };
        Ok(Ok(self.table.push(Bucket { namespace })?))
    }
}

impl HostBucket for KvView<'_> {
    async fn get(&mut self, b: Resource<Bucket>, key: String) -> Answer<Option<Bytes>, Error> {
        check!(check_key(&key));
        if let Some(answer) = self.direct_get(&b, &key)? {
            return Ok(answer);
        }
        op!(self, b, "get", |conn, ns| sql::get(
            conn,
            &ns,
            &key,
            now_ms()
        ))
    }

    async fn set(
        &mut self,
        b: Resource<Bucket>,
        key: String,
        value: Bytes,
        ttl_ms: Option<u64>,
    ) -> Answer<(), Error> {
        check!(check_key(&key));
        check!(check_value(&value));
        let expires = match expiry(ttl_ms, now_ms()) {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(tx) = self.scope.cloned() {
            // In a before-hook: with the write, or not at all.
            return in_tx!(self, b, tx, "set", |conn, ns| sql::set(
                conn, &ns, &key, &value, expires
            ));
        }
        op!(self, b, "set", |conn, ns| sql::set(
            conn, &ns, &key, &value, expires
        ))
    }

    async fn delete(&mut self, b: Resource<Bucket>, key: String) -> Answer<bool, Error> {
        check!(check_key(&key));
        if let Some(tx) = self.scope.cloned() {
            return in_tx!(self, b, tx, "delete", |conn, ns| sql::delete(
                conn,
                &ns,
                &key,
                now_ms()
            ));
        }
        op!(self, b, "delete", |conn, ns| sql::delete(
            conn,
            &ns,
            &key,
            now_ms()
        ))
    }

    async fn incr(&mut self, b: Resource<Bucket>, key: String, delta: i64) -> Answer<i64, Error> {
        check!(check_key(&key));
        check!(self.refused_in_hook("incr"));
        let counted: Result<Option<i64>, Error> = op!(self, b, "incr", |conn, ns| sql::incr(
            conn,
            &ns,
            &key,
            delta,
            now_ms()
        ))?;
        Ok(counted.and_then(|n| {
            n.ok_or_else(|| {
                Error::Invalid(format!(
                    "the value of {:?} is not a decimal integer counter, or adding {delta} would overflow",
                    key.chars().take(64).collect::<String>()
                ))
            })
        }))
    }

    async fn set_if_absent(
        &mut self,
        b: Resource<Bucket>,
        key: String,
        value: Bytes,
        ttl_ms: Option<u64>,
    ) -> Answer<bool, Error> {
        check!(check_key(&key));
        check!(check_value(&value));
        check!(self.refused_in_hook("set-if-absent"));
        let now = now_ms();
        let expires = match expiry(ttl_ms, now) {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)),
        };
        op!(self, b, "set-if-absent", |conn, ns| sql::set_if_absent(
            conn, &ns, &key, &value, expires, now
        ))
    }

    async fn compare_and_swap(
        &mut self,
        b: Resource<Bucket>,
        key: String,
        expected: Option<Bytes>,
        value: Bytes,
        ttl_ms: Option<u64>,
    ) -> Answer<bool, Error> {
        check!(check_key(&key));
        check!(check_value(&value));
        check!(self.refused_in_hook("compare-and-swap"));
        let now = now_ms();
        let expires = match expiry(ttl_ms, now) {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)),
        };
        match expected {
            None => op!(self, b, "compare-and-swap", |conn, ns| sql::set_if_absent(
                conn, &ns, &key, &value, expires, now
            )),
            // No stored value is that large: it cannot match.
            Some(expected) if expected.len() > MAX_VALUE_LEN => {
                self.table.get(&b)?;
                Ok(Ok(false))
            }
            Some(expected) => op!(self, b, "compare-and-swap", |conn, ns| sql::swap(
                conn, &ns, &key, &expected, &value, expires, now
            )),
        }
    }

    async fn list_keys(
        &mut self,
        b: Resource<Bucket>,
        prefix: String,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> Answer<KeyPage, Error> {
        check!(check_text("prefix", &prefix));
        if let Some(c) = &cursor {
            check!(check_text("cursor", c));
        }
        let limit = match limit.unwrap_or(DEFAULT_PAGE) {
            0 => return Ok(Err(Error::Invalid("the limit must be at least 1".into()))),
            n => n.min(MAX_PAGE),
        };
        // The cursor is the last key of the previous page.
        let (lower, after) = match cursor {
            Some(c) if c >= prefix => (c, true),
            _ => (prefix.clone(), false),
        };
        let upper = prefix_end(&prefix);
        let mut keys: Vec<String> = match op!(self, b, "list-keys", |conn, ns| sql::list(
            conn,
            &ns,
            &lower,
            after,
            upper.as_deref(),
            i64::from(limit) + 1,
            now_ms()
        ))? {
            Ok(keys) => keys,
            Err(e) => return Ok(Err(e)),
        };
        let cursor = if keys.len() > limit as usize {
            keys.truncate(limit as usize);
            keys.last().cloned()
        } else {
            None
        };
        Ok(Ok(KeyPage { keys, cursor }))
    }

    async fn set_in(
        &mut self,
        b: Resource<Bucket>,
        tx: Resource<Transaction>,
        key: String,
        value: Bytes,
        ttl_ms: Option<u64>,
    ) -> Answer<(), Error> {
        check!(check_key(&key));
        check!(check_value(&value));
        let expires = match expiry(ttl_ms, now_ms()) {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)),
        };
        let tx = self.table.get(&tx)?.clone();
        in_tx!(self, b, tx, "set-in", |conn, ns| sql::set(
            conn, &ns, &key, &value, expires
        ))
    }

    async fn delete_in(
        &mut self,
        b: Resource<Bucket>,
        tx: Resource<Transaction>,
        key: String,
    ) -> Answer<bool, Error> {
        check!(check_key(&key));
        let tx = self.table.get(&tx)?.clone();
        in_tx!(self, b, tx, "delete-in", |conn, ns| sql::delete(
            conn,
            &ns,
            &key,
            now_ms()
        ))
    }

    async fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

/// Deletes every row past its TTL, [`SWEEP_BATCH`] rows per statement;
/// returns how many.
pub async fn sweep(db: &Db) -> sqlx::Result<u64> {
    let now = now_ms();
    let mut total = 0;
    loop {
        let n = sql::sweep(db, now, SWEEP_BATCH).await?;
        total += n;
        if n < SWEEP_BATCH as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// The sweeper: [`sweep`] every [`SWEEP_EVERY`] until `stopped` changes.
/// Reads never depend on it; it only keeps expired rows from piling up.
pub async fn sweep_loop(db: Db, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = stopped.changed() => return,
        }
        match sweep(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(target: "pb.kv", "swept {n} expired keys"),
            Err(e) => tracing::warn!(target: "pb.kv", "sweeping expired keys failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_every_key_with_the_prefix() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        let end = prefix_end("chat:").unwrap();
        for key in ["chat:", "chat:1", "chat:\u{10FFFF}x"] {
            assert!(key < end.as_str(), "{key}");
        }
        assert!("chat;" >= end.as_str());
    }

    #[test]
    fn keys_values_and_ttls_are_checked() {
        assert!(matches!(check_key(""), Err(Error::Invalid(_))));
        assert!(matches!(check_key("a\0b"), Err(Error::Invalid(_))));
        assert!(check_key(&"k".repeat(MAX_KEY_LEN)).is_ok());
        assert!(matches!(
            check_key(&"k".repeat(MAX_KEY_LEN + 1)),
            Err(Error::Invalid(_))
        ));
        assert!(check_value(&vec![0; MAX_VALUE_LEN]).is_ok());
        assert!(matches!(
            check_value(&vec![0; MAX_VALUE_LEN + 1]),
            Err(Error::Quota(_))
        ));
        assert_eq!(expiry(None, 5).ok(), Some(None));
        assert_eq!(expiry(Some(10), 5).ok(), Some(Some(15)));
        assert!(matches!(expiry(Some(0), 5), Err(Error::Invalid(_))));
        assert!(matches!(expiry(Some(u64::MAX), 5), Err(Error::Invalid(_))));
    }
}
