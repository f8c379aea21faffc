//! `pb:utils`: small helpers computed by the host.

use crate::bindings::pb::utils::helpers;
use crate::Error;

/// A UUID version 7 (time-ordered), lowercase with hyphens.
pub fn uuid() -> String {
    helpers::uuid()
}

/// The SHA-256 digest of `data`, lowercase hex.
pub fn sha256(data: &[u8]) -> String {
    hash(data, "sha256").expect("the host knows sha256")
}

/// The digest of `data` as lowercase hex; `algorithm` is `sha256`, `sha384`
/// or `sha512`.
pub fn hash(data: &[u8], algorithm: &str) -> Result<String, Error> {
    helpers::hash(data, algorithm).map_err(Error::Invalid)
}
