//! Reading records: one by id, pages with filter and sort, counts — SQL for
//! both backends, and rows back into [`Record`]s.

use super::error::{clip, DataError, DataResult};
use super::filter;
use super::schema::{quote, Collection, FieldType, Storage};
use super::values::{Cell, Record};
use crate::store::{Arg, Conn, Dialect, Row};
use serde_json::{Map, Value};

/// Records per page when none is asked for.
pub const DEFAULT_PER_PAGE: u32 = 30;
/// Most records per page (a larger `perPage` is lowered to this).
pub const MAX_PER_PAGE: u32 = 1000;

/// A page request, as PocketBase's list API takes it.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub sort: Option<String>,
    pub filter: Option<String>,
    pub skip_total: bool,
}

impl ListQuery {
    /// The first record matching `filter`, in `created` order, without a total.
    pub fn first(filter: &str) -> ListQuery {
        ListQuery {
            page: Some(1),
            per_page: Some(1),
            filter: Some(filter.to_string()),
            skip_total: true,
            ..ListQuery::default()
        }
    }

    pub fn page(&self) -> u32 {
        self.page.unwrap_or(1).max(1)
    }

    pub fn per_page(&self) -> u32 {
        match self.per_page {
            None | Some(0) => DEFAULT_PER_PAGE,
            Some(n) => n.min(MAX_PER_PAGE),
        }
    }
}

/// A WHERE clause under construction: conditions ANDed, their arguments
/// numbered in order.
pub struct Where {
    d: Dialect,
    parts: Vec<String>,
    pub args: Vec<Arg>,
}

impl Where {
    pub fn new(d: Dialect) -> Self {
        Where {
            d,
            parts: Vec::new(),
            args: Vec::new(),
        }
    }

    /// The next placeholder.
    pub fn next(&self) -> String {
        self.d.ph(self.args.len() + 1)
    }

    /// Adds `sql`, whose one placeholder is [`Where::next`], and its argument.
    pub fn arg(&mut self, sql: String, arg: Arg) {
        self.parts.push(sql);
        self.args.push(arg);
    }

    /// Binds an argument used outside the conditions; its placeholder.
    pub fn bind(&mut self, arg: Arg) -> String {
        let mark = self.next();
        self.args.push(arg);
        mark
    }

    pub fn raw(&mut self, sql: String) {
        self.parts.push(sql);
    }

    /// Adds a PocketBase filter (a rule or the client's `filter`).
    pub fn filter(&mut self, c: &Collection, text: &str, what: &'static str) -> DataResult<()> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let bad = |error| DataError::BadFilter { what, error };
        let expr = filter::parse(text).map_err(bad)?;
        let sql = filter::to_sql(&expr, c, self.d, self.args.len() + 1).map_err(bad)?;
        self.parts.push(format!("({})", sql.sql));
        self.args.extend(sql.params.into_iter().map(Arg::from));
        Ok(())
    }

    pub fn sql(&self) -> String {
        if self.parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.parts.join(" AND "))
        }
    }
}

/// The select list of a record: system fields, then the fields.
pub fn columns(c: &Collection, d: Dialect) -> String {
    columns_of(c, d, "")
}

/// [`columns`] qualified with `table.` (`qualifier` ends with the dot).
pub fn columns_of(c: &Collection, d: Dialect, qualifier: &str) -> String {
    let mut cols: Vec<String> = ["id", "created", "updated"]
        .iter()
        .map(|n| format!("{qualifier}{}", quote(n)))
        .collect();
    for f in &c.fields {
        let col = format!("{qualifier}{}", quote(&f.name));
        cols.push(match (&f.ty, d) {
            (FieldType::Vector { .. }, Dialect::Postgres) => format!("{col}::real[]"),
            _ => col,
        });
    }
    cols.join(", ")
}

