//! Operands → terms: a bound literal, a scalar column expression of one
//! type, or a multi-valued one (a JSON array iterated as a table `_pbf`
//! whose column `_pbf_v` is each value).
//!
//! Column SQL is built only from [`Schema::column`] and json path segments
//! checked to be `[A-Za-z0-9_]`.

use super::ast::{Number, NumberValue, Op, Operand, Value};
use super::date;
use super::sql::Translator;
use super::{Dialect, FieldKind, FilterError, SqlValue};

/// The type of a scalar column expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    Text,
    /// Text in the stored date format.
    Date,
    Num,
    Bool,
    /// A JSON value: SQLite's `json_extract` result (a SQL scalar, or JSON
    /// text for objects and arrays); PostgreSQL `jsonb` with JSON `null`
    /// turned into SQL NULL.
    Json,
}

/// A literal operand (also what `@` names resolve to).
#[derive(Clone, Debug)]
pub(super) enum Lit {
    Text(String),
    Num(Number),
    Bool(bool),
    Null,
}

#[derive(Clone, Debug)]
pub(super) enum Scalar {
    Lit(Lit),
    Col {
        sql: String,
        ty: Ty,
        /// For [`Ty::Json`] on SQLite: SQL giving the value's `json_type`
        /// (`integer`, `real`, `text`, `true`, …), which `json_extract`
        /// loses.
        json_type: Option<String>,
    },
}

impl Scalar {
    pub fn col(sql: String, ty: Ty) -> Scalar {
        Scalar::Col {
            sql,
            ty,
            json_type: None,
        }
    }
}

/// A multi-valued operand: `SELECT 1 FROM {from} WHERE …{elem}…`.
#[derive(Clone, Debug)]
pub(super) struct Multi {
    pub from: String,
    /// Each value, as a scalar column.
    pub elem: Scalar,
}

#[derive(Clone, Debug)]
pub(super) enum Term {
    Scalar(Scalar),
    Multi(Multi),
}

/// Shortens what a user wrote for an error message.
pub(super) fn quote(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("'{}…'", &s[..i]),
        None => format!("'{s}'"),
    }
}

/// How an operand reads in an error message.
pub(super) fn describe(operand: &Operand) -> String {
    match &operand.value {
        Value::Identifier(name) if name.starts_with('@') => quote(name),
        Value::Identifier(name) => format!("field {}", quote(name)),
        Value::Text(s) => format!("the string {}", quote(s)),
        Value::Number(n) => format!("the number {}", n.text),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
    }
}

