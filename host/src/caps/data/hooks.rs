//! Record hooks as the write path sees them: which exports are bound to a
//! collection's events (table `pbs_hooks`, cached), who is writing (an
//! [`Origin`]: how deep in hooks, inside which before-hook's transaction),
//! and the [`Runner`] that calls a hook — set by the host once its registry
//! exists (`triggers/hooks`), since running one needs deployed functions.
//!
//! The order of a hooked write is in [`super::tx`]: before-hooks run inside
//! the write's transaction, each seeing the record the previous one left,
//! and may replace it or reject the write; after-hooks run once the
//! outermost transaction has committed. A hook's own `pb:data` calls carry
//! the depth of the write that ran it plus one; hooks are not run for a
//! write deeper than [`MAX_DEPTH`] (it fails), so hooks that write each
//! other's collections cannot recurse forever.

use super::error::{DataError, DataResult};
use super::tx::Transaction;
use crate::store::{Db, Dialect};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Writes from hooks nested deeper than this fail (0 is a write from
/// outside: a client or a function's own code).
pub const MAX_DEPTH: u32 = 4;

/// How long a host trusts its cached bindings: another host sharing the
/// database sees a `PUT _admin/hooks` within this time (this host at once).
const CACHE_FOR: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    BeforeCreate,
    AfterCreate,
    BeforeUpdate,
    AfterUpdate,
    BeforeDelete,
    AfterDelete,
}

impl Event {
    pub const ALL: [Event; 6] = [
        Event::BeforeCreate,
        Event::AfterCreate,
        Event::BeforeUpdate,
        Event::AfterUpdate,
        Event::BeforeDelete,
        Event::AfterDelete,
    ];

    /// The manifest's name (`before_create` …).
    pub fn name(self) -> &'static str {
        match self {
            Event::BeforeCreate => "before_create",
            Event::AfterCreate => "after_create",
            Event::BeforeUpdate => "before_update",
            Event::AfterUpdate => "after_update",
            Event::BeforeDelete => "before_delete",
            Event::AfterDelete => "after_delete",
        }
    }

    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// One hook: `func` of `function` on `event` of `collection`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub collection: String,
    pub event: Event,
    pub function: String,
    pub func: String,
}

/// Who is writing. Calls from outside (the REST API, a function's own
/// code) have depth 0 and no scope.
#[derive(Clone, Default)]
pub struct Origin {
    /// How many hooked writes are above this one.
    pub depth: u32,
    /// Inside a before-hook: the transaction of the write that ran it, which
    /// the hook's `pb:data` calls join (they commit or roll back with it).
    pub scope: Option<Transaction>,
}

/// One call of a hook.
pub struct Call {
    pub binding: Binding,
    /// The record as JSON (before-create: the input; before-update: the
    /// record as it will be written; otherwise the record).
    pub record: String,
    /// The record before the write (update and delete).
    pub old_record: Option<String>,
    pub depth: u32,
    /// Before-hooks: the write's transaction.
    pub scope: Option<Transaction>,
}

/// What a hook answered.
#[derive(Debug)]
pub enum Outcome {
    Keep,
    /// Write this record (JSON) instead.
    Replace(String),
    /// Refuse the write with this message.
    Reject(String),
}

pub type RunFuture = Pin<Box<dyn Future<Output = Result<Outcome, String>> + Send>>;

/// Runs hooks: implemented by `triggers::hooks` on the host's registry.
pub trait Runner: Send + Sync {
    /// Calls the hook; `Err` is why it could not run or failed (trap,
    /// timeout, function not deployed).
    fn run(&self, call: Call) -> RunFuture;
}

/// One host's hooks: the bindings (cached) and the runner.
#[derive(Default)]
pub struct Hooks {
    runner: OnceLock<Arc<dyn Runner>>,
    cache: Mutex<Option<(Instant, Arc<Vec<Binding>>)>>,
}

impl Hooks {
    pub fn set_runner(&self, runner: Arc<dyn Runner>) {
        let _ = self.runner.set(runner);
    }

