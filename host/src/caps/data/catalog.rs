//! The collections catalogue: table `pbs_collections` (one row per
//! collection: its fields as JSON, its rules, timestamps), a cache of it, and
//! the schema changes — create, alter, delete, import a whole set — each in
//! one database transaction that runs the DDL of [`super::migrate`] and
//! writes the catalogue row together.
//!
//! Hosts sharing one database see each other's changes: the cache is read
//! again when it is older than [`REFRESH`] or a name is not in it.

use super::error::{clip, DataError, DataResult};
use super::filter;
use super::migrate::{self, CheckKind};
use super::schema::{self, schema_error, Collection, Definition, FieldType, RULE_KEYS};
use crate::store::{now_ms, Arg, Conn, Db, Dialect};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a cached catalogue is trusted before it is read again.
pub const REFRESH: Duration = Duration::from_secs(1);

/// The collections, by lower-case name and by id.
#[derive(Default)]
pub struct Snapshot {
    pub by_name: HashMap<String, Arc<Collection>>,
    pub by_id: HashMap<String, Arc<Collection>>,
}

impl Snapshot {
    /// A collection by name (any case) or id.
    pub fn find(&self, name_or_id: &str) -> Option<&Arc<Collection>> {
        self.by_name
            .get(&name_or_id.to_ascii_lowercase())
            .or_else(|| self.by_id.get(name_or_id))
    }

