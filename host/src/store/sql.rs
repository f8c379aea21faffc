//! How SQL runs on either backend — the only file that matches on the
//! backend to run a statement.
//!
//! - [`Conn`]: *the* executor: a connection, or a transaction's connection,
//!   of either backend, borrowed for the statements of one call.
//! - [`Query`]: one statement and its bound values, run on a [`Conn`] or
//!   straight on the pool ([`Db::query`]); `bind` takes any value both
//!   backends encode, [`Query::bind_arg`] a dynamically typed [`Arg`].
//! - [`Row`]: a row of either backend; [`Row::get`] reads a column as any
//!   type both backends decode, [`Row::decode`] a whole row (`FromRow`).
//! - [`Connection`]: an owned connection (the pool's, or detached from it)
//!   and [`Tx`]: an open transaction; both lend a [`Conn`].
//!
//! Each wraps a private enum, so no code outside this file dispatches on the
//! backend to run SQL; what differs between the dialects is written with
//! [`Dialect::pick`].

use super::{Db, Dialect, Pool};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::{ColumnIndex, Connection as _, Decode, Encode, FromRow, Postgres, Sqlite, Type};

/// A value both backends can bind.
pub trait Bind<'q>:
    'q + Send + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}
impl<'q, T> Bind<'q> for T where
    T: 'q + Send + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

/// A value both backends can read from a column.
pub trait Column:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}
impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A column index both backends understand (a position or a name).
pub trait Index: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> {}
impl<T: ColumnIndex<SqliteRow> + ColumnIndex<PgRow>> Index for T {}

/// A connection or a transaction's connection, of either backend.
pub struct Conn<'c>(ConnInner<'c>);

enum ConnInner<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl<'c> Conn<'c> {
    pub fn dialect(&self) -> Dialect {
        match self.0 {
            ConnInner::Sqlite(_) => Dialect::Sqlite,
            ConnInner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The same connection for a shorter borrow (to pass it on and use it
    /// again afterwards).
    pub fn reborrow(&mut self) -> Conn<'_> {
        Conn(match &mut self.0 {
            ConnInner::Sqlite(c) => ConnInner::Sqlite(c),
            ConnInner::Postgres(c) => ConnInner::Postgres(c),
        })
    }

    /// A statement to run on this connection.
    pub fn query<'q>(&mut self, sql: &'q str) -> Query<'_, 'q> {
        let q = Q::new(self.dialect(), sql);
        Query {
            on: On::Conn(self.reborrow()),
            q,
        }
    }

    /// Begins a transaction on this connection (`BEGIN IMMEDIATE` on
    /// SQLite: every transaction here writes, and taking the write lock
    /// first means a read-then-write never fails to upgrade it).
    pub async fn begin(self) -> sqlx::Result<Tx<'c>> {
        Ok(Tx(match self.0 {
            ConnInner::Sqlite(c) => TxInner::Sqlite(c.begin_with("BEGIN IMMEDIATE").await?),
            ConnInner::Postgres(c) => TxInner::Postgres(c.begin().await?),
        }))
    }

    /// Runs `sql` with `args` (see [`Query::bind_arg`]); the rows it changed.
    pub async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> sqlx::Result<u64> {
        self.query(sql).bind_args(args).execute().await
    }

    /// The rows of `sql` with `args`.
    pub async fn fetch(&mut self, sql: &str, args: Vec<Arg>) -> sqlx::Result<Vec<Row>> {
        self.query(sql).bind_args(args).fetch_all().await
    }

    /// The integer `sql` with `args` selects (a `COUNT(*)`).
    pub async fn count(&mut self, sql: &str, args: Vec<Arg>) -> sqlx::Result<i64> {
        self.query(sql).bind_args(args).scalar().await
    }

    /// SQLite's own connection, for what only it has (registering an SQL
    /// function on the connection).
    pub fn as_sqlite(&mut self) -> Option<&mut SqliteConnection> {
        match &mut self.0 {
            ConnInner::Sqlite(c) => Some(c),
            ConnInner::Postgres(_) => None,
        }
    }
}

impl<'c> From<&'c mut SqliteConnection> for Conn<'c> {
    fn from(c: &'c mut SqliteConnection) -> Self {
        Conn(ConnInner::Sqlite(c))
    }
}

impl<'c> From<&'c mut PgConnection> for Conn<'c> {
    fn from(c: &'c mut PgConnection) -> Self {
        Conn(ConnInner::Postgres(c))
    }
}

