//! Writing records. Every write of the REST API and of `pb:data` goes
//! through [`create`], [`update`] or [`delete`], each on a [`Conn`] that is
//! inside a transaction the caller owns — so a `pb:data` transaction, record
//! hooks and an outbox (KV `set-in`, jobs `enqueue-in`) can join it.

use super::catalog::Snapshot;
use super::error::{DataError, DataResult, FieldError, FieldErrors};
use super::ids;
use super::read;
use super::read::Where;
use super::schema::{quote, Collection, FieldType};
use super::values::{self, Cell, Record};
use crate::store::{unique_violation, Arg, Conn};
use serde_json::{Map, Value};

/// Largest record JSON accepted.
pub const MAX_RECORD_BYTES: usize = 8 << 20;

/// Creates a record from `input` (PocketBase's JSON: the fields, and
/// optionally an `id`); returns it as stored.
pub async fn create(
    conn: &mut Conn<'_>,
    snap: &Snapshot,
    c: &Collection,
    input: &Map<String, Value>,
) -> DataResult<Record> {
    const FAILED: &str = "Failed to create record.";
    let id = match input.get("id") {
        None | Some(Value::Null) => ids::new_id(),
        Some(Value::String(s)) if s.is_empty() => ids::new_id(),
        Some(Value::String(s)) if ids::valid_id(s) => s.clone(),
        Some(_) => {
            return Err(DataError::field(
                FAILED,
                "id",
                FieldError::new(
                    "validation_invalid_id",
                    "Must be 15 characters of a-z and 0-9.",
                ),
            ))
        }
    };
    let mut cells = values::zero_cells(c);
    let mut errors = values::apply(c, &mut cells, input);
    check_relations(conn, snap, c, &cells, &mut errors).await?;
    if !errors.is_empty() {
        return Err(DataError::Invalid {
            message: FAILED.into(),
            fields: errors,
        });
    }
    let now = ids::now();
    let record = Record {
        id,
        created: now.clone(),
        updated: now,
        cells,
    };
    let d = conn.dialect();
    let mut cols = vec![
        "\"id\"".to_string(),
        "\"created\"".into(),
        "\"updated\"".into(),
    ];
    let mut args = vec![
        Arg::Text(record.id.clone()),
        Arg::Text(record.created.clone()),
        Arg::Text(record.updated.clone()),
    ];
    for (f, cell) in c.fields.iter().zip(&record.cells) {
        cols.push(quote(&f.name));
        args.push(Arg::from(cell));
    }
    let marks: Vec<String> = c
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| value_mark(d, i + 4, &f.ty))
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}, {}, {}{}{})",
        quote(&c.table()),
        cols.join(", "),
        d.ph(1),
        d.ph(2),
        d.ph(3),
        if marks.is_empty() { "" } else { ", " },
        marks.join(", ")
    );
    conn.execute(&sql, args)
        .await
        .map_err(|e| write_error(c, FAILED, "create a record", e))?;
    Ok(record)
}

/// [`create`], then checks that the new record matches the collection's
/// create `rule` (none = anyone may create): a record that does not is an
/// error, and the caller's transaction rolls it back.
pub async fn create_with_rule(
    conn: &mut Conn<'_>,
    snap: &Snapshot,
    c: &Collection,
    input: &Map<String, Value>,
    rule: Option<&str>,
) -> DataResult<Record> {
    let record = create(conn, snap, c, input).await?;
    if let Some(rule) = rule {
        let mut w = Where::new(conn.dialect());
        w.arg(
            format!("\"id\" = {}", w.next()),
            Arg::Text(record.id.clone()),
        );
        w.filter(c, rule, "rule")?;
        let sql = format!("SELECT COUNT(*) FROM {}{}", quote(&c.table()), w.sql());
        let n = conn
            .count(&sql, w.args)
            .await
            .map_err(|e| DataError::db("check the create rule", e))?;
        if n == 0 {
            return Err(DataError::invalid("Failed to create record."));
        }
    }
    Ok(record)
}

