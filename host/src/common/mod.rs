//! Pieces several layers share, which depend on nothing else of ours:
//! capabilities, triggers and deploy may all use them.
//!
//! | file | what |
//! |---|---|
//! | [`address`] | one canonical form for every spelling of a host or IP address, and what it points at (loopback, private, metadata …) |
//! | [`private_file`] | files only their owner may read (admin token, master key) |
//! | [`sourcemap`] | JS source maps: bundled positions → TypeScript file:line:col, embedded in a component's custom section |

pub mod address;
pub mod private_file;
pub mod sourcemap;

pub use private_file::write_private;
