//! Write pb-serverless functions in Rust.
//!
//! ```no_run
//! use pb_sdk::http::{Request, Response};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Visit { path: String, n: i64 }
//!
//! #[pb_sdk::http_handler]
//! fn visit(req: Request) -> pb_sdk::Result<Response> {
//!     let n = pb_sdk::kv::open()?.incr("visits", 1)?;
//!     let visit = pb_sdk::data::collection("visits")
//!         .create(&Visit { path: req.path().into(), n })?;
//!     Response::json(&visit)
//! }
//! # fn main() {}
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2` (crate type
//! `cdylib`) and deploy the `.wasm` with `pbs deploy`. The component targets
//! `pb:serverless/http-function@0.1.0` (or the job and cron worlds): it
//! imports the `pb:*` capabilities and exports what its handler attributes
//! say.
//!
//! - [`http`]: `#[http_handler]`, [`http::Request`], [`http::Response`].
//! - [`kv`]: `pb:kv` buckets with JSON and string helpers.
//! - [`data`]: `pb:data` records as your own serde types, lists, vector
//!   search and transactions.
//! - [`jobs`], [`cron`]: `#[job_handler]`, `#[cron_handler]`, enqueueing.
//! - [`trace`], [`secrets`], [`utils`]: logs and spans, secrets, uuids and
//!   hashes.
//! - [`bindings`]: the raw WIT bindings, for anything the helpers do not
//!   cover.
//!
//! Errors of every capability are one [`Error`], which a handler can return
//! with `?` and which becomes an HTTP status (404 for `not-found`, 400 for
//! `invalid` …).

pub mod bindings;
pub mod cron;
pub mod data;
mod error;
pub mod http;
pub mod jobs;
pub mod kv;
pub mod secrets;
pub mod trace;
pub mod utils;

pub use error::{Error, Result};
pub use pb_sdk_macros::{cron_handler, http_handler, job_handler};

/// What the handler attributes expand to refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}