/// Whether a name or path segment may be pasted into SQL (the lexer
/// already guarantees it; checked again here, where it matters).
fn safe_segment(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(super) fn int(i: i64) -> Number {
    Number {
        text: i.to_string(),
        value: NumberValue::Int(i),
    }
}

impl Lit {
    fn from_sql(v: SqlValue, pos: usize, name: &str) -> Result<Lit, FilterError> {
        Ok(match v {
            SqlValue::Null => Lit::Null,
            SqlValue::Bool(b) => Lit::Bool(b),
            SqlValue::Int(i) => Lit::Num(int(i)),
            SqlValue::Float(f) if f.is_finite() => Lit::Num(Number {
                text: f.to_string(),
                value: NumberValue::Float(f),
            }),
            SqlValue::Float(_) => {
                return Err(FilterError::new(
                    pos,
                    format!("{} is not a finite number", quote(name)),
                ))
            }
            SqlValue::Text(s) => Lit::Text(s),
        })
    }

    /// Null, or the empty string: what PocketBase treats as "no value".
    pub fn is_empty(&self) -> bool {
        matches!(self, Lit::Null) || matches!(self, Lit::Text(s) if s.is_empty())
    }

    /// The literal as text (a number as written, null as ""); `None` for a
    /// bool.
    pub fn text(&self) -> Option<String> {
        match self {
            Lit::Text(s) => Some(s.clone()),
            Lit::Num(n) => Some(n.text.clone()),
            Lit::Bool(_) => None,
            Lit::Null => Some(String::new()),
        }
    }

    /// The literal as a number: a number, or a string that reads as one.
    pub fn number(&self) -> Option<Number> {
        match self {
            Lit::Num(n) => Some(n.clone()),
            Lit::Text(s) => Number::parse(s.trim()),
            _ => None,
        }
    }

    /// The literal as a bool: `true`/`false`, 1/0, or those as strings.
    pub fn bool(&self) -> Option<bool> {
        match self {
            Lit::Bool(b) => Some(*b),
            Lit::Num(n) if n.as_f64() == 1.0 => Some(true),
            Lit::Num(n) if n.as_f64() == 0.0 => Some(false),
            Lit::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Translator<'_> {
    /// An operand as a term; `op` decides whether a json field is iterated.
    pub(super) fn resolve(&mut self, o: &Operand, op: Op) -> Result<Term, FilterError> {
        let lit = |l| Ok(Term::Scalar(Scalar::Lit(l)));
        match &o.value {
            Value::Text(s) => lit(Lit::Text(s.clone())),
            Value::Number(n) => lit(Lit::Num(n.clone())),
            Value::Bool(b) => lit(Lit::Bool(*b)),
            Value::Null => lit(Lit::Null),
            Value::Identifier(name) if name.starts_with('@') => {
                match date::macro_value(name, self.now_ms) {
                    Some(date::MacroValue::Int(i)) => return lit(Lit::Num(int(i))),
                    Some(date::MacroValue::Text(s)) => return lit(Lit::Text(s)),
                    None => {}
                }
                match self.schema.variable(name) {
                    Some(v) => lit(Lit::from_sql(v, o.position, name)?),
                    None => Err(FilterError::new(
                        o.position,
                        format!("unknown identifier {}", quote(name)),
                    )),
                }
            }
            Value::Identifier(name) => self.field(name, o.position, op),
        }
    }

    /// A field reference: `name` or `name.json.path`, with an optional
    /// `:modifier`.
    fn field(&mut self, ident: &str, pos: usize, op: Op) -> Result<Term, FilterError> {
        let err = |msg: String| Err(FilterError::new(pos, msg));
        let (path, modifier) = match ident.split_once(':') {
            Some((p, m)) => (p, Some(m)),
            None => (ident, None),
        };
        let mut segments = path.split('.');
        let name = segments.next().unwrap_or_default();
        let segments: Vec<&str> = segments.collect();
        if !safe_segment(name) || !segments.iter().all(|s| safe_segment(s)) {
            return err(format!("invalid field name {}", quote(ident)));
        }
        let Some(kind) = self.schema.field(name) else {
            return err(format!("unknown field {}", quote(name)));
        };
        if kind == FieldKind::Vector {
            return err(format!(
                "field {} is a vector and cannot be used in a filter",
                quote(name)
            ));
        }
        if !segments.is_empty() && kind != FieldKind::Json {
            return err(format!(
                "field {} is not a json field: only json fields take a path ({})",
                quote(name),
                quote(path)
            ));
        }
        let modifier = match modifier {
            None => None,
            Some(m @ ("lower" | "length" | "each")) => Some(m),
            Some(m) => return err(format!("unsupported modifier {}", quote(&format!(":{m}")))),
        };
        let needs = |m: &str, what: &str| {
            err(format!(
                "the :{m} modifier needs {what} (field {})",
                quote(name)
            ))
        };
        let col = self.schema.column(name);
        let scalar = |s| Ok(Term::Scalar(s));
        let multi = matches!(
            kind,
            FieldKind::Select | FieldKind::Relation | FieldKind::File
        ) && self.schema.multiple(name);

        if kind == FieldKind::Json {
            let iterate = op.any || modifier == Some("each");
            return match modifier {
                Some("length") => scalar(Scalar::col(self.json_length(&col, &segments), Ty::Num)),
                Some("lower") if iterate => {
                    let mut m = self.json_elements(&col, &segments);
                    m.elem = self.lower(&m.elem);
                    Ok(Term::Multi(m))
                }
                Some("lower") => {
                    let v = self.json_value(&col, &segments);
                    scalar(self.lower(&v))
                }
                _ if iterate => Ok(Term::Multi(self.json_elements(&col, &segments))),
                _ => scalar(self.json_value(&col, &segments)),
            };
        }
        if multi {
            return match modifier {
                Some("length") => scalar(Scalar::col(self.array_length(&col), Ty::Num)),
                Some("lower") => {
                    let mut m = self.array_elements(&col);
                    m.elem = self.lower(&m.elem);
                    Ok(Term::Multi(m))
                }
                _ => Ok(Term::Multi(self.array_elements(&col))),
            };
        }
        let ty = match kind {
            FieldKind::Number => Ty::Num,
            FieldKind::Bool => Ty::Bool,
            FieldKind::Date => Ty::Date,
            _ => Ty::Text,
        };
        match modifier {
            Some("lower") if matches!(ty, Ty::Text | Ty::Date) => {
                scalar(self.lower(&Scalar::col(col, ty)))
            }
            Some(m @ "lower") => needs(m, "a text field"),
            Some(m @ ("length" | "each")) => {
                needs(m, "a multi-valued select, relation or file or a json field")
            }
            _ => scalar(Scalar::col(col, ty)),
        }
    }

    /// `LOWER()` of a text-like or json column, as text.
    fn lower(&self, s: &Scalar) -> Scalar {
        let Scalar::Col { sql, ty, .. } = s else {
            return s.clone();
        };
        Scalar::col(format!("LOWER({})", self.text_of(sql, *ty)), Ty::Text)
    }

    /// A json field's value at `path` (the whole value for no path).
    fn json_value(&self, col: &str, path: &[&str]) -> Scalar {
        match self.dialect {
            Dialect::Sqlite => {
                let p = sqlite_path(path);
                Scalar::Col {
                    sql: format!("json_extract({col}, '{p}')"),
                    ty: Ty::Json,
                    json_type: Some(format!("json_type({col}, '{p}')")),
                }
            }
            Dialect::Postgres => Scalar::col(
                format!("NULLIF({}, 'null'::jsonb)", pg_jsonb(col, path)),
                Ty::Json,
            ),
        }
    }

    /// The number of elements of the array at `path` (0 for anything else).
    fn json_length(&self, col: &str, path: &[&str]) -> String {
        match self.dialect {
            Dialect::Sqlite => format!(
                "COALESCE(json_array_length({col}, '{}'), 0)",
                sqlite_path(path)
            ),
            Dialect::Postgres => {
                let v = pg_jsonb(col, path);
                format!(
                    "COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof({v}) = 'array' THEN {v} END), 0)"
                )
            }
        }
    }

    /// The elements of the array at `path`; any other value is one element,
    /// and an empty array one NULL (as for multi-valued fields).
    fn json_elements(&self, col: &str, path: &[&str]) -> Multi {
        let source = match self.dialect {
            Dialect::Sqlite => {
                let p = sqlite_path(path);
                format!(
                    "CASE json_type({col}, '{p}') WHEN 'array' THEN CASE json_array_length({col}, '{p}') WHEN 0 THEN '[null]' ELSE json_extract({col}, '{p}') END ELSE json_array(json_extract({col}, '{p}')) END"
                )
            }
            Dialect::Postgres => {
                let v = pg_jsonb(col, path);
                format!(
                    "CASE WHEN {v} = '[]'::jsonb THEN '[null]'::jsonb WHEN jsonb_typeof({v}) = 'array' THEN {v} ELSE jsonb_build_array({v}) END"
                )
            }
        };
        self.elements(&source, Ty::Json)
    }

    /// The values of a multi-valued field (a JSON array of strings); an
    /// empty or missing array is one NULL value, as in PocketBase.
    fn array_elements(&self, col: &str) -> Multi {
        let source = match self.dialect {
            Dialect::Sqlite => {
                format!("CASE WHEN json_array_length({col}) > 0 THEN {col} ELSE '[null]' END")
            }
            Dialect::Postgres => {
                let v = format!("({col})::jsonb");
                format!(
                    "CASE WHEN jsonb_typeof({v}) = 'array' AND {v} <> '[]'::jsonb THEN {v} ELSE '[null]'::jsonb END"
                )
            }
        };
        self.elements(&source, Ty::Text)
    }

    fn array_length(&self, col: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("COALESCE(json_array_length({col}), 0)"),
            Dialect::Postgres => self.json_length(col, &[]),
        }
    }

    /// Iterates the JSON array `source` as a table `_pbf` whose only columns
    /// are `_pbf_v` (and on SQLite `_pbf_t`, the json type). On SQLite the
    /// array is computed in a sub-select of its own and `json_each` wrapped:
    /// unqualified names inside `json_each`'s arguments, or next to it,
    /// would otherwise resolve to its own columns (`id`, `key`, `value`,
    /// `type`, `json`, `path`, …), not the record's.
    fn elements(&self, source: &str, ty: Ty) -> Multi {
        match self.dialect {
            Dialect::Sqlite => Multi {
                from: format!(
                    "(SELECT _pbf_e.value AS _pbf_v{} FROM (SELECT {source} AS _pbf_a) AS _pbf_s, json_each(_pbf_s._pbf_a) AS _pbf_e) AS _pbf",
                    if ty == Ty::Json { ", _pbf_e.type AS _pbf_t" } else { "" }
                ),
                elem: Scalar::Col {
                    sql: "_pbf._pbf_v".into(),
                    ty,
                    json_type: (ty == Ty::Json).then(|| "_pbf._pbf_t".into()),
                },
            },
            Dialect::Postgres => {
                let (func, elem) = match ty {
                    Ty::Json => ("jsonb_array_elements", "NULLIF(_pbf._pbf_v, 'null'::jsonb)"),
                    _ => ("jsonb_array_elements_text", "_pbf._pbf_v"),
                };
                Multi {
                    from: format!("{func}({source}) AS _pbf(_pbf_v)"),
                    elem: Scalar::col(elem.into(), ty),
                }
            }
        }
    }

    /// A column expression of type `ty` as text (a primary expression).
    /// Numbers read the same on both backends: an integral REAL is `10`
    /// on SQLite too, not `10.0`.
    pub(super) fn text_of(&self, sql: &str, ty: Ty) -> String {
        match (ty, self.dialect) {
            (Ty::Text | Ty::Date, _) | (Ty::Json, Dialect::Sqlite) => sql.to_string(),
            (Ty::Json, Dialect::Postgres) => format!("({sql} #>> '{{}}')"),
            (Ty::Num, Dialect::Sqlite) => format!(
                "(CASE WHEN {sql} = CAST({sql} AS INTEGER) THEN CAST(CAST({sql} AS INTEGER) AS TEXT) ELSE CAST({sql} AS TEXT) END)"
            ),
            (Ty::Num | Ty::Bool, _) => format!("CAST({sql} AS TEXT)"),
        }
    }
}

/// `$.a.b[0]` for SQLite's json functions (all-digit segments are array
/// indexes).
fn sqlite_path(path: &[&str]) -> String {
    let mut p = String::from("$");
    for s in path {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            p.push('[');
            p.push_str(s);
            p.push(']');
        } else {
            p.push('.');
            p.push_str(s);
        }
    }
    p
}

/// A json column as `jsonb` at `path` on PostgreSQL.
fn pg_jsonb(col: &str, path: &[&str]) -> String {
    if path.is_empty() {
        format!("({col})::jsonb")
    } else {
        format!("({col})::jsonb #> '{{{}}}'", path.join(","))
    }
}
