//! Access rules, as PocketBase applies them to its records API:
//!
//! | rule | admin token | anyone else |
//! |---|---|---|
//! | absent (`null`) | allowed | 403 "Only superusers can perform this action." |
//! | `""` | allowed | allowed |
//! | a filter | allowed | list: only matching records; view, update, delete: 404 unless the record matches; create: 400 unless the new record matches |
//!
//! Functions (`pb:data`) act with full rights, like the admin token.

use super::error::{DataError, DataResult};
use super::schema::Collection;

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The admin token, or a function through `pb:data`: rules do not apply.
    Full,
    /// A client without the admin token: the collection's rules apply.
    Public,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    List,
    View,
    Create,
    Update,
    Delete,
}

/// The condition a record must meet for `op`: none (anything goes) or a
/// filter; an error when only the admin may.
pub fn condition(c: &Collection, op: Op, access: Access) -> DataResult<Option<&str>> {
    if access == Access::Full {
        return Ok(None);
    }
    let rule = match op {
        Op::List => &c.rules.list,
        Op::View => &c.rules.view,
        Op::Create => &c.rules.create,
        Op::Update => &c.rules.update,
        Op::Delete => &c.rules.delete,
    };
    match rule.as_deref() {
        None => Err(DataError::superusers_only()),
        Some(r) if r.trim().is_empty() => Ok(None),
        Some(r) => Ok(Some(r)),
    }
}
