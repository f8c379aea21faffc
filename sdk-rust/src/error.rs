//! One error for every capability, with the HTTP status it stands for.

use crate::bindings::pb::{
    data::types as data, jobs::queue as jobs, kv::store as kv, secrets::store as secrets,
};
use std::fmt;

/// What a `pb:*` call, or a (de)serialisation around it, failed with.
///
/// The capability variants carry the host's message. A handler can return
/// it with `?`: [`crate::http::IntoResponse`] turns it into its
/// [`status`](Error::status) and PocketBase's error body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The collection, record or key does not exist (404).
    NotFound(String),
    /// The input was rejected: bad JSON, bad filter, unknown field, a
    /// before-hook refusing the write … (400).
    Invalid(String),
    /// An access rule or the function's permissions forbid it (403).
    Denied(String),
    /// A unique constraint or a concurrent change conflicts (409).
    Conflict(String),
    /// A limit was reached (429).
    Quota(String),
    /// The capability is not available on this host (503); e.g. `pb:kv`
    /// under `pbs serve component.wasm`, which has no database.
    Unavailable(String),
    /// The host failed; details are in its log (500).
    Internal(String),
    /// A value the host returned is not the Rust type asked for (500): the
    /// record's fields do not match the struct, say.
    Decode(String),
}

/// `Result<T, pb_sdk::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::Invalid(_) => 400,
            Error::Denied(_) => 403,
            Error::Conflict(_) => 409,
            Error::Quota(_) => 429,
            Error::Unavailable(_) => 503,
            Error::Internal(_) | Error::Decode(_) => 500,
        }
    }

    /// The message without the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::NotFound(m)
            | Error::Invalid(m)
            | Error::Denied(m)
            | Error::Conflict(m)
            | Error::Quota(m)
            | Error::Unavailable(m)
            | Error::Internal(m)
            | Error::Decode(m) => m,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not found",
            Error::Invalid(_) => "invalid",
            Error::Denied(_) => "denied",
            Error::Conflict(_) => "conflict",
            Error::Quota(_) => "quota",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
            Error::Decode(_) => "decode",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for Error {}

impl From<data::Error> for Error {
    fn from(e: data::Error) -> Self {
        match e {
            data::Error::NotFound(m) => Error::NotFound(m),
            data::Error::Invalid(m) => Error::Invalid(m),
            data::Error::Denied(m) => Error::Denied(m),
            data::Error::Conflict(m) => Error::Conflict(m),
            data::Error::Quota(m) => Error::Quota(m),
            data::Error::Unavailable(m) => Error::Unavailable(m),
            data::Error::Internal(m) => Error::Internal(m),
        }
    }
}

impl From<kv::Error> for Error {
    fn from(e: kv::Error) -> Self {
        match e {
            kv::Error::Invalid(m) => Error::Invalid(m),
            kv::Error::Denied(m) => Error::Denied(m),
            kv::Error::Quota(m) => Error::Quota(m),
            kv::Error::Unavailable(m) => Error::Unavailable(m),
            kv::Error::Internal(m) => Error::Internal(m),
        }
    }
}

impl From<jobs::Error> for Error {
    fn from(e: jobs::Error) -> Self {
        match e {
            jobs::Error::Invalid(m) => Error::Invalid(m),
            jobs::Error::NotFound(m) => Error::NotFound(m),
            jobs::Error::Denied(m) => Error::Denied(m),
            jobs::Error::Quota(m) => Error::Quota(m),
            jobs::Error::Unavailable(m) => Error::Unavailable(m),
            jobs::Error::Internal(m) => Error::Internal(m),
        }
    }
}

impl From<secrets::Error> for Error {
    fn from(e: secrets::Error) -> Self {
        match e {
            secrets::Error::Invalid(m) => Error::Invalid(m),
            secrets::Error::Denied(m) => Error::Denied(m),
            secrets::Error::Unavailable(m) => Error::Unavailable(m),
            secrets::Error::Internal(m) => Error::Internal(m),
        }
    }
}

/// A value that did not convert to or from JSON.
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Decode(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_errors_keep_their_kind_and_message() {
        let e: Error = data::Error::NotFound("no record \"x\"".into()).into();
        assert_eq!(e, Error::NotFound("no record \"x\"".into()));
        assert_eq!(e.status(), 404);
        assert_eq!(e.to_string(), "not found: no record \"x\"");
        let e: Error = kv::Error::Quota("value too large".into()).into();
        assert_eq!((e.status(), e.message()), (429, "value too large"));
        let e: Error = serde_json::from_str::<u32>("\"x\"").unwrap_err().into();
        assert!(matches!(e, Error::Decode(_)) && e.status() == 500, "{e}");
    }
}
