//! `pb:jobs`: the durable job queue. Enqueue from anywhere; run jobs with
//! `#[pb_sdk::job_handler]`.
//!
//! ```no_run
//! use pb_sdk::jobs::{EnqueueOptions, Job};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Resize { file: String }
//!
//! fn upload() -> pb_sdk::Result<String> {
//!     let job = Resize { file: "a.png".into() };
//!     pb_sdk::jobs::enqueue("resize", &job, &EnqueueOptions::new().max_attempts(3))
//! }
//!
//! #[pb_sdk::job_handler]
//! fn run(job: Job) -> pb_sdk::Result<()> {
//!     let resize: Resize = job.payload()?;
//!     pb_sdk::trace::info("resizing", &[("file", &resize.file)]);
//!     Ok(())
//! }
//! # fn main() {}
//! ```

use crate::bindings::pb::jobs::queue;
use crate::data::Transaction;
use crate::Error;
use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;

pub use queue::{JobState, JobStatus};

/// A job handed to a `#[job_handler]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    /// The name it was enqueued under (one handler may run several).
    pub name: String,
    /// The JSON payload given to `enqueue`.
    pub payload: String,
    /// 1 on the first run.
    pub attempt: u32,
}

impl Job {
    /// The payload as `T`; `invalid` when it is not.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.payload)
            .map_err(|e| Error::Invalid(format!("the payload of job {}: {e}", self.id)))
    }
}

/// Options of [`enqueue`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnqueueOptions {
    delay: Option<Duration>,
    max_attempts: Option<u32>,
    dedupe_key: Option<String>,
    priority: Option<i32>,
}

impl EnqueueOptions {
    pub fn new() -> EnqueueOptions {
        EnqueueOptions::default()
    }

    /// Do not start before `delay` has passed.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Runs before the job goes to dead letter (default 5).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// A second enqueue with the same key returns the first job's id.
    pub fn dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    /// Higher runs first (default 0).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = Some(priority);
        self
    }

    fn to_wit(&self) -> queue::EnqueueOptions {
        queue::EnqueueOptions {
            delay_ms: self
                .delay
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            max_attempts: self.max_attempts,
            dedupe_key: self.dedupe_key.clone(),
            priority: self.priority,
        }
    }
}

/// Enqueues job `name` with `payload` (as JSON); its id, at once.
pub fn enqueue<T: Serialize + ?Sized>(
    name: &str,
    payload: &T,
    options: &EnqueueOptions,
) -> Result<String, Error> {
    let payload = serde_json::to_string(payload)?;
    Ok(queue::enqueue(name, &payload, &options.to_wit())?)
}

/// [`enqueue`] inside a transaction: the job exists only if it commits.
pub fn enqueue_in<T: Serialize + ?Sized>(
    tx: &Transaction,
    name: &str,
    payload: &T,
    options: &EnqueueOptions,
) -> Result<String, Error> {
    let payload = serde_json::to_string(payload)?;
    Ok(queue::enqueue_in(
        tx.raw(),
        name,
        &payload,
        &options.to_wit(),
    )?)
}

/// A job's state; none when there is no such job.
pub fn status(id: &str) -> Result<Option<JobStatus>, Error> {
    Ok(queue::status(id)?)
}
