//! Turns a filter into tokens, the way PocketBase's scanner (`fexpr`) does:
//!
//! - whitespace is ` `, `\t`, `\n` (and `\r`); `// …` is a comment to the
//!   end of the line;
//! - an identifier starts with an ASCII letter, `_`, `@` or `#` and goes on
//!   with ASCII letters, digits, `_`, `.` and `:` (`meta.a.b`, `tags:length`,
//!   `@request.auth.id`); it may not end with `.` or `:`, and an identifier
//!   directly followed by `(` is a function call, which is refused;
//! - a number is `-?digits(.digits)?`;
//! - a string is quoted with `'` or `"`; a quote preceded by a backslash does
//!   not end it, and `\'` (`\"`) stands for the quote; every other backslash
//!   is kept as written (so `"a\\"` is unterminated, as in PocketBase); a
//!   NUL character is refused (PostgreSQL text cannot hold one);
//! - operators are the longest run of `= ? ! > < ~` (then checked against the
//!   list), `&&`, `||`, `(` and `)`.

use super::ast::{Number, Op};
use super::FilterError;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Text(String),
    Number(Number),
    Op(Op),
    And,
    Or,
    LParen,
    RParen,
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Token {
    pub tok: Tok,
    /// Byte offset of the token's first character.
    pub pos: usize,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Text(_) => "a string".into(),
            Tok::Number(n) => format!("'{}'", n.text),
            Tok::Op(op) => format!("'{op}'"),
            Tok::And => "'&&'".into(),
            Tok::Or => "'||'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Eof => "the end of the filter".into(),
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}
fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '_' | '@' | '#')
}
fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':')
}
fn is_sign_char(c: char) -> bool {
    matches!(c, '=' | '?' | '!' | '>' | '<' | '~')
}
fn is_join_char(c: char) -> bool {
    matches!(c, '&' | '|')
}

/// The tokens of `input`, ending with [`Tok::Eof`].
pub(super) fn tokenize(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut lx = Lexer { input, pos: 0 };
    loop {
        let token = lx.next()?;
        let eof = token.tok == Tok::Eof;
        tokens.push(token);
        if eof {
            return Ok(tokens);
        }
    }
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    /// Advances while `f` holds; returns the text it passed over.
    fn take_while(&mut self, mut f: impl FnMut(char) -> bool) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.input[start..self.pos]
    }

    fn next(&mut self) -> Result<Token, FilterError> {
        loop {
            self.take_while(is_space);
            if self.input[self.pos..].starts_with('/') {
                if !self.input[self.pos..].starts_with("//") {
                    return Err(FilterError::new(self.pos, "invalid comment (expected //)"));
                }
                self.take_while(|c| c != '\n');
                continue;
            }
            break;
        }
        let pos = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let tok = if c == '(' {
            self.pos += 1;
            Tok::LParen
        } else if c == ')' {
            self.pos += 1;
            Tok::RParen
        } else if is_ident_start(c) {
            self.pos += 1;
            self.take_while(is_ident_char);
            let text = &self.input[pos..self.pos];
            if self.peek() == Some('(') {
                return Err(FilterError::new(
                    pos,
                    format!("function calls are not supported ('{text}(…)')"),
                ));
            }
            let last = text.chars().last().unwrap_or('.');
            if matches!(last, '.' | ':') || (text.len() == 1 && !c.is_ascii_alphabetic()) {
                return Err(FilterError::new(
                    pos,
                    format!("invalid identifier '{text}'"),
                ));
            }
            Tok::Ident(text.to_string())
        } else if c == '-' || c.is_ascii_digit() {
            self.pos += 1;
            let mut had_dot = false;
            self.take_while(|c| {
                if c == '.' && !had_dot {
                    had_dot = true;
                    return true;
                }
                c.is_ascii_digit()
            });
            let text = &self.input[pos..self.pos];
            match Number::parse(text) {
                Some(n) => Tok::Number(n),
                None => return Err(FilterError::new(pos, format!("invalid number '{text}'"))),
            }
        } else if c == '\'' || c == '"' {
            Tok::Text(self.text(c)?)
        } else if is_sign_char(c) {
            let text = self.take_while(is_sign_char);
            match Op::parse(text) {
                Some(op) => Tok::Op(op),
                None => return Err(FilterError::new(pos, format!("invalid operator '{text}'"))),
            }
        } else if is_join_char(c) {
            match self.take_while(is_join_char) {
                "&&" => Tok::And,
                "||" => Tok::Or,
                text => {
                    return Err(FilterError::new(
                        pos,
                        format!("invalid operator '{text}' (expected && or ||)"),
                    ))
                }
            }
        } else {
            return Err(FilterError::new(pos, format!("unexpected character {c:?}")));
        };
        Ok(Token { tok, pos })
    }

    /// A quoted string starting at the current position with `quote`.
    fn text(&mut self, quote: char) -> Result<String, FilterError> {
        let start = self.pos;
        self.pos += 1;
        let mut prev = '\0';
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '\0' {
                // PostgreSQL text cannot hold it: refused on both backends.
                return Err(FilterError::new(
                    self.pos,
                    "strings may not contain NUL characters",
                ));
            }
            self.pos += c.len_utf8();
            if c == quote {
                if prev != '\\' {
                    return Ok(out);
                }
                // `\"`: drop the backslash already copied, keep the quote.
                out.pop();
            }
            out.push(c);
            prev = c;
        }
        Err(FilterError::new(start, "unterminated string"))
    }
}
