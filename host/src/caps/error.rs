//! How a capability's failures reach the guest, decided here for every
//! `pb:*` interface:
//!
//! - **A guest mistake or an expected failure** (bad key, unknown record,
//!   a limit, a refused name) is the interface's WIT `error` case —
//!   `invalid`, `not-found`, `denied`, `conflict`, `quota` — with a message
//!   written for the function's developer.
//! - **A host failure** (the database, the disk, S3 …) is `internal`, always
//!   worded as [`internal`] words it: the details (SQL, paths, the
//!   backend's message) go to the host's log, never to the guest.
//! - **No database** (single-component mode, `pbs serve COMPONENT`) is
//!   `unavailable` ([`unavailable`]).
//! - **A trap** only when the host stops the guest (a limit: memory, time,
//!   fuel) or a host invariant breaks — e.g. a resource handle the guest does
//!   not own, which the bindings' `ResourceTable` refuses: a host function
//!   returns that as the outer `Err` of [`Answer`], with `?`.

use crate::caps::bindings::{data, files, jobs, kv, secrets};

/// What a host function of a `pb:*` interface returns: the outer error
/// traps, the inner one is the WIT `error` the guest receives.
pub type Answer<T, E> = wasmtime::Result<Result<T, E>>;

/// The `error` variant of a `pb:*` interface.
pub trait WitError: Sized {
    /// The `internal` case.
    fn internal(message: String) -> Self;
    /// The `unavailable` case.
    fn unavailable(message: String) -> Self;
    /// The case's WIT name (`not-found`, …).
    fn case(&self) -> &'static str;
}

macro_rules! wit_error {
    ($ty:path { $($case:ident => $name:literal),* $(,)? }) => {
        impl WitError for $ty {
            fn internal(message: String) -> Self {
                Self::Internal(message)
            }
            fn unavailable(message: String) -> Self {
                Self::Unavailable(message)
            }
            fn case(&self) -> &'static str {
                match self {
                    $(Self::$case(_) => $name,)*
                }
            }
        }
    };
}

wit_error!(data::types::Error { NotFound => "not-found", Invalid => "invalid", Denied => "denied",
    Conflict => "conflict", Quota => "quota", Unavailable => "unavailable", Internal => "internal" });
wit_error!(kv::store::Error { Invalid => "invalid", Denied => "denied", Quota => "quota",
    Unavailable => "unavailable", Internal => "internal" });
wit_error!(files::storage::Error { NotFound => "not-found", Invalid => "invalid", Denied => "denied",
    Quota => "quota", Unavailable => "unavailable", Internal => "internal" });
wit_error!(jobs::queue::Error { Invalid => "invalid", NotFound => "not-found", Denied => "denied",
    Quota => "quota", Unavailable => "unavailable", Internal => "internal" });
wit_error!(secrets::store::Error { Invalid => "invalid", Denied => "denied",
    Unavailable => "unavailable", Internal => "internal" });

/// A host failure of `package`'s `op` (`pb:kv`, `get`) called by
/// `function`: logged in full, and the guest gets the one wording of an
/// internal error.
pub fn internal<E: WitError>(
    package: &str,
    op: &str,
    function: &str,
    detail: impl std::fmt::Display,
) -> E {
    tracing::error!(target: "pb.host", package, function, "{package} {op} failed: {detail}");
    E::internal(internal_message(package, op))
}

/// What the guest reads of an internal error.
pub fn internal_message(package: &str, op: &str) -> String {
    format!("{package} {op} failed on the host; the host's log has the details")
}

/// `package` needs the database, and this host has none.
pub fn unavailable<E: WitError>(package: &str) -> E {
    E::unavailable(format!(
        "{package} needs the full host (`pbs serve` with a data folder), not single-component mode"
    ))
}

/// The WIT error case of a host call's result (none when it succeeded),
/// for its span ([`crate::telemetry::Call::end`]).
pub fn case<T, E: WitError>(result: &Result<T, E>) -> Option<&'static str> {
    result.as_ref().err().map(WitError::case)
}
