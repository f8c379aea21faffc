//! One host's records store: its database, the connections it lends to
//! calls, and the collections catalogue — found from the host's
//! [`Services`] by [`of`]. Also the pieces the SQL of [`super::read`],
//! [`super::write`] and [`super::vector`] share: [`Conn`] (either backend's
//! connection or transaction), bind arguments and placeholders.
//!
//! Every operation that writes runs on a [`Conn`] inside one database
//! transaction ([`in_tx!`]); the functions of `write` take that `Conn`, so
//! a `pb:data` transaction, record hooks or an outbox can share it.

use super::catalog::Catalog;
use super::error::DataError;
use super::filter::{Dialect, SqlValue};
use super::values::{vector_bytes, Cell};
use crate::caps::kv::conns::Conns;
use crate::caps::services::Services;
use crate::store::Db;
use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::{Postgres, Sqlite};
use std::sync::{Arc, Mutex, Weak};

/// One host's records store.
pub struct Store {
    pub db: Db,
    /// Connections lent to one call at a time, without the pool's pings
    /// (see [`crate::caps::kv::conns`]); a set of their own, apart from pb:kv's.
    pub conns: Conns,
    pub catalog: Catalog,
    /// Record hooks: their bindings and the runner.
    pub hooks: super::hooks::Hooks,
    /// The host's services (for pb:files, whose files go with their records).
    pub services: Weak<Services>,
}

/// The store of the host that `services` belongs to.
pub fn of(services: &Arc<Services>) -> Arc<Store> {
    static TABLE: Mutex<Vec<(Weak<Services>, Arc<Store>)>> = Mutex::new(Vec::new());
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let found = table
        .iter()
        .find(|(owner, _)| {
            owner.strong_count() > 0 && std::ptr::eq(owner.as_ptr(), Arc::as_ptr(services))
        })
        .map(|(_, store)| store.clone());
    if let Some(store) = found {
        return store;
    }
    table.retain(|(owner, _)| owner.strong_count() > 0);
    let store = Arc::new(Store {
        db: services.db.clone(),
        conns: Conns::default(),
        catalog: Catalog::default(),
        hooks: Default::default(),
        services: Arc::downgrade(services),
    });
    table.push((Arc::downgrade(services), store.clone()));
    store
}

impl Store {
    pub fn dialect(&self) -> Dialect {
        dialect(&self.db)
    }

    /// Deletes the files of a deleted record (`record` some) or of a deleted
    /// collection; a failure is logged, the records are gone either way.
    pub async fn delete_files(&self, collection: &str, record: Option<&str>) {
        let Some(services) = self.services.upgrade() else {
            return;
        };
        let deleted = match record {
            Some(id) => crate::caps::files::delete_record_files(&services, collection, id).await,
            None => crate::caps::files::delete_collection_files(&services, collection).await,
        };
        if let Err(e) = deleted {
            tracing::warn!(target: "pb.data", collection, record, "deleting the files failed: {e}");
        }
    }

    /// The name of the collection named or with the id `name_or_id` (what
    /// pb:files keys a record's files by), if there is one — for
    /// `/api/files/{collectionId}/…`, the URL the PocketBase SDK builds.
    pub async fn collection_name(&self, name_or_id: &str) -> Option<String> {
        self.catalog
            .get(&self.db, name_or_id)
            .await
            .ok()
            .map(|(_, c)| c.name.clone())
    }

    /// Deletes one file of a record (no longer named by it); a failure is
    /// logged.
    pub async fn delete_file(&self, collection: &str, record: &str, filename: &str) {
        let Some(services) = self.services.upgrade() else {
            return;
        };
        if let Err(e) = services.files.delete(collection, record, filename).await {
            tracing::warn!(target: "pb.data", collection, record, filename, "deleting a file failed: {e}");
        }
    }
}

pub fn dialect(db: &Db) -> Dialect {
    match db {
        Db::Sqlite(_) => Dialect::Sqlite,
        Db::Postgres(_) => Dialect::Postgres,
    }
}

/// A connection, or a transaction's connection, of either backend.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl Conn<'_> {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    pub fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Postgres(c) => Conn::Postgres(c),
        }
    }

    /// Runs a statement; the rows it changed.
    pub async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> sqlx::Result<u64> {
        Ok(match self {
            Conn::Sqlite(c) => bind_sqlite(sqlx::query(sql), args)
                .execute(&mut **c)
                .await?
                .rows_affected(),
            Conn::Postgres(c) => bind_pg(sqlx::query(sql), args)
                .execute(&mut **c)
                .await?
                .rows_affected(),
        })
    }

    pub async fn fetch(&mut self, sql: &str, args: Vec<Arg>) -> sqlx::Result<Rows> {
        Ok(match self {
            Conn::Sqlite(c) => Rows::Sqlite(
                bind_sqlite(sqlx::query(sql), args)
                    .fetch_all(&mut **c)
                    .await?,
            ),
            Conn::Postgres(c) => {
                Rows::Postgres(bind_pg(sqlx::query(sql), args).fetch_all(&mut **c).await?)
            }
        })
    }

    /// The first column of the first row as an integer (a `COUNT(*)`).
    pub async fn count(&mut self, sql: &str, args: Vec<Arg>) -> sqlx::Result<i64> {
        use sqlx::Row;
        Ok(match self {
            Conn::Sqlite(c) => bind_sqlite(sqlx::query(sql), args)
                .fetch_one(&mut **c)
                .await?
                .try_get::<i64, _>(0)?,
            Conn::Postgres(c) => bind_pg(sqlx::query(sql), args)
                .fetch_one(&mut **c)
                .await?
                .try_get::<i64, _>(0)?,
        })
    }
}

