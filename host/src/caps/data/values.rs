//! Record values: what a client's JSON becomes in a column ([`Cell`]),
//! PocketBase's lenient conversions and field checks, and back to JSON.
//!
//! As in PocketBase, every field has a zero value that absent fields take
//! (`""`, `0`, `false`, `[]`; `null` for `json` and `vector`), and
//! `required` means "not the zero value". Unknown keys in a record are
//! ignored, as PocketBase ignores them.

use super::error::{FieldError, FieldErrors};
use super::ids;
use super::schema::{Collection, Field, FieldType, Storage};
use serde_json::{json, Map, Number, Value};

/// Largest `json` value when the field sets no `maxSize` (PocketBase's default).
pub const DEFAULT_JSON_MAX: usize = 1 << 20;

/// One stored value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    List(Vec<String>),
    Number(f64),
    Bool(bool),
    Json(Option<String>),
    Vector(Option<Vec<f32>>),
}

impl Cell {
    /// The zero value of a field's storage.
    pub fn zero(storage: Storage) -> Cell {
        match storage {
            Storage::Text => Cell::Text(String::new()),
            Storage::List => Cell::List(Vec::new()),
            Storage::Number => Cell::Number(0.0),
            Storage::Bool => Cell::Bool(false),
            Storage::Json => Cell::Json(None),
            Storage::Vector(_) => Cell::Vector(None),
        }
    }

    pub fn is_zero(&self) -> bool {
        match self {
            Cell::Text(s) => s.is_empty(),
            Cell::List(l) => l.is_empty(),
            Cell::Number(n) => *n == 0.0,
            Cell::Bool(b) => !b,
            Cell::Json(j) => j
                .as_deref()
                .is_none_or(|t| matches!(t, "" | "null" | "\"\"" | "[]" | "{}")),
            Cell::Vector(v) => v.is_none(),
        }
    }

    /// The value as the record's JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Text(s) => Value::String(s.clone()),
            Cell::List(l) => json!(l),
            Cell::Number(n) => number(*n),
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Json(None) => Value::Null,
            Cell::Json(Some(t)) => serde_json::from_str(t).unwrap_or(Value::Null),
            Cell::Vector(None) => Value::Null,
            // Each element as the shortest decimal that reads back as the
            // same f32 (0.9, not 0.8999999761581421).
            Cell::Vector(Some(v)) => Value::Array(
                v.iter()
                    .map(|x| number(x.to_string().parse().unwrap_or(f64::from(*x))))
                    .collect(),
            ),
        }
    }

    /// The text of a `List` cell as stored.
    pub fn list_text(list: &[String]) -> String {
        json!(list).to_string()
    }

    /// A `List` cell from its stored text (bad text reads as empty).
    pub fn list_from_text(text: &str) -> Cell {
        Cell::List(serde_json::from_str(text).unwrap_or_default())
    }
}

/// A JSON number: integral values without a fraction, as PocketBase prints them.
pub fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// How SQLite stores a vector (f32 little-endian), shared with the store layer.
pub use crate::store::sql::{vector_bytes, vector_from_bytes};

/// A stored record.
#[derive(Clone, Debug)]
pub struct Record {
    pub id: String,
    pub created: String,
    pub updated: String,
    /// One per field of the collection, in its order.
    pub cells: Vec<Cell>,
}

impl Record {
    /// The record's JSON, PocketBase's shape: `collectionId`,
    /// `collectionName`, `id`, the fields, `created`, `updated`.
    pub fn to_json(&self, c: &Collection) -> Map<String, Value> {
        let mut o = Map::new();
        o.insert("collectionId".into(), json!(c.id));
        o.insert("collectionName".into(), json!(c.name));
        o.insert("id".into(), json!(self.id));
        for (f, cell) in c.fields.iter().zip(&self.cells) {
            o.insert(f.name.clone(), cell.to_json());
        }
        o.insert("created".into(), json!(self.created));
        o.insert("updated".into(), json!(self.updated));
        o
    }

    pub fn cell(&self, c: &Collection, name: &str) -> Option<&Cell> {
        let i = c.fields.iter().position(|f| f.name == name)?;
        self.cells.get(i)
    }
}

