//! Host capabilities, one folder each. This file is the one place that wires
//! them (and WASI, and wasi:http) into the Linker: to find where a guest call
//! such as `pb:kv/store.bucket.set` lands, open `caps/kv/` (its `mod.rs` is
//! the WIT face, `sql.rs` its SQL for both backends).
//!
//! Every capability has the same shape: a per-call *view* of the invocation
//! (`KvView`, `DataView` …) on which the generated `Host` traits are
//! implemented, its `add_to_linker` with the projection from
//! [`Invocation`], its per-host state in [`services::Services`], and its
//! failures mapped to the WIT `error` or a trap by [`error`]. A capability
//! uses the database through [`crate::store`] and may use another
//! capability's public items (those at the root of its folder), never its
//! submodules, and never `triggers`, `deploy`, `server`, `admin` or `cli`
//! (the layering test in `tests/layering.rs` checks it).

pub mod bindings;
pub mod data;
pub mod error;
pub mod files;
pub mod http_out;
pub mod jobs;
pub mod kv;
pub mod secrets;
pub mod services;
pub mod trace;
pub mod utils;

use crate::engine::Invocation;
use wasmtime::component::Linker;

/// The interfaces every deployed component may import: the
/// `pb:serverless/imports` world.
pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    // wasi:cli, clocks, random, io, filesystem and sockets: what standard
    // toolchains always import. The WasiCtx of an invocation has no
    // preopened directory and refuses every socket and name lookup.
    // Defined at WASI 0.2.12; the Linker matches imports of every 0.2.x
    // to them (semver). `network-error-code` is feature-gated in 0.2.x,
    // but StarlingMonkey (ComponentizeJS) imports it whenever a world names
    // wasi:sockets, so it is linked too.
    let mut wasi = wasmtime_wasi::p2::bindings::LinkOptions::default();
    wasi.network_error_code(true);
    wasmtime_wasi::p2::add_to_linker_with_options_async(linker, &wasi)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;

    data::add_to_linker(linker)?;
    kv::add_to_linker(linker)?;
    files::add_to_linker(linker)?;
    jobs::add_to_linker(linker)?;
    secrets::add_to_linker(linker)?;
    trace::add_to_linker(linker)?;
    utils::add_to_linker(linker)?;
    Ok(())
}
