//! End-to-end tests: real components compiled from `tests/guests/`, real
//! HTTP over loopback, SQLite and a real PostgreSQL.

mod cli;
mod deploy;
mod hostile;
mod imports;
mod js;
mod kv;
mod registry;
mod secrets;
mod serve;
mod ssrf;