    /// The collections in name order.
    pub fn sorted(&self) -> Vec<Arc<Collection>> {
        let mut all: Vec<_> = self.by_name.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

#[derive(Default)]
pub struct Catalog {
    cached: RwLock<Option<(Arc<Snapshot>, Instant)>>,
    reloading: tokio::sync::Mutex<()>,
}

const SELECT_ROWS: &str = "SELECT id, name, fields, list_rule, view_rule, create_rule, \
     update_rule, delete_rule, created, updated FROM pbs_collections";

impl Catalog {
    /// The catalogue, read again when older than [`REFRESH`].
    pub async fn snapshot(&self, db: &Db) -> DataResult<Arc<Snapshot>> {
        if let Some((snap, at)) = self.cached() {
            if at.elapsed() < REFRESH {
                return Ok(snap);
            }
        }
        self.reload(db, Instant::now()).await
    }

    /// A collection by name or id, and the catalogue it was found in.
    pub async fn get(&self, db: &Db, name: &str) -> DataResult<(Arc<Snapshot>, Arc<Collection>)> {
        let started = Instant::now();
        let snap = self.snapshot(db).await?;
        if let Some(c) = snap.find(name) {
            return Ok((snap.clone(), c.clone()));
        }
        // Perhaps created by another host since.
        let snap = self.reload(db, started).await?;
        match snap.find(name) {
            Some(c) => Ok((snap.clone(), c.clone())),
            None => Err(DataError::missing_collection(name)),
        }
    }

    /// Forgets the cache (after a change, or a statement that failed on a
    /// table whose shape may have changed).
    pub fn invalidate(&self) {
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn cached(&self) -> Option<(Arc<Snapshot>, Instant)> {
        self.cached
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the catalogue unless another call did since `since`.
    async fn reload(&self, db: &Db, since: Instant) -> DataResult<Arc<Snapshot>> {
        let _one = self.reloading.lock().await;
        if let Some((snap, at)) = self.cached() {
            if at >= since {
                return Ok(snap);
            }
        }
        let at = Instant::now();
        let mut conn = db
            .acquire()
            .await
            .map_err(|e| DataError::db("read the catalogue", e))?;
        let rows = load(&mut conn.conn()).await?;
        let mut snap = Snapshot::default();
        for c in rows {
            let c = Arc::new(c);
            snap.by_name.insert(c.name.to_ascii_lowercase(), c.clone());
            snap.by_id.insert(c.id.clone(), c);
        }
        let snap = Arc::new(snap);
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) = Some((snap.clone(), at));
        Ok(snap)
    }
}

/// Every collection in the catalogue.
async fn load(conn: &mut Conn<'_>) -> DataResult<Vec<Collection>> {
    let rows = conn
        .fetch(SELECT_ROWS, Vec::new())
        .await
        .map_err(|e| DataError::db("read the catalogue", e))?;
    let mut out = Vec::new();
    for r in rows {
        let text = |i: usize| r.get::<String>(i).unwrap_or_default();
        let rule = |i: usize| r.get::<Option<String>>(i).unwrap_or(None);
        let name = text(1);
        let fields = serde_json::from_str::<Vec<Value>>(&text(2))
            .map_err(|e| e.to_string())
            .and_then(|list| schema::parse_fields(&list).map_err(|e| e.message()));
        let fields = match fields {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(target: "pb.data", "collection {name:?} has unreadable fields in the catalogue: {e}");
                continue;
            }
        };
        out.push(Collection {
            id: text(0),
            name,
            fields,
            rules: schema::Rules {
                list: rule(3),
                view: rule(4),
                create: rule(5),
                update: rule(6),
                delete: rule(7),
            },
            created: text(8),
            updated: text(9),
        });
    }
    Ok(out)
}

/// The failure of a schema change's `BEGIN` or `COMMIT`.
fn tx_failed(e: sqlx::Error) -> DataError {
    DataError::db("a schema change", e)
}

/// A schema change that failed in the database: logged; the client learns
/// which change.
fn ddl_error(what: &str, e: sqlx::Error) -> DataError {
    tracing::warn!(target: "pb.data", "{what} failed: {e}");
    let hint = match &e {
        sqlx::Error::Database(d) if d.message().contains("vector") => {
            " (is the pgvector extension available on this PostgreSQL?)"
        }
        _ => "",
    };
    DataError::invalid(format!(
        "Failed to save the collection: the database refused {what}{hint}."
    ))
}

impl Catalog {
    /// Creates a collection (`POST /api/collections`).
    pub async fn create(&self, db: &Db, def: Definition) -> DataResult<Collection> {
        let d = db.dialect();
        let mut tx = db.begin().await.map_err(tx_failed)?;
        let mut conn = tx.conn();
        let result = async {
            let mut state = load(&mut conn).await?;
            apply(&mut conn, d, &mut state, None, def, false, &HashMap::new()).await
        }
        .await;
        let result = tx.finish(result, tx_failed).await;
        self.invalidate();
        result
    }

    /// Changes a collection (`PATCH /api/collections/{name}`): the keys of
    /// `patch` replace the collection's (`fields` as a whole list).
    pub async fn update(
        &self,
        db: &Db,
        name: &str,
        patch: &Map<String, Value>,
        force: bool,
    ) -> DataResult<Collection> {
        let d = db.dialect();
        let mut tx = db.begin().await.map_err(tx_failed)?;
        let mut conn = tx.conn();
        let result = async {
            let mut state = load(&mut conn).await?;
            let old = find(&state, name)
                .ok_or_else(|| DataError::missing_collection(name))?
                .clone();
            let mut def = Definition {
                id: Some(old.id.clone()),
                name: old.name.clone(),
                fields: old.fields.clone(),
                rules: old.rules.clone(),
            };
            if let Some(n) = patch.get("name") {
                let mut probe = Map::new();
                probe.insert("name".into(), n.clone());
                def.name = schema::parse_definition(&Value::Object(probe))?.name;
            }
            match patch.get("fields") {
                None => {}
                Some(Value::Array(list)) => def.fields = schema::parse_fields(list)?,
                Some(_) => return Err(schema_error("fields", "`fields` must be an array")),
            }
            schema::apply_rules(patch, &mut def.rules)?;
            apply(
                &mut conn,
                d,
                &mut state,
                Some(old),
                def,
                force,
                &HashMap::new(),
            )
            .await
        }
        .await;
        let result = tx.finish(result, tx_failed).await;
        self.invalidate();
        result
    }

    /// Deletes a collection and its records.
    pub async fn delete(&self, db: &Db, name: &str) -> DataResult<Collection> {
        let mut tx = db.begin().await.map_err(tx_failed)?;
        let mut conn = tx.conn();
        let result = async {
            let state = load(&mut conn).await?;
            let c = find(&state, name)
                .ok_or_else(|| DataError::missing_collection(name))?
                .clone();
            for other in state.iter().filter(|o| o.id != c.id) {
                for f in &other.fields {
                    if matches!(&f.ty, FieldType::Relation { collection_id, .. } if *collection_id == c.id)
                    {
                        return Err(DataError::invalid(format!(
                            "Failed to delete the collection: field {:?} of collection {:?} refers to it.",
                            f.name, other.name
                        )));
                    }
                }
            }
            for sql in migrate::drop_table(&c) {
                conn.execute(&sql, Vec::new())
                    .await
                    .map_err(|e| ddl_error("dropping the table", e))?;
            }
            conn.execute(
                &format!(
                    "DELETE FROM pbs_collections WHERE id = {}",
                    conn.dialect().ph(1)
                ),
                vec![Arg::Text(c.id.clone())],
            )
            .await
            .map_err(|e| DataError::db("delete a catalogue row", e))?;
            Ok::<_, DataError>(c)
        }
        .await;
        let result = tx.finish(result, tx_failed).await;
        self.invalidate();
        result
    }

    /// Creates or changes every collection of `defs`, in order, in one
    /// transaction (`PUT /api/pb_serverless/_admin/collections`, the
    /// project deploy). Collections not listed are left alone. Relations may
    /// name collections of the same set.
    pub async fn import(
        &self,
        db: &Db,
        defs: Vec<Definition>,
        force: bool,
    ) -> DataResult<Vec<Collection>> {
        let d = db.dialect();
        let mut tx = db.begin().await.map_err(tx_failed)?;
        let mut conn = tx.conn();
        let result = async {
            let mut state = load(&mut conn).await?;
            // Ids for the new collections first, so relations can name them.
            let mut planned = Vec::new();
            let mut pending: HashMap<String, String> = HashMap::new();
            for (i, def) in defs.into_iter().enumerate() {
                let existing = def
                    .id
                    .as_deref()
                    .and_then(|id| state.iter().find(|c| c.id == id))
                    .or_else(|| find(&state, &def.name))
                    .cloned();
                let id = match (&existing, &def.id) {
                    (Some(c), _) => c.id.clone(),
                    (None, Some(id)) => id.clone(),
                    (None, None) => super::ids::new_collection_id(),
                };
                if pending
                    .insert(def.name.to_ascii_lowercase(), id.clone())
                    .is_some()
                {
                    return Err(schema_error(
                        &format!("collections.{i}.name"),
                        format!("the set lists {:?} twice", def.name),
                    ));
                }
                planned.push((
                    existing,
                    Definition {
                        id: Some(id),
                        ..def
                    },
                ));
            }
            let mut out = Vec::new();
            for (existing, def) in planned {
                out.push(apply(&mut conn, d, &mut state, existing, def, force, &pending).await?);
            }
            Ok::<_, DataError>(out)
        }
        .await;
        let result = tx.finish(result, tx_failed).await;
        self.invalidate();
        result
    }
}

fn find<'a>(state: &'a [Collection], name_or_id: &str) -> Option<&'a Collection> {
    state
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name_or_id))
        .or_else(|| state.iter().find(|c| c.id == name_or_id))
}