    /// Forget the cached bindings (this host just replaced them).
    pub fn changed(&self) {
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Every binding, as one set. A transaction reads it once
    /// ([`super::tx::Transaction`]), so a write never runs the before-hooks
    /// of one set and the after-hooks of another when the set is replaced
    /// (here, or on another host, seen here once the cache is re-read) while
    /// it runs.
    pub async fn snapshot(&self, db: &Db) -> DataResult<Arc<Vec<Binding>>> {
        if let Some((at, all)) = &*self.cache.lock().unwrap_or_else(|e| e.into_inner()) {
            if at.elapsed() < CACHE_FOR {
                return Ok(all.clone());
            }
        }
        let all = Arc::new(
            load(db)
                .await
                .map_err(|e| DataError::db("read the record hooks", e))?,
        );
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), all.clone()));
        Ok(all)
    }

    /// The hooks on `event` of `collection`, in order.
    pub async fn bound(&self, db: &Db, collection: &str, event: Event) -> DataResult<Vec<Binding>> {
        Ok(on(&self.snapshot(db).await?, collection, event))
    }

    /// Whether any hook is bound to one of `events` of `collection` (a write
    /// without hooks takes the shorter path).
    pub async fn any(&self, db: &Db, collection: &str, events: [Event; 2]) -> DataResult<bool> {
        Ok(self
            .snapshot(db)
            .await?
            .iter()
            .any(|b| b.collection == collection && events.contains(&b.event)))
    }

    /// Runs the before-hooks `bound` in order on `record` (a JSON object);
    /// returns the record to write, or the error that refuses the write.
    pub async fn run_before(
        &self,
        bound: Vec<Binding>,
        mut record: Map<String, Value>,
        old_record: Option<&Map<String, Value>>,
        depth: u32,
        scope: &Transaction,
    ) -> DataResult<Map<String, Value>> {
        if bound.is_empty() {
            return Ok(record);
        }
        check_depth(&bound[0], depth)?;
        let old_record = old_record.map(|o| Value::Object(o.clone()).to_string());
        for binding in bound {
            let call = Call {
                binding: binding.clone(),
                record: Value::Object(record.clone()).to_string(),
                old_record: old_record.clone(),
                depth,
                scope: Some(scope.clone()),
            };
            match self.call(call).await? {
                Outcome::Keep => {}
                Outcome::Replace(json) if binding.event == Event::BeforeDelete => {
                    // Nothing to replace on a delete: a hook that hands the
                    // record back means "go on".
                    let _ = json;
                }
                Outcome::Replace(json) => match serde_json::from_str::<Value>(&json) {
                    Ok(Value::Object(o)) => record = o,
                    _ => {
                        return Err(DataError::HookFailed(format!(
                            "the {} hook `{}` of function `{}` returned something that is not \
                             a record (a JSON object)",
                            binding.event.name(),
                            binding.func,
                            binding.function
                        )))
                    }
                },
                Outcome::Reject(message) => return Err(DataError::invalid(message)),
            }
        }
        Ok(record)
    }

    /// Runs one after-hook; what goes wrong is logged (the write has
    /// committed: there is nothing left to refuse).
    pub async fn run_after(&self, call: Call) {
        let (event, func, function) = (
            call.binding.event.name(),
            call.binding.func.clone(),
            call.binding.function.clone(),
        );
        if let Err(e) = check_depth(&call.binding, call.depth) {
            tracing::warn!(target: "pb.hooks", function, func, event, "{}", e.message());
            return;
        }
        match self.call(call).await {
            Ok(Outcome::Reject(message)) => {
                tracing::warn!(target: "pb.hooks", function, func, event, "after-hook threw (the write stands): {message}")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(target: "pb.hooks", function, func, event, "{}", e.message()),
        }
    }

    async fn call(&self, call: Call) -> DataResult<Outcome> {
        let Some(runner) = self.runner.get() else {
            return Err(DataError::HookFailed(
                "record hooks are bound but this host cannot run functions".into(),
            ));
        };
        let b = call.binding.clone();
        runner.run(call).await.map_err(|why| {
            DataError::HookFailed(format!(
                "the {} hook `{}` of function `{}` on `{}` failed: {why}",
                b.event.name(),
                b.func,
                b.function,
                b.collection
            ))
        })
    }
}

