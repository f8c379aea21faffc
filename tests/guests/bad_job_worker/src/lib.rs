//! Exports `pb:serverless/job-handler` with the wrong signature: deploy
//! must refuse it at once rather than fail at its first job.

wit_bindgen::generate!({
    inline: "
        package pb:serverless@0.1.0;
        interface job-handler {
            run: func(name: string) -> u32;
        }
        world bad-worker {
            export job-handler;
        }
    ",
    world: "pb:serverless/bad-worker@0.1.0",
});

use exports::pb::serverless::job_handler::Guest;

struct Worker;

impl Guest for Worker {
    fn run(name: String) -> u32 {
        name.len() as u32
    }
}

export!(Worker);
