//! Deploy: the checks a component passes before it is accepted, the
//! precompiled artifact, and the versioned registry of functions.
//!
//! The checks run in this order and stop at the first failure, so nothing
//! is stored half-way: size → WebAssembly at all → component, not core
//! module → compiles → every import is provided (name and type) → the
//! exports serve the requested triggers.

mod check;
pub mod handlers;
pub mod js;
pub mod preview;
mod registry;
pub mod versions;

pub use check::{content_hash, inspect, js_serves_http, Checked, DeployError, Trigger};
pub use registry::{Deployed, FunctionInfo, Registry, Settings, Version, WarmInstance};

/// Function names: lowercase letters, digits, `-` and `_`; 1 to 63
/// characters; not starting with `_` (reserved for the host's own routes).
pub fn valid_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(['_', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