/// One statement and its values, bound to where it runs.
#[must_use = "a query does nothing until it is run"]
pub struct Query<'e, 'q> {
    on: On<'e>,
    q: Q<'q>,
}

enum On<'e> {
    Pool(&'e Pool),
    Conn(Conn<'e>),
}

enum Q<'q> {
    Sqlite(sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>),
    Postgres(sqlx::query::Query<'q, Postgres, PgArguments>),
}

impl<'q> Q<'q> {
    fn new(dialect: Dialect, sql: &'q str) -> Self {
        match dialect {
            Dialect::Sqlite => Q::Sqlite(sqlx::query(sql)),
            Dialect::Postgres => Q::Postgres(sqlx::query(sql)),
        }
    }
}

impl<'e, 'q> Query<'e, 'q> {
    pub(super) fn on_pool(pool: &'e Pool, sql: &'q str) -> Self {
        let dialect = match pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        };
        Query {
            on: On::Pool(pool),
            q: Q::new(dialect, sql),
        }
    }

    /// Binds the next placeholder.
    pub fn bind<T: Bind<'q>>(mut self, value: T) -> Self {
        self.q = match self.q {
            Q::Sqlite(q) => Q::Sqlite(q.bind(value)),
            Q::Postgres(q) => Q::Postgres(q.bind(value)),
        };
        self
    }

    /// Binds the next placeholder to a value whose type is known at run
    /// time (see [`Arg`] for how each is stored).
    pub fn bind_arg(self, arg: Arg) -> Self {
        let sqlite = matches!(self.q, Q::Sqlite(_));
        match arg {
            Arg::Null => self.bind(None::<String>),
            Arg::Bool(b) => self.bind(b),
            Arg::Int(i) => self.bind(i),
            Arg::Int32(i) => self.bind(i),
            Arg::Float(f) => self.bind(f),
            Arg::Text(t) => self.bind(t),
            Arg::OptText(t) => self.bind(t),
            Arg::Bytes(b) => self.bind(b),
            Arg::Vector(v) if sqlite => self.bind(v.map(|v| vector_bytes(&v))),
            Arg::Vector(v) => self.bind_postgres(v),
            Arg::TextList(l) if sqlite => self.bind(serde_json::to_string(&l).unwrap_or_default()),
            Arg::TextList(l) => self.bind_postgres(l),
            Arg::IntList(l) if sqlite => self.bind(serde_json::to_string(&l).unwrap_or_default()),
            Arg::IntList(l) => self.bind_postgres(l),
        }
    }

    /// Binds each of `args` in turn.
    pub fn bind_args(mut self, args: impl IntoIterator<Item = Arg>) -> Self {
        for a in args {
            self = self.bind_arg(a);
        }
        self
    }

    /// A PostgreSQL-only type ([`Arg`] decides when).
    fn bind_postgres<T: 'q + Send + Encode<'q, Postgres> + Type<Postgres>>(
        mut self,
        value: T,
    ) -> Self {
        if let Q::Postgres(q) = self.q {
            self.q = Q::Postgres(q.bind(value));
        }
        self
    }
}

/// Runs `$body` with `$q` bound to the backend's query and `$e` to the
/// executor it runs on (a pool or a connection of the same backend).
macro_rules! run {
    ($query:expr, |$q:ident, $e:ident| $body:expr) => {
        match ($query.on, $query.q) {
            (On::Pool(Pool::Sqlite($e)), Q::Sqlite($q)) => $body,
            (On::Pool(Pool::Postgres($e)), Q::Postgres($q)) => $body,
            (On::Conn(Conn(ConnInner::Sqlite($e))), Q::Sqlite($q)) => $body,
            (On::Conn(Conn(ConnInner::Postgres($e))), Q::Postgres($q)) => $body,
            _ => unreachable!("a query is made in the dialect of what it runs on"),
        }
    };
}

impl Query<'_, '_> {
    /// Runs the statement; the number of rows it changed.
    pub async fn execute(self) -> sqlx::Result<u64> {
        run!(self, |q, e| Ok(q.execute(e).await?.rows_affected()))
    }

    pub async fn fetch_all(self) -> sqlx::Result<Vec<Row>> {
        run!(self, |q, e| Ok(q
            .fetch_all(e)
            .await?
            .into_iter()
            .map(Row::from)
            .collect()))
    }

    pub async fn fetch_optional(self) -> sqlx::Result<Option<Row>> {
        run!(self, |q, e| Ok(q.fetch_optional(e).await?.map(Row::from)))
    }

