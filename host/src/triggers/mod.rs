//! What invokes functions. HTTP now; cron, jobs and record hooks follow the
//! same shape (one folder each).

pub mod http;
