//! Collections and their fields: the definitions clients send (admin API,
//! the project manifest's `collections`), validated, and the JSON the host
//! answers and stores in its catalogue — one PocketBase-like shape for all:
//!
//! ```json
//! {"name": "posts",
//!  "fields": [{"name": "title", "type": "text", "required": true},
//!             {"name": "embedding", "type": "vector", "dimensions": 384}],
//!  "listRule": "", "viewRule": "", "createRule": null, "updateRule": null, "deleteRule": null}
//! ```
//!
//! Field types: `text` (`min`, `max` length), `number` (`min`, `max`,
//! `onlyInt`), `bool`, `json` (`maxSize`), `date`, `select` (`values`,
//! `maxSelect`), `relation` (`collectionId`: the id or name of a collection;
//! `maxSelect`), `file` (`maxSelect`, `maxSize`, `mimeTypes`), `vector`
//! (`dimensions`, 1 to [`MAX_DIMENSIONS`]). Every field may be `required` and
//! (not `json` or `vector`) `unique`. The system fields `id`, `created` and
//! `updated` are always there; definitions may list them (as PocketBase's
//! answers do) and they are skipped.

use super::error::{clip, DataError, DataResult};
use super::filter::{self, FieldKind};
use serde_json::{json, Map, Value};

/// Longest collection name.
pub const MAX_COLLECTION_NAME: usize = 50;
/// Longest field name (PostgreSQL identifiers are at most 63 bytes).
pub const MAX_FIELD_NAME: usize = 63;
/// Most fields per collection.
pub const MAX_FIELDS: usize = 200;
/// Largest `vector` dimension (pgvector's HNSW index limit).
pub const MAX_DIMENSIONS: u32 = 2000;
/// Most values of a `select` field.
pub const MAX_SELECT_VALUES: usize = 1000;
/// Longest access rule (a filter).
pub const MAX_RULE_LEN: usize = filter::MAX_FILTER_LEN;

/// Names no user field may take (compared case-insensitively).
pub const RESERVED: &[&str] = &[
    "id",
    "created",
    "updated",
    "collectionId",
    "collectionName",
    "expand",
];

#[derive(Clone, Debug, PartialEq)]
pub enum FieldType {
    Text {
        min: Option<u64>,
        max: Option<u64>,
    },
    Number {
        min: Option<f64>,
        max: Option<f64>,
        only_int: bool,
    },
    Bool,
    Json {
        max_size: Option<u64>,
    },
    Date,
    Select {
        values: Vec<String>,
        max_select: u32,
    },
    Relation {
        /// The target collection's id (a name is resolved when saved).
        collection_id: String,
        max_select: u32,
        cascade_delete: bool,
    },
    File {
        max_select: u32,
        max_size: Option<u64>,
        mime_types: Vec<String>,
    },
    Vector {
        dimensions: u32,
    },
}