/// Converts `value` for `field`: PocketBase's conversions, then the
/// field's own limits (`required` is checked on the whole record later).
pub fn convert(field: &Field, value: &Value) -> Result<Cell, FieldError> {
    let invalid = |m: String| FieldError::new("validation_invalid_value", m);
    let cell = match &field.ty {
        FieldType::Text { min, max } => {
            let s = scalar_text(value).ok_or_else(|| invalid("Must be a string.".into()))?;
            let n = s.chars().count() as u64;
            if !s.is_empty() {
                if let Some(min) = min.filter(|m| n < *m) {
                    return Err(FieldError::new(
                        "validation_min_text_constraint",
                        format!("Must be at least {min} character(s)."),
                    ));
                }
            }
            if let Some(max) = max.filter(|m| n > *m) {
                return Err(FieldError::new(
                    "validation_max_text_constraint",
                    format!("Must be less than {max} character(s)."),
                ));
            }
            Cell::Text(s)
        }
        FieldType::Number { min, max, only_int } => {
            let n = match value {
                Value::Null => 0.0,
                Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                Value::Bool(b) => f64::from(u8::from(*b)),
                Value::String(s) if s.trim().is_empty() => 0.0,
                Value::String(s) => s.trim().parse::<f64>().unwrap_or(f64::NAN),
                _ => f64::NAN,
            };
            if !n.is_finite() {
                return Err(FieldError::new(
                    "validation_not_a_number",
                    "Must be a finite number.",
                ));
            }
            if *only_int && n.fract() != 0.0 {
                return Err(FieldError::new(
                    "validation_only_int_constraint",
                    "Decimal numbers are not allowed.",
                ));
            }
            if let Some(min) = min.filter(|m| n < *m) {
                return Err(FieldError::new(
                    "validation_min_number_constraint",
                    format!("Must be larger than {min}."),
                ));
            }
            if let Some(max) = max.filter(|m| n > *m) {
                return Err(FieldError::new(
                    "validation_max_number_constraint",
                    format!("Must be less than {max}."),
                ));
            }
            Cell::Number(n)
        }
        FieldType::Bool => Cell::Bool(match value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) if n.as_f64() == Some(0.0) => false,
            Value::Number(n) if n.as_f64() == Some(1.0) => true,
            Value::String(s) => match s.as_str() {
                "" | "false" | "0" => false,
                "true" | "1" => true,
                _ => return Err(invalid("Must be a boolean.".into())),
            },
            _ => return Err(invalid("Must be a boolean.".into())),
        }),
        FieldType::Json { max_size } => match value {
            Value::Null => Cell::Json(None),
            v => {
                let text = v.to_string();
                let limit = max_size.map_or(DEFAULT_JSON_MAX, |m| m as usize);
                if text.len() > limit {
                    return Err(FieldError::new(
                        "validation_json_size_limit",
                        format!("The maximum allowed JSON size is {limit} bytes."),
                    ));
                }
                Cell::Json(Some(text))
            }
        },
        FieldType::Date => match value {
            Value::Null => Cell::Text(String::new()),
            Value::String(s) if s.is_empty() => Cell::Text(String::new()),
            Value::String(s) => Cell::Text(ids::normalize_date(s).ok_or_else(|| {
                FieldError::new("validation_invalid_date", "Must be a valid date.")
            })?),
            _ => {
                return Err(FieldError::new(
                    "validation_invalid_date",
                    "Must be a valid date.",
                ))
            }
        },
        FieldType::Select { values, max_select } => {
            let picked = strings(value)
                .ok_or_else(|| invalid("Must be a string or a list of strings.".into()))?;
            if let Some(bad) = picked.iter().find(|p| !values.contains(p)) {
                return Err(invalid(format!(
                    "Invalid value {:?}; the values are {}.",
                    super::error::clip(bad),
                    values.join(", ")
                )));
            }
            list_cell(picked, *max_select)?
        }
        FieldType::Relation { max_select, .. } => {
            let ids = strings(value)
                .ok_or_else(|| invalid("Must be a record id or a list of them.".into()))?;
            if ids.iter().any(|id| !ids::valid_id(id)) {
                return Err(invalid("Must be a valid record id.".into()));
            }
            list_cell(ids, *max_select)?
        }
        FieldType::File { max_select, .. } => {
            let names = strings(value)
                .ok_or_else(|| invalid("Must be a file name or a list of them.".into()))?;
            if names
                .iter()
                .any(|n| n.len() > 255 || n.contains('/') || n.contains('\\') || n.starts_with('.'))
            {
                return Err(invalid("Invalid file name.".into()));
            }
            list_cell(names, *max_select)?
        }
        FieldType::Vector { dimensions } => match value {
            Value::Null => Cell::Vector(None),
            Value::Array(items) => {
                if items.len() != *dimensions as usize {
                    return Err(FieldError::new(
                        "validation_invalid_vector",
                        format!(
                            "Must be a vector of {dimensions} numbers, not {}.",
                            items.len()
                        ),
                    ));
                }
                let mut v = Vec::with_capacity(items.len());
                for item in items {
                    let x = item.as_f64().map(|x| x as f32).filter(|x| x.is_finite());
                    let Some(x) = x else {
                        return Err(FieldError::new(
                            "validation_invalid_vector",
                            "Every element must be a finite number.",
                        ));
                    };
                    v.push(x);
                }
                Cell::Vector(Some(v))
            }
            _ => {
                return Err(FieldError::new(
                    "validation_invalid_vector",
                    format!("Must be a vector (an array of {dimensions} numbers) or null."),
                ))
            }
        },
    };
    Ok(cell)
}

