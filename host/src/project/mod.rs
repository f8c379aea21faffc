//! A pb-serverless project: `pb_serverless.json` and the functions it names.

pub mod manifest;

pub use manifest::{Manifest, Project};
