//! A queue worker (`pb:serverless/job-function`): deploys with the `jobs`
//! trigger, and is refused for `http`, which it does not export.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "pb:serverless/job-function@0.1.0",
    generate_all,
});

use exports::pb::serverless::job_handler::{Guest, Job};

struct Worker;

impl Guest for Worker {
    fn run(job: Job) -> Result<(), String> {
        if job.payload.is_empty() {
            return Err("empty payload".into());
        }
        Ok(())
    }
}

export!(Worker);
