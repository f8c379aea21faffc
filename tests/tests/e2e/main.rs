//! End-to-end tests: real components compiled from `tests/guests/`, real
//! HTTP over loopback, SQLite and a real PostgreSQL.

mod cli;
mod collections;
mod cron;
mod deploy;
mod files;
mod hooks;
mod hostile;
mod imports;
mod jobs;
mod js;
mod kv;
mod project;
mod records;
mod registry;
mod sdk_rust;
mod secrets;
mod serve;
mod ssrf;
mod toolchains;
mod transactions;
mod vector;
mod wasi_versions;