/// A scalar as text, as PocketBase casts it.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string or a list of strings (a single value is a list of one; `""`
/// and null are none).
fn strings(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Null => Some(Vec::new()),
        Value::String(s) if s.is_empty() => Some(Vec::new()),
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => {
            let mut out: Vec<String> = Vec::with_capacity(items.len());
            for item in items {
                let s = item.as_str()?;
                if !s.is_empty() && !out.iter().any(|o| o == s) {
                    out.push(s.to_string());
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// A single value (max 1) as `Text`, several as `List`.
fn list_cell(items: Vec<String>, max_select: u32) -> Result<Cell, FieldError> {
    if max_select <= 1 {
        if items.len() > 1 {
            return Err(FieldError::new(
                "validation_too_many_values",
                "Only one value is allowed.",
            ));
        }
        return Ok(Cell::Text(items.into_iter().next().unwrap_or_default()));
    }
    if items.len() > max_select as usize {
        return Err(FieldError::new(
            "validation_too_many_values",
            format!("Select no more than {max_select}."),
        ));
    }
    Ok(Cell::List(items))
}

/// Applies the fields of `input` to `cells` (starting from the zero values
/// on create), then checks `required`. Returns the field errors.
pub fn apply(c: &Collection, cells: &mut [Cell], input: &Map<String, Value>) -> FieldErrors {
    let mut errors = FieldErrors::new();
    for (i, field) in c.fields.iter().enumerate() {
        let Some(value) = input.get(&field.name) else {
            continue;
        };
        match convert(field, value) {
            Ok(cell) => cells[i] = cell,
            Err(e) => errors.push((field.name.clone(), e)),
        }
    }
    for (i, field) in c.fields.iter().enumerate() {
        if field.required && cells[i].is_zero() && !errors.iter().any(|(n, _)| n == &field.name) {
            errors.push((field.name.clone(), FieldError::required()));
        }
    }
    errors
}

/// The zero values of a collection's fields.
pub fn zero_cells(c: &Collection) -> Vec<Cell> {
    c.fields
        .iter()
        .map(|f| Cell::zero(f.ty.storage()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::data::schema::parse_definition;

    fn posts() -> Collection {
        let def = parse_definition(&json!({"name": "posts", "fields": [
            {"name": "title", "type": "text", "required": true, "max": 5},
            {"name": "views", "type": "number", "onlyInt": true},
            {"name": "done", "type": "bool"},
            {"name": "meta", "type": "json"},
            {"name": "at", "type": "date"},
            {"name": "tags", "type": "select", "values": ["a", "b", "c"], "maxSelect": 2},
            {"name": "emb", "type": "vector", "dimensions": 2},
        ]}))
        .unwrap();
        Collection {
            id: "pbc_1".into(),
            name: def.name,
            fields: def.fields,
            rules: def.rules,
            created: String::new(),
            updated: String::new(),
        }
    }

    #[test]
    fn conversions_follow_pocketbase() {
        let c = posts();
        let mut cells = zero_cells(&c);
        let errors = apply(
            &c,
            &mut cells,
            json!({"title": "hi", "views": "3", "done": "true", "meta": {"a": [1]},
                   "at": "2024-01-02T03:04:05Z", "tags": ["a", "b", "a"], "emb": [0.5, 1],
                   "unknown": 1})
            .as_object()
            .unwrap(),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let record = Record {
            id: "x".into(),
            created: String::new(),
            updated: String::new(),
            cells,
        };
        let out = Value::Object(record.to_json(&c));
        assert_eq!(out["views"], json!(3));
        assert_eq!(out["done"], json!(true));
        assert_eq!(out["meta"], json!({"a": [1]}));
        assert_eq!(out["at"], json!("2024-01-02 03:04:05.000Z"));
        assert_eq!(out["tags"], json!(["a", "b"]));
        assert_eq!(out["emb"], json!([0.5, 1]));
    }

    #[test]
    fn field_errors_name_the_field() {
        let c = posts();
        let mut cells = zero_cells(&c);
        let errors = apply(
            &c,
            &mut cells,
            json!({"title": "too long", "views": 1.5, "tags": ["x"], "emb": [1], "at": "soon"})
                .as_object()
                .unwrap(),
        );
        let codes: Vec<(&str, &str)> = errors.iter().map(|(n, e)| (n.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            [
                ("title", "validation_max_text_constraint"),
                ("views", "validation_only_int_constraint"),
                ("at", "validation_invalid_date"),
                ("tags", "validation_invalid_value"),
                ("emb", "validation_invalid_vector"),
            ]
        );
        let mut cells = zero_cells(&c);
        let errors = apply(&c, &mut cells, &Map::new());
        assert_eq!(errors, vec![("title".to_string(), FieldError::required())]);
        let nan = convert(&c.fields[6], &json!([1.0, 1e300]));
        assert!(nan.is_err());
    }
}