/// How a field is stored: fields with the same storage share a column type,
/// so changing between them needs no DDL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// `TEXT NOT NULL DEFAULT ''`.
    Text,
    /// A JSON array of strings in `TEXT NOT NULL DEFAULT '[]'`.
    List,
    Number,
    Bool,
    /// JSON text, NULL when absent.
    Json,
    /// `vector(N)` on PostgreSQL, little-endian f32 BLOB on SQLite; NULL when absent.
    Vector(u32),
}

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text { .. } => "text",
            FieldType::Number { .. } => "number",
            FieldType::Bool => "bool",
            FieldType::Json { .. } => "json",
            FieldType::Date => "date",
            FieldType::Select { .. } => "select",
            FieldType::Relation { .. } => "relation",
            FieldType::File { .. } => "file",
            FieldType::Vector { .. } => "vector",
        }
    }

    pub fn storage(&self) -> Storage {
        match self {
            FieldType::Text { .. } | FieldType::Date => Storage::Text,
            FieldType::Select { max_select, .. }
            | FieldType::Relation { max_select, .. }
            | FieldType::File { max_select, .. } => {
                if *max_select > 1 {
                    Storage::List
                } else {
                    Storage::Text
                }
            }
            FieldType::Number { .. } => Storage::Number,
            FieldType::Bool => Storage::Bool,
            FieldType::Json { .. } => Storage::Json,
            FieldType::Vector { dimensions } => Storage::Vector(*dimensions),
        }
    }

    pub fn kind(&self) -> FieldKind {
        match self {
            FieldType::Text { .. } => FieldKind::Text,
            FieldType::Number { .. } => FieldKind::Number,
            FieldType::Bool => FieldKind::Bool,
            FieldType::Json { .. } => FieldKind::Json,
            FieldType::Date => FieldKind::Date,
            FieldType::Select { .. } => FieldKind::Select,
            FieldType::Relation { .. } => FieldKind::Relation,
            FieldType::File { .. } => FieldKind::File,
            FieldType::Vector { .. } => FieldKind::Vector,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Stable across renames (PocketBase's field id).
    pub id: String,
    pub name: String,
    pub ty: FieldType,
    pub required: bool,
    pub unique: bool,
}

/// The five access rules: none = admin token only, `""` = public,
/// otherwise a filter the record must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    pub list: Option<String>,
    pub view: Option<String>,
    pub create: Option<String>,
    pub update: Option<String>,
    pub delete: Option<String>,
}

pub const RULE_KEYS: [&str; 5] = [
    "listRule",
    "viewRule",
    "createRule",
    "updateRule",
    "deleteRule",
];

impl Rules {
    pub fn get(&self, key: &str) -> &Option<String> {
        match key {
            "listRule" => &self.list,
            "viewRule" => &self.view,
            "createRule" => &self.create,
            "updateRule" => &self.update,
            _ => &self.delete,
        }
    }

    fn get_mut(&mut self, key: &str) -> &mut Option<String> {
        match key {
            "listRule" => &mut self.list,
            "viewRule" => &mut self.view,
            "createRule" => &mut self.create,
            "updateRule" => &mut self.update,
            _ => &mut self.delete,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Collection {
    pub id: String,
    pub name: String,
    pub fields: Vec<Field>,
    pub rules: Rules,
    pub created: String,
    pub updated: String,
}

impl Collection {
    /// The table of its records.
    pub fn table(&self) -> String {
        table_name(&self.name)
    }

    /// The field named `name` (exact, then ignoring case).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name).or_else(|| {
            self.fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
        })
    }

    /// The JSON the admin API answers (system fields listed first, as
    /// PocketBase does).
    pub fn to_json(&self) -> Value {
        let mut fields = vec![
            json!({"id": "text3208210256", "name": "id", "type": "text", "system": true,
                   "primaryKey": true, "required": true, "min": 15, "max": 15,
                   "pattern": "^[a-z0-9]+$", "autogeneratePattern": "[a-z0-9]{15}"}),
        ];
        fields.extend(self.fields.iter().map(Field::to_json));
        fields.push(
            json!({"id": "autodate2990389176", "name": "created", "type": "autodate",
                           "system": true, "onCreate": true, "onUpdate": false}),
        );
        fields.push(
            json!({"id": "autodate3332085495", "name": "updated", "type": "autodate",
                           "system": true, "onCreate": true, "onUpdate": true}),
        );
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("name".into(), json!(self.name));
        out.insert("type".into(), json!("base"));
        out.insert("system".into(), json!(false));
        out.insert("fields".into(), Value::Array(fields));
        out.insert("indexes".into(), json!([]));
        for key in RULE_KEYS {
            out.insert(key.into(), json!(self.rules.get(key)));
        }
        out.insert("created".into(), json!(self.created));
        out.insert("updated".into(), json!(self.updated));
        Value::Object(out)
    }

    /// The user fields as stored in the catalogue.
    pub fn fields_json(&self) -> String {
        Value::Array(self.fields.iter().map(Field::to_json).collect()).to_string()
    }
}

/// The table holding the records of collection `name`.
pub fn table_name(name: &str) -> String {
    format!("c_{name}")
}

/// `name` as a quoted SQL identifier. Names are validated to
/// `[A-Za-z0-9_]`, so this never needs escaping; doubling quotes keeps it
/// safe regardless.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Field {
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("name".into(), json!(self.name));
        o.insert("type".into(), json!(self.ty.name()));
        o.insert("system".into(), json!(false));
        o.insert("required".into(), json!(self.required));
        o.insert("unique".into(), json!(self.unique));
        match &self.ty {
            FieldType::Text { min, max } => {
                o.insert("min".into(), json!(min.unwrap_or(0)));
                o.insert("max".into(), json!(max.unwrap_or(0)));
            }
            FieldType::Number { min, max, only_int } => {
                o.insert("min".into(), json!(min));
                o.insert("max".into(), json!(max));
                o.insert("onlyInt".into(), json!(only_int));
            }
            FieldType::Bool | FieldType::Date => {}
            FieldType::Json { max_size } => {
                o.insert("maxSize".into(), json!(max_size.unwrap_or(0)));
            }
            FieldType::Select { values, max_select } => {
                o.insert("values".into(), json!(values));
                o.insert("maxSelect".into(), json!(max_select));
            }
            FieldType::Relation {
                collection_id,
                max_select,
                cascade_delete,
            } => {
                o.insert("collectionId".into(), json!(collection_id));
                o.insert("maxSelect".into(), json!(max_select));
                o.insert("cascadeDelete".into(), json!(cascade_delete));
            }
            FieldType::File {
                max_select,
                max_size,
                mime_types,
            } => {
                o.insert("maxSelect".into(), json!(max_select));
                o.insert("maxSize".into(), json!(max_size.unwrap_or(0)));
                o.insert("mimeTypes".into(), json!(mime_types));
            }
            FieldType::Vector { dimensions } => {
                o.insert("dimensions".into(), json!(dimensions));
            }
        }
        Value::Object(o)
    }
}

