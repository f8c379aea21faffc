//! One database transaction that several parties share: the host side of a
//! `pb:data` `transaction` resource, and the transaction of a write that
//! has record hooks (its before-hooks' `pb:data` calls join it through
//! [`super::hooks::Origin`]). Owned (`sqlx::Transaction<'static, _>` on a
//! connection of the host's pool), begun with `BEGIN IMMEDIATE` on SQLite so
//! two transactions that read then write serialise on the write lock
//! instead of failing to upgrade it. A clone is another handle on the same
//! transaction; each operation holds its lock only while it talks to the
//! database, never while a hook runs. The record operations run the same
//! `read` / `write` / `vector` SQL as [`super::ops`]; `pb:kv` `set-in` /
//! `delete-in` and `pb:jobs` `enqueue-in` borrow the connection through
//! [`Transaction::lock`].
//!
//! A hooked write runs its before-hooks and the write inside a savepoint:
//! a hook that rejects, fails, or a write that fails undoes what the hooks
//! wrote, and the rest of the transaction stands. (A write in a transaction
//! begun for it alone needs none: its failure rolls the transaction back.)
//! After-hooks are queued and run once the transaction has committed.
//!
//! After `commit` or `rollback` every call fails with `invalid`. A
//! transaction dropped without either — the guest forgot, trapped, timed
//! out or its instance was killed (the `Store` and its `ResourceTable` go)
//! — rolls back: sqlx's `Transaction` does so on drop (the `ROLLBACK` is
//! queued on the connection, which the pool runs before lending it again).

use super::catalog::Snapshot;
use super::error::{DataError, DataResult};
use super::hooks::{self, Binding, Call, Event};
use super::ids;
use super::ops::Page;
use super::read::{self, ListQuery};
use super::rules::{condition, Access, Op};
use super::schema::Collection;
use super::store::Store;
use super::values::Record;
use super::{vector, write};
use crate::store::{Conn, Tx};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// Run after a commit (e.g. wake this host's job workers).
type AfterCommit = Box<dyn FnOnce() + Send + Sync>;

/// pb:files' files to delete once the transaction has committed: a deleted
/// record's (collection, record), or one file no longer named by its record.
enum Files {
    Record(String, String),
    File(String, String, String),
}

struct State {
    /// None once committed or rolled back.
    inner: Option<Tx<'static>>,
    after_commit: Vec<AfterCommit>,
    files: Vec<Files>,
    /// After-hooks of the writes made in this transaction, in order.
    after_hooks: Vec<Call>,
    /// The record-hook bindings, read at the first write that looks for
    /// them: every write of the transaction runs hooks of this one set.
    hooks: Option<Arc<Vec<Binding>>>,
    /// Savepoints taken so far (their names are numbered).
    savepoints: u64,
    /// One of the host's [`MAX_OPEN`] slots, given back when done.
    slot: Option<OwnedSemaphorePermit>,
}

/// A shared database transaction (see the module's notes).
#[derive(Clone)]
pub struct Transaction {
    store: Arc<Store>,
    state: Arc<tokio::sync::Mutex<State>>,
    /// Begun for one hooked write ([`Transaction::begin_for_write`]).
    one_write: bool,
}

/// The transaction, locked: its connection.
pub struct Guard<'a>(tokio::sync::MutexGuard<'a, State>);

impl Guard<'_> {
    /// The transaction's connection; `invalid` once it is done.
    pub fn conn(&mut self) -> DataResult<Conn<'_>> {
        match self.0.inner.as_mut() {
            Some(tx) => Ok(tx.conn()),
            None => Err(done()),
        }
    }

    /// Runs `f` once the transaction has committed (never if it rolls back).
    pub fn after_commit(&mut self, f: impl FnOnce() + Send + Sync + 'static) {
        self.0.after_commit.push(Box::new(f));
    }
}

/// At most this many transactions are open on one host at a time (each
/// holds a connection of the pool, which has [`crate::store::MAX_CONNECTIONS`]):
/// the rest of the host keeps connections even when guests leave
/// transactions open.
pub const MAX_OPEN: usize = crate::store::MAX_CONNECTIONS as usize / 2;

/// How long `begin` waits for one of the [`MAX_OPEN`] slots.
const SLOT_WAIT: Duration = Duration::from_secs(10);