/// A record before and after an update.
pub struct Updated {
    pub before: Record,
    pub after: Record,
}

impl Updated {
    /// The files the record named before and no longer names (they go once
    /// the update has committed).
    pub fn dropped_files(&self, c: &Collection) -> Vec<String> {
        let mut dropped = Vec::new();
        for (f, (old, new)) in c
            .fields
            .iter()
            .zip(self.before.cells.iter().zip(&self.after.cells))
        {
            if matches!(f.ty, FieldType::File { .. }) {
                let kept = file_names(new);
                dropped.extend(file_names(old).into_iter().filter(|n| !kept.contains(n)));
            }
        }
        dropped
    }
}

/// The file names a `file` field's cell holds.
fn file_names(cell: &Cell) -> Vec<String> {
    match cell {
        Cell::Text(s) if !s.is_empty() => vec![s.clone()],
        Cell::List(l) => l.clone(),
        _ => Vec::new(),
    }
}

/// Applies the fields of `patch` to record `id` (that also matches `rule`,
/// none = any); returns it as stored, or none when there is no such record.
pub async fn update(
    conn: &mut Conn<'_>,
    snap: &Snapshot,
    c: &Collection,
    id: &str,
    patch: &Map<String, Value>,
    rule: Option<&str>,
) -> DataResult<Option<Record>> {
    Ok(update_with_before(conn, snap, c, id, patch, rule)
        .await?
        .map(|u| u.after))
}

/// [`update`], returning the record before the update too (its files that
/// are no longer named go once the update commits).
pub async fn update_with_before(
    conn: &mut Conn<'_>,
    snap: &Snapshot,
    c: &Collection,
    id: &str,
    patch: &Map<String, Value>,
    rule: Option<&str>,
) -> DataResult<Option<Updated>> {
    const FAILED: &str = "Failed to update record.";
    let Some(mut record) = read::get(conn, c, id, rule).await? else {
        return Ok(None);
    };
    let before = record.clone();
    if let Some(new_id) = patch.get("id") {
        if new_id.as_str() != Some(id) {
            return Err(DataError::field(
                FAILED,
                "id",
                FieldError::new("validation_invalid_id", "The id of a record cannot change."),
            ));
        }
    }
    let mut errors = values::apply(c, &mut record.cells, patch);
    check_relations(conn, snap, c, &record.cells, &mut errors).await?;
    if !errors.is_empty() {
        return Err(DataError::Invalid {
            message: FAILED.into(),
            fields: errors,
        });
    }
    record.updated = ids::now();
    if record.updated <= record.created {
        record.updated = record.created.clone();
    }
    let d = conn.dialect();
    let mut sets = vec![format!("\"updated\" = {}", d.ph(2))];
    let mut args = vec![
        Arg::Text(record.id.clone()),
        Arg::Text(record.updated.clone()),
    ];
    for (i, (f, cell)) in c.fields.iter().zip(&record.cells).enumerate() {
        sets.push(format!(
            "{} = {}",
            quote(&f.name),
            value_mark(d, i + 3, &f.ty)
        ));
        args.push(Arg::from(cell));
    }
    let sql = format!(
        "UPDATE {} SET {} WHERE \"id\" = {}",
        quote(&c.table()),
        sets.join(", "),
        d.ph(1)
    );
    conn.execute(&sql, args)
        .await
        .map_err(|e| write_error(c, FAILED, "update a record", e))?;
    Ok(Some(Updated {
        before,
        after: record,
    }))
}