/// Creates (`old` none) or changes a collection inside the transaction of
/// `conn`, and records the result in `state`.
async fn apply(
    conn: &mut Conn<'_>,
    d: Dialect,
    state: &mut Vec<Collection>,
    old: Option<Collection>,
    def: Definition,
    force: bool,
    pending: &HashMap<String, String>,
) -> DataResult<Collection> {
    let now = super::ids::now();
    let id = match (&old, def.id) {
        (Some(o), _) => o.id.clone(),
        (None, Some(id)) => id,
        (None, None) => super::ids::new_collection_id(),
    };
    if let Some(clash) = state
        .iter()
        .find(|c| c.id != id && c.name.eq_ignore_ascii_case(&def.name))
    {
        return Err(DataError::field(
            "Failed to save the collection.",
            "name",
            super::error::FieldError::new(
                "validation_collection_name_exists",
                format!("Collection name {:?} is taken.", clash.name),
            ),
        ));
    }
    if old.is_none() && state.iter().any(|c| c.id == id) {
        return Err(schema_error(
            "id",
            format!("the collection id {:?} is taken", clip(&id)),
        ));
    }
    let mut new = Collection {
        id: id.clone(),
        name: def.name,
        fields: def.fields,
        rules: def.rules,
        created: old
            .as_ref()
            .map_or_else(|| now.clone(), |o| o.created.clone()),
        updated: now,
    };
    let matches = match &old {
        Some(o) => migrate::match_fields(o, &mut new),
        None => vec![None; new.fields.len()],
    };
    // Relations: by id or name, among the catalogue, the set and itself.
    for (i, f) in new.fields.iter_mut().enumerate() {
        if let FieldType::Relation { collection_id, .. } = &mut f.ty {
            let target = if collection_id == &id || collection_id.eq_ignore_ascii_case(&new.name) {
                Some(id.clone())
            } else {
                find(state, collection_id)
                    .map(|c| c.id.clone())
                    .or_else(|| pending.get(&collection_id.to_ascii_lowercase()).cloned())
                    .or_else(|| pending.values().find(|v| *v == collection_id).cloned())
            };
            match target {
                Some(t) => *collection_id = t,
                None => {
                    return Err(schema_error(
                        &format!("fields.{i}"),
                        format!(
                            "relation field {:?} names no collection: {:?}",
                            f.name,
                            clip(collection_id)
                        ),
                    ))
                }
            }
        }
    }
    validate_rules(&new, d)?;
    if new
        .fields
        .iter()
        .any(|f| matches!(f.ty, FieldType::Vector { .. }))
        && d == Dialect::Postgres
    {
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector", Vec::new())
            .await
            .map_err(|e| ddl_error("enabling the pgvector extension", e))?;
    }
    let statements = match &old {
        None => migrate::create_table(&new, d),
        Some(o) => {
            let plan = migrate::plan_alter(o, &new, &matches, d);
            let mut lossy = Vec::new();
            for check in &plan.checks {
                let n = conn
                    .count(&check.sql, Vec::new())
                    .await
                    .map_err(|e| DataError::db("count records before a schema change", e))?;
                if n == 0 {
                    continue;
                }
                match check.kind {
                    CheckKind::Lossy => lossy.push(format!("{} ({n} records)", check.what)),
                    CheckKind::Duplicates => {
                        return Err(schema_error(
                            "fields",
                            format!("{}: {n} values appear more than once", check.what),
                        ))
                    }
                }
            }
            if !lossy.is_empty() && !force {
                return Err(DataError::Invalid {
                    message: format!(
                        "Failed to save the collection {:?}: the change would lose data: {}. Send it again with force (`?force=true`, or \"force\": true) to apply it anyway.",
                        new.name,
                        lossy.join("; ")
                    ),
                    fields: vec![(
                        "fields".into(),
                        super::error::FieldError::new("validation_lossy_change", lossy.join("; ")),
                    )],
                });
            }
            if !lossy.is_empty() {
                tracing::warn!(target: "pb.data", collection = %new.name, "forced a lossy change: {}", lossy.join("; "));
            }
            plan.statements
        }
    };
    for sql in &statements {
        conn.execute(sql, Vec::new())
            .await
            .map_err(|e| ddl_error("the change of the table", e))?;
    }
    if let Some(o) = old.as_ref().filter(|o| o.name != new.name) {
        // Record hooks are bound by name: they follow a rename.
        let sql = format!(
            "UPDATE pbs_hooks SET collection = {} WHERE collection = {}",
            d.ph(1),
            d.ph(2)
        );
        conn.execute(
            &sql,
            vec![Arg::Text(new.name.clone()), Arg::Text(o.name.clone())],
        )
        .await
        .map_err(|e| DataError::db("rename the collection's record hooks", e))?;
    }
    let p = |n| d.ph(n);
    let args = vec![
        Arg::Text(new.id.clone()),
        Arg::Text(new.name.clone()),
        Arg::Text(new.fields_json()),
        Arg::OptText(new.rules.list.clone()),
        Arg::OptText(new.rules.view.clone()),
        Arg::OptText(new.rules.create.clone()),
        Arg::OptText(new.rules.update.clone()),
        Arg::OptText(new.rules.delete.clone()),
        Arg::Text(new.created.clone()),
        Arg::Text(new.updated.clone()),
        Arg::Int(now_ms()),
    ];
    let sql =
        if old.is_some() {
            format!(
            "UPDATE pbs_collections SET name = {}, fields = {}, list_rule = {}, view_rule = {}, \
             create_rule = {}, update_rule = {}, delete_rule = {}, created = {}, updated = {}, \
             updated_ms = {} WHERE id = {}",
            p(2), p(3), p(4), p(5), p(6), p(7), p(8), p(9), p(10), p(11), p(1)
        )
        } else {
            format!(
            "INSERT INTO pbs_collections (id, name, fields, list_rule, view_rule, create_rule, \
             update_rule, delete_rule, created, updated, updated_ms) VALUES ({})",
            (1..=11).map(p).collect::<Vec<_>>().join(", ")
        )
        };
    conn.execute(&sql, args)
        .await
        .map_err(|e| DataError::db("write the catalogue", e))?;
    state.retain(|c| c.id != new.id);
    state.push(new.clone());
    Ok(new)
}

/// Every rule must be a filter over the collection's own fields.
pub fn validate_rules(c: &Collection, d: Dialect) -> DataResult<()> {
    for key in RULE_KEYS {
        let Some(rule) = c.rules.get(key) else {
            continue;
        };
        if rule.trim().is_empty() {
            continue;
        }
        let checked = filter::parse(rule).and_then(|e| filter::to_sql(&e, c, d, 1));
        if let Err(e) = checked {
            let hint = if rule.contains("@request") {
                " (`@request.*` is not supported: there are no user accounts on this host)"
            } else {
                ""
            };
            return Err(schema_error(
                key,
                format!(
                    "invalid {key}: {} at position {}{hint}",
                    e.message, e.position
                ),
            ));
        }
    }
    Ok(())
}
