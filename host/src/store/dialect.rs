//! The two SQL dialects, and the one way to write SQL that differs between
//! them: [`Dialect::pick`] (or a `match` where a whole statement differs).
//! Statements that read the same in both dialects are written once with
//! `$N` placeholders, which sqlx's SQLite driver binds by number too.

/// The SQL dialect of a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The SQLite or the PostgreSQL spelling of the same thing.
    pub fn pick<T>(self, sqlite: T, postgres: T) -> T {
        match self {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    /// The `n`th placeholder (1-based): `?n` on SQLite, `$n` on PostgreSQL.
    pub fn ph(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    pub fn name(self) -> &'static str {
        self.pick("sqlite", "postgres")
    }
}
