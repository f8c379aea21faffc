//! [`Expr`] → a parameterized SQL condition: the comparisons.
//!
//! Each operand is first a term (`operand.rs`). A comparison of two scalar
//! terms is rendered in one *domain* — text, number, bool or json — chosen
//! from their types (see the rules in the module documentation of
//! `filter`); a comparison with a multi-valued term becomes `EXISTS` ("any
//! of", `?` operators) or `NOT EXISTS … NOT` ("every", plain operators) over
//! its values.
//!
//! Literal values only ever reach the SQL as placeholders (`?N` / `$N::type`);
//! the SQL text is made of fixed keywords and what `operand.rs` builds.

use super::ast::{Comparison, Expr, Number, NumberValue, OpKind, Operand};
use super::date;
use super::operand::{describe, Lit, Multi, Scalar, Term, Ty};
use super::{Dialect, FilterError, Schema, SqlFilter, SqlValue};

pub(super) fn translate(
    expr: &Expr,
    schema: &dyn Schema,
    dialect: Dialect,
    first_param: usize,
    now_ms: i64,
) -> Result<SqlFilter, FilterError> {
    let mut t = Translator {
        schema,
        dialect,
        next_param: first_param.max(1),
        params: Vec::new(),
        now_ms,
    };
    let sql = t.expr(expr)?;
    let sql = match expr {
        Expr::Compare(_) => format!("({sql})"),
        _ => sql,
    };
    Ok(SqlFilter {
        sql,
        params: t.params,
    })
}

pub(super) struct Translator<'a> {
    pub schema: &'a dyn Schema,
    pub dialect: Dialect,
    next_param: usize,
    params: Vec<SqlValue>,
    pub now_ms: i64,
}

/// A scalar term with where it came from, for error messages.
struct Side<'a> {
    term: Scalar,
    pos: usize,
    label: &'a str,
}

fn ty_name(ty: Ty) -> &'static str {
    match ty {
        Ty::Text => "text",
        Ty::Date => "date",
        Ty::Num => "number",
        Ty::Bool => "bool",
        Ty::Json => "json",
    }
}

/// A `~` value as a LIKE pattern, as PocketBase does it: a value with an
/// unescaped `%` is used as written (a pattern of its own, `\` escaping);
/// any other value gets its `\`, `%` and `_` escaped (those already escaped
/// by a `\` are kept) and is wrapped in `%…%` ("contains").
pub(super) fn like_pattern(s: &str) -> String {
    let mut escaped = false;
    let mut raw = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '%' {
            raw = true;
        }
    }
    if raw {
        let mut out = s.to_string();
        if escaped {
            // A trailing lone `\` (PostgreSQL refuses such a pattern).
            out.push('\\');
        }
        return out;
    }
    let mut out = String::with_capacity(s.len() + 4);
    out.push('%');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('\\' | '%' | '_')) => {
                    chars.next();
                    out.push('\\');
                    out.push(n);
                }
                _ => out.push_str("\\\\"),
            },
            '%' | '_' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('%');
    out
}

fn number_value(n: &Number) -> SqlValue {
    match n.value {
        NumberValue::Int(i) => SqlValue::Int(i),
        NumberValue::Float(f) => SqlValue::Float(f),
    }
}

/// The domain two scalar terms are compared in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dom {
    Text,
    Num,
    Bool,
    Json,
}

