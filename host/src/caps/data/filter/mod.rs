//! PocketBase's filter language (`?filter=` of the records API, `pb:data`
//! `get-list` / `get-first-list-item` / `vector-search`) → a parameterized
//! SQL condition for SQLite or PostgreSQL.
//!
//! ```
//! use pbs::caps::data::filter::{self, Dialect, FieldKind, Schema, SqlValue};
//!
//! struct Posts;
//! impl Schema for Posts {
//!     fn field(&self, name: &str) -> Option<FieldKind> {
//!         match name {
//!             "id" | "title" => Some(FieldKind::Text),
//!             "created" | "updated" => Some(FieldKind::Date),
//!             "views" => Some(FieldKind::Number),
//!             _ => None,
//!         }
//!     }
//!     fn column(&self, name: &str) -> String {
//!         format!("\"r\".\"{name}\"")
//!     }
//! }
//!
//! let f = filter::translate("title ~ 'rust' && views > 10", &Posts, Dialect::Postgres, 1)?;
//! assert_eq!(
//!     f.sql,
//!     r#"(COALESCE("r"."title", '') ILIKE $1::text ESCAPE '\' AND "r"."views" > $2::bigint)"#
//! );
//! assert_eq!(f.params, [SqlValue::Text("%rust%".into()), SqlValue::Int(10)]);
//!
//! let err = filter::translate("title = 'a' && nope > 1", &Posts, Dialect::Sqlite, 1).unwrap_err();
//! assert_eq!(err.to_string(), "unknown field 'nope' at position 15");
//! # Ok::<(), filter::FilterError>(())
//! ```
//!
//! # Safety
//!
//! Every literal (strings, numbers, booleans, `@` values) reaches the SQL
//! only as a placeholder — `?N` on SQLite, `$N::type` on PostgreSQL, numbered
//! from `first_param` — with its value in [`SqlFilter::params`]. The SQL text
//! is made of fixed keywords, [`Schema::column`] output, and json path
//! segments the lexer restricts to `[A-Za-z0-9_]`. Input is limited to
//! [`MAX_FILTER_LEN`] bytes and [`MAX_DEPTH`] levels of parentheses, and
//! `&&` / `||` chains are n-ary, so no input can exhaust the stack. A NUL
//! character in a string is refused (PostgreSQL text cannot hold one, so it
//! would fail there at run time). Every error is a [`FilterError`] with the
//! byte offset it points at (≤ the input's length); the records API answers
//! it with 400.
//!
//! # Grammar
//!
//! As PocketBase's `fexpr` (see `lexer` and `parser`): `left OP right`
//! joined by `&&` / `||` (`&&` binds tighter) and grouped with `( )`;
//! operands are fields, `'…'` / `"…"` strings (`\'` / `\"` escape the quote;
//! other backslashes stay as written), numbers (`12`, `-3`, `0.5`), `true`,
//! `false`, `null` (case-insensitive); `// …` comments. Operators: `= != < <=
//! > >= ~ !~` and their "any of" forms `?= ?!= ?< ?<= ?> ?>= ?~ ?!~`. An
//! empty filter is an error here: the caller decides that an empty
//! `?filter=` means no filter.
//!
//! Identifiers: `field`, `jsonfield.a.b.0` (json fields only; an all-digit
//! segment is an array index), an optional modifier `:lower` (text),
//! `:length` (multi-valued or json arrays → number), `:each` (iterate a json
//! array like a multi-valued field); PocketBase's date macros `@now`,
//! `@yesterday`, `@tomorrow`, `@todayStart`, `@todayEnd`, `@monthStart`,
//! `@monthEnd`, `@yearStart`, `@yearEnd` (date-time strings, UTC) and
//! `@second`, `@minute`, `@hour`, `@day`, `@month`, `@year`, `@weekday`
//! (numbers); any other `@name` (`@request.auth.id`) is asked of
//! [`Schema::variable`] and becomes a bound literal.
//!
//! **Not supported** (clear error): relation expansion (`author.name`),
//! `@collection.*` joins unless the schema provides them as variables,
//! functions (`geoDistance(…)`, `strftime(…)`), the `:isset` / `:changed`
//! modifiers, comparing two multi-valued operands, filtering on vector
//! fields.
//!
//! # Storage this module assumes
//!
//! | field kind | SQLite | PostgreSQL |
//! |---|---|---|
//! | text, select, relation, file (one value) | `TEXT` | `text` |
//! | select, relation, file with [`Schema::multiple`] | `TEXT` holding a JSON array of strings | `jsonb` (or text holding JSON) |
//! | number | `REAL`/`INTEGER`/`NUMERIC` | `double precision` (or any numeric type) |
//! | bool | `INTEGER` 0/1 | `boolean` |
//! | json | `TEXT` holding JSON | `jsonb` (or `json`/text holding JSON) |
//! | date (and `created`, `updated`) | `TEXT` `YYYY-MM-DD HH:MM:SS.sssZ` (UTC) | `text`, same format |
//!
//! Dates are text in PocketBase's format on both backends so they compare
//! correctly and identically as text ([`date::format_ms`] writes it). A
//! string compared with a date field is normalised to that format when it is
//! a full date-time (`"2024-01-02T03:04:05Z"` → `"2024-01-02
//! 03:04:05.000Z"`, offsets converted to UTC); a partial one (`"2024-01-02"`)
//! is compared as written. [`Schema::column`] must return a column reference
//! (qualified or not) or a parenthesized expression; the multi-valued
//! comparisons' sub-queries expose only the names `_pbf`, `_pbf_v` and
//! `_pbf_t`, so those are the only field names that could be shadowed.
//!
//! # Semantics (PocketBase's, where they are well defined)
//!
//! - **Missing = empty.** `x = ""` and `x = null` both match NULL and `''`
//!   on text-like fields (`(x IS NULL OR x = '')`; `!=` the converse); on
//!   number and bool fields they mean `IS NULL`. `x != 'a'` is null-safe
//!   (`IS NOT` / `IS DISTINCT FROM`), so it matches records without a value.
//!   Two fields compare with `COALESCE(a, '') = COALESCE(b, '')` (text) or
//!   null-safe `IS` (others). `< <= > >=` against null are never true.
//! - **Json fields** compare the value at the path by JSON type (SQLite
//!   `json_extract`, PostgreSQL `jsonb`, with JSON `null` = missing =
//!   SQL NULL); there `""` is an ordinary value, only `null` means missing.
//!   A json value equals or orders only against a value of its own JSON
//!   type (number with number, string with text, bool with bool): `meta.n >
//!   5` is false for `"9"`, `meta.f = 1` false for `true`, on both backends.
//! - **Types.** Text-like fields compare as text (a number literal as
//!   written; a bool is refused); number fields take numbers or strings that
//!   read as numbers; bool fields take `true`/`false`, 1/0 or those as
//!   strings; a number field against a text field compares as text (an
//!   integral number reads `10`, not `10.0`, on both backends); a bool
//!   field against anything but a bool is refused. Text ordering is
//!   byte-wise on both backends (PostgreSQL adds `COLLATE "C"`).
//! - **`~` / `!~`** is LIKE: a value without an unescaped `%` has its `\`,
//!   `%`, `_` escaped and is wrapped in `%…%` (contains); a value with `%` is
//!   used as a pattern (`\` escapes, `_` matches one character). With a
//!   field on the right, the field's value is wrapped in `%…%` unescaped
//!   (as PocketBase). Case-insensitive: `ILIKE` on PostgreSQL; SQLite's
//!   `LIKE`, which folds ASCII letters only (as in PocketBase). A missing
//!   value is `''`, so `x !~ 'a'` matches it.
//! - **Multi-valued** select/relation/file fields (and json fields with a
//!   `?` operator or `:each`) are compared value by value: a `?` operator
//!   holds when at least one value matches (`EXISTS`), a plain operator when
//!   every value matches (`NOT EXISTS` a value that does not); an empty or
//!   missing array counts as one missing value, as in PocketBase. `?`
//!   operators on single-valued fields are the plain operators.
//!
//! # Tests
//!
//! `cargo test -p pb-serverless --lib filter`: grammar, every error and its
//! position, golden SQL for both dialects, the semantics on an in-memory
//! SQLite, and property tests (any input; generated filters bind every
//! literal and run). With `PBS_FILTER_PG_URL=postgres://…` the semantics and
//! the generated filters also run on PostgreSQL, and SQLite and PostgreSQL
//! must select the same rows for every generated filter.

