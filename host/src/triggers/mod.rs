//! What invokes functions: HTTP, cron and jobs (record hooks follow the
//! same shape, one folder each). `invoke_export` calls a handler export
//! other than HTTP (job, cron) under the same limits as a request.

pub mod cron;
pub mod http;
pub mod invoke_export;
pub mod jobs;
