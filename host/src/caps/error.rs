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
//! - **The invocation's host-call budget** ([`budget`]): the first call
//!   past it is `quota` (`denied` in `pb:secrets`, which has no `quota`);
//!   a call after that refusal traps, so a guest that ignores it is stopped.
//! - **A trap** only when the host stops the guest (a limit: memory, time,
//!   fuel, host calls) or a host invariant breaks — e.g. a resource handle the guest does
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
    /// The `quota` case (where the interface has none, the closest one).
    fn quota(message: String) -> Self;
    /// The case's WIT name (`not-found`, …).
    fn case(&self) -> &'static str;
}

macro_rules! wit_error {
    ($ty:path, quota: $quota:ident { $($case:ident => $name:literal),* $(,)? }) => {
        impl WitError for $ty {
            fn quota(message: String) -> Self {
                Self::$quota(message)
            }
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

wit_error!(data::types::Error, quota: Quota { NotFound => "not-found", Invalid => "invalid", Denied => "denied",
    Conflict => "conflict", Quota => "quota", Unavailable => "unavailable", Internal => "internal" });
wit_error!(kv::store::Error, quota: Quota { Invalid => "invalid", Denied => "denied", Quota => "quota",
    Unavailable => "unavailable", Internal => "internal" });
wit_error!(files::storage::Error, quota: Quota { NotFound => "not-found", Invalid => "invalid", Denied => "denied",
    Quota => "quota", Unavailable => "unavailable", Internal => "internal" });
wit_error!(jobs::queue::Error, quota: Quota { Invalid => "invalid", NotFound => "not-found", Denied => "denied",
    Quota => "quota", Unavailable => "unavailable", Internal => "internal" });
wit_error!(secrets::store::Error, quota: Denied { Invalid => "invalid", Denied => "denied",
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

/// The invocation's host-call budget, for a call [`Scope::call`] just
/// counted: `Ok(Ok(()))` within it; the interface's `quota` error on the
/// first call past it; a trap (the outer `Err`) on any call after that —
/// the guest ignored the refusal, and the host stops it.
///
/// [`Scope::call`]: crate::telemetry::Scope::call
pub fn budget<E: WitError>(call: &crate::telemetry::Call<'_>) -> wasmtime::Result<Result<(), E>> {
    use crate::telemetry::Budget;
    match call.budget() {
        Budget::Within => Ok(Ok(())),
        Budget::Spent { limit } => Ok(Err(E::quota(Budget::message(limit)))),
        Budget::Overrun { limit } => Err(wasmtime::Error::new(HostCallsExhausted { limit })),
    }
}

/// The trap of a guest that called the host again after its host-call
/// budget refused it ([`budget`]); a trigger can find it with
/// `error.downcast_ref::<HostCallsExhausted>()` to answer with its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCallsExhausted {
    /// The budget: `pb:*` host calls per invocation.
    pub limit: u64,
}

impl std::fmt::Display for HostCallsExhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the function went on calling the host after its budget of {} pb host calls per \
             invocation was spent (--max-host-calls); stopped",
            self.limit
        )
    }
}

impl std::error::Error for HostCallsExhausted {}

/// Ends `call` refused by the host-call budget, with the error the guest
/// gets. Use as
/// `if let Err(e) = failure::budget(&call)? { return Ok(Err(failure::refused(call, e))) }`.
pub fn refused<E: WitError>(call: crate::telemetry::Call<'_>, e: E) -> E {
    call.end(Some(e.case()));
    e
}
