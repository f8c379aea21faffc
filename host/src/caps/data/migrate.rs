//! A collection's table, for both backends: the DDL that creates it, and
//! the plan that takes it from one definition to the next.
//!
//! - Table `c_<name>`: `id TEXT PRIMARY KEY`, `created`, `updated` (text
//!   timestamps, indexed on `created`) and one column per field, typed by its
//!   [`Storage`]; every column but `json` and `vector` is `NOT NULL` with the
//!   field's zero value as default, so adding a field fills existing rows.
//! - `unique` fields get a unique index that ignores the zero value, so
//!   empty values never conflict (`u_<collection id>_<field id>`); `vector`
//!   fields on PostgreSQL an HNSW index with `vector_cosine_ops` (`v_…`).
//!   Index names use ids, so renames keep them.
//! - A change is planned as DDL plus [`Check`]s, counted inside the same
//!   transaction before anything runs: a `Lossy` check that counts records is
//!   data the change would lose (dropping a field that has values, changing
//!   its type, making a field with empty values `required`, adding a
//!   `required` field to a table with records), refused unless forced; a
//!   `Duplicates` check (making a field `unique`) is refused always.
//!
//! Fields are matched by id, then by name: a field keeping its id under a new
//! name is renamed (`RENAME COLUMN`), keeping its values.

use super::filter::Dialect;
use super::schema::{quote, Collection, Field, FieldType, Storage};

/// The column type of a storage.
pub fn column_type(s: Storage, d: Dialect) -> String {
    let pg = d == Dialect::Postgres;
    match s {
        Storage::Text => "TEXT NOT NULL DEFAULT ''".into(),
        Storage::List => "TEXT NOT NULL DEFAULT '[]'".into(),
        Storage::Number if pg => "DOUBLE PRECISION NOT NULL DEFAULT 0".into(),
        Storage::Number => "REAL NOT NULL DEFAULT 0".into(),
        Storage::Bool => "BOOLEAN NOT NULL DEFAULT FALSE".into(),
        Storage::Json => "TEXT".into(),
        Storage::Vector(n) if pg => format!("vector({n})"),
        Storage::Vector(_) => "BLOB".into(),
    }
}

/// SQL that is true when the column holds its zero value.
pub fn is_zero_sql(column: &str, s: Storage) -> String {
    match s {
        Storage::Text => format!("{column} = ''"),
        Storage::List => format!("({column} = '[]' OR {column} = '')"),
        Storage::Number => format!("{column} = 0"),
        Storage::Bool => format!("{column} = FALSE"),
        Storage::Json => {
            format!("({column} IS NULL OR {column} IN ('', 'null', '\"\"', '[]', '{{}}'))")
        }
        Storage::Vector(_) => format!("{column} IS NULL"),
    }
}

fn unique_index(c: &Collection, f: &Field) -> String {
    quote(&format!("u_{}_{}", c.id, f.id))
}

fn vector_index(c: &Collection, f: &Field) -> String {
    quote(&format!("v_{}_{}", c.id, f.id))
}

/// The indexes a field has.
fn create_indexes(c: &Collection, f: &Field, d: Dialect) -> Vec<String> {
    let table = quote(&c.table());
    let col = quote(&f.name);
    let mut out = Vec::new();
    if f.unique {
        // Empty values never conflict (many records may have none).
        let partial = is_zero_sql(&col, f.ty.storage());
        out.push(format!(
            "CREATE UNIQUE INDEX {} ON {table} ({col}) WHERE NOT {partial}",
            unique_index(c, f)
        ));
    }
    if let (FieldType::Vector { .. }, Dialect::Postgres) = (&f.ty, d) {
        out.push(format!(
            "CREATE INDEX {} ON {table} USING hnsw ({col} vector_cosine_ops)",
            vector_index(c, f)
        ));
    }
    out
}

fn drop_indexes(c: &Collection, f: &Field, d: Dialect) -> Vec<String> {
    let mut out = Vec::new();
    if f.unique {
        out.push(format!("DROP INDEX IF EXISTS {}", unique_index(c, f)));
    }
    if let (FieldType::Vector { .. }, Dialect::Postgres) = (&f.ty, d) {
        out.push(format!("DROP INDEX IF EXISTS {}", vector_index(c, f)));
    }
    out
}

fn created_index(c: &Collection) -> String {
    quote(&format!("t_{}_created", c.id))
}

/// Whether a collection needs pgvector.
pub fn needs_pgvector(c: &Collection) -> bool {
    c.fields
        .iter()
        .any(|f| matches!(f.ty, FieldType::Vector { .. }))
}

/// The DDL creating a collection's table and indexes.
pub fn create_table(c: &Collection, d: Dialect) -> Vec<String> {
    let mut cols = vec![
        "\"id\" TEXT PRIMARY KEY NOT NULL".to_string(),
        "\"created\" TEXT NOT NULL DEFAULT ''".to_string(),
        "\"updated\" TEXT NOT NULL DEFAULT ''".to_string(),
    ];
    for f in &c.fields {
        cols.push(format!(
            "{} {}",
            quote(&f.name),
            column_type(f.ty.storage(), d)
        ));
    }
    let table = quote(&c.table());
    let mut out = vec![
        format!("CREATE TABLE {table} ({})", cols.join(", ")),
        format!("CREATE INDEX {} ON {table} (\"created\")", created_index(c)),
    ];
    for f in &c.fields {
        out.extend(create_indexes(c, f, d));
    }
    out
}

