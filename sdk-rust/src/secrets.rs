//! `pb:secrets`: encrypted secrets of the host's environment.

use crate::bindings::pb::secrets::store;
use crate::Error;

/// The secret's value; none when it is not set.
pub fn get(name: &str) -> Result<Option<String>, Error> {
    Ok(store::get(name)?)
}