fn done() -> DataError {
    DataError::invalid("the transaction has already been committed or rolled back")
}

impl Transaction {
    /// Begins a transaction on a connection of the store's pool.
    pub async fn begin(store: Arc<Store>) -> DataResult<Transaction> {
        Self::open(store, false).await
    }

    /// Begins the transaction of one write that has record hooks (the
    /// caller commits it when the write succeeds and rolls it back when it
    /// fails): that write, the outermost, needs no savepoint of its own,
    /// which spares it two statements (`SAVEPOINT`, `RELEASE`). The writes
    /// its hooks make still take theirs.
    pub async fn begin_for_write(store: Arc<Store>) -> DataResult<Transaction> {
        Self::open(store, true).await
    }

    async fn open(store: Arc<Store>, one_write: bool) -> DataResult<Transaction> {
        let slot =
            match tokio::time::timeout(SLOT_WAIT, store.tx_slots.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                _ => {
                    return Err(DataError::Quota(format!(
                        "more than {MAX_OPEN} transactions are open on this host (pb:data \
                     transactions, and writes that run record hooks); try again shortly, and \
                     commit or roll back the transactions you began"
                    )))
                }
            };
        let inner = store
            .db
            .begin()
            .await
            .map_err(|e| DataError::db("begin a transaction", e))?;
        let state = State {
            inner: Some(inner),
            after_commit: Vec::new(),
            files: Vec::new(),
            after_hooks: Vec::new(),
            hooks: None,
            savepoints: 0,
            slot: Some(slot),
        };
        Ok(Transaction {
            store,
            state: Arc::new(tokio::sync::Mutex::new(state)),
            one_write,
        })
    }

