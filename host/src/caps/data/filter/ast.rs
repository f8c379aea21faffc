//! The syntax tree [`super::parse`] returns and [`super::to_sql`] consumes.
//!
//! `&&` and `||` are n-ary (a chain `a && b && c` is one [`Expr::And`] with
//! three children), so the tree is only as deep as the parentheses — at most
//! [`super::MAX_DEPTH`] — and walking it can never exhaust the stack.

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Every child holds (`a && b && …`); at least two children.
    And(Vec<Expr>),
    /// At least one child holds (`a || b || …`); at least two children.
    Or(Vec<Expr>),
    /// One `left OP right` comparison.
    Compare(Comparison),
}

/// `left OP right`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub left: Operand,
    pub op: Op,
    pub right: Operand,
    /// Byte offset of the operator in the input.
    pub position: usize,
}

/// A comparison operator: the plain form (`=`) or its "any of" form (`?=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub kind: OpKind,
    /// The `?` prefix: at least one value of a multi-valued operand matches.
    pub any: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `~` (contains / LIKE)
    Like,
    /// `!~` (does not contain / NOT LIKE)
    NotLike,
}

impl Op {
    /// The operator as written in a filter (`?!=`, `<=`, …).
    pub fn as_str(self) -> &'static str {
        match (self.any, self.kind) {
            (false, OpKind::Eq) => "=",
            (false, OpKind::Neq) => "!=",
            (false, OpKind::Lt) => "<",
            (false, OpKind::Lte) => "<=",
            (false, OpKind::Gt) => ">",
            (false, OpKind::Gte) => ">=",
            (false, OpKind::Like) => "~",
            (false, OpKind::NotLike) => "!~",
            (true, OpKind::Eq) => "?=",
            (true, OpKind::Neq) => "?!=",
            (true, OpKind::Lt) => "?<",
            (true, OpKind::Lte) => "?<=",
            (true, OpKind::Gt) => "?>",
            (true, OpKind::Gte) => "?>=",
            (true, OpKind::Like) => "?~",
            (true, OpKind::NotLike) => "?!~",
        }
    }

    /// Parses an operator as written in a filter.
    pub fn parse(s: &str) -> Option<Op> {
        let (any, rest) = match s.strip_prefix('?') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let kind = match rest {
            "=" => OpKind::Eq,
            "!=" => OpKind::Neq,
            "<" => OpKind::Lt,
            "<=" => OpKind::Lte,
            ">" => OpKind::Gt,
            ">=" => OpKind::Gte,
            "~" => OpKind::Like,
            "!~" => OpKind::NotLike,
            _ => return None,
        };
        Some(Op { kind, any })
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One side of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Operand {
    pub value: Value,
    /// Byte offset of the operand in the input.
    pub position: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A field (`title`), a json path (`meta.author.name`), either with an
    /// optional modifier (`title:lower`, `tags:length`), or an `@` name
    /// (`@now`, `@request.auth.id`). Kept as written; resolved by
    /// [`super::to_sql`] against the collection's schema.
    Identifier(String),
    /// A quoted string, quotes removed and `\'` / `\"` unescaped.
    Text(String),
    Number(Number),
    Bool(bool),
    Null,
}

/// A number literal: `12`, `-3`, `0.5` (no exponent, like PocketBase).
#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    /// As written (used when the number is compared as text).
    pub text: String,
    /// The value; always finite.
    pub value: NumberValue,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NumberValue {
    Int(i64),
    Float(f64),
}

impl Number {
    /// Parses `-?digits(.digits)?`; `None` for anything else or a value that
    /// is not finite.
    pub fn parse(text: &str) -> Option<Number> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || !frac.is_none_or(all_digits) {
            return None;
        }
        let value = match (frac, text.parse::<i64>()) {
            (None, Ok(i)) => NumberValue::Int(i),
            _ => {
                let f: f64 = text.parse().ok()?;
                if !f.is_finite() {
                    return None;
                }
                NumberValue::Float(f)
            }
        };
        Some(Number {
            text: text.to_string(),
            value,
        })
    }

    pub fn as_f64(&self) -> f64 {
        match self.value {
            NumberValue::Int(i) => i as f64,
            NumberValue::Float(f) => f,
        }
    }
}