fn check_depth(b: &Binding, depth: u32) -> DataResult<()> {
    if depth > MAX_DEPTH {
        return Err(DataError::Quota(format!(
            "record hooks nested too deep: the {} hook `{}` on `{}` would run at depth {depth}, \
             and at most {MAX_DEPTH} levels of hook-triggered writes are allowed (a hook's write \
             runs hooks, whose writes run hooks…; stop the chain, e.g. by checking the hook's \
             `depth`)",
            b.event.name(),
            b.func,
            b.collection
        )));
    }
    Ok(())
}

/// The bindings of `all` on `event` of `collection`, in order.
pub fn on(all: &[Binding], collection: &str, event: Event) -> Vec<Binding> {
    all.iter()
        .filter(|b| b.event == event && b.collection == collection)
        .cloned()
        .collect()
}

/// Every binding, in order.
pub async fn load(db: &Db) -> sqlx::Result<Vec<Binding>> {
    let rows: Vec<(String, String, String, String)> = db
        .query("SELECT collection, event, function, func FROM pbs_hooks ORDER BY position")
        .fetch_all_as()
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(collection, event, function, func)| {
            Some(Binding {
                collection,
                event: Event::parse(&event)?,
                function,
                func,
            })
        })
        .collect())
}

/// Replaces every binding with `bindings`, in one transaction.
pub async fn replace(db: &Db, bindings: &[Binding], now_ms: i64) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    let mut conn = tx.conn();
    // Two replacements at once take turns (on SQLite the transaction holds
    // the write lock from its start).
    if db.dialect() == Dialect::Postgres {
        conn.query("LOCK TABLE pbs_hooks IN EXCLUSIVE MODE")
            .execute()
            .await?;
    }
    conn.query("DELETE FROM pbs_hooks").execute().await?;
    for (i, b) in bindings.iter().enumerate() {
        conn.query(
            "INSERT INTO pbs_hooks (position, collection, event, function, func, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(i as i64)
        .bind(&b.collection)
        .bind(b.event.name())
        .bind(&b.function)
        .bind(&b.func)
        .bind(now_ms)
        .execute()
        .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_name_parses_back() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.name()), Some(e));
        }
        assert_eq!(Event::parse("before_save"), None);
        assert_eq!(Event::parse("BEFORE_CREATE"), None);
    }

    fn binding(collection: &str, event: Event, func: &str) -> Binding {
        Binding {
            collection: collection.into(),
            event,
            function: "app".into(),
            func: func.into(),
        }
    }

    #[tokio::test]
    async fn bindings_are_replaced_as_a_set_and_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("data.db").to_string_lossy())
            .await
            .unwrap();
        let first = vec![
            binding("posts", Event::BeforeCreate, "b"),
            binding("posts", Event::BeforeCreate, "a"),
            binding("posts", Event::AfterDelete, "c"),
        ];
        replace(&db, &first, 1).await.unwrap();
        assert_eq!(load(&db).await.unwrap(), first);
        let hooks = Hooks::default();
        let bound = hooks
            .bound(&db, "posts", Event::BeforeCreate)
            .await
            .unwrap();
        assert_eq!(bound, first[..2].to_vec());
        assert!(hooks
            .any(&db, "posts", [Event::BeforeDelete, Event::AfterDelete])
            .await
            .unwrap());
        assert!(!hooks
            .any(&db, "users", [Event::BeforeCreate, Event::AfterCreate])
            .await
            .unwrap());

        replace(&db, &[], 2).await.unwrap();
        assert!(load(&db).await.unwrap().is_empty());
        // This host forgets its cache when told; others within CACHE_FOR.
        hooks.changed();
        assert!(hooks
            .bound(&db, "posts", Event::BeforeCreate)
            .await
            .unwrap()
            .is_empty());
    }

    #[test]
    fn depth_beyond_the_limit_is_a_quota_error() {
        let b = binding("loops", Event::BeforeCreate, "recurse");
        assert!(check_depth(&b, MAX_DEPTH).is_ok());
        let e = check_depth(&b, MAX_DEPTH + 1).unwrap_err();
        assert!(matches!(e, DataError::Quota(_)));
        assert!(e.message().contains("record hooks nested too deep"));
    }
}