    /// The transaction, locked, for a caller that runs its own SQL in it.
    pub async fn lock(&self) -> Guard<'_> {
        Guard(self.state.lock().await)
    }

    /// Whether the transaction is still open.
    pub async fn is_open(&self) -> bool {
        self.state.lock().await.inner.is_some()
    }

    /// Commits if `result` is a success, else rolls back; then `result`.
    pub async fn finish<T>(&self, result: DataResult<T>) -> DataResult<T> {
        match result {
            Ok(v) => self.commit().await.map(|_| v),
            Err(e) => {
                let _ = self.rollback().await;
                Err(e)
            }
        }
    }

    pub async fn commit(&self) -> DataResult<()> {
        let db_err = |e| DataError::db("commit a transaction", e);
        let (after_commit, files, after_hooks) = {
            let mut state = self.state.lock().await;
            let inner = state.inner.take().ok_or_else(done)?;
            let _slot = state.slot.take();
            inner.commit().await.map_err(db_err)?;
            (
                std::mem::take(&mut state.after_commit),
                std::mem::take(&mut state.files),
                std::mem::take(&mut state.after_hooks),
            )
        };
        for f in after_commit {
            f();
        }
        // Committed: the files of deleted records, and files no longer
        // named, go too (as after `ops.rs`'s own transactions); then the
        // after-hooks. In a task of its own, awaited: the caller's answer
        // waits for it, but a caller that goes away (a client hanging up, a
        // guest stopped at its deadline) does not cancel it halfway.
        let store = self.store.clone();
        let work = tokio::spawn(async move {
            for f in files {
                match f {
                    Files::Record(c, id) => store.delete_files(&c, Some(&id)).await,
                    Files::File(c, id, name) => store.delete_file(&c, &id, &name).await,
                }
            }
            for call in after_hooks {
                store.hooks.run_after(call).await;
            }
        });
        if let Err(e) = work.await {
            tracing::error!(target: "pb.data", "the work after a commit failed: {e}");
        }
        Ok(())
    }

    pub async fn rollback(&self) -> DataResult<()> {
        let mut state = self.state.lock().await;
        state.after_commit.clear();
        state.files.clear();
        state.after_hooks.clear();
        let db_err = |e| DataError::db("roll back a transaction", e);
        let inner = state.inner.take().ok_or_else(done)?;
        let _slot = state.slot.take();
        inner.rollback().await.map_err(db_err)
    }

    async fn collection(&self, name: &str) -> DataResult<(Arc<Snapshot>, Arc<Collection>)> {
        if !self.is_open().await {
            return Err(done());
        }
        self.store.collection(name).await
    }

    /// A failed call may have met a table another host changed.
    fn after<T>(&self, result: DataResult<T>) -> DataResult<T> {
        if let Err(DataError::Internal) = &result {
            self.store.catalog.invalidate();
        }
        result
    }

    pub async fn get_one(
        &self,
        collection: &str,
        id: &str,
        access: Access,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::View, access)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let found = read::get(&mut self.lock().await.conn()?, &c, id, rule).await;
        match self.after(found)? {
            Some(r) => Ok((c, r)),
            None => Err(DataError::missing_record()),
        }
    }

    pub async fn list(
        &self,
        collection: &str,
        q: &ListQuery,
        access: Access,
    ) -> DataResult<(Arc<Collection>, Page)> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::List, access)?;
        let listed = read::list(&mut self.lock().await.conn()?, &c, q, rule).await;
        Ok((c, Page::new(q, self.after(listed)?)))
    }

    pub async fn first(
        &self,
        collection: &str,
        filter: &str,
        access: Access,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let q = ListQuery::first(filter);
        let (c, page) = self.list(collection, &q, access).await?;
        match page.items.into_iter().next() {
            Some(r) => Ok((c, r)),
            None => Err(DataError::missing_record()),
        }
    }

    pub async fn vector_search(
        &self,
        collection: &str,
        q: &vector::Query<'_>,
        access: Access,
    ) -> DataResult<(Arc<Collection>, Vec<(Record, f64)>)> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::List, access)?;
        vector::check(&c, q)?;
        let found = vector::search(&mut self.lock().await.conn()?, &c, q, rule).await;
        Ok((c, self.after(found)?))
    }

    /// Creates a record, running the collection's create hooks; `depth` is
    /// the writer's ([`super::hooks::Origin`]).
    pub async fn create(
        &self,
        collection: &str,
        input: &Map<String, Value>,
        access: Access,
        depth: u32,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (snap, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Create, access)?;
        let hooks = &self.store.hooks;
        let before = self.bound(&c.name, Event::BeforeCreate).await?;
        let hooked = !before.is_empty();
        let savepoint = self.savepoint(hooked, depth).await?;
        let created = async {
            let input = if hooked {
                Cow::Owned(
                    hooks
                        .run_before(before, input.clone(), None, depth, self)
                        .await?,
                )
            } else {
                Cow::Borrowed(input)
            };
            let record = {
                let mut g = self.lock().await;
                write::create_with_rule(&mut g.conn()?, &snap, &c, &input, rule).await?
            };
            let json = Value::Object(record.to_json(&c)).to_string();
            self.queue_after(&c, Event::AfterCreate, json, None, depth)
                .await?;
            Ok(record)
        }
        .await;
        let record = self.after(self.release(savepoint, created).await)?;
        Ok((c, record))
    }

    /// Updates a record, running the collection's update hooks.
    pub async fn update(
        &self,
        collection: &str,
        id: &str,
        patch: &Map<String, Value>,
        access: Access,
        depth: u32,
    ) -> DataResult<(Arc<Collection>, Record)> {
        let (snap, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Update, access)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let hooks = &self.store.hooks;
        let before = self.bound(&c.name, Event::BeforeUpdate).await?;
        let hooked = !before.is_empty();
        let savepoint = self.savepoint(hooked, depth).await?;
        let updated = async {
            let patch = if hooked {
                // The hooks see the record as it will be written …
                let current = read::get(&mut self.lock().await.conn()?, &c, id, rule)
                    .await?
                    .ok_or_else(DataError::missing_record)?;
                let old = current.to_json(&c);
                let mut merged = old.clone();
                merged.extend(patch.iter().map(|(k, v)| (k.clone(), v.clone())));
                let out = hooks
                    .run_before(before, merged, Some(&old), depth, self)
                    .await?;
                // … and what is written is the client's patch and what the
                // hooks changed, not every field as read before the hooks
                // ran (a concurrent update of other fields stands).
                Cow::Owned(
                    out.into_iter()
                        .filter(|(k, v)| patch.contains_key(k) || old.get(k) != Some(v))
                        .collect::<Map<String, Value>>(),
                )
            } else {
                Cow::Borrowed(patch)
            };
            let u = {
                let mut g = self.lock().await;
                write::update_with_before(&mut g.conn()?, &snap, &c, id, &patch, rule)
                    .await?
                    .ok_or_else(DataError::missing_record)?
            };
            let mut state = self.state.lock().await;
            for name in u.dropped_files(&c) {
                state
                    .files
                    .push(Files::File(c.name.clone(), id.to_string(), name));
            }
            drop(state);
            let (after, before) = (
                Value::Object(u.after.to_json(&c)).to_string(),
                Value::Object(u.before.to_json(&c)).to_string(),
            );
            self.queue_after(&c, Event::AfterUpdate, after, Some(before), depth)
                .await?;
            Ok(u.after)
        }
        .await;
        let record = self.after(self.release(savepoint, updated).await)?;
        Ok((c, record))
    }

    /// Deletes a record, running the collection's delete hooks.
    pub async fn delete(
        &self,
        collection: &str,
        id: &str,
        access: Access,
        depth: u32,
    ) -> DataResult<()> {
        let (_, c) = self.collection(collection).await?;
        let rule = condition(&c, Op::Delete, access)?;
        if !ids::valid_id(id) {
            return Err(DataError::missing_record());
        }
        let hooks = &self.store.hooks;
        let before = self.bound(&c.name, Event::BeforeDelete).await?;
        let hooked = !before.is_empty();
        let savepoint = self.savepoint(hooked, depth).await?;
        let deleted = async {
            if hooked {
                let current = read::get(&mut self.lock().await.conn()?, &c, id, rule)
                    .await?
                    .ok_or_else(DataError::missing_record)?;
                let record = current.to_json(&c);
                hooks
                    .run_before(before, record.clone(), Some(&record), depth, self)
                    .await?;
            }
            let record = {
                let mut g = self.lock().await;
                write::delete(&mut g.conn()?, &c, id, rule)
                    .await?
                    .ok_or_else(DataError::missing_record)?
            };
            self.state
                .lock()
                .await
                .files
                .push(Files::Record(c.name.clone(), id.to_string()));
            let json = Value::Object(record.to_json(&c)).to_string();
            self.queue_after(&c, Event::AfterDelete, json.clone(), Some(json), depth)
                .await
        }
        .await;
        self.after(self.release(savepoint, deleted).await)
    }

    /// The hooks on `event` of `collection`, from the set this transaction
    /// read first ([`State::hooks`]).
    async fn bound(&self, collection: &str, event: Event) -> DataResult<Vec<Binding>> {
        let seen = self.state.lock().await.hooks.clone();
        let all = match seen {
            Some(all) => all,
            None => {
                // Not under the lock: reading the set may query the database.
                let all = self.store.hooks.snapshot(&self.store.db).await?;
                self.state.lock().await.hooks.get_or_insert(all).clone()
            }
        };
        Ok(hooks::on(&all, collection, event))
    }

    /// Queues the `event` hooks of `c` to run after the commit.
    async fn queue_after(
        &self,
        c: &Collection,
        event: Event,
        record: String,
        old_record: Option<String>,
        depth: u32,
    ) -> DataResult<()> {
        let bound = self.bound(&c.name, event).await?;
        if bound.is_empty() {
            return Ok(());
        }
        let mut state = self.state.lock().await;
        for binding in bound {
            state.after_hooks.push(Call {
                binding,
                record: record.clone(),
                old_record: old_record.clone(),
                depth,
                scope: None,
            });
        }
        Ok(())
    }

    /// Takes a savepoint for a write with before-hooks (`hooked`), and for
    /// any write a hook makes (`depth` > 0: on PostgreSQL a failed statement
    /// would otherwise abort the whole transaction, even when the hook
    /// catches the error). Not for the outermost write of a transaction
    /// begun for it alone: its failure rolls everything back.
    async fn savepoint(&self, hooked: bool, depth: u32) -> DataResult<Option<Savepoint>> {
        if depth == 0 && (!hooked || self.one_write) {
            return Ok(None);
        }
        let mut g = self.lock().await;
        g.0.savepoints += 1;
        let savepoint = Savepoint {
            name: format!("pbs_hook_{}", g.0.savepoints),
            queued: (
                g.0.after_commit.len(),
                g.0.files.len(),
                g.0.after_hooks.len(),
            ),
        };
        g.conn()?
            .execute(&format!("SAVEPOINT {}", savepoint.name), Vec::new())
            .await
            .map_err(|e| DataError::db("take a savepoint", e))?;
        Ok(Some(savepoint))
    }

    /// Releases the savepoint after a success, rolls back to it after a
    /// failure: what the hooks wrote goes with the refused write, and so do
    /// the after-commit work, file deletions and after-hooks they queued.
    async fn release<T>(
        &self,
        savepoint: Option<Savepoint>,
        result: DataResult<T>,
    ) -> DataResult<T> {
        let Some(sp) = savepoint else {
            return result;
        };
        let sql = match &result {
            Ok(_) => format!("RELEASE SAVEPOINT {}", sp.name),
            Err(_) => format!("ROLLBACK TO SAVEPOINT {}", sp.name),
        };
        let mut g = self.lock().await;
        if result.is_err() {
            let (commit, files, hooks) = sp.queued;
            g.0.after_commit.truncate(commit);
            g.0.files.truncate(files);
            g.0.after_hooks.truncate(hooks);
        }
        let mut conn = match g.conn() {
            Ok(c) => c,
            // Done meanwhile: nothing to undo here.
            Err(_) => return result,
        };
        if let Err(e) = conn.execute(&sql, Vec::new()).await {
            return Err(DataError::db("end a savepoint", e));
        }
        result
    }
}

