//! pb-serverless: serverless WebAssembly components with typed host
//! capabilities (records, vector search, KV, files, jobs, secrets, tracing).
//!
//! The binary is `pbs`; this library is what it is made of, so tests and
//! benchmarks can start a host in-process.
//!
//! Layers point one way; each module may use those after it in this list,
//! never those before (`host/tests/layering.rs` checks the lower ones; the
//! README's "Architecture" says where a new piece goes):
//! `cli` → `server` → `admin` → `triggers` → `engine`, `deploy` → `caps` →
//! `telemetry` → `store` → `common`.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let config = pbs::config::HostConfig::default();
//! let server = pbs::server::Server::start(config).await?;
//! println!("listening on http://{}", server.addr());
//! # Ok(()) }
//! ```

pub mod admin;
pub mod caps;
pub mod cli;
pub mod common;
pub mod config;
pub mod deploy;
pub mod engine;
pub mod project;
pub mod sdk;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod triggers;

#[cfg(test)]
mod parsers_fuzz;