pub mod ast;
pub mod date;
mod lexer;
mod operand;
mod parser;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod semantics;
mod sql;
#[cfg(test)]
mod tests;

pub use ast::{Comparison, Expr, Number, NumberValue, Op, OpKind, Operand, Value};

/// The longest filter accepted, in bytes (PocketBase's limit).
pub const MAX_FILTER_LEN: usize = 3500;
/// How deep parentheses may nest.
pub const MAX_DEPTH: usize = 32;

/// A filter that cannot be parsed or translated: what is wrong and the byte
/// offset in the filter it points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// Byte offset in the input (≤ its length).
    pub position: usize,
    pub message: String,
}

impl FilterError {
    pub fn new(position: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            position,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for FilterError {}

/// Parses a filter. Whitespace-only input is an error ("empty filter"):
/// whether an empty `?filter=` means "no filter" is the caller's business.
pub fn parse(input: &str) -> Result<Expr, FilterError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(FilterError::new(
            MAX_FILTER_LEN,
            format!(
                "the filter is too long ({} bytes, at most {MAX_FILTER_LEN})",
                input.len()
            ),
        ));
    }
    parser::parse_tokens(lexer::tokenize(input)?)
}

/// The SQL dialect to produce.
pub use crate::store::Dialect;

/// How a field is stored (see the module documentation for the columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    Text,
    Number,
    Bool,
    Json,
    Date,
    Select,
    Relation,
    File,
    Vector,
}

