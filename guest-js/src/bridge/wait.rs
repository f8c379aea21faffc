//! Time and waiting: the event loop of `../js/00-internal.js` blocks here, in
//! one `wasi:io/poll` call over everything it waits for.

use javy::quickjs::{Ctx, Function, Object, Result, TypedArray};

use super::slots;
use crate::wasi::clocks::monotonic_clock;
use crate::wasi::io::poll;
use crate::wasi::random::random;

pub fn register<'js>(ctx: &Ctx<'js>, pbs: &Object<'js>) -> Result<()> {
    pbs.set("now", Function::new(ctx.clone(), now)?)?;
    pbs.set("wait", Function::new(ctx.clone(), wait)?)?;
    pbs.set("randomBytes", Function::new(ctx.clone(), random_bytes)?)?;
    Ok(())
}

fn now() -> f64 {
    monotonic_clock::now() as f64 / 1e6
}

/// Blocks until a token is ready or `timeout_ms` passes; returns the ready
/// tokens. A token that no longer exists counts as ready, so its waiter
/// wakes up and finds out.
fn wait(tokens: Vec<u32>, timeout_ms: f64) -> Vec<u32> {
    let mut owners = Vec::with_capacity(tokens.len() + 1);
    let mut pollables = Vec::with_capacity(tokens.len() + 1);
    let mut gone = Vec::new();
    for token in tokens {
        match slots::with(token, |slot| slot.subscribe()).flatten() {
            Some(p) => {
                owners.push(Some(token));
                pollables.push(p);
            }
            None => gone.push(token),
        }
    }
    if !gone.is_empty() {
        return gone;
    }
    if timeout_ms >= 0.0 {
        let ns = (timeout_ms * 1e6).min(u64::MAX as f64) as u64;
        owners.push(None);
        pollables.push(monotonic_clock::subscribe_duration(ns));
    }
    if pollables.is_empty() {
        return Vec::new();
    }
    let refs: Vec<&poll::Pollable> = pollables.iter().collect();
    poll::poll(&refs)
        .into_iter()
        .filter_map(|i| owners[i as usize])
        .collect()
}

/// Refused at build time: bytes drawn then would be frozen into the
/// snapshot, the same "random" secret in every instance.
fn random_bytes<'js>(ctx: Ctx<'js>, n: u32) -> Result<TypedArray<'js, u8>> {
    super::forbid_at_build_time(&ctx, "crypto.getRandomValues/randomUUID")?;
    TypedArray::new(ctx, random::get_random_bytes(u64::from(n.min(1 << 16))))
}