    pub async fn fetch_one(self) -> sqlx::Result<Row> {
        run!(self, |q, e| Ok(Row::from(q.fetch_one(e).await?)))
    }

    /// The first column of the one row (a `COUNT(*)`, a `RETURNING x`).
    pub async fn scalar<T: Column>(self) -> sqlx::Result<T> {
        self.fetch_one().await?.get(0)
    }

    /// The first column of the first row, if there is a row.
    pub async fn optional_scalar<T: Column>(self) -> sqlx::Result<Option<T>> {
        self.fetch_optional().await?.map(|r| r.get(0)).transpose()
    }

    /// The first column of every row.
    pub async fn scalars<T: Column>(self) -> sqlx::Result<Vec<T>> {
        self.fetch_all().await?.iter().map(|r| r.get(0)).collect()
    }

    /// Every row, each decoded as a `T` (a tuple, or a `FromRow` struct).
    pub async fn fetch_all_as<T: Decoded>(self) -> sqlx::Result<Vec<T>> {
        self.fetch_all().await?.iter().map(Row::decode).collect()
    }

    /// The first row decoded as a `T`, if there is a row.
    pub async fn fetch_optional_as<T: Decoded>(self) -> sqlx::Result<Option<T>> {
        self.fetch_optional().await?.map(|r| r.decode()).transpose()
    }
}

/// A row type both backends can decode (tuples of [`Column`]s, `FromRow`
/// structs).
pub trait Decoded: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}
impl<T> Decoded for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}

/// A row of either backend.
pub struct Row(RowInner);

enum RowInner {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl From<SqliteRow> for Row {
    fn from(r: SqliteRow) -> Self {
        Row(RowInner::Sqlite(r))
    }
}

impl From<PgRow> for Row {
    fn from(r: PgRow) -> Self {
        Row(RowInner::Postgres(r))
    }
}

impl Row {
    /// Column `i` (a position or a name) as a `T`.
    pub fn get<T: Column>(&self, i: impl Index) -> sqlx::Result<T> {
        use sqlx::Row as _;
        match &self.0 {
            RowInner::Sqlite(r) => r.try_get(i),
            RowInner::Postgres(r) => r.try_get(i),
        }
    }

    /// Like [`Row::get`], but on SQLite without the type check: a column of
    /// a number or boolean field may hold an INTEGER or a REAL there (SQLite
    /// keeps what was written), and both read as the field's type.
    pub fn get_lenient<T: Column>(&self, i: impl Index) -> sqlx::Result<T> {
        use sqlx::Row as _;
        match &self.0 {
            RowInner::Sqlite(r) => r.try_get_unchecked(i),
            RowInner::Postgres(r) => r.try_get(i),
        }
    }

    /// A vector column (see [`Arg::Vector`]): none when NULL.
    pub fn vector(&self, i: impl Index) -> sqlx::Result<Option<Vec<f32>>> {
        use sqlx::Row as _;
        match &self.0 {
            RowInner::Sqlite(r) => Ok(r
                .try_get::<Option<Vec<u8>>, _>(i)?
                .map(|b| vector_from_bytes(&b))),
            RowInner::Postgres(r) => r.try_get(i),
        }
    }

    /// The whole row as a `T`.
    pub fn decode<T: Decoded>(&self) -> sqlx::Result<T> {
        match &self.0 {
            RowInner::Sqlite(r) => T::from_row(r),
            RowInner::Postgres(r) => T::from_row(r),
        }
    }
}

/// A value to bind whose type is known at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Null,
    Bool(bool),
    Int(i64),
    /// An `INTEGER` / `int4` column.
    Int32(i32),
    Float(f64),
    Text(String),
    OptText(Option<String>),
    Bytes(Vec<u8>),
    /// A vector: a BLOB of f32 little-endian on SQLite, `real[]` on
    /// PostgreSQL (cast to pgvector's `vector` in the SQL).
    Vector(Option<Vec<f32>>),
    /// A list: `text[]` on PostgreSQL (for `= ANY($n)`, `UNNEST`), the text of
    /// a JSON array on SQLite (for `json_each($n)`).
    TextList(Vec<String>),
    /// As [`Arg::TextList`], `int4[]` on PostgreSQL.
    IntList(Vec<i32>),
}

/// A vector as SQLite stores it: f32 little-endian.
pub fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A vector stored by [`vector_bytes`].
pub fn vector_from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// A connection that is ours until dropped: lent by the pool (given back
/// when dropped) or detached from it (closed when dropped).
pub struct Connection(Held);