/// A collection definition as a client sent it: validated on its own;
/// relations still name their target by id or name.
#[derive(Clone, Debug)]
pub struct Definition {
    pub id: Option<String>,
    pub name: String,
    pub fields: Vec<Field>,
    pub rules: Rules,
}

/// A schema error: 400 with the problem in `data` under `key`.
pub fn schema_error(key: &str, message: impl Into<String>) -> DataError {
    let message = message.into();
    DataError::Invalid {
        message: format!("Failed to save the collection: {message}"),
        fields: vec![(
            key.to_string(),
            super::error::FieldError::new("validation_invalid", message),
        )],
    }
}

pub fn valid_collection_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= MAX_COLLECTION_NAME
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && name.len() <= MAX_FIELD_NAME
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a whole definition (`PUT`, `POST`): absent rules are null.
pub fn parse_definition(value: &Value) -> DataResult<Definition> {
    let o = value
        .as_object()
        .ok_or_else(|| schema_error("name", "a collection must be a JSON object"))?;
    let name = match o.get("name") {
        Some(Value::String(n)) if valid_collection_name(n) => n.clone(),
        Some(Value::String(n)) => {
            return Err(schema_error(
                "name",
                format!(
                    "invalid collection name {:?}: a letter, then letters, digits or `_`, at most {MAX_COLLECTION_NAME} characters",
                    clip(n)
                ),
            ))
        }
        _ => return Err(schema_error("name", "the collection needs a `name`")),
    };
    if let Some(t) = o.get("type") {
        if t != "base" {
            return Err(schema_error(
                "type",
                format!("collection type {t} is not supported; only \"base\" collections are"),
            ));
        }
    }
    let id = match o.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s))
            if s.len() <= 30
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            Some(s.clone())
        }
        Some(_) => {
            return Err(schema_error(
                "id",
                "a collection id is at most 30 characters of a-z, 0-9 and _",
            ))
        }
    };
    let fields = match o.get("fields") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => parse_fields(list)?,
        Some(_) => return Err(schema_error("fields", "`fields` must be an array")),
    };
    let mut rules = Rules::default();
    apply_rules(o, &mut rules)?;
    Ok(Definition {
        id,
        name,
        fields,
        rules,
    })
}

/// Sets the rules present in `o` (a `null` clears one); absent keys stay.
pub fn apply_rules(o: &Map<String, Value>, rules: &mut Rules) -> DataResult<()> {
    for key in RULE_KEYS {
        match o.get(key) {
            None => {}
            Some(Value::Null) => *rules.get_mut(key) = None,
            Some(Value::String(s)) if s.len() <= MAX_RULE_LEN => {
                *rules.get_mut(key) = Some(s.clone())
            }
            Some(Value::String(_)) => {
                return Err(schema_error(
                    key,
                    format!("a rule is at most {MAX_RULE_LEN} bytes"),
                ))
            }
            Some(_) => {
                return Err(schema_error(
                    key,
                    "a rule is null (admin only), \"\" (public) or a filter",
                ))
            }
        }
    }
    Ok(())
}

