//! `pb:jobs` — the persistent job queue.
//!
//! Not implemented on this host yet: every call answers the typed
//! `unavailable` error.

use crate::caps::bindings::jobs::queue::{self, EnqueueOptions, Error, Host, JobStatus};
use crate::caps::data::Transaction;
use crate::engine::Invocation;
use wasmtime::component::{HasData, Linker, Resource};

/// Per-call view of an invocation for `pb:jobs`.
pub struct JobsView;

struct HasJobsView;
impl HasData for HasJobsView {
    type Data<'a> = JobsView;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    queue::add_to_linker::<_, HasJobsView>(linker, |_| JobsView)
}

fn unavailable<T>() -> wasmtime::Result<Result<T, Error>> {
    Ok(Err(Error::Unavailable(crate::caps::unavailable("pb:jobs"))))
}

impl Host for JobsView {
    async fn enqueue(
        &mut self,
        _name: String,
        _payload: String,
        _options: EnqueueOptions,
    ) -> wasmtime::Result<Result<String, Error>> {
        unavailable()
    }
    async fn enqueue_in(
        &mut self,
        _tx: Resource<Transaction>,
        _name: String,
        _payload: String,
        _options: EnqueueOptions,
    ) -> wasmtime::Result<Result<String, Error>> {
        unavailable()
    }
    async fn status(&mut self, _id: String) -> wasmtime::Result<Result<Option<JobStatus>, Error>> {
        unavailable()
    }
}