/// Rows selected with [`columns`] (and perhaps more after them).
pub fn decode(rows: Vec<Row>, c: &Collection) -> DataResult<Vec<Record>> {
    let bad = |e: sqlx::Error| DataError::db("read a record", e);
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut cells = Vec::with_capacity(c.fields.len());
        for (i, f) in c.fields.iter().enumerate() {
            let i = i + 3;
            cells.push(match f.ty.storage() {
                Storage::Text => Cell::Text(r.get(i).map_err(bad)?),
                Storage::List => Cell::list_from_text(&r.get::<String>(i).map_err(bad)?),
                Storage::Number => Cell::Number(r.get_lenient(i).map_err(bad)?),
                Storage::Bool => Cell::Bool(r.get_lenient(i).map_err(bad)?),
                Storage::Json => Cell::Json(r.get(i).map_err(bad)?),
                Storage::Vector(_) => Cell::Vector(r.vector(i).map_err(bad)?),
            });
        }
        out.push(Record {
            id: r.get(0).map_err(bad)?,
            created: r.get(1).map_err(bad)?,
            updated: r.get(2).map_err(bad)?,
            cells,
        });
    }
    Ok(out)
}

/// PocketBase's `sort`: `-created,title`, `+title`, `@random`. Every field
/// sort ends with `id`, so pages never overlap.
pub fn order_by(c: &Collection, sort: Option<&str>) -> DataResult<String> {
    let mut terms = Vec::new();
    let mut has_id = false;
    for raw in sort.unwrap_or("").split(',') {
        let term = raw.trim();
        if term.is_empty() {
            continue;
        }
        if term == "@random" {
            terms.push("RANDOM()".to_string());
            continue;
        }
        let (desc, name) = match term.as_bytes()[0] {
            b'-' => (true, &term[1..]),
            b'+' => (false, &term[1..]),
            _ => (false, term),
        };
        let col = match name {
            "id" | "created" | "updated" => {
                has_id |= name == "id";
                quote(name)
            }
            _ => match c.field(name) {
                Some(f) if !matches!(f.ty, FieldType::Vector { .. }) => quote(&f.name),
                _ => {
                    return Err(DataError::invalid(format!(
                        "Invalid sort: {:?} is not a sortable field of {:?}.",
                        clip(name),
                        c.name
                    )))
                }
            },
        };
        terms.push(format!("{col} {}", if desc { "DESC" } else { "ASC" }));
    }
    if terms.is_empty() {
        terms.push("\"created\" ASC".into());
    }
    if !has_id {
        terms.push("\"id\" ASC".into());
    }
    Ok(format!(" ORDER BY {}", terms.join(", ")))
}

/// One record by id that also matches `rule` (a filter; none = any).
pub async fn get(
    conn: &mut Conn<'_>,
    c: &Collection,
    id: &str,
    rule: Option<&str>,
) -> DataResult<Option<Record>> {
    let d = conn.dialect();
    let mut w = Where::new(d);
    w.arg(format!("\"id\" = {}", w.next()), Arg::Text(id.to_string()));
    if let Some(rule) = rule {
        w.filter(c, rule, "rule")?;
    }
    let sql = format!(
        "SELECT {} FROM {}{}",
        columns(c, d),
        quote(&c.table()),
        w.sql()
    );
    let rows = conn
        .fetch(&sql, w.args)
        .await
        .map_err(|e| DataError::db("get a record", e))?;
    Ok(decode(rows, c)?.into_iter().next())
}