/// Parses a list of field definitions, skipping the system fields.
pub fn parse_fields(list: &[Value]) -> DataResult<Vec<Field>> {
    let mut fields: Vec<Field> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let key = format!("fields.{i}");
        let Some(f) = parse_field(v, &key)? else {
            continue;
        };
        if fields.iter().any(|o| o.name.eq_ignore_ascii_case(&f.name)) {
            return Err(schema_error(
                &key,
                format!("two fields are named {:?}", f.name),
            ));
        }
        if fields.iter().any(|o| o.id == f.id) {
            return Err(schema_error(
                &key,
                format!("two fields have the id {:?}", f.id),
            ));
        }
        fields.push(f);
    }
    if fields.len() > MAX_FIELDS {
        return Err(schema_error(
            "fields",
            format!("at most {MAX_FIELDS} fields are allowed"),
        ));
    }
    Ok(fields)
}

fn parse_field(v: &Value, key: &str) -> DataResult<Option<Field>> {
    let o = v
        .as_object()
        .ok_or_else(|| schema_error(key, "a field must be a JSON object"))?;
    let err = |m: String| schema_error(key, m);
    let name = match o.get("name") {
        Some(Value::String(n)) => n.clone(),
        _ => return Err(err("the field needs a `name`".into())),
    };
    let type_name = match o.get("type") {
        Some(Value::String(t)) => t.as_str(),
        _ => return Err(err(format!("field {name:?} needs a `type`"))),
    };
    // System fields, as GET answers list them: skipped.
    let system = match name.to_ascii_lowercase().as_str() {
        "id" => type_name == "text",
        "created" | "updated" => matches!(type_name, "autodate" | "date"),
        _ => false,
    };
    if system {
        return Ok(None);
    }
    if !valid_field_name(&name) {
        return Err(err(format!(
            "invalid field name {:?}: a letter or `_`, then letters, digits or `_`, at most {MAX_FIELD_NAME} characters",
            clip(&name)
        )));
    }
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&name)) {
        return Err(err(format!("the field name {name:?} is reserved")));
    }
    let flag = |k: &str| -> DataResult<bool> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(err(format!(
                "`{k}` of field {name:?} must be true or false"
            ))),
        }
    };
    let uint = |k: &str| -> DataResult<Option<u64>> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(0) if k != "dimensions" => Ok(None),
                Some(n) => Ok(Some(n)),
                None => Err(err(format!(
                    "`{k}` of field {name:?} must be a non-negative integer"
                ))),
            },
        }
    };
    let float = |k: &str| -> DataResult<Option<f64>> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| err(format!("`{k}` of field {name:?} must be a number"))),
        }
    };
    let max_select = || -> DataResult<u32> {
        Ok(uint("maxSelect")?.unwrap_or(1).min(u64::from(u32::MAX)) as u32)
    };
    let ty = match type_name {
        "text" => {
            let (min, max) = (uint("min")?, uint("max")?);
            if let (Some(a), Some(b)) = (min, max) {
                if a > b {
                    return Err(err(format!("field {name:?}: `min` is above `max`")));
                }
            }
            FieldType::Text { min, max }
        }
        "number" => FieldType::Number {
            min: float("min")?,
            max: float("max")?,
            only_int: flag("onlyInt")?,
        },
        "bool" => FieldType::Bool,
        "json" => FieldType::Json {
            max_size: uint("maxSize")?,
        },
        "date" => FieldType::Date,
        "select" => {
            let values: Vec<String> = match o.get("values") {
                Some(Value::Array(vs)) => vs
                    .iter()
                    .map(|v| v.as_str().map(String::from))
                    .collect::<Option<_>>()
                    .ok_or_else(|| err(format!("`values` of field {name:?} must be strings")))?,
                _ => return Err(err(format!("select field {name:?} needs `values`"))),
            };
            if values.is_empty() || values.len() > MAX_SELECT_VALUES {
                return Err(err(format!(
                    "select field {name:?} needs 1 to {MAX_SELECT_VALUES} values"
                )));
            }
            if values.iter().any(String::is_empty) {
                return Err(err(format!("select field {name:?} has an empty value")));
            }
            let mut sorted = values.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != values.len() {
                return Err(err(format!("select field {name:?} repeats a value")));
            }
            let max_select = max_select()?.min(values.len() as u32);
            FieldType::Select { values, max_select }
        }
        "relation" => {
            let collection_id = match o.get("collectionId") {
                Some(Value::String(c)) if !c.is_empty() => c.clone(),
                _ => {
                    return Err(err(format!(
                        "relation field {name:?} needs `collectionId` (a collection's id or name)"
                    )))
                }
            };
            FieldType::Relation {
                collection_id,
                max_select: max_select()?,
                cascade_delete: flag("cascadeDelete")?,
            }
        }
        "file" => FieldType::File {
            max_select: max_select()?,
            max_size: uint("maxSize")?,
            mime_types: match o.get("mimeTypes") {
                Some(Value::Array(vs)) => vs
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            },
        },
        "vector" => {
            let dimensions = match uint("dimensions")? {
                Some(n) if (1..=u64::from(MAX_DIMENSIONS)).contains(&n) => n as u32,
                _ => {
                    return Err(err(format!(
                        "vector field {name:?} needs `dimensions` from 1 to {MAX_DIMENSIONS}"
                    )))
                }
            };
            FieldType::Vector { dimensions }
        }
        other => {
            return Err(err(format!(
                "field {name:?} has type {:?}; the types are text, number, bool, json, date, select, relation, file and vector",
                clip(other)
            )))
        }
    };
    let unique = flag("unique")?;
    if unique && matches!(ty, FieldType::Json { .. } | FieldType::Vector { .. }) {
        return Err(err(format!(
            "field {name:?}: {} fields cannot be unique",
            ty.name()
        )));
    }
    let id = match o.get("id") {
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= 30
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            s.clone()
        }
        None | Some(Value::Null) => super::ids::new_field_id(ty.name()),
        Some(Value::String(s)) if s.is_empty() => super::ids::new_field_id(ty.name()),
        Some(_) => {
            return Err(err(format!(
                "field {name:?}: an id is at most 30 letters, digits or `_`"
            )))
        }
    };
    let required = flag("required")?;
    Ok(Some(Field {
        id,
        name,
        ty,
        required,
        unique,
    }))
}

