//! Tokens → [`Expr`], by recursive descent:
//!
//! ```text
//! filter     = or EOF
//! or         = and ( "||" and )*
//! and        = primary ( "&&" primary )*
//! primary    = "(" or ")" | comparison
//! comparison = operand OP operand
//! operand    = identifier | string | number      (true, false, null: identifiers)
//! ```
//!
//! `&&` binds tighter than `||`, as in SQL (PocketBase joins its flat list
//! of conditions with SQL `AND`/`OR`, which gives the same precedence).
//! Parentheses nest at most [`MAX_DEPTH`] deep, so the recursion is bounded.

use super::ast::{Comparison, Expr, Operand, Value};
use super::lexer::{Tok, Token};
use super::{FilterError, MAX_DEPTH};

pub(super) fn parse_tokens(tokens: Vec<Token>) -> Result<Expr, FilterError> {
    let mut p = Parser {
        tokens,
        i: 0,
        depth: 0,
    };
    if p.peek().tok == Tok::Eof {
        return Err(FilterError::new(0, "empty filter"));
    }
    let expr = p.or()?;
    let t = p.peek();
    match t.tok {
        Tok::Eof => Ok(expr),
        Tok::RParen => Err(FilterError::new(t.pos, "unexpected ')'")),
        _ => Err(FilterError::new(
            t.pos,
            format!("expected && or ||, found {}", t.tok.describe()),
        )),
    }
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        // The last token is always Eof and is never consumed.
        &self.tokens[self.i.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.i += 1;
        }
        t
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.and()?];
        while self.peek().tok == Tok::Or {
            self.bump();
            items.push(self.and()?);
        }
        Ok(join(items, false))
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.primary()?];
        while self.peek().tok == Tok::And {
            self.bump();
            items.push(self.primary()?);
        }
        Ok(join(items, true))
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        if self.peek().tok != Tok::LParen {
            return self.comparison();
        }
        let open = self.bump().pos;
        if self.depth >= MAX_DEPTH {
            return Err(FilterError::new(
                open,
                format!("parentheses nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        if self.peek().tok == Tok::RParen {
            return Err(FilterError::new(open, "empty parentheses"));
        }
        self.depth += 1;
        let expr = self.or()?;
        self.depth -= 1;
        let t = self.bump();
        match t.tok {
            Tok::RParen => Ok(expr),
            Tok::Eof => Err(FilterError::new(open, "unclosed '('")),
            _ => Err(FilterError::new(
                t.pos,
                format!("expected && or || or ')', found {}", t.tok.describe()),
            )),
        }
    }

    fn comparison(&mut self) -> Result<Expr, FilterError> {
        let left = self.operand("left")?;
        let t = self.bump();
        let Tok::Op(op) = t.tok else {
            return Err(FilterError::new(
                t.pos,
                format!(
                    "expected an operator (= != > >= < <= ~ !~ or their ?-forms), found {}",
                    t.tok.describe()
                ),
            ));
        };
        let right = self.operand("right")?;
        Ok(Expr::Compare(Comparison {
            left,
            op,
            right,
            position: t.pos,
        }))
    }

    fn operand(&mut self, side: &str) -> Result<Operand, FilterError> {
        let t = self.bump();
        let value = match t.tok {
            Tok::Ident(name) => match name.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => Value::Identifier(name),
            },
            Tok::Text(s) => Value::Text(s),
            Tok::Number(n) => Value::Number(n),
            other => {
                return Err(FilterError::new(
                    t.pos,
                    format!(
                        "expected a {side} operand (a field, string or number), found {}",
                        other.describe()
                    ),
                ))
            }
        };
        Ok(Operand {
            value,
            position: t.pos,
        })
    }
}

/// One item stays itself; several become an `And` (or an `Or`), with
/// children of the same kind (from parentheses) merged in.
fn join(mut items: Vec<Expr>, and: bool) -> Expr {
    if items.len() == 1 {
        return items.swap_remove(0);
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Expr::And(inner) if and => flat.extend(inner),
            Expr::Or(inner) if !and => flat.extend(inner),
            item => flat.push(item),
        }
    }
    if and {
        Expr::And(flat)
    } else {
        Expr::Or(flat)
    }
}
