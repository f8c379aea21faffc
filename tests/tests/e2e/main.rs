//! End-to-end tests: real components compiled from `tests/guests/`, real
//! HTTP over loopback, SQLite and a real PostgreSQL.

mod cli;
mod collections;
mod crash_mid_write;
mod cron;
mod deploy;
mod dev;
mod files;
mod hardening;
mod hardening_hosts;
mod hooks;
mod hostile;
mod imports;
mod inbound;
mod jobs;
mod js;
mod kv;
mod observability;
mod preview;
mod project;
mod records;
mod registry;
mod reuse;
mod sdk_rust;
mod secrets;
mod serve;
mod slow_body;
mod ssrf;
mod toolchains;
mod transactions;
mod types;
mod vector;
mod versions;
mod wasi_versions;
mod web;