/// What filters see of a collection: its fields' kinds, and their columns
/// qualified with the table (so they also resolve inside the filter's
/// `json_each` sub-queries).
impl filter::Schema for Collection {
    fn field(&self, name: &str) -> Option<FieldKind> {
        match name {
            "id" => Some(FieldKind::Text),
            "created" | "updated" => Some(FieldKind::Date),
            _ => Collection::field(self, name).map(|f| f.ty.kind()),
        }
    }

    fn column(&self, name: &str) -> String {
        let column = match name {
            "id" | "created" | "updated" => name,
            _ => Collection::field(self, name).map_or(name, |f| f.name.as_str()),
        };
        format!("{}.{}", quote(&self.table()), quote(column))
    }

    fn multiple(&self, name: &str) -> bool {
        Collection::field(self, name).is_some_and(|f| f.ty.storage() == Storage::List)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_parse_and_round_trip() {
        let def = parse_definition(&json!({
            "name": "posts",
            "fields": [
                {"name": "id", "type": "text", "system": true},
                {"name": "title", "type": "text", "required": true, "max": 100},
                {"name": "tags", "type": "select", "values": ["a", "b"], "maxSelect": 2},
                {"name": "embedding", "type": "vector", "dimensions": 3},
                {"name": "created", "type": "autodate"},
            ],
            "listRule": "",
            "viewRule": null,
        }))
        .unwrap();
        assert_eq!(def.name, "posts");
        assert_eq!(def.fields.len(), 3);
        assert_eq!(def.fields[1].ty.storage(), Storage::List);
        assert_eq!(def.fields[2].ty.storage(), Storage::Vector(3));
        assert_eq!(def.rules.list.as_deref(), Some(""));
        assert_eq!(def.rules.view, None);
        let again = parse_fields(&def.fields.iter().map(Field::to_json).collect::<Vec<_>>());
        assert_eq!(again.unwrap(), def.fields);
    }

    #[test]
    fn bad_definitions_are_refused() {
        for bad in [
            json!({"name": "1posts"}),
            json!({"name": "po sts"}),
            json!({"name": "p", "fields": [{"name": "a", "type": "text"}, {"name": "A", "type": "bool"}]}),
            json!({"name": "p", "fields": [{"name": "x", "type": "vector"}]}),
            json!({"name": "p", "fields": [{"name": "x", "type": "vector", "dimensions": 0}]}),
            json!({"name": "p", "fields": [{"name": "x", "type": "vector", "dimensions": 3, "unique": true}]}),
            json!({"name": "p", "fields": [{"name": "x", "type": "select", "values": []}]}),
            json!({"name": "p", "fields": [{"name": "x", "type": "email"}]}),
            json!({"name": "p", "fields": [{"name": "collectionName", "type": "text"}]}),
            json!({"name": "p", "fields": [{"name": "x\"y", "type": "text"}]}),
            json!({"name": "p", "listRule": 5}),
        ] {
            assert!(parse_definition(&bad).is_err(), "{bad}");
        }
    }
}