pub fn drop_table(c: &Collection) -> Vec<String> {
    vec![format!("DROP TABLE IF EXISTS {}", quote(&c.table()))]
}

/// Something to count before a change runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// `SELECT COUNT(*) …`
    pub sql: String,
    pub kind: CheckKind,
    /// What a non-zero count means, e.g. `dropping field "body"`.
    pub what: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// Records whose data the change loses.
    Lossy,
    /// Duplicate values that block a unique index.
    Duplicates,
}

/// The DDL of a change, and what to count first.
#[derive(Debug, Default)]
pub struct Plan {
    pub checks: Vec<Check>,
    pub statements: Vec<String>,
}

/// Matches the fields of `new` to those of `old` (by id, then by name) and
/// gives matched fields their old id. Returns, per new field, the index of
/// its old field.
pub fn match_fields(old: &Collection, new: &mut Collection) -> Vec<Option<usize>> {
    let mut taken = vec![false; old.fields.len()];
    let mut matches = vec![None; new.fields.len()];
    for (i, f) in new.fields.iter().enumerate() {
        if let Some(j) = old.fields.iter().position(|o| o.id == f.id) {
            taken[j] = true;
            matches[i] = Some(j);
        }
    }
    for (i, f) in new.fields.iter_mut().enumerate() {
        if matches[i].is_some() {
            continue;
        }
        let found = old
            .fields
            .iter()
            .enumerate()
            .find(|(j, o)| !taken[*j] && o.name.eq_ignore_ascii_case(&f.name));
        if let Some((j, o)) = found {
            taken[j] = true;
            matches[i] = Some(j);
            f.id = o.id.clone();
        }
    }
    matches
}

/// The plan taking `old`'s table to `new`'s (fields already matched with
/// [`match_fields`]).
pub fn plan_alter(
    old: &Collection,
    new: &Collection,
    matches: &[Option<usize>],
    d: Dialect,
) -> Plan {
    let mut plan = Plan::default();
    let old_table = quote(&old.table());
    let table = quote(&new.table());
    let count_where =
        |table: &str, cond: &str| format!("SELECT COUNT(*) FROM {table} WHERE {cond}");
    let mut renames = Vec::new();
    let mut drops = Vec::new();
    let mut adds = Vec::new();
    let mut indexes = Vec::new();

    // Checks and column drops run against the table as it is now (old name).
    for (j, o) in old.fields.iter().enumerate() {
        if matches.contains(&Some(j)) {
            continue;
        }
        let col = quote(&o.name);
        plan.checks.push(Check {
            sql: count_where(
                &old_table,
                &format!("NOT {}", is_zero_sql(&col, o.ty.storage())),
            ),
            kind: CheckKind::Lossy,
            what: format!("dropping field {:?}", o.name),
        });
        drops.extend(drop_indexes(old, o, d));
        drops.push(format!("ALTER TABLE {old_table} DROP COLUMN {col}"));
    }
    if old.name != new.name {
        renames.push(format!("ALTER TABLE {old_table} RENAME TO {table}"));
    }
    for (i, f) in new.fields.iter().enumerate() {
        let col = quote(&f.name);
        let Some(j) = matches[i] else {
            // A new column: existing rows get the zero value.
            if f.required {
                plan.checks.push(Check {
                    sql: format!("SELECT COUNT(*) FROM {old_table}"),
                    kind: CheckKind::Lossy,
                    what: format!(
                        "adding the required field {:?} (existing records would have no value)",
                        f.name
                    ),
                });
            }
            adds.push(format!(
                "ALTER TABLE {table} ADD COLUMN {col} {}",
                column_type(f.ty.storage(), d)
            ));
            indexes.extend(create_indexes(new, f, d));
            continue;
        };
        let o = &old.fields[j];
        let old_col = quote(&o.name);
        let (os, ns) = (o.ty.storage(), f.ty.storage());
        let type_changed = o.ty.name() != f.ty.name()
            || (os != ns && !(os == Storage::Text && ns == Storage::List));
        if type_changed {
            plan.checks.push(Check {
                sql: count_where(&old_table, &format!("NOT {}", is_zero_sql(&old_col, os))),
                kind: CheckKind::Lossy,
                what: format!(
                    "changing field {:?} from {} to {}",
                    o.name,
                    describe(&o.ty),
                    describe(&f.ty)
                ),
            });
        }
        let index_changed = os != ns || o.unique != f.unique || o.ty.name() != f.ty.name();
        if index_changed {
            drops.extend(drop_indexes(old, o, d));
        }
        if o.name != f.name {
            renames.push(format!(
                "ALTER TABLE {table} RENAME COLUMN {old_col} TO {col}"
            ));
        }
        if os != ns {
            if os == Storage::Text && ns == Storage::List {
                // One value → a list of it: nothing is lost.
                let list = match d {
                    Dialect::Sqlite => format!("json_array({col})"),
                    Dialect::Postgres => format!("json_build_array({col})::text"),
                };
                adds.push(format!(
                    "UPDATE {table} SET {col} = CASE WHEN {col} = '' THEN '[]' ELSE {list} END"
                ));
                if d == Dialect::Postgres {
                    adds.push(format!(
                        "ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT '[]'"
                    ));
                }
            } else {
                adds.push(format!("ALTER TABLE {table} DROP COLUMN {col}"));
                adds.push(format!(
                    "ALTER TABLE {table} ADD COLUMN {col} {}",
                    column_type(ns, d)
                ));
            }
        }
        if f.required && (!o.required || type_changed) {
            // Rows that would be empty afterwards.
            let cond = if os == ns || (os == Storage::Text && ns == Storage::List) {
                is_zero_sql(&old_col, os)
            } else {
                "TRUE".into()
            };
            plan.checks.push(Check {
                sql: count_where(&old_table, &cond),
                kind: CheckKind::Lossy,
                what: format!(
                    "making field {:?} required (records without a value)",
                    f.name
                ),
            });
        }
        if f.unique && (index_changed || !o.unique) && os == ns {
            let nonzero = format!("NOT {}", is_zero_sql(&old_col, os));
            plan.checks.push(Check {
                sql: format!(
                    "SELECT COUNT(*) FROM (SELECT {old_col} FROM {old_table} WHERE {nonzero} GROUP BY {old_col} HAVING COUNT(*) > 1) AS dups"
                ),
                kind: CheckKind::Duplicates,
                what: format!("making field {:?} unique", f.name),
            });
        }
        if index_changed {
            indexes.extend(create_indexes(new, f, d));
        }
    }
    plan.statements.extend(drops);
    plan.statements.extend(renames);
    plan.statements.extend(adds);
    plan.statements.extend(indexes);
    plan
}