/// Deletes record `id` (that also matches `rule`); returns what it held,
/// or none when there is no such record.
pub async fn delete(
    conn: &mut Conn<'_>,
    c: &Collection,
    id: &str,
    rule: Option<&str>,
) -> DataResult<Option<Record>> {
    let Some(record) = read::get(conn, c, id, rule).await? else {
        return Ok(None);
    };
    let d = conn.dialect();
    let sql = format!(
        "DELETE FROM {} WHERE \"id\" = {}",
        quote(&c.table()),
        d.ph(1)
    );
    conn.execute(&sql, vec![Arg::Text(id.to_string())])
        .await
        .map_err(|e| DataError::db("delete a record", e))?;
    Ok(Some(record))
}

/// The placeholder of a field's value (PostgreSQL vectors are sent as
/// `real[]` and cast).
fn value_mark(d: crate::store::Dialect, n: usize, ty: &FieldType) -> String {
    match (ty, d) {
        (FieldType::Vector { .. }, crate::store::Dialect::Postgres) => {
            format!("{}::vector", d.ph(n))
        }
        _ => d.ph(n),
    }
}

/// Relation ids must name records of the target collection.
async fn check_relations(
    conn: &mut Conn<'_>,
    snap: &Snapshot,
    c: &Collection,
    cells: &[Cell],
    errors: &mut FieldErrors,
) -> DataResult<()> {
    for (f, cell) in c.fields.iter().zip(cells) {
        let FieldType::Relation { collection_id, .. } = &f.ty else {
            continue;
        };
        if errors.iter().any(|(n, _)| n == &f.name) {
            continue;
        }
        let ids: Vec<String> = match cell {
            Cell::Text(s) if !s.is_empty() => vec![s.clone()],
            Cell::List(l) => l.clone(),
            _ => continue,
        };
        if ids.is_empty() {
            continue;
        }
        let table = match snap.by_id.get(collection_id) {
            Some(target) => target.table(),
            // The collection being written (a self-relation in a new catalogue).
            None if collection_id == &c.id => c.table(),
            None => {
                errors.push((
                    f.name.clone(),
                    FieldError::new(
                        "validation_missing_rel_records",
                        "The related collection does not exist.",
                    ),
                ));
                continue;
            }
        };
        let d = conn.dialect();
        let marks: Vec<String> = (1..=ids.len()).map(|n| d.ph(n)).collect();
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE \"id\" IN ({})",
            quote(&table),
            marks.join(", ")
        );
        let found = conn
            .count(&sql, ids.iter().cloned().map(Arg::Text).collect())
            .await
            .map_err(|e| DataError::db("check relations", e))?;
        if found != ids.len() as i64 {
            errors.push((
                f.name.clone(),
                FieldError::new(
                    "validation_missing_rel_records",
                    "Failed to find all relation records with the provided ids.",
                ),
            ));
        }
    }
    Ok(())
}

/// A failed INSERT or UPDATE: a unique violation names its field.
fn write_error(c: &Collection, failed: &str, op: &str, e: sqlx::Error) -> DataError {
    if let Some(d) = unique_violation(&e) {
        let field = violated_field(c, d);
        return DataError::Conflict {
            message: failed.to_string(),
            fields: vec![(field, FieldError::not_unique())],
        };
    }
    DataError::db(op, e)
}

/// The field a unique violation is about: PostgreSQL names the index
/// (`u_<collection id>_<field id>`, or the primary key), SQLite the column
/// (`UNIQUE constraint failed: c_posts.slug`).
fn violated_field(c: &Collection, d: &dyn sqlx::error::DatabaseError) -> String {
    if let Some(index) = d.constraint() {
        let prefix = format!("u_{}_", c.id);
        if let Some(fid) = index.strip_prefix(&prefix) {
            if let Some(f) = c.fields.iter().find(|f| f.id == fid) {
                return f.name.clone();
            }
        }
        return "id".into();
    }
    let message = d.message();
    let table = format!("{}.", c.table());
    if let Some(pos) = message.find(&table) {
        let col: String = message[pos + table.len()..]
            .chars()
            .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
            .collect();
        if let Some(f) = c.field(&col) {
            return f.name.clone();
        }
    }
    "id".into()
}