impl Translator<'_> {
    fn pg(&self) -> bool {
        self.dialect == Dialect::Postgres
    }

    /// A placeholder for `v` (PostgreSQL: with its type, so the statement
    /// never depends on how the driver declares parameter types).
    fn bind(&mut self, v: SqlValue) -> String {
        let n = self.next_param;
        self.next_param += 1;
        let s = match self.dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => {
                let ty = match v {
                    SqlValue::Null | SqlValue::Text(_) => "text",
                    SqlValue::Bool(_) => "boolean",
                    SqlValue::Int(_) => "bigint",
                    SqlValue::Float(_) => "float8",
                };
                format!("${n}::{ty}")
            }
        };
        self.params.push(v);
        s
    }

    fn expr(&mut self, expr: &Expr) -> Result<String, FilterError> {
        match expr {
            Expr::And(items) => self.join(items, " AND "),
            Expr::Or(items) => self.join(items, " OR "),
            Expr::Compare(c) => self.compare(c),
        }
    }

    fn join(&mut self, items: &[Expr], sep: &str) -> Result<String, FilterError> {
        let mut parts = Vec::with_capacity(items.len());
        for item in items {
            parts.push(self.expr(item)?);
        }
        Ok(format!("({})", parts.join(sep)))
    }

    fn compare(&mut self, c: &Comparison) -> Result<String, FilterError> {
        let (llabel, rlabel) = (describe(&c.left), describe(&c.right));
        let left = self.resolve(&c.left, c.op)?;
        let right = self.resolve(&c.right, c.op)?;
        let side = |term, o: &Operand, label| Side {
            term,
            pos: o.position,
            label,
        };
        let (multi, l, r): (Option<Multi>, _, _) = match (left, right) {
            (Term::Multi(_), Term::Multi(_)) => {
                return Err(FilterError::new(
                    c.position,
                    format!("cannot compare two multi-valued operands ({llabel} and {rlabel})"),
                ))
            }
            (Term::Scalar(l), Term::Scalar(r)) => (None, l, r),
            (Term::Multi(m), Term::Scalar(r)) => (Some(m.clone()), m.elem, r),
            (Term::Scalar(l), Term::Multi(m)) => (Some(m.clone()), l, m.elem),
        };
        let (l, r) = (side(l, &c.left, &llabel), side(r, &c.right, &rlabel));
        let inner = self.scalar(&l, c.op.kind, &r, c.position)?;
        Ok(match multi {
            None => inner,
            Some(m) if c.op.any => format!("EXISTS (SELECT 1 FROM {} WHERE {inner})", m.from),
            Some(m) => format!(
                "NOT EXISTS (SELECT 1 FROM {} WHERE NOT COALESCE({inner}, FALSE))",
                m.from
            ),
        })
    }

    /// `l op r` for two scalar terms.
    fn scalar(
        &mut self,
        l: &Side,
        op: OpKind,
        r: &Side,
        op_pos: usize,
    ) -> Result<String, FilterError> {
        if matches!(op, OpKind::Like | OpKind::NotLike) {
            return self.like(l, op, r);
        }
        let equality = matches!(op, OpKind::Eq | OpKind::Neq);
        let eq = op == OpKind::Eq;
        let is_json = |s: &Side| matches!(s.term, Scalar::Col { ty: Ty::Json, .. });
        let json = is_json(l) || is_json(r);
        // "No value": null, and (outside json) the empty string.
        let empty = |s: &Side| match &s.term {
            Scalar::Lit(Lit::Null) => true,
            Scalar::Lit(lit) => !json && lit.is_empty(),
            Scalar::Col { .. } => false,
        };
        match (&l.term, &r.term) {
            (Scalar::Lit(_), Scalar::Lit(_)) if equality && (empty(l) || empty(r)) => {
                let same = empty(l) && empty(r);
                return Ok(if same == eq { "1 = 1" } else { "1 = 0" }.into());
            }
            (Scalar::Col { sql, ty, .. }, _) | (_, Scalar::Col { sql, ty, .. })
                if equality && (empty(l) || empty(r)) =>
            {
                let (sql, ty) = (sql.clone(), *ty);
                return Ok(match (ty, eq) {
                    (Ty::Text | Ty::Date, true) => format!("({sql} IS NULL OR {sql} = '')"),
                    (Ty::Text | Ty::Date, false) => {
                        format!("({sql} IS NOT NULL AND {sql} <> '')")
                    }
                    (_, true) => format!("{sql} IS NULL"),
                    (_, false) => format!("{sql} IS NOT NULL"),
                });
            }
            _ => {}
        }
        if !equality
            && (matches!(l.term, Scalar::Lit(Lit::Null))
                || matches!(r.term, Scalar::Lit(Lit::Null)))
        {
            // `x < null` is never true (SQL NULL), as in PocketBase.
            return Ok("1 = 0".into());
        }
        let dom = self.domain(l, r, op_pos)?;
        if !equality && matches!(dom, Dom::Num | Dom::Bool) && (empty(l) || empty(r)) {
            return Ok("1 = 0".into());
        }
        // A string compared with a date field is normalised to the stored
        // format.
        let date = |s: &Side| matches!(s.term, Scalar::Col { ty: Ty::Date, .. });
        let (ldate, rdate) = (date(r), date(l));
        let lsql = self.render(l, dom, ldate)?;
        let rsql = self.render(r, dom, rdate)?;
        let cols = matches!(l.term, Scalar::Col { .. }) && matches!(r.term, Scalar::Col { .. });
        let pg = self.pg();
        let cmp = match op {
            OpKind::Eq | OpKind::Neq if dom == Dom::Text && cols => {
                let sign = if eq { "=" } else { "<>" };
                format!("COALESCE({lsql}, '') {sign} COALESCE({rsql}, '')")
            }
            OpKind::Eq if dom == Dom::Json || (cols && dom != Dom::Text) => {
                let is = if pg { "IS NOT DISTINCT FROM" } else { "IS" };
                format!("{lsql} {is} {rsql}")
            }
            OpKind::Eq => format!("{lsql} = {rsql}"),
            OpKind::Neq => {
                let is_not = if pg { "IS DISTINCT FROM" } else { "IS NOT" };
                format!("{lsql} {is_not} {rsql}")
            }
            _ => {
                let sign = match op {
                    OpKind::Lt => "<",
                    OpKind::Lte => "<=",
                    OpKind::Gt => ">",
                    _ => ">=",
                };
                if pg && dom == Dom::Text {
                    format!("{lsql} COLLATE \"C\" {sign} {rsql}")
                } else {
                    format!("{lsql} {sign} {rsql}")
                }
            }
        };
        // Json values compare only with values of their own JSON type, so
        // both backends agree (SQLite would order any text after any number
        // and see `true` as 1; PostgreSQL orders by type first). jsonb
        // equality is already strict.
        if dom != Dom::Json || (pg && equality) {
            return Ok(cmp);
        }
        let guard = self.json_guard(l, r);
        Ok(match op {
            OpKind::Eq => format!("({cmp} AND COALESCE({guard}, TRUE))"),
            OpKind::Neq => format!("({cmp} OR NOT COALESCE({guard}, TRUE))"),
            _ => format!("({cmp} AND {guard})"),
        })
    }

    /// "The json side(s) hold the JSON type of the other side": for two
    /// json values, the same type (number, string or bool).
    fn json_guard(&self, l: &Side, r: &Side) -> String {
        #[derive(Clone, Copy, PartialEq)]
        enum J {
            Number,
            String,
            Bool,
        }
        let kind = |s: &Side| match &s.term {
            Scalar::Lit(Lit::Num(_)) | Scalar::Col { ty: Ty::Num, .. } => Some(J::Number),
            Scalar::Lit(Lit::Bool(_)) | Scalar::Col { ty: Ty::Bool, .. } => Some(J::Bool),
            Scalar::Col { ty: Ty::Json, .. } => None,
            _ => Some(J::String),
        };
        // The SQL naming a json side's type (NULL for JSON null, as for a
        // missing value), and how each kind is named.
        let type_of = |s: &Side| match (&s.term, self.dialect) {
            (
                Scalar::Col {
                    json_type: Some(t), ..
                },
                Dialect::Sqlite,
            ) => format!("NULLIF({t}, 'null')"),
            (Scalar::Col { sql, .. }, Dialect::Sqlite) => format!("typeof({sql})"),
            (Scalar::Col { sql, .. }, Dialect::Postgres) => format!("jsonb_typeof({sql})"),
            (Scalar::Lit(_), _) => String::new(),
        };
        let is = |t: &str, k: J| match (self.dialect, k) {
            (Dialect::Sqlite, J::Number) => format!("{t} IN ('integer', 'real')"),
            (Dialect::Sqlite, J::String) => format!("{t} = 'text'"),
            (Dialect::Sqlite, J::Bool) => format!("{t} IN ('true', 'false')"),
            (Dialect::Postgres, J::Number) => format!("{t} = 'number'"),
            (Dialect::Postgres, J::String) => format!("{t} = 'string'"),
            (Dialect::Postgres, J::Bool) => format!("{t} = 'boolean'"),
        };
        match (kind(l), kind(r)) {
            (None, None) => {
                let (a, b) = (type_of(l), type_of(r));
                let both = [J::Number, J::String, J::Bool]
                    .map(|k| format!("({} AND {})", is(&a, k), is(&b, k)));
                format!("({})", both.join(" OR "))
            }
            (None, Some(k)) => is(&type_of(l), k),
            (Some(k), _) => is(&type_of(r), k),
        }
    }

    /// Which domain `l` and `r` are compared in, or why they cannot be.
    fn domain(&self, l: &Side, r: &Side, op_pos: usize) -> Result<Dom, FilterError> {
        use Scalar::{Col, Lit as L};
        let mismatch = |pos: usize, what: String| Err(FilterError::new(pos, what));
        match (&l.term, &r.term) {
            (Col { ty: Ty::Json, .. }, _) | (_, Col { ty: Ty::Json, .. }) => Ok(Dom::Json),
            (Col { ty: a, .. }, Col { ty: b, .. }) => match (a, b) {
                (Ty::Bool, Ty::Bool) => Ok(Dom::Bool),
                (Ty::Num, Ty::Num) => Ok(Dom::Num),
                (Ty::Bool, _) | (_, Ty::Bool) => mismatch(
                    op_pos,
                    format!(
                        "cannot compare {} ({}) with {} ({})",
                        l.label,
                        ty_name(*a),
                        r.label,
                        ty_name(*b)
                    ),
                ),
                _ => Ok(Dom::Text),
            },
            (Col { ty, .. }, L(lit)) | (L(lit), Col { ty, .. }) => {
                let (col, lit_side) = if matches!(l.term, Col { .. }) {
                    (l, r)
                } else {
                    (r, l)
                };
                let ok = match ty {
                    Ty::Text | Ty::Date => lit.text().is_some(),
                    Ty::Num => lit.is_empty() || lit.number().is_some(),
                    Ty::Bool => lit.is_empty() || lit.bool().is_some(),
                    Ty::Json => true,
                };
                if !ok {
                    return mismatch(
                        lit_side.pos,
                        format!(
                            "{} is a {} field; {} is not {}",
                            col.label,
                            ty_name(*ty),
                            lit_side.label,
                            match ty {
                                Ty::Num => "a number",
                                Ty::Bool => "true or false",
                                _ => "text",
                            }
                        ),
                    );
                }
                Ok(match ty {
                    Ty::Num => Dom::Num,
                    Ty::Bool => Dom::Bool,
                    _ => Dom::Text,
                })
            }
            (L(a), L(b)) => {
                let (ab, bb) = (matches!(a, Lit::Bool(_)), matches!(b, Lit::Bool(_)));
                if ab || bb {
                    let (other, side) = if ab { (b, r) } else { (a, l) };
                    if other.bool().is_none() && !other.is_empty() {
                        return mismatch(
                            side.pos,
                            format!("cannot compare {} with a bool", side.label),
                        );
                    }
                    return Ok(Dom::Bool);
                }
                let num = |x: &Lit| matches!(x, Lit::Num(_));
                if (num(a) || num(b)) && a.number().is_some() && b.number().is_some() {
                    Ok(Dom::Num)
                } else {
                    Ok(Dom::Text)
                }
            }
        }
    }

    /// One side of a comparison in domain `dom`; `date` normalises a string
    /// literal (it is compared with a date field).
    fn render(&mut self, s: &Side, dom: Dom, date: bool) -> Result<String, FilterError> {
        let pg = self.pg();
        Ok(match (&s.term, dom) {
            (Scalar::Col { sql, ty, .. }, Dom::Text) => self.text_of(sql, *ty),
            (Scalar::Col { sql, ty, .. }, Dom::Json) if pg && *ty != Ty::Json => {
                format!("to_jsonb({sql})")
            }
            (Scalar::Col { sql, .. }, _) => sql.clone(),
            (Scalar::Lit(lit), Dom::Text) => {
                let text = lit.text().unwrap_or_default();
                let text = if date { date::normalize(&text) } else { text };
                self.bind(SqlValue::Text(text))
            }
            (Scalar::Lit(lit), Dom::Num) => match lit.number() {
                Some(n) => self.bind(number_value(&n)),
                None => {
                    return Err(FilterError::new(
                        s.pos,
                        format!("{} is not a number", s.label),
                    ))
                }
            },
            (Scalar::Lit(lit), Dom::Bool) => match lit.bool() {
                Some(b) => self.bind(SqlValue::Bool(b)),
                None => {
                    return Err(FilterError::new(
                        s.pos,
                        format!("{} is not true or false", s.label),
                    ))
                }
            },
            (Scalar::Lit(lit), Dom::Json) => {
                let v = match lit {
                    Lit::Text(t) => SqlValue::Text(t.clone()),
                    Lit::Num(n) => number_value(n),
                    Lit::Bool(b) => SqlValue::Bool(*b),
                    Lit::Null => return Ok("NULL".into()),
                };
                let p = self.bind(v);
                if pg {
                    format!("to_jsonb({p})")
                } else {
                    p
                }
            }
        })
    }

    /// `l ~ r` / `l !~ r`: LIKE (SQLite, ASCII case-insensitive) or ILIKE
    /// (PostgreSQL), `\` escaping; a literal right side becomes a pattern
    /// ([`like_pattern`]), a column right side is wrapped in `%…%`.
    fn like(&mut self, l: &Side, op: OpKind, r: &Side) -> Result<String, FilterError> {
        for s in [l, r] {
            if matches!(
                s.term,
                Scalar::Lit(Lit::Bool(_)) | Scalar::Col { ty: Ty::Bool, .. }
            ) {
                return Err(FilterError::new(
                    s.pos,
                    format!("~ and !~ need text, {} is a bool", s.label),
                ));
            }
        }
        let lsql = match &l.term {
            Scalar::Lit(lit) => self.bind(SqlValue::Text(lit.text().unwrap_or_default())),
            Scalar::Col { sql, ty, .. } => format!("COALESCE({}, '')", self.text_of(sql, *ty)),
        };
        let rsql = match &r.term {
            Scalar::Lit(lit) => self.bind(SqlValue::Text(like_pattern(
                &lit.text().unwrap_or_default(),
            ))),
            Scalar::Col { sql, ty, .. } => {
                format!("('%' || COALESCE({}, '') || '%')", self.text_of(sql, *ty))
            }
        };
        let not = if op == OpKind::NotLike { "NOT " } else { "" };
        let like = if self.pg() { "ILIKE" } else { "LIKE" };
        Ok(format!("{lsql} {not}{like} {rsql} ESCAPE '\\'"))
    }
}