/// A savepoint, and how long the transaction's queues were when it was
/// taken.
struct Savepoint {
    name: String,
    /// after_commit, files, after_hooks.
    queued: (usize, usize, usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::files::Files;
    use crate::store::Db;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn store(dir: &tempfile::TempDir) -> Arc<Store> {
        let db = Db::open(&dir.path().join("data.db").to_string_lossy())
            .await
            .unwrap();
        db.query("CREATE TABLE t (x INTEGER)")
            .execute()
            .await
            .unwrap();
        let files = Files::open(&Default::default(), dir.path()).unwrap();
        Arc::new(Store::new(db, Arc::new(files)))
    }

    async fn insert(tx: &Transaction) {
        tx.lock()
            .await
            .conn()
            .unwrap()
            .execute("INSERT INTO t (x) VALUES (1)", Vec::new())
            .await
            .unwrap();
    }

    async fn rows(store: &Store) -> i64 {
        store
            .db
            .query("SELECT COUNT(*) FROM t")
            .scalar()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn dropped_without_commit_rolls_back_and_frees_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let tx = Transaction::begin(store.clone()).await.unwrap();
        insert(&tx).await;
        let r = ran.clone();
        tx.lock().await.after_commit(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        drop(tx);
        assert_eq!(rows(&store).await, 0);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        // The write lock is free: a new transaction writes and commits.
        let tx = Transaction::begin(store.clone()).await.unwrap();
        insert(&tx).await;
        let r = ran.clone();
        tx.lock().await.after_commit(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        tx.commit().await.unwrap();
        assert_eq!(rows(&store).await, 1);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn after_commit_or_rollback_every_call_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        for commit in [true, false] {
            let tx = Transaction::begin(store.clone()).await.unwrap();
            insert(&tx).await;
            if commit {
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
            }
            assert!(!tx.is_open().await);
            assert!(matches!(
                tx.lock().await.conn(),
                Err(DataError::Invalid { .. })
            ));
            assert!(matches!(tx.commit().await, Err(DataError::Invalid { .. })));
            assert!(matches!(
                tx.rollback().await,
                Err(DataError::Invalid { .. })
            ));
            assert!(matches!(
                tx.get_one("anything", "x", Access::Full).await,
                Err(DataError::Invalid { .. })
            ));
        }
        assert_eq!(rows(&store).await, 1);
    }

    #[tokio::test]
    async fn slots_are_given_back_on_commit_rollback_and_drop() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        for i in 0..3 * MAX_OPEN {
            let tx = Transaction::begin(store.clone()).await.unwrap();
            match i % 3 {
                0 => tx.commit().await.unwrap(),
                1 => tx.rollback().await.unwrap(),
                _ => drop(tx),
            }
        }
        assert_eq!(store.tx_slots.available_permits(), MAX_OPEN);
    }
}