/// A page of records matching the rule and the filter, and (unless
/// skipped) how many match in all.
pub async fn list(
    conn: &mut Conn<'_>,
    c: &Collection,
    q: &ListQuery,
    rule: Option<&str>,
) -> DataResult<(Vec<Record>, Option<i64>)> {
    let d = conn.dialect();
    let mut w = Where::new(d);
    if let Some(rule) = rule {
        w.filter(c, rule, "rule")?;
    }
    if let Some(f) = &q.filter {
        w.filter(c, f, "filter")?;
    }
    let order = order_by(c, q.sort.as_deref())?;
    let table = quote(&c.table());
    let (page, per_page) = (u64::from(q.page()), u64::from(q.per_page()));
    let sql = format!(
        "SELECT {} FROM {table}{}{order} LIMIT {per_page} OFFSET {}",
        columns(c, d),
        w.sql(),
        (page - 1) * per_page
    );
    let rows = conn
        .fetch(&sql, w.args.clone())
        .await
        .map_err(|e| DataError::db("list records", e))?;
    let records = decode(rows, c)?;
    let total = if q.skip_total {
        None
    } else if page == 1 && (records.len() as u64) < per_page {
        Some(records.len() as i64)
    } else {
        let sql = format!("SELECT COUNT(*) FROM {table}{}", w.sql());
        Some(
            conn.count(&sql, w.args)
                .await
                .map_err(|e| DataError::db("count records", e))?,
        )
    };
    Ok((records, total))
}

/// Keeps the keys PocketBase's `fields` option names (`*` = all; nested
/// paths such as `expand.user` keep nothing, there is no expand here;
/// `:excerpt(max[, ellipsis])` shortens text to plain-text excerpts).
pub fn project(record: Map<String, Value>, fields: Option<&str>) -> Map<String, Value> {
    let Some(fields) = fields.map(str::trim).filter(|f| !f.is_empty()) else {
        return record;
    };
    let mut wanted: Vec<(&str, Option<(usize, bool)>)> = Vec::new();
    let mut all = false;
    for term in split_fields(fields) {
        let (name, modifier) = match term.split_once(':') {
            Some((n, m)) => (n.trim(), Some(m.trim())),
            None => (term.trim(), None),
        };
        let excerpt = modifier.and_then(parse_excerpt);
        if name == "*" {
            all = true;
        }
        wanted.push((name, excerpt));
    }
    let mut out = Map::new();
    for (key, value) in record {
        let found = wanted.iter().find(|(n, _)| *n == key);
        let value = match (found, &value) {
            (Some((_, Some((max, ellipsis)))), Value::String(s)) => {
                Value::String(excerpt(s, *max, *ellipsis))
            }
            _ => value,
        };
        if all || found.is_some() {
            out.insert(key, value);
        }
    }
    out
}

/// Splits on commas outside parentheses (`a,b:excerpt(10,true)`).
fn split_fields(fields: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, ch) in fields.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(&fields[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&fields[start..]);
    out
}

fn parse_excerpt(modifier: &str) -> Option<(usize, bool)> {
    let args = modifier.strip_prefix("excerpt(")?.strip_suffix(')')?;
    let mut parts = args.split(',').map(str::trim);
    let max = parts.next()?.parse().ok()?;
    let ellipsis = parts.next().is_some_and(|e| e == "true" || e == "1");
    Some((max, ellipsis))
}

/// Text without HTML tags, whitespace collapsed, cut at `max` characters.
fn excerpt(text: &str, max: usize, ellipsis: bool) -> String {
    let mut plain = String::new();
    let mut in_tag = false;
    for ch in text.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            _ if in_tag => {}
            _ => plain.push(ch),
        }
    }
    let words: Vec<&str> = plain.split_whitespace().collect();
    let plain = words.join(" ");
    if plain.chars().count() <= max {
        return plain;
    }
    let mut cut: String = plain.chars().take(max).collect();
    cut = cut.trim_end().to_string();
    if ellipsis {
        cut.push_str("...");
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_keep_what_is_named() {
        let record = json!({"id": "a", "title": "<p>Hello   big world</p>", "n": 1})
            .as_object()
            .unwrap()
            .clone();
        let out = project(record.clone(), Some("id, title:excerpt(9,true)"));
        assert_eq!(
            Value::Object(out),
            json!({"id": "a", "title": "Hello big..."})
        );
        let out = project(record.clone(), Some("*,expand.user"));
        assert_eq!(out.len(), 3);
        assert_eq!(project(record, Some("")).len(), 3);
    }
}
