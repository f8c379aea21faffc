//! What invokes functions: HTTP, cron, jobs and record hooks, one folder
//! each. `invoke_export` calls a handler export other than HTTP (job, cron,
//! hook) under the same limits as a request.

pub mod cron;
pub mod hooks;
pub mod http;
pub mod invoke_export;
pub mod jobs;