/// Rows of either backend.
pub enum Rows {
    Sqlite(Vec<SqliteRow>),
    Postgres(Vec<PgRow>),
}

/// One bind argument.
#[derive(Clone, Debug)]
pub enum Arg {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    OptText(Option<String>),
    /// A vector: a f32 LE BLOB on SQLite, `real[]` on PostgreSQL (cast to
    /// `vector` in the SQL).
    Vector(Option<Vec<f32>>),
}

impl From<SqlValue> for Arg {
    fn from(v: SqlValue) -> Arg {
        match v {
            SqlValue::Null => Arg::Null,
            SqlValue::Bool(b) => Arg::Bool(b),
            SqlValue::Int(i) => Arg::Int(i),
            SqlValue::Float(f) => Arg::Float(f),
            SqlValue::Text(t) => Arg::Text(t),
        }
    }
}

impl From<&Cell> for Arg {
    fn from(c: &Cell) -> Arg {
        match c {
            Cell::Text(s) => Arg::Text(s.clone()),
            Cell::List(l) => Arg::Text(Cell::list_text(l)),
            Cell::Number(n) => Arg::Float(*n),
            Cell::Bool(b) => Arg::Bool(*b),
            Cell::Json(j) => Arg::OptText(j.clone()),
            Cell::Vector(v) => Arg::Vector(v.clone()),
        }
    }
}

/// The `n`th placeholder (1-based) of `d`.
pub fn ph(d: Dialect, n: usize) -> String {
    match d {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}"),
    }
}

pub fn bind_sqlite<'q>(
    mut q: Query<'q, Sqlite, SqliteArguments<'q>>,
    args: Vec<Arg>,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Null => q.bind(None::<String>),
            Arg::Bool(b) => q.bind(b),
            Arg::Int(i) => q.bind(i),
            Arg::Float(f) => q.bind(f),
            Arg::Text(t) => q.bind(t),
            Arg::OptText(t) => q.bind(t),
            Arg::Vector(v) => q.bind(v.map(|v| vector_bytes(&v))),
        };
    }
    q
}

pub fn bind_pg<'q>(
    mut q: Query<'q, Postgres, PgArguments>,
    args: Vec<Arg>,
) -> Query<'q, Postgres, PgArguments> {
    for a in args {
        q = match a {
            Arg::Null => q.bind(None::<String>),
            Arg::Bool(b) => q.bind(b),
            Arg::Int(i) => q.bind(i),
            Arg::Float(f) => q.bind(f),
            Arg::Text(t) => q.bind(t),
            Arg::OptText(t) => q.bind(t),
            Arg::Vector(v) => q.bind(v),
        };
    }
    q
}

/// Whether a database error is a unique violation.
pub fn unique_violation(e: &sqlx::Error) -> Option<&dyn sqlx::error::DatabaseError> {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Some(d.as_ref()),
        _ => None,
    }
}

/// Runs `$body` (an expression of type `impl Future<Output =
/// DataResult<T>>` using `$conn: Conn`) on a connection lent by the store,
/// without a transaction.
macro_rules! with_conn {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let store: &$crate::caps::data::store::Store = $store;
        let mut lease = store
            .conns
            .lease(&store.db)
            .await
            .map_err(|e| $crate::caps::data::error::DataError::db("acquire a connection", e))?;
        let result = match lease.conn() {
            $crate::caps::kv::conns::ConnMut::Sqlite(c) => {
                #[allow(unused_mut)]
                let mut $conn = $crate::caps::data::store::Conn::Sqlite(c);
                $body.await
            }
            $crate::caps::kv::conns::ConnMut::Postgres(c) => {
                #[allow(unused_mut)]
                let mut $conn = $crate::caps::data::store::Conn::Postgres(c);
                $body.await
            }
        };
        $crate::caps::data::store::finished(&mut lease, &result);
        result
    }};
}
pub(crate) use with_conn;

/// Like [`with_conn!`], inside a transaction (`BEGIN IMMEDIATE` on SQLite,
/// so a read-then-write never fails to upgrade its lock): committed when
/// `$body` succeeds, rolled back when it fails.
macro_rules! in_tx {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let store: &$crate::caps::data::store::Store = $store;
        let db_err = |e| $crate::caps::data::error::DataError::db("a transaction", e);
        let mut lease = store.conns.lease(&store.db).await.map_err(db_err)?;
        let result = match lease.conn() {
            $crate::caps::kv::conns::ConnMut::Sqlite(c) => {
                let mut tx = sqlx::Connection::begin_with(c, "BEGIN IMMEDIATE")
                    .await
                    .map_err(db_err)?;
                #[allow(unused_mut)]
                let mut $conn = $crate::caps::data::store::Conn::Sqlite(&mut *tx);
                match $body.await {
                    Ok(v) => tx.commit().await.map(|_| v).map_err(db_err),
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                }
            }
            $crate::caps::kv::conns::ConnMut::Postgres(c) => {
                let mut tx = sqlx::Connection::begin(c).await.map_err(db_err)?;
                #[allow(unused_mut)]
                let mut $conn = $crate::caps::data::store::Conn::Postgres(&mut *tx);
                match $body.await {
                    Ok(v) => tx.commit().await.map(|_| v).map_err(db_err),
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                }
            }
        };
        $crate::caps::data::store::finished(&mut lease, &result);
        result
    }};
}
pub(crate) use in_tx;

/// Tells the lease whether its connection may be lent again: not after a
/// host failure, whose state is unknown.
pub fn finished<T>(lease: &mut crate::caps::kv::conns::Lease<'_>, result: &Result<T, DataError>) {
    match result {
        Err(DataError::Internal) => lease.finished::<()>(&Err(sqlx::Error::PoolClosed)),
        _ => lease.finished::<()>(&Ok(())),
    }
}