fn describe(t: &FieldType) -> String {
    match t {
        FieldType::Vector { dimensions } => format!("vector({dimensions})"),
        FieldType::Select { max_select, .. }
        | FieldType::Relation { max_select, .. }
        | FieldType::File { max_select, .. }
            if *max_select > 1 =>
        {
            format!("{} (maxSelect {max_select})", t.name())
        }
        other => other.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::data::schema::{parse_definition, Rules};
    use serde_json::json;

    fn collection(v: serde_json::Value) -> Collection {
        let def = parse_definition(&v).unwrap();
        Collection {
            id: "pbc_1".into(),
            name: def.name,
            fields: def.fields,
            rules: Rules::default(),
            created: String::new(),
            updated: String::new(),
        }
    }

    #[test]
    fn create_has_columns_and_indexes() {
        let c = collection(json!({"name": "posts", "fields": [
            {"name": "slug", "type": "text", "unique": true, "id": "f1"},
            {"name": "emb", "type": "vector", "dimensions": 3, "id": "f2"},
        ]}));
        let pg = create_table(&c, Dialect::Postgres).join(";\n");
        assert!(pg.contains("\"emb\" vector(3)"), "{pg}");
        assert!(
            pg.contains("USING hnsw (\"emb\" vector_cosine_ops)"),
            "{pg}"
        );
        assert!(pg.contains("CREATE UNIQUE INDEX \"u_pbc_1_f1\" ON \"c_posts\" (\"slug\") WHERE NOT \"slug\" = ''"), "{pg}");
        let lite = create_table(&c, Dialect::Sqlite).join(";\n");
        assert!(lite.contains("\"emb\" BLOB"), "{lite}");
        assert!(!lite.contains("hnsw"), "{lite}");
    }

    #[test]
    fn alter_plans_renames_drops_and_checks() {
        let old = collection(json!({"name": "posts", "fields": [
            {"name": "title", "type": "text", "id": "f1"},
            {"name": "body", "type": "text", "id": "f2"},
            {"name": "n", "type": "number", "id": "f3"},
        ]}));
        let mut new = collection(json!({"name": "posts", "fields": [
            {"name": "headline", "type": "text", "id": "f1", "required": true},
            {"name": "n", "type": "text"},
            {"name": "extra", "type": "bool"},
        ]}));
        let m = match_fields(&old, &mut new);
        assert_eq!(m, vec![Some(0), Some(2), None]);
        assert_eq!(new.fields[1].id, "f3");
        let plan = plan_alter(&old, &new, &m, Dialect::Sqlite);
        let whats: Vec<&str> = plan.checks.iter().map(|c| c.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "dropping field \"body\"",
                "making field \"headline\" required (records without a value)",
                "changing field \"n\" from number to text",
            ]
        );
        let sql = plan.statements.join(";\n");
        assert!(sql.contains("DROP COLUMN \"body\""), "{sql}");
        assert!(
            sql.contains("RENAME COLUMN \"title\" TO \"headline\""),
            "{sql}"
        );
        assert!(sql.contains("ADD COLUMN \"extra\" BOOLEAN"), "{sql}");
    }
}
