//! The host handles JS holds by number ("tokens"): pending outgoing
//! responses, body streams being read, the response body being written.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::wasi::http::types::{FutureIncomingResponse, IncomingBody, OutgoingBody};
use crate::wasi::io::poll::Pollable;
use crate::wasi::io::streams::{InputStream, OutputStream};

pub enum Slot {
    /// An outgoing request waiting for its response head.
    Pending(FutureIncomingResponse),
    /// A body being read; the stream must drop before its body (field order).
    Reading {
        stream: InputStream,
        _body: IncomingBody,
    },
    /// This invocation's response body.
    Writing {
        stream: Option<OutputStream>,
        body: Option<OutgoingBody>,
    },
}

impl Slot {
    /// What to wait on for this slot to make progress.
    pub fn subscribe(&self) -> Option<Pollable> {
        match self {
            Slot::Pending(f) => Some(f.subscribe()),
            Slot::Reading { stream, .. } => Some(stream.subscribe()),
            Slot::Writing { stream, .. } => stream.as_ref().map(|s| s.subscribe()),
        }
    }
}

#[derive(Default)]
struct Table {
    next: u32,
    slots: HashMap<u32, Slot>,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

pub fn insert(slot: Slot) -> u32 {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.next += 1;
        let token = t.next;
        t.slots.insert(token, slot);
        token
    })
}

pub fn remove(token: u32) -> Option<Slot> {
    TABLE.with(|t| t.borrow_mut().slots.remove(&token))
}

/// Drops every handle left when an invocation ends: pending requests,
/// bodies, and an unfinished response body (which aborts it).
pub fn clear() {
    let left = TABLE.with(|t| std::mem::take(&mut t.borrow_mut().slots));
    drop(left);
}

pub fn with<R>(token: u32, f: impl FnOnce(&mut Slot) -> R) -> Option<R> {
    TABLE.with(|t| t.borrow_mut().slots.get_mut(&token).map(f))
}