/// What the translator needs to know about a collection: the field names
/// (plus system fields id, created, updated) and how each is stored.
pub trait Schema {
    /// The kind of field `name`, `None` if the collection has no such field.
    fn field(&self, name: &str) -> Option<FieldKind>;
    /// The quoted SQL column expression of field `name` (only called for
    /// names [`Schema::field`] knows), e.g. `"r"."title"`.
    fn column(&self, name: &str) -> String;
    /// Whether a select, relation or file field holds several values (a
    /// JSON array). Default: one value.
    fn multiple(&self, _name: &str) -> bool {
        false
    }
    /// The value of an `@` identifier other than the date macros, e.g.
    /// `@request.auth.id`; `None` makes it an unknown identifier. Default:
    /// none.
    fn variable(&self, _name: &str) -> Option<SqlValue> {
        None
    }
}

/// A bound parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

/// A translated filter: a parenthesized boolean SQL expression and the
/// values of its placeholders, in placeholder order.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

/// Translates a parsed filter. `first_param` = the index of the first
/// placeholder (`$N` on PostgreSQL; SQLite uses `?N` numbered too, so both
/// dialects can share numbering); 0 counts as 1. The placeholders are
/// `first_param ..first_param + params.len()`, each used once.
pub fn to_sql(
    expr: &Expr,
    schema: &dyn Schema,
    dialect: Dialect,
    first_param: usize,
) -> Result<SqlFilter, FilterError> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    to_sql_at(expr, schema, dialect, first_param, now_ms)
}

/// [`to_sql`] with the clock the date macros (`@now`, …) read given, in ms
/// since the Unix epoch.
pub fn to_sql_at(
    expr: &Expr,
    schema: &dyn Schema,
    dialect: Dialect,
    first_param: usize,
    now_ms: i64,
) -> Result<SqlFilter, FilterError> {
    sql::translate(expr, schema, dialect, first_param, now_ms)
}

/// [`parse`] then [`to_sql`].
pub fn translate(
    input: &str,
    schema: &dyn Schema,
    dialect: Dialect,
    first_param: usize,
) -> Result<SqlFilter, FilterError> {
    to_sql(&parse(input)?, schema, dialect, first_param)
}
