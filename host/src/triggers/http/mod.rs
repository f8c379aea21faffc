//! The HTTP trigger: invoking a deployed function's `wasi:http` handler
//! ([`invoke`]), and PocketBase's records and files REST APIs ([`records`],
//! [`files`]). Which request goes where is decided by `crate::server`'s
//! router; [`reply`] holds what every answer the host writes itself uses.

pub mod body_limit;
pub mod files;
pub mod invoke;
pub mod records;
pub mod reply;

/// Prefix of every function route.
pub const FUNCTIONS_PREFIX: &str = "/api/pb_serverless/";
