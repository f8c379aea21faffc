//! A pb-serverless project: `pb_serverless.json` and the functions it names.

pub mod manifest;
pub mod typegen;

pub use manifest::{Manifest, Project};