enum Held {
    PoolSqlite(PoolConnection<Sqlite>),
    PoolPostgres(PoolConnection<Postgres>),
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Connection {
    pub(super) async fn acquire(pool: &Pool) -> sqlx::Result<Connection> {
        Ok(Connection(match pool {
            Pool::Sqlite(p) => Held::PoolSqlite(p.acquire().await?),
            Pool::Postgres(p) => Held::PoolPostgres(p.acquire().await?),
        }))
    }

    /// The pool forgets the connection: it no longer counts against the
    /// pool's size and is closed, not given back, when dropped.
    pub fn detach(self) -> Connection {
        Connection(match self.0 {
            Held::PoolSqlite(c) => Held::Sqlite(c.detach()),
            Held::PoolPostgres(c) => Held::Postgres(c.detach()),
            own => own,
        })
    }

    pub fn conn(&mut self) -> Conn<'_> {
        Conn(match &mut self.0 {
            Held::PoolSqlite(c) => ConnInner::Sqlite(c),
            Held::PoolPostgres(c) => ConnInner::Postgres(c),
            Held::Sqlite(c) => ConnInner::Sqlite(c),
            Held::Postgres(c) => ConnInner::Postgres(c),
        })
    }

    /// Checks that the connection still works.
    pub async fn ping(&mut self) -> sqlx::Result<()> {
        match &mut self.0 {
            Held::PoolSqlite(c) => c.ping().await,
            Held::PoolPostgres(c) => c.ping().await,
            Held::Sqlite(c) => c.ping().await,
            Held::Postgres(c) => c.ping().await,
        }
    }
}

/// An open transaction. Dropped without [`Tx::commit`], it rolls back (sqlx
/// queues the `ROLLBACK` on its connection).
pub struct Tx<'c>(TxInner<'c>);

enum TxInner<'c> {
    Sqlite(sqlx::Transaction<'c, Sqlite>),
    Postgres(sqlx::Transaction<'c, Postgres>),
}

impl Tx<'static> {
    pub(super) async fn begin(pool: &Pool) -> sqlx::Result<Tx<'static>> {
        Ok(Tx(match pool {
            Pool::Sqlite(p) => TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => TxInner::Postgres(p.begin().await?),
        }))
    }
}

impl Tx<'_> {
    /// The transaction's connection.
    pub fn conn(&mut self) -> Conn<'_> {
        Conn(match &mut self.0 {
            TxInner::Sqlite(tx) => ConnInner::Sqlite(tx),
            TxInner::Postgres(tx) => ConnInner::Postgres(tx),
        })
    }

    pub async fn commit(self) -> sqlx::Result<()> {
        match self.0 {
            TxInner::Sqlite(tx) => tx.commit().await,
            TxInner::Postgres(tx) => tx.commit().await,
        }
    }

    pub async fn rollback(self) -> sqlx::Result<()> {
        match self.0 {
            TxInner::Sqlite(tx) => tx.rollback().await,
            TxInner::Postgres(tx) => tx.rollback().await,
        }
    }

    /// Commits when `result` is a success, rolls back otherwise; then
    /// `result`, or the commit's error turned into an `E` by `failed`.
    pub async fn finish<T, E>(
        self,
        result: Result<T, E>,
        failed: impl FnOnce(sqlx::Error) -> E,
    ) -> Result<T, E> {
        match result {
            Ok(v) => self.commit().await.map(|_| v).map_err(failed),
            Err(e) => {
                let _ = self.rollback().await;
                Err(e)
            }
        }
    }
}

impl Db {
    /// A statement to run on a connection of the pool.
    pub fn query<'q>(&self, sql: &'q str) -> Query<'_, 'q> {
        Query::on_pool(&self.pool, sql)
    }

    /// Begins a transaction on a connection of the pool (see
    /// [`Conn::begin`]).
    pub async fn begin(&self) -> sqlx::Result<Tx<'static>> {
        Tx::begin(&self.pool).await
    }

    /// A connection of the pool, ours until dropped.
    pub async fn acquire(&self) -> sqlx::Result<Connection> {
        Connection::acquire(&self.pool).await
    }
}

/// Whether a database error is a unique violation (the constraint's error,
/// when it is).
pub fn unique_violation(e: &sqlx::Error) -> Option<&dyn sqlx::error::DatabaseError> {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Some(d.as_ref()),
        _ => None,
    }
}
